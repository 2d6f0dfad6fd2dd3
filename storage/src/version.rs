//! Row versions. Every snapshot row carries the version of the snapshot
//! that wrote it; the materialized views of `0006_fencing.sql` read the
//! writer's epoch from a version's high bits, so this layout is part of
//! the storage contract.

/// A version's high bits are the epoch of the partition's owner that wrote
/// it (`version = epoch << EPOCH_SHIFT | milliseconds`): a later owner's
/// versions exceed every earlier owner's, and the store can tell whose a
/// row is (ARCHITECTURE.md, "Fencing").
pub const EPOCH_SHIFT: u32 = 41;

/// The epoch a version was written in.
pub fn epoch_of(version: u64) -> u64 {
    version >> EPOCH_SHIFT
}

/// The wall-clock milliseconds a version carries below its epoch (what the
/// snapshot tables are partitioned by, month by month).
pub fn clock_of(version: u64) -> i64 {
    i64::try_from(version & CLOCK_MASK).unwrap_or(i64::MAX)
}

const CLOCK_MASK: u64 = (1 << EPOCH_SHIFT) - 1;

/// The next version of a partition owned in `epoch`: greater than `prev`,
/// and at least the epoch's base plus the wall clock (so versions also
/// order by time within an epoch).
pub fn next_version(epoch: u64, prev: u64, now_ms: i64) -> u64 {
    let base = epoch << EPOCH_SHIFT;
    let clock = u64::try_from(now_ms).unwrap_or(0) & CLOCK_MASK;
    (prev + 1).max(base + clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_a_later_epoch_exceed_every_earlier_one() {
        let late_clock = (1_i64 << EPOCH_SHIFT) - 1;
        let v1 = next_version(1, 0, late_clock);
        let v2 = next_version(2, v1, 0);
        assert!(v2 > v1);
        assert_eq!(epoch_of(v1), 1);
        assert_eq!(epoch_of(v2), 2);
        assert_eq!(clock_of(v1), late_clock);
        assert_eq!(clock_of(v2), 0);
    }

    #[test]
    fn versions_increase_even_when_the_clock_goes_back() {
        let v1 = next_version(3, 0, 1_000_000);
        let v2 = next_version(3, v1, 999_000);
        assert_eq!(v2, v1 + 1);
    }
}
