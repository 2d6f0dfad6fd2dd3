//! All (rule, report) pairs of one campaign: the [`AlertBook`] that the
//! processor keeps in, and persists with, each campaign's state.
//!
//! Only pairs with something to remember are stored: a pair that is
//! `normal` and never fired is left out; one that fired before is kept,
//! because its firing count makes the next alert's id unique.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::{AlertMeta, Transition};
use crate::report::{in_scope, observe, Activity, ReportView};
use crate::rule::Rule;
use crate::state::{resolve, step, PairState, Phase};
use crate::time::seconds_to_ms;

/// Which pair: the rule, and the report's job (`None` for the all-jobs
/// report) within the book's campaign.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PairKey {
    /// The rule.
    pub rule_id: String,
    /// The report's job.
    pub job_id: Option<String>,
}

/// One stored pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairEntry {
    /// The state machine.
    pub state: PairState,
    /// What describes its alerts without the rule (after a deletion); its
    /// `rule_id` and `job_id` are the pair's key.
    pub meta: AlertMeta,
    /// The rule's `for_seconds` when last evaluated (for timers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub for_seconds: u64,
    /// The rule's `repeat_interval_seconds` when last evaluated (for
    /// timers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval_seconds: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PairEntry {
    fn new(rule: &Rule, report: &dyn ReportView) -> Self {
        PairEntry {
            state: PairState::default(),
            meta: AlertMeta::new(rule, report.campaign_id(), report.job_id()),
            for_seconds: rule.for_seconds,
            repeat_interval_seconds: rule.repeat_interval_seconds,
        }
    }

    fn key(&self) -> PairKey {
        PairKey {
            rule_id: self.meta.rule_id.clone(),
            job_id: self.meta.job_id.clone(),
        }
    }

    fn refresh(&mut self, rule: &Rule) {
        self.meta.refresh(rule);
        self.for_seconds = rule.for_seconds;
        self.repeat_interval_seconds = rule.repeat_interval_seconds;
    }

    /// When this pair next needs a [`step`] although its report did not
    /// change: the end of `for_seconds` (pending), the next reminder
    /// (firing with a repeat interval).
    fn deadline_ms(&self) -> Option<i64> {
        match &self.state.phase {
            Phase::Normal => None,
            Phase::Pending { since_ms } => {
                Some(since_ms.saturating_add(seconds_to_ms(self.for_seconds)))
            }
            Phase::Firing { last_sent_ms, .. } => self
                .repeat_interval_seconds
                .map(|every| last_sent_ms.saturating_add(seconds_to_ms(every))),
        }
    }
}

/// The alert state of every (rule, report) pair of one campaign.
///
/// Serialized as a JSON array of [`PairEntry`] (the keys are rebuilt from
/// each entry's meta), compact enough to persist with every campaign
/// header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertBook {
    pairs: BTreeMap<PairKey, PairEntry>,
}

impl AlertBook {
    /// Evaluates `rules` on `report` (one report of this book's campaign)
    /// at processing time `now_ms`, and returns the transitions, in the
    /// order of `rules`.
    ///
    /// Each enabled rule of the report's tenant whose scope contains the
    /// report is observed ([`observe`]) and stepped ([`step`]); a rule
    /// below its `min_sent_users` leaves its pair untouched. Pairs whose
    /// rule is missing from `rules`, disabled or out of scope are left
    /// alone here: [`AlertBook::retire`] resolves them.
    ///
    /// Call it whenever the report changes, and on a timer for the pairs of
    /// [`AlertBook::next_deadline_ms`] and the rules that
    /// [`Rule::needs_timer`].
    pub fn evaluate(
        &mut self,
        rules: &[&Rule],
        report: &dyn ReportView,
        activity: Activity,
        now_ms: i64,
    ) -> Vec<Transition> {
        debug_assert!(
            self.pairs
                .values()
                .all(|e| e.meta.campaign_id == report.campaign_id()),
            "one book per campaign"
        );
        let job_id = report.job_id();
        let mut transitions = Vec::new();
        // One key buffer for the lookups: no allocation per rule once it
        // has grown to the longest rule id (a book may hold a pair for
        // each of a hundred rules; a scan per rule would be quadratic).
        let mut key = PairKey {
            rule_id: String::new(),
            job_id: job_id.map(str::to_owned),
        };
        for rule in rules {
            if !rule.enabled || !in_scope(rule, report) {
                continue;
            }
            let Some(obs) = observe(rule, report, activity, now_ms) else {
                continue;
            };
            key.rule_id.clear();
            key.rule_id.push_str(&rule.id);
            match self.pairs.get_mut(&key) {
                Some(entry) => {
                    entry.refresh(rule);
                    transitions.extend(step(rule, &mut entry.state, report, obs, now_ms));
                    if entry.state.is_blank() {
                        self.pairs.remove(&key);
                    }
                }
                // `normal` stays `normal`: nothing to store.
                None if !obs.holds => {}
                None => {
                    let mut entry = PairEntry::new(rule, report);
                    transitions.extend(step(rule, &mut entry.state, report, obs, now_ms));
                    if !entry.state.is_blank() {
                        self.pairs.insert(entry.key(), entry);
                    }
                }
            }
        }
        transitions
    }

