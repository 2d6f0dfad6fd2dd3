//! What the scheduler does with a due schedule: which scheduled instant to
//! run (if any) and the next instant. On time (due no longer than `grace`
//! ago) the due instant runs. Later than that, the system was down: by the
//! schedule's [`MissedPolicy`], the latest missed instant runs once
//! (`once`), or nothing runs (`skip`). Either way the next instant is the
//! first one after now, so a schedule missed a hundred times runs at most
//! once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::schedule::{MissedPolicy, ValidSchedule};

/// The decision for one due schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueStep {
    /// The scheduled instant to create a run for; `None`: skipped.
    pub run_for: Option<DateTime<Utc>>,
    /// The next instant (`None`: the cadence never matches again).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Whether the schedule was found late (missed instants).
    pub missed: bool,
}

/// Decide for `schedule`, due at `due_at`, at `now`.
pub fn decide(
    schedule: &ValidSchedule,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> DueStep {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let late = now.signed_duration_since(due_at) > grace;
    let run_for = if !late {
        Some(due_at)
    } else {
        match schedule.missed() {
            MissedPolicy::Skip => None,
            // The latest instant in [due_at, now]; due_at itself when no
            // later one passed.
            MissedPolicy::Once => Some(schedule.last_at_or_before(due_at, now).unwrap_or(due_at)),
        }
    };
    let after = run_for.map_or(now, |r| r.max(now));
    DueStep {
        run_for,
        next_run_at: schedule.next_after(after),
        missed: late,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleInput;

    fn schedule(json: &str) -> ValidSchedule {
        ScheduleInput::from_json(json)
            .unwrap()
            .validate("Europe/Berlin")
            .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const GRACE: Duration = Duration::from_secs(300);

    #[test]
    fn on_time_runs_the_due_instant() {
        let s = schedule(r#"{"preset": {"type": "daily", "time": "08:00"}}"#);
        let due = at("2026-11-30T07:00:00Z");
        let step = decide(&s, due, at("2026-11-30T07:00:02Z"), GRACE);
        assert_eq!(step.run_for, Some(due));
        assert_eq!(step.next_run_at, Some(at("2026-12-01T07:00:00Z")));
        assert!(!step.missed);
    }

    #[test]
    fn missed_instants_run_once_for_the_latest() {
        let s = schedule(r#"{"preset": {"type": "daily", "time": "08:00"}}"#);
        // Down from the 20th to the 30th, 10:00 local.
        let step = decide(
            &s,
            at("2026-11-20T07:00:00Z"),
            at("2026-11-30T09:00:00Z"),
            GRACE,
        );
        assert_eq!(step.run_for, Some(at("2026-11-30T07:00:00Z")));
        assert_eq!(step.next_run_at, Some(at("2026-12-01T07:00:00Z")));
        assert!(step.missed);
    }

    #[test]
    fn missed_instants_are_skipped_by_choice() {
        let s = schedule(r#"{"preset": {"type": "daily", "time": "08:00"}, "missed": "skip"}"#);
        let step = decide(
            &s,
            at("2026-11-20T07:00:00Z"),
            at("2026-11-30T09:00:00Z"),
            GRACE,
        );
        assert_eq!(step.run_for, None);
        assert_eq!(step.next_run_at, Some(at("2026-12-01T07:00:00Z")));
    }

    #[test]
    fn a_late_step_within_grace_is_on_time() {
        let s = schedule(r#"{"cron": "*/5 * * * *", "missed": "skip"}"#);
        let due = at("2026-11-30T07:00:00Z");
        let step = decide(&s, due, at("2026-11-30T07:04:00Z"), GRACE);
        assert_eq!(step.run_for, Some(due));
        // The next instant is after now, not after the due one.
        assert_eq!(step.next_run_at, Some(at("2026-11-30T07:05:00Z")));
    }

    #[test]
    fn a_step_never_schedules_at_or_before_now() {
        let s = schedule(r#"{"cron": "* * * * *"}"#);
        let now = at("2026-11-30T07:10:30Z");
        let step = decide(&s, at("2026-11-30T07:00:00Z"), now, GRACE);
        assert_eq!(step.run_for, Some(at("2026-11-30T07:10:00Z")));
        assert!(step.next_run_at.unwrap() > now);
    }
}
