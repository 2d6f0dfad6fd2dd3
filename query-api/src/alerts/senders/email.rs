//! E-mail channels: one plain-text message per notification to the
//! channel's recipients through the server's SMTP relay (lettre, on the
//! async runtime). Subject `[<severity>] <rule>: <kind>`; the body is the
//! alert's message and its fields. The Message-ID is derived from the
//! idempotency key, so a message sent twice (a retry after a lost answer)
//! has the same id and mail clients show it once.
//!
//! `SMTP_URL`: `smtp://host:port` (no TLS), `smtp://host:port?tls=required`
//! (STARTTLS), `smtps://host:port` (TLS from the start); `user:password@`
//! in the URL authenticates.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{number, Notification, SendFailure, Sent};

/// Where e-mails go out.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://`, `smtp://...?tls=required` or `smtps://` URL of the relay.
    pub url: String,
    /// The From address, e.g. `Campaign analytics <alerts@example.com>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("SmtpSettings")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The SMTP relay, ready to send.
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// The transport of `settings`; a malformed URL or From address is an
    /// error naming the setting.
    pub fn new(settings: &SmtpSettings, timeout: Duration) -> Result<Self, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("SMTP_FROM {:?}: {e}", settings.from))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| {
                format!(
                    "SMTP_URL: {e} (use smtp://HOST:PORT, smtp://HOST:PORT?tls=required or \
                     smtps://HOST:PORT)"
                )
            })?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpTransport { transport, from })
    }

    /// Send `n` to `recipients`, as one message.
    pub async fn send(&self, recipients: &[String], n: &Notification) -> Result<Sent, SendFailure> {
        let message = message(&self.from, recipients, n)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Sent { http_status: None }),
            Err(e) => Err(SendFailure {
                http_status: None,
                retryable: !e.is_permanent(),
                error: format!("SMTP: {e}"),
                retry_after: None,
            }),
        }
    }
}

/// A file attached to an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl SmtpTransport {
    /// Send a plain-text message with attachments to `recipients` (report
    /// deliveries); the Message-ID derives from `key`.
    pub async fn send_mail(
        &self,
        recipients: &[String],
        subject: &str,
        text: &str,
        attachments: &[Attachment],
        key: &str,
    ) -> Result<Sent, SendFailure> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(message_id(key)));
        for r in recipients {
            let to: Mailbox = r
                .parse()
                .map_err(|e| SendFailure::permanent(format!("recipient {r:?}: {e}")))?;
            builder = builder.to(to);
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text.to_owned()));
        for a in attachments {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                SendFailure::permanent(format!("content type {:?}: {e}", a.content_type))
            })?;
            parts = parts.singlepart(
                lettre::message::Attachment::new(a.file_name.clone())
                    .body(a.bytes.clone(), content_type),
            );
        }
        let message = builder
            .multipart(parts)
            .map_err(|e| SendFailure::permanent(format!("the e-mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Sent { http_status: None }),
            Err(e) => Err(SendFailure {
                http_status: None,
                retryable: !e.is_permanent(),
                error: format!("SMTP: {e}"),
                retry_after: None,
            }),
        }
    }
}

/// `[<severity>] <rule>: <kind>`.
pub fn subject(n: &Notification) -> String {
    let rule = n.alert.rule_name.as_deref().unwrap_or("alert");
    format!("[{}] {rule}: {}", n.alert.severity, n.kind)
}

/// The text of the message: the alert's message, then its fields.
pub fn text(n: &Notification) -> String {
    let a = &n.alert;
    let mut lines = vec![a.message.clone(), String::new()];
    let mut field = |name: &str, value: &str| lines.push(format!("{name}: {value}"));
    field("rule", a.rule_name.as_deref().unwrap_or("-"));
    field("severity", &a.severity);
    field("status", &a.status);
    field("campaign", a.campaign_id.as_deref().unwrap_or("-"));
    field("job", a.job_id.as_deref().unwrap_or("(all jobs)"));
    field("value", &number(a.value));
    field("threshold", &number(a.threshold));
    field("fired at", &a.fired_at);
    if let Some(at) = &a.resolved_at {
        field("resolved at", at);
    }
    field("alert", &a.id);
    if let Some(link) = &n.link {
        field("link", link);
    }
    lines.push(String::new());
    lines.join("\n")
}

/// A Message-ID from an idempotency key (`:` is not allowed there).
fn message_id(key: &str) -> String {
    let local: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("<{local}@campaign-analytics>")
}

fn message(
    from: &Mailbox,
    recipients: &[String],
    n: &Notification,
) -> Result<Message, SendFailure> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject(n))
        .message_id(Some(message_id(&n.idempotency_key)))
        .header(ContentType::TEXT_PLAIN);
    if recipients.is_empty() {
        return Err(SendFailure::permanent("the channel has no recipients"));
    }
    for r in recipients {
        let to: Mailbox = r
            .parse()
            .map_err(|e| SendFailure::permanent(format!("recipient {r:?}: {e}")))?;
        builder = builder.to(to);
    }
    builder
        .body(text(n))
        .map_err(|e| SendFailure::permanent(format!("the e-mail: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_valid_and_stable() {
        assert_eq!(
            message_id("0b7a9c3e-0000-4000-8000-000000000001:repeat:17"),
            "<0b7a9c3e-0000-4000-8000-000000000001.repeat.17@campaign-analytics>"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        let bad_url = SmtpSettings {
            url: "http://example.com".into(),
            from: "a@example.com".into(),
        };
        let e = SmtpTransport::new(&bad_url, Duration::from_secs(1)).unwrap_err();
        assert!(e.starts_with("SMTP_URL"), "{e}");
        let bad_from = SmtpSettings {
            url: "smtp://127.0.0.1:2525".into(),
            from: "not an address".into(),
        };
        let e = SmtpTransport::new(&bad_from, Duration::from_secs(1)).unwrap_err();
        assert!(e.starts_with("SMTP_FROM"), "{e}");
    }
}
