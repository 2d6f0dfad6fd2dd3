//! Alerts as they leave the state machine: deterministic alert ids
//! ([`alert_id`]), the facts needed to describe an alert without its rule
//! ([`AlertMeta`]), and the [`Transition`]s that the processor stores,
//! pushes and delivers.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rule::{Rule, Severity};

/// Domain separation of the alert-id hash; change it and every id changes.
const ALERT_ID_DOMAIN: &[u8] = b"campaign-analytics/alert-id/v1";

/// The id of the `n`-th alert (1-based) of the (rule, report) pair, the
/// same in every run: a transition replayed after a crash carries the id
/// it had the first time.
///
/// SHA-256 over the domain tag, then each field as an 8-byte big-endian
/// length and its bytes, `job_id` preceded by a presence byte (so `None`
/// differs from `Some("")`), then `n` as 4 big-endian bytes. The first 16
/// bytes of the digest are formatted as a UUID (version 8, RFC 4122
/// variant), lowercase `8-4-4-4-12`.
pub fn alert_id(
    rule_id: &str,
    tenant_id: &str,
    campaign_id: &str,
    job_id: Option<&str>,
    n: u32,
) -> String {
    let mut hash = Sha256::new();
    hash.update(ALERT_ID_DOMAIN);
    for field in [rule_id, tenant_id, campaign_id] {
        put_field(&mut hash, field);
    }
    match job_id {
        None => hash.update([0u8]),
        Some(job_id) => {
            hash.update([1u8]);
            put_field(&mut hash, job_id);
        }
    }
    hash.update(n.to_be_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn put_field(hash: &mut Sha256, field: &str) {
    hash.update((field.len() as u64).to_be_bytes());
    hash.update(field.as_bytes());
}

/// What describes the alerts of one (rule, report) pair without the rule,
/// so that a pair can be resolved after its rule was deleted. Refreshed
/// from the rule at every evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMeta {
    /// The report's tenant.
    pub tenant_id: String,
    /// The rule.
    pub rule_id: String,
    /// The rule's name when last evaluated.
    pub rule_name: String,
    /// The rule's severity when last evaluated.
    pub severity: Severity,
    /// The report's campaign.
    pub campaign_id: String,
    /// The report's job, `None` for the all-jobs report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The rule's threshold when last evaluated ([`crate::Condition::threshold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl AlertMeta {
    /// The meta of `rule` on the report of (`campaign_id`, `job_id`); the
    /// tenant is the rule's, which is the report's.
    pub fn new(rule: &Rule, campaign_id: &str, job_id: Option<&str>) -> Self {
        AlertMeta {
            tenant_id: rule.tenant_id.clone(),
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            severity: rule.severity,
            campaign_id: campaign_id.to_owned(),
            job_id: job_id.map(str::to_owned),
            threshold: rule.condition.threshold(),
        }
    }

    /// Brings the rule-derived fields up to date with `rule`, cloning only
    /// what changed.
    pub fn refresh(&mut self, rule: &Rule) {
        if self.rule_name != rule.name {
            self.rule_name.clone_from(&rule.name);
        }
        self.severity = rule.severity;
        self.threshold = rule.condition.threshold();
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// The pair entered `firing`: a new alert.
    Fired,
    /// The pair left `firing`: the alert got its `resolved_at`.
    Resolved,
    /// The alert is still firing and `repeat_interval_seconds` passed since
    /// it was last sent: a reminder, delivered again.
    Repeated,
}

impl TransitionKind {
    /// `fired`, `resolved` or `repeated`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Fired => "fired",
            TransitionKind::Resolved => "resolved",
            TransitionKind::Repeated => "repeated",
        }
    }
}

/// A change of one alert, to be stored, pushed and delivered once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alert ([`alert_id`]); the same for its fired, repeated and
    /// resolved transitions.
    pub alert_id: String,
    /// What happened.
    pub kind: TransitionKind,
    /// The report's tenant.
    pub tenant_id: String,
    /// The rule.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The report's campaign.
    pub campaign_id: String,
    /// The report's job, `None` for the all-jobs report.
    pub job_id: Option<String>,
    /// The compared number: when it fired (`fired`, `resolved`) or now
    /// (`repeated`); `None` for `status` and `inactivity`.
    pub value: Option<f64>,
    /// The rule's value; `None` for `status` and `inactivity`.
    pub threshold: Option<f64>,
    /// The rendered template or the default sentence: the alert's message
    /// as it fired (`fired`, `resolved`) or re-rendered now (`repeated`).
    pub message: String,
    /// When the alert fired (processing time, ms since the epoch).
    pub fired_at_ms: i64,
    /// When it was resolved; `Some` only for `resolved`.
    pub resolved_at_ms: Option<i64>,
    /// When this transition happened.
    pub at_ms: i64,
}

