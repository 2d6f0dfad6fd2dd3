//! Writing the expected-figures file (`--expected PATH`), and the planned
//! records as JSON events (`--emit-json PATH`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::config::{run_config, GenConfig, Topics};
use super::error::LoadgenError;
use super::expected::Expected;
use super::expected_json::{ExpectedFile, TenantInfo};
use super::ordering::{Item, Plan};
use super::traffic::Traffic;

/// The file's contents. `journeys: false` leaves the journeys out.
pub fn expected_file(
    cfg: &GenConfig,
    topics: &Topics,
    traffic: &Traffic,
    plan: &Plan,
    expected: Expected,
    journeys: bool,
) -> ExpectedFile {
    ExpectedFile {
        seed: cfg.seed,
        config: run_config(cfg, topics),
        tenants: traffic
            .tenants
            .iter()
            .map(|(id, tz)| {
                let info = TenantInfo {
                    timezone: tz.name().to_owned(),
                };
                (id.clone(), info)
            })
            .collect(),
        counts: plan.counts(traffic, topics),
        poison: plan.poison_infos(topics),
        reports: expected.reports,
        journeys: journeys.then_some(expected.journeys),
        rollups: expected.rollups,
    }
}

/// The expected-figures file, created before the (long) generation so that
/// a bad path fails at once.
#[derive(Debug)]
pub struct ExpectedWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl ExpectedWriter {
    pub fn create(path: &Path) -> Result<Self, LoadgenError> {
        let file = File::create(path).map_err(|source| LoadgenError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(ExpectedWriter {
            path: path.to_owned(),
            out: BufWriter::new(file),
        })
    }

    /// Write `file` as compact JSON with a final newline.
    pub fn write(mut self, file: &ExpectedFile) -> Result<(), LoadgenError> {
        serde_json::to_writer(&mut self.out, file)?;
        let path = &self.path;
        let io = |source| LoadgenError::Io {
            path: path.clone(),
            source,
        };
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok(())
    }
}

/// Write `file` to `path` as compact JSON with a final newline.
pub fn write(path: &Path, file: &ExpectedFile) -> Result<(), LoadgenError> {
    ExpectedWriter::create(path)?.write(file)
}

/// Write every event and duplicate of `plan` as a JSON event
/// (`schemas::json::event_to_json`), one a line in production order, to
/// `path`; poison records are left out. Returns the lines written.
pub fn write_json_events(path: &Path, traffic: &Traffic, plan: &Plan) -> Result<u64, LoadgenError> {
    let io = |source| LoadgenError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    let mut written = 0;
    for item in &plan.items {
        let (Item::Event(i) | Item::Duplicate(i)) = item else {
            continue;
        };
        let event = &traffic.events[*i as usize];
        serde_json::to_writer(&mut out, &schemas::json::event_to_json(event))?;
        out.write_all(b"\n").map_err(io)?;
        written += 1;
    }
    out.flush().map_err(io)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::{generate, GenConfig};

    #[test]
    fn json_events_are_the_plan_without_poison_in_order() {
        let cfg = GenConfig {
            poison: 5,
            duplicate_ratio: 0.2,
            ..GenConfig::default()
        };
        let codec = schemas::Codec::new().unwrap();
        let generated = generate(&cfg, &codec).unwrap();
        let dir = std::env::temp_dir().join(format!("loadgen-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        let written = write_json_events(&path, &generated.traffic, &generated.plan).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let want: Vec<&schemas::Event> = generated
            .plan
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Event(i) | Item::Duplicate(i) => Some(&generated.traffic.events[*i as usize]),
                Item::Poison(_) => None,
            })
            .collect();
        let counts = generated
            .plan
            .counts(&generated.traffic, &Default::default());
        assert_eq!(written as usize, want.len());
        assert_eq!(written, counts.distinct_events + counts.duplicates);
        assert!(counts.duplicates > 0 && counts.poison == 5);
        let got: Vec<schemas::Event> = text
            .lines()
            .map(|line| {
                schemas::json::event_from_json(serde_json::from_str(line).unwrap()).unwrap()
            })
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want);
    }
}