    /// Resolves the pairs whose rule no longer applies, and returns the
    /// `resolved` transitions. `lookup` gives the tenant's current rule of
    /// an id, **disabled rules included**; `None` means deleted.
    ///
    /// - deleted: a firing alert is resolved (described by the stored
    ///   meta), and the pair is forgotten (rule ids are never reused);
    /// - disabled, of another tenant, or no longer in scope of the pair's
    ///   report: a firing alert is resolved, a pending pair goes back to
    ///   `normal`, and the firing count is kept, so that the alert of a
    ///   re-enabled rule gets a new id.
    pub fn retire<'r>(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<&'r Rule>,
        now_ms: i64,
    ) -> Vec<Transition> {
        let mut transitions = Vec::new();
        self.pairs.retain(|_, entry| {
            let deleted = match lookup(&entry.meta.rule_id) {
                None => true,
                Some(rule) => {
                    let applies = rule.enabled
                        && rule.tenant_id == entry.meta.tenant_id
                        && rule
                            .scope
                            .matches(&entry.meta.campaign_id, entry.meta.job_id.as_deref());
                    if applies {
                        return true;
                    }
                    entry.refresh(rule);
                    false
                }
            };
            transitions.extend(resolve(&mut entry.state, &entry.meta, now_ms));
            !deleted && !entry.state.is_blank()
        });
        transitions
    }

    /// Whether no pair is stored.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// How many pairs are stored.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The stored pair of `rule_id` on the report of `job_id`.
    pub fn get(&self, rule_id: &str, job_id: Option<&str>) -> Option<&PairEntry> {
        self.pairs.get(&PairKey {
            rule_id: rule_id.to_owned(),
            job_id: job_id.map(str::to_owned),
        })
    }

    /// Every stored pair, in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&PairKey, &PairEntry)> {
        self.pairs.iter()
    }

    /// The pairs with an open alert.
    pub fn firing(&self) -> impl Iterator<Item = (&PairKey, &PairEntry)> {
        self.pairs.iter().filter(|(_, e)| e.state.is_firing())
    }

    /// Whether some pair needs evaluating although its report does not
    /// change: a pending pair, or a firing one with a repeat interval.
    /// (Inactivity rules need a timer too, stored pair or not:
    /// [`Rule::needs_timer`].)
    pub fn needs_timer(&self) -> bool {
        self.next_deadline_ms().is_some()
    }

    /// The earliest processing time at which a pair needs evaluating
    /// although its report does not change, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.pairs.values().filter_map(PairEntry::deadline_ms).min()
    }
}

impl Serialize for AlertBook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.pairs.values())
    }
}

