//! The Avro specification's *Parsing Canonical Form* and its CRC-64-AVRO
//! fingerprint, computed from a schema's JSON.
//!
//! The single-object encoding identifies the writer schema by this
//! fingerprint, so it must be exactly what Java's `SchemaNormalization`,
//! fastavro and the other conforming libraries compute. apache-avro (up to
//! at least 0.21) does not: it keeps a logical-typed primitive as
//! `{"type":"long"}` (AVRO-4004), which gives another fingerprint. Hence this
//! small function over the parsed JSON instead of the crate's.
//!
//! The transformations of the specification ("Transforming into Parsing
//! Canonical Form"):
//! - PRIMITIVES: `{"type":"long", ...}` becomes `"long"` (whatever other
//!   attributes, such as `logicalType`, it carries).
//! - FULLNAMES: names of records, enums and fixed become full names, using the
//!   applicable namespace; references to named types too.
//! - STRIP: only `type`, `name`, `fields`, `symbols`, `items`, `values` and
//!   `size` are kept (`doc`, `aliases`, `default`, `order`, `namespace`,
//!   `logicalType`, ... go).
//! - ORDER: attributes in the order name, type, fields, symbols, items,
//!   values, size.
//! - STRINGS, INTEGERS, WHITESPACE: plain UTF-8 strings, integers without
//!   quotes or leading zeros, no whitespace outside strings.

use serde_json::{Map, Value};

/// Why a schema has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Avro schema: {0}")]
pub struct CanonicalError(String);

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The Parsing Canonical Form of the schema in `json` (an `.avsc` text).
pub fn parsing_canonical_form(json: &str) -> Result<String, CanonicalError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| CanonicalError(format!("invalid JSON: {e}")))?;
    let mut out = String::with_capacity(json.len() / 2);
    write_schema(&value, "", &mut out)?;
    Ok(out)
}

/// CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form,
/// as the `u64` whose little-endian bytes the single-object header carries.
pub fn fingerprint(json: &str) -> Result<u64, CanonicalError> {
    Ok(crc64_avro(parsing_canonical_form(json)?.as_bytes()))
}

