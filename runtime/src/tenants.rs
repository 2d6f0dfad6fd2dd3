//! Tenant time zones: which calendar day an event falls on for its tenant
//! (the rollups' days, weeks and months are the tenant's local calendar).
//!
//! A tenant's calendar is a history: the tenants registry changes a zone
//! from a given instant on (`effective_from`), and an event takes the zone
//! in effect at its own `occurred_at`, so the day an event falls on is a
//! function of the event and the history, never of when it is processed.
//! Tenants the registry does not know take their `TENANT_TIMEZONES` seed,
//! or the default zone.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A tenant's zones over time: the first applies from the beginning of
/// time, each later one from its `effective_from` (ms since the epoch) on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneHistory {
    /// Sorted by instant; never empty; the first instant is ignored.
    entries: Vec<(i64, Tz)>,
}

impl ZoneHistory {
    /// One zone, always.
    pub fn fixed(zone: Tz) -> Self {
        ZoneHistory {
            entries: vec![(i64::MIN, zone)],
        }
    }

    /// From (effective_from ms, IANA name) pairs in any order; the earliest
    /// applies from the beginning of time.
    pub fn from_entries<S: AsRef<str>>(entries: &[(i64, S)]) -> Result<Self, ZoneError> {
        let mut parsed = entries
            .iter()
            .map(|(at, name)| Ok((*at, zone(name.as_ref())?)))
            .collect::<Result<Vec<_>, ZoneError>>()?;
        parsed.sort_by_key(|(at, _)| *at);
        match parsed.first_mut() {
            None => Err(ZoneError::EmptyHistory),
            Some(first) => {
                first.0 = i64::MIN;
                Ok(ZoneHistory { entries: parsed })
            }
        }
    }

    /// The zone in effect at `at_ms`: the latest entry whose
    /// `effective_from` is at or before it.
    pub fn at(&self, at_ms: i64) -> Tz {
        let i = self.entries.partition_point(|(from, _)| *from <= at_ms);
        self.entries[i.saturating_sub(1)].1
    }

    /// (effective_from ms, zone), oldest first (the first at `i64::MIN`).
    pub fn entries(&self) -> &[(i64, Tz)] {
        &self.entries
    }
}

/// The calendars of every tenant: registry histories, then seeds, then the
/// default zone.
#[derive(Debug, Clone)]
pub struct TenantZones {
    default: Tz,
    seeds: HashMap<String, Tz>,
    registry: HashMap<String, ZoneHistory>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("unknown IANA time zone {0:?} (examples: UTC, Europe/Berlin, America/New_York)")]
    UnknownZone(String),
    #[error("tenant time zone {0:?} is not of the form tenant=Zone")]
    BadPair(String),
    #[error("a tenant's zone history needs at least one zone")]
    EmptyHistory,
}

/// An IANA zone by name.
pub fn zone(name: &str) -> Result<Tz, ZoneError> {
    Tz::from_str(name.trim()).map_err(|_| ZoneError::UnknownZone(name.to_string()))
}

impl Default for TenantZones {
    fn default() -> Self {
        TenantZones {
            default: Tz::UTC,
            seeds: HashMap::new(),
            registry: HashMap::new(),
        }
    }
}

impl TenantZones {
    /// `default` is an IANA name; each pair is `tenant=Zone` (the
    /// `TENANT_TIMEZONES` seeds).
    pub fn parse(default: &str, pairs: &[String]) -> Result<Self, ZoneError> {
        Ok(TenantZones {
            default: zone(default)?,
            seeds: parse_pairs(pairs)?.into_iter().collect(),
            registry: HashMap::new(),
        })
    }

    /// The zone in effect for `tenant` at `at_ms` (ms since the epoch).
    pub fn zone_at(&self, tenant: &str, at_ms: i64) -> Tz {
        match self.registry.get(tenant) {
            Some(history) => history.at(at_ms),
            None => self.seeds.get(tenant).copied().unwrap_or(self.default),
        }
    }

    /// The zone in effect for `tenant` now.
    pub fn zone(&self, tenant: &str) -> Tz {
        self.zone_at(tenant, Utc::now().timestamp_millis())
    }

    /// The tenant-local calendar day of an instant (milliseconds since
    /// epoch), in the zone in effect at that instant.
    pub fn local_date(&self, tenant: &str, at_ms: i64) -> NaiveDate {
        let utc = DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
        self.zone_at(tenant, at_ms)
            .from_utc_datetime(&utc.naive_utc())
            .date_naive()
    }

