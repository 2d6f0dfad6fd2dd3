//! A local file mapping Confluent schema ids to `.avsc` files, for
//! deployments without a schema registry:
//!
//! ```toml
//! [ids]
//! 101 = "campaign_lifecycle.v1.avsc"   # relative to this file
//! 102 = "/etc/campaign-analytics/notification_sent.v1.avsc"
//! ```
//!
//! An id the file lacks makes it be read again (the caller rate-limits
//! that), so adding a line ships a new schema without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Found, SchemaSource, SchemaSourceError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContents {
    #[serde(default)]
    ids: BTreeMap<String, PathBuf>,
}

/// The parsed file: schema id -> `.avsc` path (resolved against the file's
/// directory).
pub fn parse(text: &str, base: &Path) -> Result<BTreeMap<u32, PathBuf>, String> {
    let contents: FileContents = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (id, path) in contents.ids {
        let id: u32 = id
            .trim()
            .parse()
            .map_err(|_| format!("[ids]: key {id:?} is not a schema id (0 to 4294967295)"))?;
        out.insert(id, base.join(path));
    }
    Ok(out)
}

/// The mapping file of `--schema-ids-file`.
#[derive(Debug)]
pub struct IdsFile {
    path: PathBuf,
    ids: BTreeMap<u32, PathBuf>,
}

impl IdsFile {
    /// Read the file; fails when it cannot be read or parsed.
    pub fn open(path: &Path) -> Result<Self, SchemaSourceError> {
        let mut file = IdsFile {
            path: path.to_owned(),
            ids: BTreeMap::new(),
        };
        file.reload()?;
        Ok(file)
    }

    fn error(&self, reason: String) -> SchemaSourceError {
        SchemaSourceError::File {
            path: self.path.clone(),
            reason,
        }
    }

    fn reload(&mut self) -> Result<(), SchemaSourceError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| self.error(e.to_string()))?;
        let base = self.path.parent().unwrap_or(Path::new("."));
        self.ids = parse(&text, base).map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The ids of the file, with their `.avsc` paths.
    pub fn ids(&self) -> &BTreeMap<u32, PathBuf> {
        &self.ids
    }
}

impl SchemaSource for IdsFile {
    fn schema(&mut self, id: u32) -> Result<Option<Found>, SchemaSourceError> {
        if !self.ids.contains_key(&id) {
            self.reload()?;
        }
        let Some(avsc) = self.ids.get(&id) else {
            return Ok(None);
        };
        std::fs::read_to_string(avsc)
            .map(|text| Some(Found::Avro(text)))
            .map_err(|e| self.error(format!("schema id {id}: {}: {e}", avsc.display())))
    }

    fn describe(&self) -> String {
        format!("schema ids file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_resolve_against_the_files_directory() {
        let ids = parse(
            "[ids]\n101 = \"a.avsc\"\n\"102\" = \"/abs/b.avsc\"\n",
            Path::new("/etc/ca"),
        )
        .unwrap();
        assert_eq!(ids[&101], PathBuf::from("/etc/ca/a.avsc"));
        assert_eq!(ids[&102], PathBuf::from("/abs/b.avsc"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = parse("[ids]\nfoo = \"a.avsc\"\n", Path::new(".")).unwrap_err();
        assert!(err.contains("not a schema id"), "{err}");
        let err = parse("[idz]\n1 = \"a.avsc\"\n", Path::new(".")).unwrap_err();
        assert!(err.contains("idz"), "{err}");
        assert!(parse("[ids]\n-1 = \"a\"\n", Path::new(".")).is_err());
    }
}
