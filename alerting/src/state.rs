//! The state machine of one (rule, report) pair (`alerts.md`, "States and
//! transitions"):
//!
//! ```text
//! normal --holds--> pending --holds for `for_seconds`--> firing --!holds--> normal
//!    \                 | !holds (silently back to normal)       ^   (resolved)
//!     `--holds, for_seconds 0--------------------------------->'
//! ```
//!
//! [`step`] moves a pair on an [`Observation`] and returns the
//! [`Transition`] it causes, if any. Nothing here reads a clock: `now_ms`
//! is the processing time the caller committed with the snapshot, so a
//! replay computes the same transitions with the same alert ids.
//!
//! **Timers.** A pair can change without its report changing: a `pending`
//! pair fires once `for_seconds` have passed, a firing alert with
//! `repeat_interval_seconds` is re-sent, and an `inactivity` condition
//! becomes true because nothing happens. There is no separate tick
//! function: the processor calls [`step`] again, with a fresh observation,
//! on a timer, for those pairs ([`crate::AlertBook::needs_timer`],
//! [`crate::AlertBook::next_deadline_ms`]) and for the rules that
//! [`crate::Rule::needs_timer`].
//!
//! **Resolving without the rule.** A firing pair keeps what its resolved
//! transition repeats from the fired one (alert id, `fired_at`, value,
//! message) in [`Phase::Firing`]; the rule-derived rest (name, severity,
//! threshold) comes from an [`AlertMeta`], which [`crate::AlertBook`]
//! keeps next to each pair, so [`resolve`] works after the rule was
//! deleted.

use serde::{Deserialize, Serialize};

use crate::alert::{alert_id, AlertMeta, Transition, TransitionKind};
use crate::report::{Observation, ReportView};
use crate::rule::Rule;
use crate::template::{render, TransitionFields};
use crate::time::elapsed;

/// Where a (rule, report) pair is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The condition does not hold (or has not been seen to).
    #[default]
    Normal,
    /// The condition holds since `since_ms`, not yet for `for_seconds`.
    Pending {
        /// Processing time at which it was first seen to hold.
        since_ms: i64,
    },
    /// An alert is open.
    Firing {
        /// The open alert.
        alert_id: String,
        /// When it fired.
        fired_at_ms: i64,
        /// The compared number when it fired.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        /// When it was last sent (fired or repeated).
        last_sent_ms: i64,
        /// Its message as it fired, repeated by the resolved transition.
        message: String,
    },
}

/// The state of one (rule, report) pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairState {
    /// Where the pair is.
    #[serde(flatten)]
    pub phase: Phase,
    /// How many times the pair has entered `firing`; the n-th alert's id is
    /// derived from it, so it must survive the alert.
    #[serde(default)]
    pub firings: u32,
}

impl PairState {
    /// Whether an alert is open.
    pub fn is_firing(&self) -> bool {
        matches!(self.phase, Phase::Firing { .. })
    }

    /// Whether the condition holds, not yet for long enough.
    pub fn is_pending(&self) -> bool {
        matches!(self.phase, Phase::Pending { .. })
    }

    /// `normal` and never fired: nothing to remember.
    pub fn is_blank(&self) -> bool {
        self.phase == Phase::Normal && self.firings == 0
    }
}

/// Moves `pair` (of `rule` on `report`) on `obs`, observed at `now_ms`,
/// and returns the transition this causes:
///
/// - `normal`, holds: `for_seconds` 0 → `firing`, [`TransitionKind::Fired`];
///   else → `pending` since now, nothing.
/// - `pending`, holds for `for_seconds` → `firing`, `Fired` (fired at now).
/// - `normal`/`pending`, does not hold → `normal`, nothing.
/// - `firing`, does not hold → `normal`, [`TransitionKind::Resolved`].
/// - `firing`, holds: with `repeat_interval_seconds` passed since the
///   last send, [`TransitionKind::Repeated`]; else nothing.
///
/// A disabled rule resolves, as [`resolve`] does. The caller decides
/// whether the rule looks at the report at all ([`crate::in_scope`],
/// [`crate::observe`]).
pub fn step(
    rule: &Rule,
    pair: &mut PairState,
    report: &dyn ReportView,
    obs: Observation,
    now_ms: i64,
) -> Option<Transition> {
    if !rule.enabled {
        return resolve(pair, &meta_of(rule, report), now_ms);
    }
    match pair.phase {
        Phase::Normal | Phase::Pending { .. } if !obs.holds => {
            pair.phase = Phase::Normal;
            None
        }
        Phase::Normal if rule.for_seconds > 0 => {
            pair.phase = Phase::Pending { since_ms: now_ms };
            None
        }
        Phase::Pending { since_ms } if !elapsed(since_ms, now_ms, rule.for_seconds) => None,
        Phase::Normal | Phase::Pending { .. } => Some(fire(rule, pair, report, obs, now_ms)),
        Phase::Firing { .. } if !obs.holds => resolve(pair, &meta_of(rule, report), now_ms),
        Phase::Firing { .. } => repeat(rule, pair, report, obs, now_ms),
    }
}

