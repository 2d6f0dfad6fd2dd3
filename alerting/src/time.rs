//! Processing-time arithmetic in milliseconds, saturating so that no
//! configured duration or clock value can overflow.

/// `seconds` in milliseconds, saturating at `i64::MAX`.
pub(crate) fn seconds_to_ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Whether at least `seconds` passed from `since_ms` to `now_ms` (never
/// when the clock went backwards past `since_ms`).
pub(crate) fn elapsed(since_ms: i64, now_ms: i64, seconds: u64) -> bool {
    now_ms.saturating_sub(since_ms) >= seconds_to_ms(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates() {
        assert_eq!(seconds_to_ms(2), 2000);
        assert_eq!(seconds_to_ms(u64::MAX), i64::MAX);
        assert!(elapsed(1000, 3000, 2));
        assert!(!elapsed(1000, 2999, 2));
        assert!(elapsed(0, 0, 0));
        assert!(!elapsed(5000, 1000, 0));
    }
}
