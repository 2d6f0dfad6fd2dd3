//! The Avro single-object codec.
//!
//! Wire format (Avro spec, "Single object encoding"): the two marker bytes
//! `C3 01`, the 8-byte little-endian CRC-64-AVRO (Rabin) fingerprint of the
//! writer schema's canonical form, then the Avro binary body. Decoding finds
//! the writer schema by fingerprint among every known version and resolves
//! the body against the current reader schema of the same record, so
//! producers and consumers can upgrade independently.

use std::collections::HashMap;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::Schema;

use crate::error::{ContractViolation, DecodeError, EncodeError, SchemaError};
use crate::events::{Event, EventKind};
use crate::registry::{self, SCHEMA_FILES};
use crate::strict::{self, BodyError, Names};
use crate::value;

/// The two marker bytes that open every single-object encoded record.
pub const MARKER: [u8; 2] = [0xC3, 0x01];
/// Marker plus fingerprint.
pub const HEADER_LEN: usize = 10;

#[derive(Debug)]
struct Writer {
    kind: EventKind,
    schema: Schema,
    names: Names,
}

impl Writer {
    fn new(kind: EventKind, schema: Schema) -> Self {
        let names = Names::of(&schema);
        Writer {
            kind,
            schema,
            names,
        }
    }
}

/// Encodes events with the current schemas and decodes records written with
/// any known schema version. Build one per process and share it.
#[derive(Debug)]
pub struct Codec {
    /// Reader (= current writer) schema and its fingerprint, per kind.
    current: HashMap<EventKind, (u64, Schema)>,
    /// Every known writer schema, by fingerprint.
    writers: HashMap<u64, Writer>,
    /// Writer fingerprints the direct decoder of [`crate::fast`] reads
    /// (the v1 schemas, while they are the reader schemas).
    fast: HashMap<u64, EventKind>,
}

/// CRC-64-AVRO fingerprint of a schema's parsing canonical form, as the
/// little-endian `u64` the single-object header carries.
pub fn fingerprint(schema: &Schema) -> u64 {
    let fp = schema.fingerprint::<Rabin>();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&fp.bytes[..8]);
    u64::from_le_bytes(bytes)
}

fn parse(name: &str, text: &str, kind: EventKind) -> Result<Schema, SchemaError> {
    let schema = Schema::parse_str(text).map_err(|e| SchemaError::Parse {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    let found = match &schema {
        Schema::Record(r) => r.name.name.clone(),
        other => format!("{other:?}"),
    };
    if !strict::supported(&schema) {
        return Err(SchemaError::Parse {
            name: name.to_owned(),
            reason: "uses a logical type the codec does not support (decimal, uuid, duration)"
                .into(),
        });
    }
    if found != kind.record_name() {
        return Err(SchemaError::WrongRecord {
            name: name.to_owned(),
            expected: kind.record_name(),
            found,
        });
    }
    Ok(schema)
}

/// The writer fingerprint of a single-object record's header.
fn header(bytes: &[u8]) -> Result<u64, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort { len: bytes.len() });
    }
    if bytes[..2] != MARKER {
        return Err(DecodeError::BadMarker {
            found: [bytes[0], bytes[1]],
        });
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(u64::from_le_bytes(fp))
}

impl Codec {
    /// The codec of the schemas compiled into this binary: the newest version
    /// of each record reads, every version can have written.
    pub fn new() -> Result<Self, SchemaError> {
        let mut readers = Vec::new();
        for kind in EventKind::ALL {
            let file = registry::current(kind).ok_or(SchemaError::NoReader(kind))?;
            readers.push((kind, file.file_name, file.text));
        }
        let writers: Vec<_> = SCHEMA_FILES
            .iter()
            .map(|f| (f.kind, f.file_name, f.text))
            .collect();
        Self::from_schemas(&readers, &writers)
    }

