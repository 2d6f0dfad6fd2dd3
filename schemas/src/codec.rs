//! The codec of the two wire formats accepted on the input topics
//! (`../shared/spec/ingestion.md`), record by record:
//!
//! - Avro single-object encoding: the two marker bytes `C3 01`, the 8-byte
//!   little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing
//!   Canonical Form (as the specification defines it, see
//!   [`crate::canonical`]), then the Avro binary body. The writer schema is
//!   found by fingerprint among every known version; the fingerprints that
//!   earlier versions of this project wrote (apache-avro's, AVRO-4004) name
//!   the same schemas.
//! - Confluent Schema Registry wire format: `00`, a 4-byte big-endian schema
//!   id, then the body. Ids are registered at run time
//!   ([`Codec::register_schema_id`]) from a registry or a mapping file; this
//!   crate does no I/O.
//!
//! The body is resolved against the current reader schema of the same
//! record, so producers and consumers can upgrade independently.

use std::collections::HashMap;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::Schema;

use crate::canonical;
use crate::error::{ContractViolation, DecodeError, EncodeError, SchemaError};
use crate::events::{Event, EventKind};
use crate::registry::{self, SCHEMA_FILES};
use crate::strict::{self, BodyError, Names};
use crate::value;

/// The two marker bytes that open every single-object encoded record.
pub const MARKER: [u8; 2] = [0xC3, 0x01];
/// Marker plus fingerprint.
pub const HEADER_LEN: usize = 10;
/// The magic byte of the Confluent wire format.
pub const CONFLUENT_MAGIC: u8 = 0x00;
/// Magic byte plus the 4-byte schema id.
pub const CONFLUENT_HEADER_LEN: usize = 5;

#[derive(Debug, Clone)]
struct Writer {
    kind: EventKind,
    schema: Schema,
    names: Names,
    /// Fingerprint of the schema's Parsing Canonical Form.
    fingerprint: u64,
}

impl Writer {
    fn new(kind: EventKind, schema: Schema, fingerprint: u64) -> Self {
        let names = Names::of(&schema);
        Writer {
            kind,
            schema,
            names,
            fingerprint,
        }
    }
}

/// Encodes events with the current schemas and decodes records written with
/// any known schema version, in either wire format. Build one per process
/// (or per engine, when schema ids are registered as they appear).
#[derive(Debug, Clone)]
pub struct Codec {
    /// Reader (= current writer) schema and its fingerprint, per kind.
    current: HashMap<EventKind, (u64, Schema)>,
    /// Every known writer schema, by fingerprint (the specification's and,
    /// for the compiled-in versions, the legacy one too).
    writers: HashMap<u64, Writer>,
    /// Writer schemas of the Confluent wire format, by schema id.
    ids: HashMap<u32, Writer>,
    /// Writer fingerprints (the specification's and the legacy one) the
    /// direct decoder of [`crate::fast`] reads: the v1 schemas, while they
    /// are the reader schemas.
    fast: HashMap<u64, EventKind>,
}

/// CRC-64-AVRO fingerprint of the Parsing Canonical Form of the schema in
/// `avsc` (as the specification, Java and fastavro compute it): what the
/// single-object header carries, as a little-endian `u64`.
pub fn fingerprint(avsc: &str) -> Result<u64, SchemaError> {
    canonical::fingerprint(avsc).map_err(|e| SchemaError::Parse {
        name: "schema".into(),
        reason: e.to_string(),
    })
}

/// The fingerprint earlier versions of this project wrote: apache-avro's
/// canonical form, which keeps `{"type":"long"}` for a logical type
/// (AVRO-4004). Accepted on input, never written.
pub fn legacy_fingerprint(schema: &Schema) -> u64 {
    let fp = schema.fingerprint::<Rabin>();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&fp.bytes[..8]);
    u64::from_le_bytes(bytes)
}

fn parse_any(name: &str, text: &str) -> Result<(Schema, String), SchemaError> {
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
    Ok((schema, found))
}

fn parse(name: &str, text: &str, kind: EventKind) -> Result<Schema, SchemaError> {
    let (schema, found) = parse_any(name, text)?;
    if found != kind.record_name() {
        return Err(SchemaError::WrongRecord {
            name: name.to_owned(),
            expected: kind.record_name(),
            found,
        });
    }
    Ok(schema)
}

/// How a record names its writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterRef {
    Fingerprint(u64),
    SchemaId(u32),
}

