//! Writing the expected-figures file (`--expected PATH`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::config::{run_config, GenConfig, Topics};
use super::error::LoadgenError;
use super::expected::Expected;
use super::expected_json::{ExpectedFile, TenantInfo};
use super::ordering::Plan;
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
