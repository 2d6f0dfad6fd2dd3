//! The tenants registry as every binary holds it: the `TENANT_TIMEZONES`
//! seeds overlaid with the registry's tenants, replaced as records arrive
//! (from the compacted `tenants` topic in the processors, from the
//! metadata database in the API), readable from any thread.
//!
//! A record is a tenant's whole current state, so the newest one (by
//! `revision`) is all a reader needs; an older record arriving late (a
//! re-published outbox row) is ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::tenants::{TenantZones, ZoneError, ZoneHistory};

/// One zone of a tenant's history: its calendar from `effective_from` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneChange {
    pub effective_from: DateTime<Utc>,
    pub timezone: String,
}

/// A tenant as the registry publishes it (the value of its record on the
/// `tenants` topic, JSON; the key is the id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: String,
    pub display_name: String,
    /// Grows with every change; readers keep the greatest.
    pub revision: u64,
    /// The zone history, oldest first (the first applies from the
    /// beginning of time).
    pub zones: Vec<ZoneChange>,
    /// Requests per second and burst of the tenant's keys (`None`: the
    /// server's defaults).
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    #[serde(default)]
    pub rate_limit_burst: Option<u32>,
    /// A deleted tenant keeps its calendar (its events are still there).
    #[serde(default)]
    pub deleted: bool,
}

impl TenantRecord {
    /// The zone history the record describes.
    pub fn history(&self) -> Result<ZoneHistory, ZoneError> {
        let entries: Vec<(i64, &str)> = self
            .zones
            .iter()
            .map(|z| (z.effective_from.timestamp_millis(), z.timezone.as_str()))
            .collect();
        ZoneHistory::from_entries(&entries)
    }
}

/// What [`TenantDirectory::apply`] did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The tenant's calendar now follows the record.
    Changed,
    /// A record older than (or as old as) the one held: ignored.
    Stale,
    /// The tenant left the registry (a tombstone).
    Removed,
}

/// Why a record could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a tenant record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record key {key:?} is not its tenant id {id:?}")]
    KeyMismatch { key: String, id: String },
    #[error("tenant {id}: {source}")]
    Zone { id: String, source: ZoneError },
}

/// The shared, updatable calendars: cheap to read (an `Arc` clone under a
/// read lock), replaced whole on every change.
#[derive(Debug)]
pub struct TenantDirectory {
    current: RwLock<Arc<TenantZones>>,
    /// Revisions held, by tenant.
    revisions: Mutex<HashMap<String, u64>>,
    /// Bumped on every change: a reader holding a copy compares it.
    generation: AtomicU64,
}

