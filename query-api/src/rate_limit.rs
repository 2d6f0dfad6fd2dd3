//! Per-key token buckets, in memory: a key may make `burst` requests at
//! once and `per_second` a second on average. A request that finds the
//! bucket empty is refused with the whole seconds until a token is back.
//!
//! A key's limits are its own (the keys file), else its tenant's (the
//! tenants registry, changed at runtime), else the server's.

use std::sync::Mutex;
use std::time::Instant;

use crate::keys::{KeyStore, Role};

/// A bucket's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    last: Instant,
}

/// One bucket per key of the key store, by key index.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Vec<Mutex<Bucket>>,
    /// Per key: its tenant, when its limits are not its own.
    follows: Vec<Option<String>>,
    default: Limit,
}

impl RateLimiter {
    /// A full bucket per key: its own limits, else `default`'s.
    pub fn new(keys: &KeyStore, default: Limit) -> Self {
        let now = Instant::now();
        let buckets = keys
            .keys()
            .iter()
            .map(|k| {
                let limit = Limit {
                    per_second: k.limit.per_second.unwrap_or(default.per_second),
                    burst: k.limit.burst.unwrap_or(default.burst),
                };
                Mutex::new(Bucket {
                    limit,
                    tokens: f64::from(limit.burst),
                    last: now,
                })
            })
            .collect();
        let follows = keys
            .keys()
            .iter()
            .map(|k| match &k.role {
                Role::Tenant(t) | Role::Producer(t)
                    if k.limit.per_second.is_none() && k.limit.burst.is_none() =>
                {
                    Some(t.clone())
                }
                _ => None,
            })
            .collect();
        RateLimiter {
            buckets,
            follows,
            default,
        }
    }

    /// The tenants registry's limits of `tenant` (`None`: the server's) for
    /// its keys without limits of their own. Returns the keys changed.
    pub fn set_tenant_limits(
        &self,
        tenant: &str,
        per_second: Option<u32>,
        burst: Option<u32>,
    ) -> usize {
        let limit = Limit {
            per_second: per_second.map_or(self.default.per_second, f64::from),
            burst: burst.unwrap_or(self.default.burst),
        };
        let mut changed = 0;
        for (bucket, follows) in self.buckets.iter().zip(&self.follows) {
            if follows.as_deref() != Some(tenant) {
                continue;
            }
            let mut b = match bucket.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            if b.limit != limit {
                b.limit = limit;
                b.tokens = b.tokens.min(f64::from(limit.burst));
                changed += 1;
            }
        }
        changed
    }

    /// Take a token for key `index`: `Err(seconds to wait)` when there is
    /// none (at least 1).
    pub fn check(&self, index: usize) -> Result<(), u64> {
        self.check_at(index, Instant::now())
    }

    fn check_at(&self, index: usize, now: Instant) -> Result<(), u64> {
        let Some(bucket) = self.buckets.get(index) else {
            return Ok(());
        };
        let mut b = match bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        let burst = f64::from(b.limit.burst);
        b.tokens = (b.tokens + elapsed * b.limit.per_second).min(burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / b.limit.per_second).ceil();
        Err(if wait.is_finite() && wait >= 1.0 {
            wait.min(86_400.0) as u64
        } else {
            1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        let keys = KeyStore::parse(
            &format!(
                "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n[[keys]]\ntenant = \"b\"\nsha256 = \"{}\"\nrate_limit_per_second = 1000\nburst = 1000\n",
                crate::keys::hash_key("a"),
                crate::keys::hash_key("b")
            ),
            "t",
        )
        .unwrap();
        RateLimiter::new(&keys, Limit { per_second, burst })
    }

    #[test]
    fn a_burst_then_the_rate() {
        let l = limiter(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at(0, t0), Ok(()));
        }
        assert_eq!(l.check_at(0, t0), Err(1));
        // Half a second later one token (2/s) is back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check_at(0, t1), Ok(()));
        assert_eq!(l.check_at(0, t1), Err(1));
        // The other key has its own, larger bucket.
        for _ in 0..100 {
            assert_eq!(l.check_at(1, t1), Ok(()));
        }
    }

    #[test]
    fn a_tenant_limit_applies_to_its_keys_without_their_own() {
        let l = limiter(2.0, 3);
        let t0 = Instant::now();
        // Key 0 (tenant a, no limits of its own) follows its tenant's.
        assert_eq!(l.set_tenant_limits("a", Some(1), Some(1)), 1);
        assert_eq!(l.check_at(0, t0), Ok(()));
        assert_eq!(l.check_at(0, t0), Err(1));
        // Key 1 (tenant b) has its own: the tenant's do not apply.
        assert_eq!(l.set_tenant_limits("b", Some(1), Some(1)), 0);
        for _ in 0..10 {
            assert_eq!(l.check_at(1, t0), Ok(()));
        }
        // Cleared: the server's default again.
        assert_eq!(l.set_tenant_limits("a", None, None), 1);
        let t1 = t0 + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(l.check_at(0, t1), Ok(()));
        }
        assert_eq!(l.check_at(0, t1), Err(1));
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        let l = limiter(0.1, 1);
        let t0 = Instant::now();
        assert_eq!(l.check_at(0, t0), Ok(()));
        assert_eq!(l.check_at(0, t0), Err(10));
    }
}
