//! Webhook channels: `POST <url>` with the JSON
//! `{"kind": "fired|resolved|repeated|test", "alert": {...}, "link"?}`
//! (the alert as `GET /v1/alerts/{id}` shows it, without deliveries) and
//! the headers `Content-Type: application/json`, `Idempotency-Key` (the
//! same on every retry of a transition) and, when the channel has a
//! secret, `X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` over
//! the exact body bytes.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{post, Notification, SendFailure, Sent};
use crate::alerts::model::AlertView;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

#[derive(Debug, Serialize)]
struct Payload<'a> {
    kind: &'a str,
    alert: &'a AlertView,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
}

/// The body of a notification.
pub fn body(n: &Notification) -> Result<Vec<u8>, SendFailure> {
    serde_json::to_vec(&Payload {
        kind: &n.kind,
        alert: &n.alert,
        link: n.link.as_deref(),
    })
    .map_err(|e| SendFailure::permanent(format!("the webhook body: {e}")))
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> Result<String, SendFailure> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| SendFailure::permanent(format!("the webhook secret: {e}")))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

pub(crate) async fn send(
    agent: &ureq::Agent,
    url: &str,
    secret: Option<&str>,
    n: &Notification,
) -> Result<Sent, SendFailure> {
    let body = body(n)?;
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("Idempotency-Key", n.idempotency_key.clone()),
    ];
    if let Some(secret) = secret {
        headers.push((SIGNATURE_HEADER, signature(secret, &body)?));
    }
    post(agent, url, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc_4231_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
