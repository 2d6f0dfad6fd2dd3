//! Channel senders: one notification (a transition of an alert, or a test
//! message) sent once to one channel, one file per kind:
//! [`webhook`] (signed JSON), [`slack`] (incoming-webhook message),
//! [`email`] (SMTP with lettre).
//!
//! HTTP goes through `ureq` (blocking, rustls) on the blocking pool
//! (`spawn_blocking`), never on the async runtime, with a total timeout.
//! Errors say whether a retry can help: connection errors, timeouts, 429
//! and 5xx (and transient SMTP replies) can; other answers cannot.

pub mod email;
pub mod guard;
pub mod slack;
pub mod webhook;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use metadata::ChannelConfig;

use crate::alerts::model::AlertView;

pub use email::{SmtpSettings, SmtpTransport};

/// How long one send may take (HTTP request or SMTP session).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an error answer's body goes into the attempt log.
const ERROR_BODY_BYTES: u64 = 300;

/// What is sent: a transition of an alert (or a test message).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// `fired`, `resolved`, `repeated`, or `test`.
    pub kind: String,
    /// The `Idempotency-Key` header (webhook, Slack); also the e-mail's
    /// Message-ID.
    pub idempotency_key: String,
    /// The alert as the API shows it.
    pub alert: AlertView,
    /// A link to the alert, when the server has a link template.
    pub link: Option<String>,
}

/// A send that went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The HTTP status (webhook, Slack).
    pub http_status: Option<u16>,
}

/// A send that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// The HTTP status, when the receiver answered.
    pub http_status: Option<u16>,
    pub error: String,
    /// Whether trying again later can help.
    pub retryable: bool,
    /// What the receiver asked for (`Retry-After` of a 429 or 503).
    pub retry_after: Option<Duration>,
}

