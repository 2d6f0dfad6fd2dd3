//! Pacing to a target rate and the once-a-second progress line.

use std::thread;
use std::time::{Duration, Instant};

/// The most a [`Pacer`] falls behind before it restarts its schedule.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// How early a [`Pacer`] lets a record go rather than sleep: at 50 k
/// records/s a sleep per record (20 µs each, a system call and a context
/// switch) costs a good part of a core; this way it sleeps about once a
/// millisecond and sends what is due then.
pub const PACE_SLACK: Duration = Duration::from_millis(1);

/// Holds a producer to `rate` records per second (0: no limit), measured
/// from its creation, so that oversleeping once is caught up afterwards
/// (up to [`MAX_CATCH_UP`]).
#[derive(Debug)]
pub struct Pacer {
    rate: u64,
    start: Instant,
}

impl Pacer {
    pub fn new(rate: u64) -> Self {
        Pacer {
            rate,
            start: Instant::now(),
        }
    }

    /// Wait until record number `sent` (0-based) is due. After a stall
    /// (the process was stopped, or the broker was slow) of more than
    /// [`MAX_CATCH_UP`], the schedule restarts from now instead of sending
    /// the backlog at once: the rate is a rate, not a timetable.
    pub fn wait(&mut self, sent: u64) {
        if self.rate == 0 {
            return;
        }
        let offset = Duration::from_secs_f64(sent as f64 / self.rate as f64);
        let now = Instant::now();
        let due = self.start + offset;
        if due > now + PACE_SLACK {
            thread::sleep(due - now);
        } else if now - due > MAX_CATCH_UP {
            self.start = now.checked_sub(offset).unwrap_or(now);
        }
    }
}

/// Logs progress (queued and delivered of the total, rate, ETA) at most once
/// a second.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    start: Instant,
    last_log: Instant,
    last_delivered: u64,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        let now = Instant::now();
        Progress {
            total,
            start: now,
            last_log: now,
            last_delivered: 0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Log a line if a second has passed since the last one.
    pub fn tick(&mut self, queued: u64, delivered: u64) {
        let now = Instant::now();
        let since = now.duration_since(self.last_log);
        if since < Duration::from_secs(1) {
            return;
        }
        let rate = delivered.saturating_sub(self.last_delivered) as f64 / since.as_secs_f64();
        let overall = delivered as f64 / now.duration_since(self.start).as_secs_f64();
        let left = self.total.saturating_sub(delivered) as f64;
        let eta = if overall > 0.0 {
            format!("{:.0}s", left / overall)
        } else {
            "unknown".to_owned()
        };
        tracing::info!(
            "produced {delivered}/{} ({:.1}%), queued {queued}, {rate:.0} records/s, ETA {eta}",
            self.total,
            if self.total == 0 {
                100.0
            } else {
                delivered as f64 / self.total as f64 * 100.0
            },
        );
        self.last_log = now;
        self.last_delivered = delivered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_restarts_the_schedule_instead_of_bursting() {
        let stalled_since = Instant::now() - Duration::from_secs(5);
        let mut p = Pacer {
            rate: 100,
            start: stalled_since,
        };
        // Record 0 was due 5 s ago: it goes now, and the schedule restarts.
        let t = Instant::now();
        p.wait(0);
        assert!(t.elapsed() < Duration::from_millis(50));
        assert!(p.start > stalled_since + Duration::from_secs(4));
        // So record 10 is due 100 ms later, not in the past.
        p.wait(10);
        assert!(
            t.elapsed() >= Duration::from_millis(90),
            "{:?}",
            t.elapsed()
        );

        // Falling behind by less than MAX_CATCH_UP is caught up.
        let start = Instant::now() - Duration::from_millis(500);
        let mut p = Pacer { rate: 100, start };
        p.wait(0);
        assert_eq!(p.start, start);
    }

    #[test]
    fn the_rate_holds_with_the_slack() {
        // 10 000/s: records 0-5 are due within the slack (they go at
        // once); record 100 is due at 10 ms, and waits for it.
        let t = Instant::now();
        let mut p = Pacer::new(10_000);
        for n in 0..=5 {
            p.wait(n);
        }
        p.wait(100);
        assert!(
            t.elapsed() >= Duration::from_millis(10) - PACE_SLACK,
            "{:?}",
            t.elapsed()
        );
    }
}