/// The specification's 64-bit Rabin fingerprint ("Schema Fingerprints").
pub fn crc64_avro(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    const TABLE: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut i = 0;
        while i < 256 {
            let mut fp = i as u64;
            let mut j = 0;
            while j < 8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
                j += 1;
            }
            table[i] = fp;
            i += 1;
        }
        table
    };
    let mut fp = EMPTY;
    for &b in bytes {
        fp = (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}

/// The full name of `name` in namespace `ns` (a name with a dot is full).
fn full_name(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// The namespace part of a full name (empty when it has none).
fn namespace_of(full: &str) -> &str {
    full.rsplit_once('.').map_or("", |(ns, _)| ns)
}

fn write_string(s: &str, out: &mut String) {
    // serde_json writes UTF-8 as is and escapes only what JSON requires.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

fn attr<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, CanonicalError> {
    obj.get(key)
        .ok_or_else(|| CanonicalError(format!("an object schema without \"{key}\"")))
}

fn str_attr<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, CanonicalError> {
    attr(obj, key)?
        .as_str()
        .ok_or_else(|| CanonicalError(format!("\"{key}\" is not a string")))
}

/// Write the canonical form of `schema`, inside namespace `ns`.
fn write_schema(schema: &Value, ns: &str, out: &mut String) -> Result<(), CanonicalError> {
    match schema {
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                write_string(name, out);
            } else {
                write_string(&full_name(name, ns), out);
            }
            Ok(())
        }
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema(branch, ns, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(obj) => write_object(obj, ns, out),
        other => Err(CanonicalError(format!("a schema cannot be {other}"))),
    }
}

fn write_object(
    obj: &Map<String, Value>,
    ns: &str,
    out: &mut String,
) -> Result<(), CanonicalError> {
    let ty = attr(obj, "type")?;
    let Value::String(ty) = ty else {
        // {"type": {...}} or {"type": [...]}: the inner schema is the schema.
        return write_schema(ty, ns, out);
    };
    match ty.as_str() {
        t if PRIMITIVES.contains(&t) => {
            write_string(t, out);
            Ok(())
        }
        "record" | "error" | "enum" | "fixed" => {
            let name = str_attr(obj, "name")?;
            let own_ns = match obj.get("namespace") {
                Some(Value::String(n)) => n.as_str(),
                Some(Value::Null) | None => ns,
                Some(other) => return Err(CanonicalError(format!("namespace {other}"))),
            };
            let full = full_name(name, own_ns);
            out.push_str("{\"name\":");
            write_string(&full, out);
            out.push_str(",\"type\":");
            write_string(ty, out);
            match ty.as_str() {
                "enum" => {
                    let symbols = attr(obj, "symbols")?
                        .as_array()
                        .ok_or_else(|| CanonicalError("\"symbols\" is not an array".into()))?;
                    out.push_str(",\"symbols\":[");
                    for (i, s) in symbols.iter().enumerate() {
                        let s = s
                            .as_str()
                            .ok_or_else(|| CanonicalError("a symbol is not a string".into()))?;
                        if i > 0 {
                            out.push(',');
                        }
                        write_string(s, out);
                    }
                    out.push(']');
                }
                "fixed" => {
                    let size = match attr(obj, "size")? {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.trim().parse::<u64>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| CanonicalError("\"size\" is not an integer".into()))?;
                    out.push_str(",\"size\":");
                    out.push_str(&size.to_string());
                }
                _ => {
                    let fields = attr(obj, "fields")?
                        .as_array()
                        .ok_or_else(|| CanonicalError("\"fields\" is not an array".into()))?;
                    // Fields' types are named in the record's namespace.
                    let inner = namespace_of(&full);
                    out.push_str(",\"fields\":[");
                    for (i, field) in fields.iter().enumerate() {
                        let field = field
                            .as_object()
                            .ok_or_else(|| CanonicalError("a field is not an object".into()))?;
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str("{\"name\":");
                        write_string(str_attr(field, "name")?, out);
                        out.push_str(",\"type\":");
                        write_schema(attr(field, "type")?, inner, out)?;
                        out.push('}');
                    }
                    out.push(']');
                }
            }
            out.push('}');
            Ok(())
        }
        "array" => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_schema(attr(obj, "items")?, ns, out)?;
            out.push('}');
            Ok(())
        }
        "map" => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_schema(attr(obj, "values")?, ns, out)?;
            out.push('}');
            Ok(())
        }
        // {"type": "SomeNamedType"}: a reference.
        other => {
            write_string(&full_name(other, ns), out);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_of_the_empty_input_is_the_seed() {
        assert_eq!(crc64_avro(b""), 0xc15d_213a_a4d7_a795);
    }

    #[test]
    fn a_logical_type_on_a_primitive_is_the_plain_primitive() {
        let pcf =
            parsing_canonical_form(r#"{"type":"long","logicalType":"timestamp-millis"}"#).unwrap();
        assert_eq!(pcf, r#""long""#);
    }

    #[test]
    fn nested_named_types_inherit_the_enclosing_namespace() {
        let pcf = parsing_canonical_form(
            r#"{"type":"record","name":"R","namespace":"a.b","fields":[
                {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},
                {"name":"f","type":"E"},
                {"name":"g","type":{"type":"fixed","name":"c.F","size":"04"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            pcf,
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["X"]}},{"name":"f","type":"a.b.E"},{"name":"g","type":{"name":"c.F","type":"fixed","size":4}}]}"#
        );
    }

    #[test]
    fn not_a_schema_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "42",
            r#"{"name":"x"}"#,
            r#"{"type":"record","name":"r"}"#,
        ] {
            assert!(parsing_canonical_form(bad).is_err(), "{bad}");
        }
    }
}
