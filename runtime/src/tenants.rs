//! Tenant time zones: which calendar day an event falls on for its tenant
//! (the rollups' days, weeks and months are the tenant's local calendar).

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// `tenant=Zone` pairs and the zone of every other tenant.
#[derive(Debug, Clone)]
pub struct TenantZones {
    default: Tz,
    zones: HashMap<String, Tz>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("unknown IANA time zone {0:?} (examples: UTC, Europe/Berlin, America/New_York)")]
    UnknownZone(String),
    #[error("tenant time zone {0:?} is not of the form tenant=Zone")]
    BadPair(String),
}

fn zone(name: &str) -> Result<Tz, ZoneError> {
    Tz::from_str(name.trim()).map_err(|_| ZoneError::UnknownZone(name.to_string()))
}

impl Default for TenantZones {
    fn default() -> Self {
        TenantZones {
            default: Tz::UTC,
            zones: HashMap::new(),
        }
    }
}

impl TenantZones {
    /// `default` is an IANA name; each pair is `tenant=Zone`.
    pub fn parse(default: &str, pairs: &[String]) -> Result<Self, ZoneError> {
        let mut zones = HashMap::new();
        for pair in pairs.iter().flat_map(|p| p.split(',')) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (tenant, name) = pair
                .split_once('=')
                .ok_or_else(|| ZoneError::BadPair(pair.to_string()))?;
            zones.insert(tenant.trim().to_string(), zone(name)?);
        }
        Ok(TenantZones {
            default: zone(default)?,
            zones,
        })
    }

    pub fn zone(&self, tenant: &str) -> Tz {
        self.zones.get(tenant).copied().unwrap_or(self.default)
    }

    /// The tenant-local calendar day of an instant (milliseconds since epoch).
    pub fn local_date(&self, tenant: &str, at_ms: i64) -> NaiveDate {
        let utc = DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
        self.zone(tenant)
            .from_utc_datetime(&utc.naive_utc())
            .date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dates_follow_the_tenant_zone() {
        let z =
            TenantZones::parse("UTC", &["berlin=Europe/Berlin,tokyo=Asia/Tokyo".into()]).unwrap();
        // 2026-03-01T23:30:00Z
        let at = 1_772_407_800_000;
        assert_eq!(z.local_date("other", at).to_string(), "2026-03-01");
        assert_eq!(z.local_date("berlin", at).to_string(), "2026-03-02");
        assert_eq!(z.local_date("tokyo", at).to_string(), "2026-03-02");
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
    }
}