    /// The seeds (`TENANT_TIMEZONES`), sorted by tenant.
    pub fn seeds(&self) -> Vec<(String, Tz)> {
        let mut seeds: Vec<_> = self.seeds.iter().map(|(t, z)| (t.clone(), *z)).collect();
        seeds.sort_by(|a, b| a.0.cmp(&b.0));
        seeds
    }

    /// The default zone (`DEFAULT_TIMEZONE`).
    pub fn default_zone(&self) -> Tz {
        self.default
    }

    /// Set a tenant's registry history (it wins over its seed).
    pub fn set_history(&mut self, tenant: &str, history: ZoneHistory) {
        self.registry.insert(tenant.to_string(), history);
    }

    /// Forget a tenant's registry history (its seed or the default applies).
    pub fn remove_history(&mut self, tenant: &str) {
        self.registry.remove(tenant);
    }

    /// Tenants with a registry history.
    pub fn registered(&self) -> usize {
        self.registry.len()
    }
}

fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, Tz)>, ZoneError> {
    let mut out = Vec::new();
    for pair in pairs.iter().flat_map(|p| p.split(',')) {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (tenant, name) = pair
            .split_once('=')
            .ok_or_else(|| ZoneError::BadPair(pair.to_string()))?;
        out.push((tenant.trim().to_string(), zone(name)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-03-01T23:30:00Z
    const AT: i64 = 1_772_407_800_000;

    #[test]
    fn local_dates_follow_the_tenant_zone() {
        let z =
            TenantZones::parse("UTC", &["berlin=Europe/Berlin,tokyo=Asia/Tokyo".into()]).unwrap();
        assert_eq!(z.local_date("other", AT).to_string(), "2026-03-01");
        assert_eq!(z.local_date("berlin", AT).to_string(), "2026-03-02");
        assert_eq!(z.local_date("tokyo", AT).to_string(), "2026-03-02");
    }

    #[test]
    fn bad_zones_are_named() {
        assert_eq!(
            TenantZones::parse("Mars/Olympus", &[]).unwrap_err(),
            ZoneError::UnknownZone("Mars/Olympus".into())
        );
        assert_eq!(
            TenantZones::parse("UTC", &["acme".into()]).unwrap_err(),
            ZoneError::BadPair("acme".into())
        );
        assert_eq!(
            ZoneHistory::from_entries::<&str>(&[]).unwrap_err(),
            ZoneError::EmptyHistory
        );
        assert_eq!(
            ZoneHistory::from_entries(&[(0, "Nowhere/City")]).unwrap_err(),
            ZoneError::UnknownZone("Nowhere/City".into())
        );
    }

    #[test]
    fn an_event_takes_the_zone_in_effect_at_its_own_time() {
        // Berlin until AT, Tokyo from AT on; the first entry's instant is
        // the beginning of time whatever it says.
        let h =
            ZoneHistory::from_entries(&[(AT, "Asia/Tokyo"), (AT + 5, "Europe/Berlin")]).unwrap();
        assert_eq!(h.at(i64::MIN), chrono_tz::Asia::Tokyo);
        assert_eq!(h.at(AT + 4), chrono_tz::Asia::Tokyo);
        assert_eq!(h.at(AT + 5), chrono_tz::Europe::Berlin);
        let h = ZoneHistory::from_entries(&[(0, "Europe/Berlin"), (AT, "Asia/Tokyo")]).unwrap();
        assert_eq!(h.at(AT - 1), chrono_tz::Europe::Berlin);
        assert_eq!(h.at(AT), chrono_tz::Asia::Tokyo);
        assert_eq!(h.at(i64::MAX), chrono_tz::Asia::Tokyo);

        let mut z = TenantZones::parse("UTC", &["acme=America/New_York".into()]).unwrap();
        // 2026-03-01T22:30Z, an hour before AT: Berlin's 23:30 on the 1st.
        let before = AT - 3_600_000;
        assert_eq!(z.local_date("acme", before).to_string(), "2026-03-01");
        z.set_history("acme", h);
        // The registry wins over the seed: Berlin before AT, Tokyo from AT.
        assert_eq!(z.local_date("acme", before).to_string(), "2026-03-01");
        assert_eq!(z.zone_at("acme", before), chrono_tz::Europe::Berlin);
        assert_eq!(z.local_date("acme", AT).to_string(), "2026-03-02");
        z.remove_history("acme");
        assert_eq!(z.zone_at("acme", AT), chrono_tz::America::New_York);
        assert_eq!(z.zone_at("other", AT), Tz::UTC);
    }
}