/// Ends the pair's alert because its rule was disabled or deleted (or no
/// longer looks at the report): `firing` → `normal` with a
/// [`TransitionKind::Resolved`] transition described by `meta`;
/// `pending` → `normal` silently; `normal` stays. `firings` is kept.
pub fn resolve(pair: &mut PairState, meta: &AlertMeta, now_ms: i64) -> Option<Transition> {
    match std::mem::take(&mut pair.phase) {
        Phase::Firing {
            alert_id,
            fired_at_ms,
            value,
            message,
            ..
        } => Some(Transition {
            value,
            message,
            fired_at_ms,
            resolved_at_ms: Some(now_ms),
            ..describe(meta, TransitionKind::Resolved, alert_id, now_ms)
        }),
        Phase::Normal | Phase::Pending { .. } => None,
    }
}

fn fire(
    rule: &Rule,
    pair: &mut PairState,
    report: &dyn ReportView,
    obs: Observation,
    now_ms: i64,
) -> Transition {
    pair.firings = pair.firings.saturating_add(1);
    let meta = meta_of(rule, report);
    let id = alert_id(
        &meta.rule_id,
        &meta.tenant_id,
        &meta.campaign_id,
        meta.job_id.as_deref(),
        pair.firings,
    );
    let message = message(rule, report, obs.value);
    pair.phase = Phase::Firing {
        alert_id: id.clone(),
        fired_at_ms: now_ms,
        value: obs.value,
        last_sent_ms: now_ms,
        message: message.clone(),
    };
    Transition {
        value: obs.value,
        message,
        ..describe(&meta, TransitionKind::Fired, id, now_ms)
    }
}

/// A reminder of a still-firing alert, with the current value and a
/// message rendered with it.
fn repeat(
    rule: &Rule,
    pair: &mut PairState,
    report: &dyn ReportView,
    obs: Observation,
    now_ms: i64,
) -> Option<Transition> {
    let every = rule.repeat_interval_seconds?;
    let Phase::Firing {
        alert_id,
        fired_at_ms,
        last_sent_ms,
        ..
    } = &mut pair.phase
    else {
        return None;
    };
    if !elapsed(*last_sent_ms, now_ms, every) {
        return None;
    }
    *last_sent_ms = now_ms;
    Some(Transition {
        value: obs.value,
        message: message(rule, report, obs.value),
        fired_at_ms: *fired_at_ms,
        ..describe(
            &meta_of(rule, report),
            TransitionKind::Repeated,
            alert_id.clone(),
            now_ms,
        )
    })
}

fn meta_of(rule: &Rule, report: &dyn ReportView) -> AlertMeta {
    AlertMeta::new(rule, report.campaign_id(), report.job_id())
}

fn message(rule: &Rule, report: &dyn ReportView, value: Option<f64>) -> String {
    render(
        rule.message.as_deref(),
        &TransitionFields {
            rule_name: &rule.name,
            condition: &rule.condition,
            campaign_id: report.campaign_id(),
            job_id: report.job_id(),
            value,
            status: report.status(),
        },
    )
}

