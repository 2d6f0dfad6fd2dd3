//! A strict walk over an Avro binary body, before apache-avro decodes it.
//!
//! apache-avro's decoder reads a body that ends early as if the missing
//! strings, booleans and unions were null, so a truncated record could decode
//! into a valid-looking event with fields silently dropped. This walk checks
//! that the body holds exactly one complete value of the writer schema and
//! reports where it is short or malformed. It allocates nothing.

use std::collections::HashMap;

use apache_avro::Schema;

/// What is wrong with a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The body ended inside a value.
    Truncated(&'static str),
    /// The bytes cannot be a value of the schema.
    Malformed(String),
}

/// Named types of a schema, for `Ref`s.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names(HashMap<String, Schema>);

impl Names {
    pub(crate) fn of(schema: &Schema) -> Self {
        let mut names = Names::default();
        names.collect(schema);
        names
    }

    fn collect(&mut self, schema: &Schema) {
        match schema {
            Schema::Record(r) => {
                self.0.insert(r.name.fullname(None), schema.clone());
                for f in &r.fields {
                    self.collect(&f.schema);
                }
            }
            Schema::Enum(e) => {
                self.0.insert(e.name.fullname(None), schema.clone());
            }
            Schema::Fixed(f) => {
                self.0.insert(f.name.fullname(None), schema.clone());
            }
            Schema::Array(a) => self.collect(&a.items),
            Schema::Map(m) => self.collect(&m.types),
            Schema::Union(u) => {
                for v in u.variants() {
                    self.collect(v);
                }
            }
            _ => {}
        }
    }
}

/// Whether the walk understands every type in `schema` (checked once, when
/// a codec is built).
pub(crate) fn supported(schema: &Schema) -> bool {
    match schema {
        Schema::Null
        | Schema::Boolean
        | Schema::Int
        | Schema::Long
        | Schema::Float
        | Schema::Double
        | Schema::Bytes
        | Schema::String
        | Schema::Enum(_)
        | Schema::Fixed(_)
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos
        | Schema::Ref { .. } => true,
        Schema::Array(a) => supported(&a.items),
        Schema::Map(m) => supported(&m.types),
        Schema::Union(u) => u.variants().iter().all(supported),
        Schema::Record(r) => r.fields.iter().all(|f| supported(&f.schema)),
        Schema::Decimal(_) | Schema::BigDecimal | Schema::Uuid | Schema::Duration => false,
    }
}

/// Walk one value of `schema` at the start of `buf`, advancing it.
pub(crate) fn walk(schema: &Schema, names: &Names, buf: &mut &[u8]) -> Result<(), BodyError> {
    match schema {
        Schema::Null => Ok(()),
        Schema::Boolean => match take(buf, 1, "boolean")? {
            [0] | [1] => Ok(()),
            [b] => Err(BodyError::Malformed(format!("boolean byte {b}"))),
            _ => Err(BodyError::Truncated("boolean")),
        },
        Schema::Int | Schema::Date | Schema::TimeMillis => {
            let v = varint(buf, "int")?;
            if i32::try_from(v).is_err() {
                return Err(BodyError::Malformed(format!("int out of range: {v}")));
            }
            Ok(())
        }
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => varint(buf, "long").map(drop),
        Schema::Float => take(buf, 4, "float").map(drop),
        Schema::Double => take(buf, 8, "double").map(drop),
        Schema::Bytes => {
            let len = length(buf, "bytes")?;
            take(buf, len, "bytes").map(drop)
        }
        Schema::String => {
            let len = length(buf, "string")?;
            let bytes = take(buf, len, "string")?;
            std::str::from_utf8(bytes)
                .map(drop)
                .map_err(|e| BodyError::Malformed(format!("string is not UTF-8: {e}")))
        }
        Schema::Fixed(f) => take(buf, f.size, "fixed").map(drop),
        Schema::Enum(e) => {
            let index = varint(buf, "enum")?;
            if index < 0 || index as u64 >= e.symbols.len() as u64 {
                return Err(BodyError::Malformed(format!(
                    "enum {} index {index} out of range",
                    e.name.name
                )));
            }
            Ok(())
        }
        Schema::Union(u) => {
            let index = varint(buf, "union")?;
            let variant = usize::try_from(index)
                .ok()
                .and_then(|i| u.variants().get(i))
                .ok_or_else(|| BodyError::Malformed(format!("union index {index} out of range")))?;
            walk(variant, names, buf)
        }
        Schema::Array(a) => blocks(buf, |buf| walk(&a.items, names, buf)),
        Schema::Map(m) => blocks(buf, |buf| {
            walk(&Schema::String, names, buf)?;
            walk(&m.types, names, buf)
        }),
        Schema::Record(r) => {
            for field in &r.fields {
                walk(&field.schema, names, buf)?;
            }
            Ok(())
        }
        Schema::Ref { name } => {
            let target = names
                .0
                .get(&name.fullname(None))
                .ok_or_else(|| BodyError::Malformed(format!("unknown named type {name}")))?;
            walk(target, names, buf)
        }
        Schema::Decimal(_) | Schema::BigDecimal | Schema::Uuid | Schema::Duration => Err(
            BodyError::Malformed("logical type not supported by the codec".into()),
        ),
    }
}

fn take<'a>(buf: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8], BodyError> {
    if buf.len() < len {
        return Err(BodyError::Truncated(what));
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

/// A zig-zag variable-length long.
fn varint(buf: &mut &[u8], what: &'static str) -> Result<i64, BodyError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let [byte, rest @ ..] = *buf else {
            return Err(BodyError::Truncated(what));
        };
        *buf = rest;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err(BodyError::Malformed(format!(
        "{what}: varint longer than 10 bytes"
    )))
}

fn length(buf: &mut &[u8], what: &'static str) -> Result<usize, BodyError> {
    let len = varint(buf, what)?;
    let len = usize::try_from(len)
        .map_err(|_| BodyError::Malformed(format!("{what}: negative length {len}")))?;
    if len > buf.len() {
        return Err(BodyError::Truncated(what));
    }
    Ok(len)
}

/// Array and map blocks: a count, items, ..., then a zero count. A negative
/// count is followed by the block's size in bytes.
fn blocks(
    buf: &mut &[u8],
    mut item: impl FnMut(&mut &[u8]) -> Result<(), BodyError>,
) -> Result<(), BodyError> {
    loop {
        let mut count = varint(buf, "block count")?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            count = count
                .checked_neg()
                .ok_or_else(|| BodyError::Malformed("block count out of range".into()))?;
            length(buf, "block size")?;
        }
        // Every item takes at least... nothing (null items), so bound the
        // count by what a hostile record could make us loop over.
        if count as u64 > (buf.len() as u64 + 1) * 1024 {
            return Err(BodyError::Malformed(format!(
                "block count {count} is implausible"
            )));
        }
        for _ in 0..count {
            item(buf)?;
        }
    }
}
