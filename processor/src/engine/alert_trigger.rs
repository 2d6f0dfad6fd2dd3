//! When a snapshot is taken ahead of the interval because an alert
//! transition is due (ARCHITECTURE.md, "Alerts", "Snapshots ahead of the
//! interval"). Pure timing: the engine asks the state whether a
//! transition is due, this decides when it may ask and when the answer
//! may start a snapshot.

use std::time::{Duration, Instant};

/// How often the engine looks at most (the looking takes its time out of
/// consumption: see [`AlertTrigger::looked`]).
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The looking may take at most this share of the engine thread: after a
/// look that took `t`, the next is at least `t * SPACING` later.
const SPACING: u32 = 20;

#[derive(Debug)]
pub(super) struct AlertTrigger {
    /// Least time between two snapshots taken, for one taken early;
    /// `None`: snapshots keep to the interval.
    gap: Option<Duration>,
    last_take: Instant,
    next_look: Instant,
}

impl AlertTrigger {
    pub(super) fn new(gap: Option<Duration>, now: Instant) -> Self {
        AlertTrigger {
            gap,
            last_take: now,
            next_look: now,
        }
    }

    /// Whether to look for a due transition now: early snapshots are on,
    /// the previous look is far enough behind, and a snapshot taken now
    /// would keep the gap.
    pub(super) fn may_look(&self, now: Instant) -> bool {
        self.gap
            .is_some_and(|gap| now >= self.next_look && now >= self.last_take + gap)
    }

    /// A look that started at `now` took `cost`.
    pub(super) fn looked(&mut self, now: Instant, cost: Duration) {
        self.next_look = now + cost.saturating_mul(SPACING).max(LOOK_EVERY);
    }

    /// A snapshot was taken at `now` (on the interval or early).
    pub(super) fn taken(&mut self, now: Instant) {
        self.last_take = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn off_without_a_gap() {
        let t0 = Instant::now();
        let trigger = AlertTrigger::new(None, t0);
        assert!(!trigger.may_look(t0 + 10_000 * MS));
    }

    #[test]
    fn keeps_the_gap_after_every_snapshot() {
        let t0 = Instant::now();
        let mut trigger = AlertTrigger::new(Some(250 * MS), t0);
        assert!(!trigger.may_look(t0 + 249 * MS));
        assert!(trigger.may_look(t0 + 250 * MS));
        trigger.taken(t0 + 600 * MS);
        assert!(!trigger.may_look(t0 + 849 * MS));
        assert!(trigger.may_look(t0 + 850 * MS));
    }

    #[test]
    fn spaces_looks_by_their_cost() {
        let t0 = Instant::now();
        let mut trigger = AlertTrigger::new(Some(Duration::ZERO), t0);
        assert!(trigger.may_look(t0));
        // A cheap look: the next one after LOOK_EVERY.
        trigger.looked(t0, MS / 10);
        assert!(!trigger.may_look(t0 + 49 * MS));
        assert!(trigger.may_look(t0 + 50 * MS));
        // A look of 10 ms: the next one 200 ms later (at most 5 % of the
        // engine thread).
        trigger.looked(t0 + 50 * MS, 10 * MS);
        assert!(!trigger.may_look(t0 + 249 * MS));
        assert!(trigger.may_look(t0 + 250 * MS));
    }
}