/// A transition of `alert_id` at `at_ms` described by `meta`, with no
/// value, an empty message, fired at `at_ms` and not resolved.
fn describe(meta: &AlertMeta, kind: TransitionKind, alert_id: String, at_ms: i64) -> Transition {
    Transition {
        alert_id,
        kind,
        tenant_id: meta.tenant_id.clone(),
        rule_id: meta.rule_id.clone(),
        rule_name: meta.rule_name.clone(),
        severity: meta.severity,
        campaign_id: meta.campaign_id.clone(),
        job_id: meta.job_id.clone(),
        value: None,
        threshold: meta.threshold,
        message: String::new(),
        fired_at_ms: at_ms,
        resolved_at_ms: None,
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{observe, Activity};
    use crate::rule::{Condition, Metric, Op, Severity};
    use crate::testkit::{rule, TestReport};

    const T0: i64 = 1_700_000_000_000;

    fn low_rate() -> Rule {
        rule(Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 5.0,
        })
    }

    fn rate(value: f64) -> TestReport {
        TestReport::new().with_metric(Metric::InteractionRate, value)
    }

    /// Observes and steps, as the book does.
    fn run(
        rule: &Rule,
        pair: &mut PairState,
        report: &TestReport,
        now_ms: i64,
    ) -> Option<Transition> {
        let obs = observe(
            rule,
            report,
            Activity {
                last_applied_ms: now_ms,
            },
            now_ms,
        )?;
        step(rule, pair, report, obs, now_ms)
    }

    #[test]
    fn fires_and_resolves_at_once_without_for_seconds() {
        let r = low_rate();
        let mut pair = PairState::default();
        assert_eq!(run(&r, &mut pair, &rate(7.0), T0), None);
        let fired = run(&r, &mut pair, &rate(3.2), T0 + 1).expect("fired");
        assert_eq!(fired.kind, TransitionKind::Fired);
        assert_eq!(fired.alert_id, alert_id("r-1", "t-1", "c-1", None, 1));
        assert_eq!((fired.value, fired.threshold), (Some(3.2), Some(5.0)));
        assert_eq!(
            (fired.fired_at_ms, fired.resolved_at_ms, fired.at_ms),
            (T0 + 1, None, T0 + 1)
        );
        assert_eq!(
            fired.message,
            "interaction_rate < 5 on campaign c-1 (value 3.2)"
        );
        assert_eq!(
            (fired.rule_name.as_str(), fired.severity),
            ("Rule one", Severity::Critical)
        );
        assert!(pair.is_firing());
        assert_eq!(run(&r, &mut pair, &rate(2.0), T0 + 2), None, "still firing");

        let resolved = run(&r, &mut pair, &rate(6.0), T0 + 3).expect("resolved");
        assert_eq!(resolved.kind, TransitionKind::Resolved);
        assert_eq!(resolved.alert_id, fired.alert_id);
        assert_eq!(
            (resolved.value, resolved.fired_at_ms),
            (Some(3.2), T0 + 1),
            "as it fired"
        );
        assert_eq!(
            (resolved.resolved_at_ms, resolved.at_ms),
            (Some(T0 + 3), T0 + 3)
        );
        assert_eq!(resolved.message, fired.message);
        assert_eq!(
            pair,
            PairState {
                phase: Phase::Normal,
                firings: 1
            }
        );
    }

    #[test]
    fn pending_fires_only_after_for_seconds() {
        let mut r = low_rate();
        r.for_seconds = 60;
        let mut pair = PairState::default();
        assert_eq!(run(&r, &mut pair, &rate(3.0), T0), None);
        assert_eq!(pair.phase, Phase::Pending { since_ms: T0 });
        assert_eq!(run(&r, &mut pair, &rate(2.0), T0 + 59_999), None);
        assert_eq!(
            pair.phase,
            Phase::Pending { since_ms: T0 },
            "since is not moved"
        );
        let fired = run(&r, &mut pair, &rate(2.0), T0 + 60_000).expect("fired");
        assert_eq!(
            (fired.kind, fired.fired_at_ms, fired.value),
            (TransitionKind::Fired, T0 + 60_000, Some(2.0))
        );
        assert_eq!(pair.firings, 1);
    }

    #[test]
    fn pending_goes_back_to_normal_silently() {
        let mut r = low_rate();
        r.for_seconds = 60;
        let mut pair = PairState::default();
        assert_eq!(run(&r, &mut pair, &rate(3.0), T0), None);
        assert_eq!(run(&r, &mut pair, &rate(9.0), T0 + 30_000), None);
        assert_eq!(pair, PairState::default());
        // Holding again starts a new wait.
        assert_eq!(run(&r, &mut pair, &rate(3.0), T0 + 40_000), None);
        assert_eq!(run(&r, &mut pair, &rate(3.0), T0 + 90_000), None);
        assert!(run(&r, &mut pair, &rate(3.0), T0 + 100_000).is_some());
    }

    #[test]
    fn nth_firing_ids_are_distinct_and_deterministic() {
        let r = low_rate();
        let replay = || {
            let mut pair = PairState::default();
            let mut ids = Vec::new();
            for (i, value) in [3.0, 8.0, 3.0, 8.0, 3.0].into_iter().enumerate() {
                if let Some(t) = run(&r, &mut pair, &rate(value), T0 + i as i64) {
                    ids.push((t.kind, t.alert_id));
                }
            }
            ids
        };
        let first = replay();
        assert_eq!(first, replay(), "a replay yields the same ids");
        let fired: Vec<&String> = first
            .iter()
            .filter(|(k, _)| *k == TransitionKind::Fired)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(fired.len(), 3);
        assert_ne!(fired[0], fired[1]);
        assert_ne!(fired[1], fired[2]);
        assert_eq!(*fired[2], alert_id("r-1", "t-1", "c-1", None, 3));
        assert_eq!(first[1], (TransitionKind::Resolved, fired[0].clone()));
    }

    #[test]
    fn disabled_rule_resolves() {
        let mut r = low_rate();
        let mut pair = PairState::default();
        let fired = run(&r, &mut pair, &rate(3.0), T0).expect("fired");
        r.enabled = false;
        let resolved = run(&r, &mut pair, &rate(3.0), T0 + 5).expect("resolved");
        assert_eq!(
            (resolved.kind, resolved.alert_id),
            (TransitionKind::Resolved, fired.alert_id)
        );
        assert_eq!(
            run(&r, &mut pair, &rate(3.0), T0 + 6),
            None,
            "stays normal while disabled"
        );

        let mut pending = PairState {
            phase: Phase::Pending { since_ms: T0 },
            firings: 2,
        };
        assert_eq!(run(&r, &mut pending, &rate(3.0), T0 + 7), None);
        assert_eq!(
            pending,
            PairState {
                phase: Phase::Normal,
                firings: 2
            }
        );
    }

    #[test]
    fn resolve_with_meta_only() {
        let r = low_rate();
        let mut pair = PairState::default();
        let fired = run(&r, &mut pair, &rate(3.0), T0).expect("fired");
        let meta = AlertMeta::new(&r, "c-1", None);
        let resolved = resolve(&mut pair, &meta, T0 + 9).expect("resolved");
        assert_eq!(
            resolved,
            Transition {
                kind: TransitionKind::Resolved,
                resolved_at_ms: Some(T0 + 9),
                at_ms: T0 + 9,
                ..fired
            }
        );
        assert_eq!(resolve(&mut pair, &meta, T0 + 10), None);
    }

    #[test]
    fn repeat_interval() {
        let mut r = low_rate();
        r.repeat_interval_seconds = Some(3600);
        let mut pair = PairState::default();
        let fired = run(&r, &mut pair, &rate(3.0), T0).expect("fired");
        assert_eq!(run(&r, &mut pair, &rate(2.0), T0 + 3_599_999), None);
        let again = run(&r, &mut pair, &rate(2.0), T0 + 3_600_000).expect("repeated");
        assert_eq!(again.kind, TransitionKind::Repeated);
        assert_eq!(again.alert_id, fired.alert_id);
        assert_eq!(
            (again.fired_at_ms, again.value, again.resolved_at_ms),
            (T0, Some(2.0), None)
        );
        assert_eq!(
            again.idempotency_key(),
            format!("{}:repeat:{}", fired.alert_id, T0 + 3_600_000)
        );
        assert_eq!(
            run(&r, &mut pair, &rate(2.0), T0 + 3_700_000),
            None,
            "counted from the last send"
        );
        assert!(run(&r, &mut pair, &rate(2.0), T0 + 7_200_000).is_some());
        // Without an interval, never.
        r.repeat_interval_seconds = None;
        assert_eq!(run(&r, &mut pair, &rate(2.0), T0 + 100_000_000), None);
    }

    #[test]
    fn min_sent_users_leaves_the_state_alone() {
        let mut r = low_rate();
        let mut pair = PairState::default();
        run(&r, &mut pair, &rate(3.0), T0).expect("fired");
        let before = pair.clone();
        r.min_sent_users = 10_000;
        // The rate recovered, but the report is too small to look at.
        assert_eq!(run(&r, &mut pair, &rate(9.0), T0 + 1), None);
        assert_eq!(pair, before);
    }

    #[test]
    fn custom_message() {
        let mut r = rule(Condition::Status {
            status: "ERROR".into(),
        });
        r.message = Some("{{rule}}: {{campaign_id}} is {{status}}".into());
        let mut pair = PairState::default();
        let fired = run(&r, &mut pair, &TestReport::new().with_status("ERROR"), T0).expect("fired");
        assert_eq!(fired.message, "Rule one: c-1 is ERROR");
        assert_eq!((fired.value, fired.threshold), (None, None));
    }

    #[test]
    fn pair_state_serde() {
        for state in [
            PairState::default(),
            PairState {
                phase: Phase::Pending { since_ms: T0 },
                firings: 3,
            },
            PairState {
                phase: Phase::Firing {
                    alert_id: "a".into(),
                    fired_at_ms: T0,
                    value: Some(1.5),
                    last_sent_ms: T0 + 1,
                    message: "m".into(),
                },
                firings: 4,
            },
        ] {
            let json = serde_json::to_string(&state).expect("serialize");
            assert_eq!(
                serde_json::from_str::<PairState>(&json).expect(&json),
                state
            );
        }
        let json = serde_json::to_value(PairState::default()).expect("serialize");
        assert_eq!(json, serde_json::json!({"phase": "normal", "firings": 0}));
    }
}
