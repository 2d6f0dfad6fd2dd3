//! One timed catch-up and the statistics over repeats.

use std::time::{Duration, Instant};

use super::cpu::CpuSeconds;

/// When a reader (the bare consumer or the processor) reached each point
/// of one catch-up.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub records: u64,
    /// Consumer created / processor spawned.
    pub started: Instant,
    /// The first record arrived: the last sample before it, so that a run
    /// read whole between two samples still has a window (rates are then a
    /// lower bound, never inflated).
    pub first_record: Instant,
    /// Every record was read.
    pub consumed: Instant,
    /// Caught up: for the processor, its checkpoints cover every record.
    pub done: Instant,
    /// CPU used from the start until caught up.
    pub cpu: CpuSeconds,
}

impl Run {
    /// Records per second from the first record until caught up: the rate
    /// the issue compares (start-up and group join are not in it).
    pub fn rate(&self) -> f64 {
        per_second(self.records, self.done - self.first_record)
    }

    /// Records per second from the start (spawn) until caught up.
    pub fn wall_rate(&self) -> f64 {
        per_second(self.records, self.done - self.started)
    }

    /// From the start until the first record.
    pub fn startup(&self) -> Duration {
        self.first_record - self.started
    }

    /// From reading the last record until caught up (the final snapshot's
    /// wait and write, for the processor).
    pub fn tail(&self) -> Duration {
        self.done - self.consumed
    }
}

pub fn per_second(records: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    }
}

/// The median (mean of the two middle values for an even count); 0 when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `q` quantile (0 < q ≤ 1) by nearest rank: the smallest value with
/// at least `q` of the values at or below it; 0 when empty.
pub fn percentile(values: impl IntoIterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(v.clone(), 0.5), 100.0);
        assert_eq!(percentile(v.clone(), 0.99), 198.0);
        assert_eq!(percentile(v, 1.0), 200.0);
        assert_eq!(percentile([3.0], 0.99), 3.0);
        assert_eq!(percentile([], 0.5), 0.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([]), 0.0);
    }
}
