//! Slack channels: an incoming-webhook message (`text` for notifications
//! and clients without attachments, plus one attachment coloured by
//! severity with a title, the message, and the campaign, value, threshold
//! and status as fields), posted with the transition's `Idempotency-Key`
//! (Slack ignores it; proxies and test receivers can use it).

use serde_json::{json, Value};

use super::{number, post, Notification, SendFailure, Sent};

/// The attachment colour of a severity.
pub fn color(severity: &str) -> &'static str {
    match severity {
        "critical" => "#d00000",
        "warning" => "#f2c744",
        _ => "#439fe0",
    }
}

/// The message of a notification.
pub fn message(n: &Notification) -> Value {
    let a = &n.alert;
    let rule = a.rule_name.as_deref().unwrap_or("alert");
    let title = format!("[{}] {rule}: {}", a.severity, n.kind);
    let campaign = match (&a.campaign_id, &a.job_id) {
        (Some(c), Some(j)) => format!("{c} (job {j})"),
        (Some(c), None) => c.clone(),
        (None, _) => "-".to_owned(),
    };
    let mut attachment = json!({
        "color": color(&a.severity),
        "title": title,
        "text": a.message,
        "fallback": format!("{title}: {}", a.message),
        "fields": [
            {"title": "campaign", "value": campaign, "short": true},
            {"title": "status", "value": a.status, "short": true},
            {"title": "value", "value": number(a.value), "short": true},
            {"title": "threshold", "value": number(a.threshold), "short": true},
        ],
        "footer": "campaign analytics",
    });
    if let Some(link) = &n.link {
        attachment["title_link"] = Value::String(link.clone());
    }
    json!({
        "text": format!("{title}: {}", a.message),
        "attachments": [attachment],
    })
}

pub(crate) async fn send(
    agent: &ureq::Agent,
    url: &str,
    n: &Notification,
) -> Result<Sent, SendFailure> {
    let body = serde_json::to_vec(&message(n))
        .map_err(|e| SendFailure::permanent(format!("the Slack message: {e}")))?;
    let headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("Idempotency-Key", n.idempotency_key.clone()),
    ];
    post(agent, url, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_by_severity() {
        assert_eq!(color("critical"), "#d00000");
        assert_eq!(color("warning"), "#f2c744");
        assert_eq!(color("info"), "#439fe0");
    }
}