impl<'de> Deserialize<'de> for AlertBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<PairEntry>::deserialize(deserializer)?;
        Ok(AlertBook {
            pairs: entries.into_iter().map(|e| (e.key(), e)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alert::{alert_id, TransitionKind};
    use crate::rule::{Condition, Metric, Op, Scope};
    use crate::testkit::{rule, TestReport};

    const T0: i64 = 1_700_000_000_000;
    const IDLE: Activity = Activity {
        last_applied_ms: T0,
    };

    fn low_rate(id: &str) -> Rule {
        let mut r = rule(Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 5.0,
        });
        r.id = id.into();
        r
    }

    fn rate(value: f64) -> TestReport {
        TestReport::new().with_metric(Metric::InteractionRate, value)
    }

    fn kinds(transitions: &[Transition]) -> Vec<(TransitionKind, &str)> {
        transitions
            .iter()
            .map(|t| (t.kind, t.rule_id.as_str()))
            .collect()
    }

    #[test]
    fn evaluates_rules_in_scope_only() {
        let every = low_rate("every");
        let mut this = low_rate("this");
        this.scope = Scope {
            campaign_id: Some("c-1".into()),
            job_id: None,
        };
        let mut other = low_rate("other");
        other.scope = Scope {
            campaign_id: Some("c-2".into()),
            job_id: None,
        };
        let mut job = low_rate("job");
        job.scope = Scope {
            campaign_id: Some("c-1".into()),
            job_id: Some("j-1".into()),
        };
        let mut disabled = low_rate("disabled");
        disabled.enabled = false;
        let mut foreign = low_rate("foreign");
        foreign.tenant_id = "t-2".into();
        let rules = [&every, &this, &other, &job, &disabled, &foreign];

        let mut book = AlertBook::default();
        let t = book.evaluate(&rules, &rate(3.0), IDLE, T0);
        assert_eq!(
            kinds(&t),
            [
                (TransitionKind::Fired, "every"),
                (TransitionKind::Fired, "this")
            ]
        );

        let t = book.evaluate(&rules, &rate(3.0).with_job("j-1"), IDLE, T0);
        assert_eq!(kinds(&t), [(TransitionKind::Fired, "job")]);
        assert_eq!(t[0].job_id.as_deref(), Some("j-1"));
        assert_eq!(t[0].alert_id, alert_id("job", "t-1", "c-1", Some("j-1"), 1));
        assert_eq!(book.len(), 3);
        assert_eq!(book.firing().count(), 3);

        let mut elsewhere = AlertBook::default();
        let t = elsewhere.evaluate(&rules, &rate(3.0).with_campaign("c-2"), IDLE, T0);
        assert_eq!(
            kinds(&t),
            [
                (TransitionKind::Fired, "every"),
                (TransitionKind::Fired, "other")
            ]
        );
    }

    #[test]
    fn stores_only_pairs_worth_remembering() {
        let r = low_rate("r");
        let mut book = AlertBook::default();
        assert!(book.evaluate(&[&r], &rate(9.0), IDLE, T0).is_empty());
        assert!(book.is_empty(), "normal and never fired");
        book.evaluate(&[&r], &rate(3.0), IDLE, T0 + 1);
        let t = book.evaluate(&[&r], &rate(9.0), IDLE, T0 + 2);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "r")]);
        let entry = book.get("r", None).expect("kept for its firing count");
        assert_eq!(
            entry.state,
            PairState {
                phase: Phase::Normal,
                firings: 1
            }
        );
        let t = book.evaluate(&[&r], &rate(3.0), IDLE, T0 + 3);
        assert_eq!(t[0].alert_id, alert_id("r", "t-1", "c-1", None, 2));

        let mut slow = low_rate("slow");
        slow.for_seconds = 10;
        let mut book = AlertBook::default();
        book.evaluate(&[&slow], &rate(3.0), IDLE, T0);
        assert!(book.get("slow", None).is_some_and(|e| e.state.is_pending()));
        book.evaluate(&[&slow], &rate(9.0), IDLE, T0 + 1);
        assert!(book.is_empty(), "pending went back to normal, never fired");
    }

    #[test]
    fn min_sent_users_leaves_pairs_untouched() {
        let mut r = low_rate("r");
        let mut book = AlertBook::default();
        book.evaluate(&[&r], &rate(3.0), IDLE, T0);
        let before = book.clone();
        r.min_sent_users = 5000;
        assert!(book.evaluate(&[&r], &rate(9.0), IDLE, T0 + 1).is_empty());
        assert_eq!(book, before);
        let mut fresh = AlertBook::default();
        assert!(fresh.evaluate(&[&r], &rate(3.0), IDLE, T0).is_empty());
        assert!(fresh.is_empty());
    }

    #[test]
    fn pending_fires_on_the_timer() {
        let mut r = low_rate("r");
        r.for_seconds = 60;
        let mut book = AlertBook::default();
        let report = rate(3.0);
        assert!(book.evaluate(&[&r], &report, IDLE, T0).is_empty());
        assert!(book.needs_timer());
        assert_eq!(book.next_deadline_ms(), Some(T0 + 60_000));
        assert!(book.evaluate(&[&r], &report, IDLE, T0 + 59_000).is_empty());
        let t = book.evaluate(&[&r], &report, IDLE, T0 + 60_000);
        assert_eq!(kinds(&t), [(TransitionKind::Fired, "r")]);
        assert!(!book.needs_timer(), "firing without a repeat interval");

        r.repeat_interval_seconds = Some(600);
        assert!(book.evaluate(&[&r], &report, IDLE, T0 + 61_000).is_empty());
        assert_eq!(book.next_deadline_ms(), Some(T0 + 660_000));
        let t = book.evaluate(&[&r], &report, IDLE, T0 + 660_000);
        assert_eq!(kinds(&t), [(TransitionKind::Repeated, "r")]);
    }

    #[test]
    fn inactivity_on_the_timer_and_back_on_an_event() {
        let r = rule(Condition::Inactivity { seconds: 600 });
        assert!(r.needs_timer());
        let running = TestReport::new().with_status("RUNNING");
        let mut book = AlertBook::default();
        assert!(book
            .evaluate(&[&r], &running, IDLE, T0 + 599_000)
            .is_empty());
        let t = book.evaluate(&[&r], &running, IDLE, T0 + 600_000);
        assert_eq!(kinds(&t), [(TransitionKind::Fired, "r-1")]);
        assert_eq!(t[0].message, "campaign c-1 inactive for 600 s");
        assert_eq!((t[0].value, t[0].threshold), (None, None));
        let event = Activity {
            last_applied_ms: T0 + 700_000,
        };
        let t = book.evaluate(&[&r], &running, event, T0 + 700_000);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "r-1")]);
    }

    #[test]
    fn funnel_rule_follows_a_late_script() {
        let r = rule(Condition::FunnelConversion {
            node_id: "n2".into(),
            op: Op::Lt,
            value: 40.0,
        });
        let mut book = AlertBook::default();
        // Events before the script: no funnel, not true.
        assert!(book
            .evaluate(&[&r], &TestReport::new(), IDLE, T0)
            .is_empty());
        // The script arrives: n2 converts 25 %.
        let scripted = TestReport::new()
            .with_funnel("n1", 100.0)
            .with_funnel("n2", 25.0);
        let t = book.evaluate(&[&r], &scripted, IDLE, T0 + 1);
        assert_eq!(kinds(&t), [(TransitionKind::Fired, "r-1")]);
        assert_eq!(t[0].value, Some(25.0));
        assert_eq!(
            t[0].message,
            "funnel step n2 conversion < 40 on campaign c-1 (value 25)"
        );
        // A new script without n2: the step is gone, the alert resolves.
        let rescripted = TestReport::new()
            .with_funnel("n1", 100.0)
            .with_funnel("n3", 10.0);
        let t = book.evaluate(&[&r], &rescripted, IDLE, T0 + 2);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "r-1")]);
        // n2 comes back with a healthy conversion: nothing.
        let healthy = TestReport::new()
            .with_funnel("n1", 100.0)
            .with_funnel("n2", 80.0);
        assert!(book.evaluate(&[&r], &healthy, IDLE, T0 + 3).is_empty());
    }

    #[test]
    fn retire_on_delete() {
        let kept = low_rate("kept");
        let gone = low_rate("gone");
        let mut pending = low_rate("pending");
        pending.for_seconds = 60;
        let mut book = AlertBook::default();
        book.evaluate(&[&kept, &gone, &pending], &rate(3.0), IDLE, T0);
        assert_eq!(book.len(), 3);
        let fired = book.get("gone", None).cloned().expect("stored");

        let live: BTreeMap<&str, &Rule> = BTreeMap::from([("kept", &kept)]);
        let t = book.retire(&|id| live.get(id).copied(), T0 + 5);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "gone")]);
        let Phase::Firing { alert_id, .. } = &fired.state.phase else {
            panic!("firing")
        };
        assert_eq!(&t[0].alert_id, alert_id);
        assert_eq!(
            (t[0].rule_name.as_str(), t[0].resolved_at_ms),
            ("Rule one", Some(T0 + 5))
        );
        assert_eq!(book.len(), 1, "deleted rules are forgotten");
        assert!(book.get("kept", None).is_some_and(|e| e.state.is_firing()));
        assert!(book.retire(&|id| live.get(id).copied(), T0 + 6).is_empty());
    }

    #[test]
    fn retire_on_disable_keeps_the_count() {
        let mut r = low_rate("r");
        let mut book = AlertBook::default();
        let first = book.evaluate(&[&r], &rate(3.0), IDLE, T0);
        r.enabled = false;
        r.name = "Renamed".into();
        let t = book.retire(&|_| Some(&r), T0 + 1);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "r")]);
        assert_eq!(t[0].alert_id, first[0].alert_id);
        assert_eq!(t[0].rule_name, "Renamed");
        assert!(
            book.evaluate(&[&r], &rate(3.0), IDLE, T0 + 2).is_empty(),
            "disabled"
        );
        r.enabled = true;
        let again = book.evaluate(&[&r], &rate(3.0), IDLE, T0 + 3);
        assert_eq!(again[0].alert_id, alert_id("r", "t-1", "c-1", None, 2));
        assert_ne!(again[0].alert_id, first[0].alert_id);
    }

    #[test]
    fn retire_when_the_scope_moves_away() {
        let mut r = low_rate("r");
        let mut book = AlertBook::default();
        book.evaluate(&[&r], &rate(3.0), IDLE, T0);
        assert!(
            book.retire(&|_| Some(&r), T0 + 1).is_empty(),
            "still applies"
        );
        r.scope = Scope {
            campaign_id: Some("c-9".into()),
            job_id: None,
        };
        let t = book.retire(&|_| Some(&r), T0 + 2);
        assert_eq!(kinds(&t), [(TransitionKind::Resolved, "r")]);
        assert_eq!(book.firing().count(), 0);
    }

    #[test]
    fn serde_round_trip() {
        let fast = low_rate("fast");
        let mut slow = low_rate("slow");
        slow.for_seconds = 60;
        let mut once = low_rate("once");
        once.repeat_interval_seconds = Some(300);
        let mut book = AlertBook::default();
        book.evaluate(&[&fast, &slow, &once], &rate(3.0), IDLE, T0);
        book.evaluate(&[&once], &rate(9.0), IDLE, T0 + 1);
        let mut job = low_rate("job");
        job.scope = Scope {
            campaign_id: Some("c-1".into()),
            job_id: Some("j-1".into()),
        };
        book.evaluate(&[&job], &rate(3.0).with_job("j-1"), IDLE, T0 + 2);
        assert_eq!(book.len(), 4);

        let json = serde_json::to_string(&book).expect("serialize");
        let back: AlertBook = serde_json::from_str(&json).expect(&json);
        assert_eq!(back, book);
        assert!(json.starts_with('['), "{json}");
        assert_eq!(
            serde_json::from_str::<AlertBook>("[]").expect("empty"),
            AlertBook::default()
        );

        let r = {
            let mut r = once.clone();
            r.description = Some("d".into());
            r.scope = Scope {
                campaign_id: Some("c-1".into()),
                job_id: Some("j-1".into()),
            };
            r.channels = vec!["ch-1".into()];
            r.message = Some("{{rule}}".into());
            r
        };
        let json = serde_json::to_string(&r).expect("serialize");
        assert_eq!(serde_json::from_str::<Rule>(&json).expect(&json), r);
    }
}