impl SendFailure {
    /// A failure that no retry can fix (bad configuration, refused input).
    pub fn permanent(error: impl Into<String>) -> Self {
        SendFailure {
            http_status: None,
            error: error.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// A failure that a later try may not have.
    pub fn transient(error: impl Into<String>) -> Self {
        SendFailure {
            retryable: true,
            ..Self::permanent(error)
        }
    }
}

/// Settings of the senders.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Longest HTTP request or SMTP session.
    pub timeout: Duration,
    /// The SMTP relay of e-mail channels; `None`: e-mails fail (retried,
    /// so that a restart with `SMTP_URL` delivers them).
    pub smtp: Option<SmtpSettings>,
    /// A link to an alert: `{alert_id}` is replaced by its id.
    pub link_template: Option<String>,
    /// Whether webhooks (and Slack URLs) may point at non-public addresses
    /// (loopback, private networks, link-local); default no.
    pub allow_private_networks: bool,
}

impl Default for SenderSettings {
    fn default() -> Self {
        SenderSettings {
            timeout: DEFAULT_SEND_TIMEOUT,
            smtp: None,
            link_template: None,
            allow_private_networks: false,
        }
    }
}

/// Every sender, ready: the HTTP agent and the SMTP transport.
#[derive(Debug, Clone)]
pub struct Senders {
    http: ureq::Agent,
    smtp: Option<Arc<SmtpTransport>>,
    link_template: Option<String>,
}

impl Default for Senders {
    fn default() -> Self {
        // Without SMTP nothing can fail.
        Self::new(&SenderSettings::default()).unwrap_or_else(|_| Senders {
            http: agent(DEFAULT_SEND_TIMEOUT, false),
            smtp: None,
            link_template: None,
        })
    }
}

fn agent(timeout: Duration, allow_private: bool) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(timeout)
        .resolver(guard::Resolver { allow_private })
        // A redirect of a POST is not followed: the channel's URL is wrong.
        .redirects(0)
        .user_agent(concat!("campaign-analytics/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Senders {
    /// The senders of `settings`; a malformed `SMTP_URL` or `SMTP_FROM` is
    /// an error.
    pub fn new(settings: &SenderSettings) -> Result<Self, String> {
        let smtp = match &settings.smtp {
            Some(s) => Some(Arc::new(SmtpTransport::new(s, settings.timeout)?)),
            None => None,
        };
        Ok(Senders {
            http: agent(settings.timeout, settings.allow_private_networks),
            smtp,
            link_template: settings.link_template.clone(),
        })
    }

    /// The link to an alert, from the template.
    pub fn link(&self, alert_id: &str) -> Option<String> {
        self.link_template
            .as_ref()
            .map(|t| t.replace("{alert_id}", alert_id))
    }

    /// Send `n` to a channel, once.
    pub async fn send(
        &self,
        channel: &ChannelConfig,
        n: &Notification,
    ) -> Result<Sent, SendFailure> {
        match channel {
            ChannelConfig::Webhook { url, secret } => {
                webhook::send(&self.http, url, secret.as_deref(), n).await
            }
            ChannelConfig::Slack { url } => slack::send(&self.http, url, n).await,
            ChannelConfig::Email { recipients } => match &self.smtp {
                Some(smtp) => smtp.send(recipients, n).await,
                None => Err(SendFailure::transient(
                    "e-mail is off on this server: set SMTP_URL (and SMTP_FROM)",
                )),
            },
        }
    }
}

impl Senders {
    /// Send a report e-mail (see [`SmtpTransport::send_mail`]).
    pub async fn mail(
        &self,
        recipients: &[String],
        subject: &str,
        text: &str,
        attachments: &[email::Attachment],
        key: &str,
    ) -> Result<Sent, SendFailure> {
        match &self.smtp {
            Some(smtp) => {
                smtp.send_mail(recipients, subject, text, attachments, key)
                    .await
            }
            None => Err(SendFailure::transient(
                "e-mail is off on this server: set SMTP_URL (and SMTP_FROM)",
            )),
        }
    }

    /// POST a JSON body with an `Idempotency-Key` (report webhooks).
    pub async fn post_json(
        &self,
        url: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<Sent, SendFailure> {
        let headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("Idempotency-Key", key.to_owned()),
        ];
        post(&self.http, url, headers, body).await
    }
}

/// Whether an HTTP answer is worth retrying: 429 and 5xx (and 408).
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let text = response.header("retry-after")?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// POST `body` to `url` with `headers` on the blocking pool: 2xx is sent,
/// anything else a [`SendFailure`].
pub(crate) async fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Result<Sent, SendFailure> {
    let agent = agent.clone();
    let url = url.to_owned();
    let task = tokio::task::spawn_blocking(move || {
        let mut request = agent.post(&url);
        for (name, value) in &headers {
            request = request.set(name, value);
        }
        answer(request.send_bytes(&body))
    });
    task.await
        .unwrap_or_else(|e| Err(SendFailure::transient(format!("the send task failed: {e}"))))
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Result<Sent, SendFailure> {
    match result {
        Ok(response) if (200..300).contains(&response.status()) => Ok(Sent {
            http_status: Some(response.status()),
        }),
        // 1xx and 3xx (redirects are not followed).
        Ok(response) => Err(SendFailure {
            http_status: Some(response.status()),
            error: format!(
                "HTTP {} {} (redirects are not followed: use the final URL)",
                response.status(),
                response.status_text()
            ),
            retryable: false,
            retry_after: None,
        }),
        Err(ureq::Error::Status(status, response)) => {
            let after = retry_after(&response);
            let reason = response.status_text().to_owned();
            let mut body = String::new();
            let _ = response
                .into_reader()
                .take(ERROR_BODY_BYTES)
                .read_to_string(&mut body);
            let body = body.trim();
            let error = if body.is_empty() {
                format!("HTTP {status} {reason}")
            } else {
                format!("HTTP {status} {reason}: {body}")
            };
            Err(SendFailure {
                http_status: Some(status),
                error,
                retryable: retryable_status(status),
                retry_after: after,
            })
        }
        Err(ureq::Error::Transport(t)) => {
            let error = transport_error(&t);
            // A URL that points at a non-public address stays refused.
            if error.contains(guard::BLOCKED) {
                Err(SendFailure::permanent(error))
            } else {
                Err(SendFailure::transient(error))
            }
        }
    }
}

/// A transport error as the attempt log and the channel test show it:
/// the URL's origin only (a Slack webhook's path is its secret, and
/// webhooks often carry a token in the query), then the kind, the message
/// and the cause (ureq's own text starts with the whole URL).
fn transport_error(t: &ureq::Transport) -> String {
    let mut text = t
        .url()
        .map(|u| format!("{}: ", u.origin().ascii_serialization()))
        .unwrap_or_default();
    text.push_str(&t.kind().to_string());
    if let Some(message) = t.message() {
        text.push_str(": ");
        text.push_str(message);
    }
    if let Some(cause) = std::error::Error::source(t) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

/// A number as the messages show it ("-" when there is none).
pub(crate) fn number(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(|| "-".to_owned(), alerting::format_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_answers_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn links_come_from_the_template() {
        let senders = Senders::new(&SenderSettings {
            link_template: Some("https://ui.example.com/alerts/{alert_id}".into()),
            ..SenderSettings::default()
        })
        .unwrap();
        assert_eq!(
            senders.link("a-1").as_deref(),
            Some("https://ui.example.com/alerts/a-1")
        );
        assert_eq!(Senders::default().link("a-1"), None);
    }
}