    /// A codec of explicit schemas: `(kind, name for messages, .avsc text)`.
    /// Each reader schema is also a known writer schema.
    pub fn from_schemas(
        readers: &[(EventKind, &str, &str)],
        writers: &[(EventKind, &str, &str)],
    ) -> Result<Self, SchemaError> {
        let mut current = HashMap::new();
        let mut known = HashMap::new();
        for &(kind, name, text) in readers {
            let schema = parse(name, text, kind)?;
            let fp = fingerprint(&schema);
            known.insert(fp, Writer::new(kind, schema.clone()));
            current.insert(kind, (fp, schema));
        }
        for kind in EventKind::ALL {
            if !current.contains_key(&kind) {
                return Err(SchemaError::NoReader(kind));
            }
        }
        for &(kind, name, text) in writers {
            let schema = parse(name, text, kind)?;
            known.insert(fingerprint(&schema), Writer::new(kind, schema));
        }
        let mut fast = HashMap::new();
        for (kind, text) in [
            (EventKind::Lifecycle, crate::fast::LIFECYCLE_V1),
            (EventKind::Notification, crate::fast::NOTIFICATION_V1),
            (EventKind::Interaction, crate::fast::INTERACTION_V1),
        ] {
            let v1 = fingerprint(&parse("v1", text, kind)?);
            if current.get(&kind).map(|(fp, _)| *fp) == Some(v1) {
                fast.insert(v1, kind);
            }
        }
        Ok(Codec {
            current,
            writers: known,
            fast,
        })
    }

    /// Fingerprint of the current schema of `kind`.
    pub fn current_fingerprint(&self, kind: EventKind) -> u64 {
        self.current.get(&kind).map_or(0, |(fp, _)| *fp)
    }

    /// Encode with the current schema of the event's record.
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, EncodeError> {
        let record = event.kind().record_name();
        let (fp, schema) = self.current.get(&event.kind()).ok_or_else(|| EncodeError {
            record,
            reason: "no schema for this record".into(),
        })?;
        let body = apache_avro::to_avro_datum(schema, value::to_value(event)).map_err(|e| {
            EncodeError {
                record,
                reason: e.to_string(),
            }
        })?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&fp.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decode a record written with any known schema version.
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let fingerprint = header(bytes)?;
        if let Some(&kind) = self.fast.get(&fingerprint) {
            return crate::fast::decode(kind, &bytes[HEADER_LEN..]);
        }
        self.decode_generic(bytes)
    }

    /// Decode through apache-avro and schema resolution, whatever the
    /// writer version (the reference the direct decoder is tested against).
    pub fn decode_generic(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let (kind, value) = self.decode_value(bytes)?;
        Ok(value::from_value(kind, value)?)
    }

    /// Decode a record that must be of `expected` kind (the kind its topic carries).
    pub fn decode_expecting(
        &self,
        bytes: &[u8],
        expected: EventKind,
    ) -> Result<Event, DecodeError> {
        let event = self.decode(bytes)?;
        if event.kind() != expected {
            return Err(ContractViolation::WrongTopic {
                expected,
                found: event.kind(),
            }
            .into());
        }
        Ok(event)
    }

    /// The record's kind and its Avro value resolved to the reader schema.
    fn decode_value(&self, bytes: &[u8]) -> Result<(EventKind, Value), DecodeError> {
        let fingerprint = header(bytes)?;
        let writer = self
            .writers
            .get(&fingerprint)
            .ok_or(DecodeError::UnknownFingerprint { fingerprint })?;
        let record = writer.kind.record_name();
        let body = &bytes[HEADER_LEN..];
        // apache-avro reads a short body as nulls; walk it strictly first.
        let mut rest = body;
        strict::walk(&writer.schema, &writer.names, &mut rest).map_err(|e| match e {
            BodyError::Truncated(what) => DecodeError::TruncatedBody {
                record,
                reason: format!("the body ends inside a {what}"),
            },
            BodyError::Malformed(reason) => DecodeError::MalformedBody { record, reason },
        })?;
        if !rest.is_empty() {
            return Err(DecodeError::MalformedBody {
                record,
                reason: format!("{} bytes after the end of the record", rest.len()),
            });
        }
        let mut body = body;
        let value = apache_avro::from_avro_datum(&writer.schema, &mut body, None).map_err(|e| {
            DecodeError::MalformedBody {
                record,
                reason: e.to_string(),
            }
        })?;
        let (reader_fp, reader) = self
            .current
            .get(&writer.kind)
            .ok_or(DecodeError::UnknownFingerprint { fingerprint })?;
        if *reader_fp == fingerprint {
            return Ok((writer.kind, value));
        }
        let value = value.resolve(reader).map_err(|e| DecodeError::Resolution {
            record,
            reason: e.to_string(),
        })?;
        Ok((writer.kind, value))
    }
}
