//! The tenants' calendars as the engine thread reads them: a fixed set
//! (`TENANT_TIMEZONES`), or the tenants registry's directory, whose copy is
//! refreshed when its generation moves (one atomic load per event).

use std::sync::Arc;

use runtime::tenants::TenantZones;
use runtime::TenantDirectory;

#[derive(Debug)]
pub struct Calendars {
    current: Arc<TenantZones>,
    source: Option<Arc<TenantDirectory>>,
    generation: u64,
}

impl Calendars {
    /// Always these zones.
    pub fn fixed(zones: TenantZones) -> Self {
        Calendars {
            current: Arc::new(zones),
            source: None,
            generation: 0,
        }
    }

    /// Whatever `directory` holds at each read.
    pub fn following(directory: Arc<TenantDirectory>) -> Self {
        Calendars {
            current: directory.current(),
            generation: directory.generation(),
            source: Some(directory),
        }
    }

    /// The calendars as of now.
    pub fn get(&mut self) -> &TenantZones {
        if let Some(source) = &self.source {
            let generation = source.generation();
            if generation != self.generation {
                // Read after the generation: a change in between is seen
                // again at the next read, never missed.
                self.current = source.current();
                self.generation = generation;
            }
        }
        &self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::tenant_directory::{TenantRecord, ZoneChange};

    #[test]
    fn a_followed_directory_is_read_again_after_a_change() {
        let directory = Arc::new(TenantDirectory::new(TenantZones::default()));
        let mut calendars = Calendars::following(directory.clone());
        assert_eq!(calendars.get().zone_at("acme", 0), chrono_tz::Tz::UTC);
        directory
            .apply_record(&TenantRecord {
                id: "acme".into(),
                display_name: "Acme".into(),
                revision: 1,
                zones: vec![ZoneChange {
                    effective_from: chrono::DateTime::UNIX_EPOCH,
                    timezone: "Asia/Tokyo".into(),
                }],
                rate_limit_per_second: None,
                rate_limit_burst: None,
                deleted: false,
            })
            .unwrap();
        assert_eq!(calendars.get().zone_at("acme", 0), chrono_tz::Asia::Tokyo);
        let mut fixed = Calendars::fixed(TenantZones::default());
        assert_eq!(fixed.get().zone_at("acme", 0), chrono_tz::Tz::UTC);
    }
}