impl TenantDirectory {
    pub fn new(seeds: TenantZones) -> Self {
        TenantDirectory {
            current: RwLock::new(Arc::new(seeds)),
            revisions: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The calendars as of now.
    pub fn current(&self) -> Arc<TenantZones> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes so far (a reader's copy is current while this is unchanged).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The zone in effect for `tenant` now.
    pub fn zone(&self, tenant: &str) -> Tz {
        self.current().zone(tenant)
    }

    /// Tenants held from the registry.
    pub fn registered(&self) -> usize {
        self.current().registered()
    }

    /// Apply a record: `value` is its JSON, `None` (or empty) a tombstone.
    pub fn apply(&self, key: &str, value: Option<&[u8]>) -> Result<Applied, RecordError> {
        match value {
            None | Some([]) => {
                self.update(key, None, None);
                Ok(Applied::Removed)
            }
            Some(bytes) => {
                let record: TenantRecord = serde_json::from_slice(bytes)?;
                if record.id != key {
                    return Err(RecordError::KeyMismatch {
                        key: key.to_string(),
                        id: record.id,
                    });
                }
                self.apply_record(&record)
            }
        }
    }

    /// Apply a record read from the registry itself.
    pub fn apply_record(&self, record: &TenantRecord) -> Result<Applied, RecordError> {
        let history = record.history().map_err(|source| RecordError::Zone {
            id: record.id.clone(),
            source,
        })?;
        Ok(self.update(&record.id, Some(history), Some(record.revision)))
    }

    fn update(&self, tenant: &str, history: Option<ZoneHistory>, revision: Option<u64>) -> Applied {
        let mut revisions = self
            .revisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let (Some(new), Some(held)) = (revision, revisions.get(tenant)) {
            if new <= *held {
                return Applied::Stale;
            }
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut zones = TenantZones::clone(&current);
        let applied = match (history, revision) {
            (Some(history), Some(revision)) => {
                zones.set_history(tenant, history);
                revisions.insert(tenant.to_string(), revision);
                Applied::Changed
            }
            _ => {
                zones.remove_history(tenant);
                revisions.remove(tenant);
                Applied::Removed
            }
        };
        *current = Arc::new(zones);
        self.generation.fetch_add(1, Ordering::AcqRel);
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(revision: u64, zones: &[(&str, &str)]) -> TenantRecord {
        TenantRecord {
            id: "acme".into(),
            display_name: "Acme".into(),
            revision,
            zones: zones
                .iter()
                .map(|(at, tz)| ZoneChange {
                    effective_from: at.parse().unwrap(),
                    timezone: (*tz).into(),
                })
                .collect(),
            rate_limit_per_second: None,
            rate_limit_burst: None,
            deleted: false,
        }
    }

    fn ms(at: &str) -> i64 {
        at.parse::<DateTime<Utc>>().unwrap().timestamp_millis()
    }

    #[test]
    fn the_newest_record_wins_and_a_tombstone_falls_back_to_the_seed() {
        let d = TenantDirectory::new(
            TenantZones::parse("UTC", &["acme=America/New_York".into()]).unwrap(),
        );
        let g0 = d.generation();
        let two = record(
            2,
            &[
                ("1970-01-01T00:00:00Z", "Europe/Berlin"),
                ("2026-06-01T00:00:00Z", "Asia/Tokyo"),
            ],
        );
        let json = serde_json::to_vec(&two).unwrap();
        assert_eq!(d.apply("acme", Some(&json)).unwrap(), Applied::Changed);
        assert!(d.generation() > g0);
        let zones = d.current();
        assert_eq!(
            zones.zone_at("acme", ms("2026-05-31T23:59:59Z")),
            chrono_tz::Europe::Berlin
        );
        assert_eq!(
            zones.zone_at("acme", ms("2026-06-01T00:00:00Z")),
            chrono_tz::Asia::Tokyo
        );
        // An older record published late changes nothing.
        let one = serde_json::to_vec(&record(1, &[("1970-01-01T00:00:00Z", "UTC")])).unwrap();
        let g = d.generation();
        assert_eq!(d.apply("acme", Some(&one)).unwrap(), Applied::Stale);
        assert_eq!(d.generation(), g);
        assert_eq!(d.current().zone_at("acme", 0), chrono_tz::Europe::Berlin);
        // A tombstone: the seed again.
        assert_eq!(d.apply("acme", None).unwrap(), Applied::Removed);
        assert_eq!(d.zone("acme"), chrono_tz::America::New_York);
        assert_eq!(d.registered(), 0);
    }

    #[test]
    fn bad_records_are_refused_with_the_reason() {
        let d = TenantDirectory::new(TenantZones::default());
        assert!(matches!(
            d.apply("acme", Some(b"{")),
            Err(RecordError::Json(_))
        ));
        let json = serde_json::to_vec(&record(1, &[("1970-01-01T00:00:00Z", "UTC")])).unwrap();
        assert!(matches!(
            d.apply("other", Some(&json)),
            Err(RecordError::KeyMismatch { .. })
        ));
        let bad = serde_json::to_vec(&record(1, &[("1970-01-01T00:00:00Z", "Mars/Base")])).unwrap();
        let e = d.apply("acme", Some(&bad)).unwrap_err();
        assert!(e.to_string().contains("Mars/Base"), "{e}");
        let none = serde_json::to_vec(&record(1, &[])).unwrap();
        assert!(d.apply("acme", Some(&none)).is_err());
        assert_eq!(d.registered(), 0);
    }
}
