//! The wire format loadgen writes (`--wire-format`): the Avro single-object
//! encoding, or the Confluent Schema Registry format with the schema ids of
//! a schema ids file (the same file `processor run --schema-ids-file` reads).
//! Poison records keep their bytes whatever the format.

use std::path::Path;

use processor::schema_source::IdsFile;
use schemas::codec::{CONFLUENT_MAGIC, HEADER_LEN};
use schemas::{Codec, EventKind};

use super::error::LoadgenError;

/// `--wire-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WireFormat {
    /// `C3 01`, the schema's CRC-64-AVRO fingerprint, the body.
    #[default]
    SingleObject,
    /// `00`, the 4-byte schema id (from --schema-ids-file), the body.
    Confluent,
}

/// How records are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    #[default]
    SingleObject,
    /// Schema id of the current schema of each kind, in `EventKind` order.
    Confluent([u32; 3]),
}

impl Framing {
    /// The framing of `format`; Confluent takes, for each kind, the id of
    /// the ids file whose `.avsc` is the codec's current schema.
    pub fn new(
        format: WireFormat,
        ids_file: Option<&Path>,
        codec: &Codec,
    ) -> Result<Self, LoadgenError> {
        if format == WireFormat::SingleObject {
            return Ok(Framing::SingleObject);
        }
        let path = ids_file.ok_or_else(|| {
            LoadgenError::Config("--wire-format confluent needs --schema-ids-file".into())
        })?;
        let file = IdsFile::open(path).map_err(|e| LoadgenError::Config(e.to_string()))?;
        let mut ids = [None; 3];
        for (&id, avsc) in file.ids() {
            let text = std::fs::read_to_string(avsc).map_err(|source| LoadgenError::Io {
                path: avsc.clone(),
                source,
            })?;
            let fp = schemas::codec::fingerprint(&text)?;
            for kind in EventKind::ALL {
                if codec.current_fingerprint(kind) == fp && ids[kind as usize].is_none() {
                    ids[kind as usize] = Some(id);
                }
            }
        }
        let mut out = [0u32; 3];
        for kind in EventKind::ALL {
            out[kind as usize] = ids[kind as usize].ok_or_else(|| {
                LoadgenError::Config(format!(
                    "{}: no id maps to the current {} schema",
                    path.display(),
                    kind.record_name()
                ))
            })?;
        }
        Ok(Framing::Confluent(out))
    }

    /// Re-frame a single-object record of `kind` (a no-op for single-object).
    pub fn apply(&self, kind: EventKind, single_object: &[u8]) -> Option<Vec<u8>> {
        let Framing::Confluent(ids) = self else {
            return None;
        };
        let body = single_object.get(HEADER_LEN..)?;
        let mut out = Vec::with_capacity(5 + body.len());
        out.push(CONFLUENT_MAGIC);
        out.extend_from_slice(&ids[kind as usize].to_be_bytes());
        out.extend_from_slice(body);
        Some(out)
    }
}