impl Transition {
    /// The delivery `Idempotency-Key`: `<alert id>:fired`,
    /// `<alert id>:resolved`, or `<alert id>:repeat:<at_ms>` for a
    /// reminder.
    pub fn idempotency_key(&self) -> String {
        match self.kind {
            TransitionKind::Fired | TransitionKind::Resolved => {
                format!("{}:{}", self.alert_id, self.kind.as_str())
            }
            TransitionKind::Repeated => format!("{}:repeat:{}", self.alert_id, self.at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding written out by hand, independently of `alert_id`.
    fn reference(rule: &str, tenant: &str, campaign: &str, job: Option<&str>, n: u32) -> String {
        let mut input = b"campaign-analytics/alert-id/v1".to_vec();
        for field in [rule, tenant, campaign] {
            input.extend_from_slice(&(field.len() as u64).to_be_bytes());
            input.extend_from_slice(field.as_bytes());
        }
        match job {
            None => input.push(0),
            Some(job) => {
                input.push(1);
                input.extend_from_slice(&(job.len() as u64).to_be_bytes());
                input.extend_from_slice(job.as_bytes());
            }
        }
        input.extend_from_slice(&n.to_be_bytes());
        let digest = Sha256::digest(&input);
        let mut b = digest[..16].to_vec();
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    #[test]
    fn alert_id_test_vector() {
        let id = alert_id("r-1", "t-1", "c-1", None, 1);
        assert_eq!(id, reference("r-1", "t-1", "c-1", None, 1));
        // Pinned: stored alerts carry these ids; never change them.
        assert_eq!(id, "62225dfc-3b4d-8156-9cbc-afb59b6355dd");
        let with_job = alert_id("r-1", "t-1", "c-1", Some("j-1"), 2);
        assert_eq!(with_job, reference("r-1", "t-1", "c-1", Some("j-1"), 2));
    }

    #[test]
    fn alert_id_is_a_v8_uuid() {
        let id = alert_id("rule", "tenant", "campaign", Some("job"), 7);
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12]);
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(groups[2].starts_with('8'), "{id}");
        assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "{id}");
    }

    #[test]
    fn alert_ids_are_distinct() {
        let ids = [
            alert_id("r-1", "t-1", "c-1", None, 1),
            alert_id("r-1", "t-1", "c-1", None, 2),
            alert_id("r-1", "t-1", "c-1", Some(""), 1),
            alert_id("r-1", "t-1", "c-1", Some("j-1"), 1),
            alert_id("r-1", "t-1", "c-2", None, 1),
            alert_id("r-1", "t-2", "c-1", None, 1),
            alert_id("r-2", "t-1", "c-1", None, 1),
            // Field boundaries are not ambiguous.
            alert_id("r-1t", "-1", "c-1", None, 1),
        ];
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_eq!(
            ids[0],
            alert_id("r-1", "t-1", "c-1", None, 1),
            "deterministic"
        );
    }

    #[test]
    fn idempotency_keys() {
        let mut t = Transition {
            alert_id: "a".into(),
            kind: TransitionKind::Fired,
            tenant_id: "t".into(),
            rule_id: "r".into(),
            rule_name: "n".into(),
            severity: Severity::Info,
            campaign_id: "c".into(),
            job_id: None,
            value: None,
            threshold: None,
            message: String::new(),
            fired_at_ms: 1,
            resolved_at_ms: None,
            at_ms: 5,
        };
        assert_eq!(t.idempotency_key(), "a:fired");
        t.kind = TransitionKind::Resolved;
        assert_eq!(t.idempotency_key(), "a:resolved");
        t.kind = TransitionKind::Repeated;
        assert_eq!(t.idempotency_key(), "a:repeat:5");
        let json = serde_json::to_value(&t).expect("serialize");
        assert_eq!(json["kind"], "repeated");
        assert_eq!(
            serde_json::from_value::<Transition>(json).expect("parse"),
            t
        );
    }
}