/// The writer reference of a record's header, and where its body starts.
fn header(bytes: &[u8]) -> Result<(WriterRef, usize), DecodeError> {
    match bytes {
        [0xC3, 0x01, ..] => {
            if bytes.len() < HEADER_LEN {
                return Err(DecodeError::TooShort { len: bytes.len() });
            }
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&bytes[2..HEADER_LEN]);
            Ok((WriterRef::Fingerprint(u64::from_le_bytes(fp)), HEADER_LEN))
        }
        [CONFLUENT_MAGIC, ..] => {
            if bytes.len() < CONFLUENT_HEADER_LEN {
                return Err(DecodeError::TooShort { len: bytes.len() });
            }
            let mut id = [0u8; 4];
            id.copy_from_slice(&bytes[1..CONFLUENT_HEADER_LEN]);
            Ok((
                WriterRef::SchemaId(u32::from_be_bytes(id)),
                CONFLUENT_HEADER_LEN,
            ))
        }
        [] | [0xC3] => Err(DecodeError::TooShort { len: bytes.len() }),
        [a, b, ..] => Err(DecodeError::BadMarker { found: [*a, *b] }),
        [a] => Err(DecodeError::BadMarker { found: [*a, 0] }),
    }
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
        let add = |known: &mut HashMap<u64, Writer>, kind, name: &str, text: &str| {
            let schema = parse(name, text, kind)?;
            let fp = fingerprint(text)?;
            let legacy = legacy_fingerprint(&schema);
            let writer = Writer::new(kind, schema.clone(), fp);
            known.insert(legacy, writer.clone());
            known.insert(fp, writer);
            Ok::<_, SchemaError>((fp, legacy, schema))
        };
        let mut legacy_of = HashMap::new();
        for &(kind, name, text) in readers {
            let (fp, legacy, schema) = add(&mut known, kind, name, text)?;
            legacy_of.insert(fp, legacy);
            current.insert(kind, (fp, schema));
        }
        for kind in EventKind::ALL {
            if !current.contains_key(&kind) {
                return Err(SchemaError::NoReader(kind));
            }
        }
        for &(kind, name, text) in writers {
            add(&mut known, kind, name, text)?;
        }
        let mut fast = HashMap::new();
        for (kind, text) in [
            (EventKind::Lifecycle, crate::fast::LIFECYCLE_V1),
            (EventKind::Notification, crate::fast::NOTIFICATION_V1),
            (EventKind::Interaction, crate::fast::INTERACTION_V1),
        ] {
            let v1 = fingerprint(text)?;
            if current.get(&kind).map(|(fp, _)| *fp) == Some(v1) {
                // By the specification's fingerprint (also what a Confluent
                // writer of the same schema has) and the legacy one.
                fast.insert(v1, kind);
                if let Some(&legacy) = legacy_of.get(&v1) {
                    fast.insert(legacy, kind);
                }
            }
        }
        Ok(Codec {
            current,
            writers: known,
            ids: HashMap::new(),
            fast,
        })
    }

    /// Fingerprint of the current schema of `kind` (the specification's).
    pub fn current_fingerprint(&self, kind: EventKind) -> u64 {
        self.current.get(&kind).map_or(0, |(fp, _)| *fp)
    }

    /// Make Confluent-framed records with schema `id` readable: `avsc` is
    /// the writer schema the registry (or the ids file) gives for it.
    /// Returns the kind of record it writes. Registering an id again
    /// replaces its schema.
    pub fn register_schema_id(&mut self, id: u32, avsc: &str) -> Result<EventKind, SchemaError> {
        let name = format!("schema id {id}");
        let (schema, found) = parse_any(&name, avsc)?;
        let kind = EventKind::ALL
            .into_iter()
            .find(|k| k.record_name() == found)
            .ok_or(SchemaError::WrongRecord {
                name,
                expected: "one of the event records",
                found,
            })?;
        let fp = fingerprint(avsc)?;
        self.ids.insert(id, Writer::new(kind, schema, fp));
        Ok(kind)
    }

    /// Is schema `id` registered?
    pub fn knows_schema_id(&self, id: u32) -> bool {
        self.ids.contains_key(&id)
    }

    /// Encode with the current schema of the event's record, in the
    /// single-object encoding.
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, EncodeError> {
        let (fp, body) = self.body(event)?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&fp.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Encode with the current schema of the event's record, in the
    /// Confluent wire format with schema id `id` (which the caller knows to
    /// name that schema in its registry).
    pub fn encode_confluent(&self, event: &Event, id: u32) -> Result<Vec<u8>, EncodeError> {
        let (_, body) = self.body(event)?;
        let mut out = Vec::with_capacity(CONFLUENT_HEADER_LEN + body.len());
        out.push(CONFLUENT_MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn body(&self, event: &Event) -> Result<(u64, Vec<u8>), EncodeError> {
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
        Ok((*fp, body))
    }

    /// Decode a record written with any known schema, in either wire format.
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        // The common case first: one lookup of the header's fingerprint.
        if let (WriterRef::Fingerprint(fp), start) = header(bytes)? {
            if let Some(&kind) = self.fast.get(&fp) {
                return crate::fast::decode(kind, &bytes[start..]);
            }
        }
        let (writer, body) = self.writer(bytes)?;
        if let Some(&kind) = self.fast.get(&writer.fingerprint) {
            return crate::fast::decode(kind, body);
        }
        let value = self.resolve(writer, body)?;
        Ok(value::from_value(writer.kind, value)?)
    }

    /// Decode through apache-avro and schema resolution, whatever the
    /// writer version (the reference the direct decoder is tested against).
    pub fn decode_generic(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        let (writer, body) = self.writer(bytes)?;
        let value = self.resolve(writer, body)?;
        Ok(value::from_value(writer.kind, value)?)
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

    /// The writer schema a record names, and its body.
    fn writer<'a>(&self, bytes: &'a [u8]) -> Result<(&Writer, &'a [u8]), DecodeError> {
        let (writer_ref, start) = header(bytes)?;
        let writer = match writer_ref {
            WriterRef::Fingerprint(fingerprint) => self
                .writers
                .get(&fingerprint)
                .ok_or(DecodeError::UnknownFingerprint { fingerprint })?,
            WriterRef::SchemaId(id) => self
                .ids
                .get(&id)
                .ok_or(DecodeError::UnknownSchemaId { id })?,
        };
        Ok((writer, &bytes[start..]))
    }

    /// The body's Avro value resolved to the reader schema.
    fn resolve(&self, writer: &Writer, body: &[u8]) -> Result<Value, DecodeError> {
        let record = writer.kind.record_name();
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
        let Some((reader_fp, reader)) = self.current.get(&writer.kind) else {
            return Err(DecodeError::Resolution {
                record,
                reason: "no reader schema".into(),
            });
        };
        if *reader_fp == writer.fingerprint {
            return Ok(value);
        }
        value.resolve(reader).map_err(|e| DecodeError::Resolution {
            record,
            reason: e.to_string(),
        })
    }
}
