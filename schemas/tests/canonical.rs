//! The Parsing Canonical Form and fingerprint against independent
//! references: the Avro project's own test vectors (share/test/data/
//! schema-tests.txt of apache/avro, checked there by Java's
//! `SchemaNormalization`), and what fastavro computes for our `.avsc` files
//! (the fixture written by tests/python/fastavro_fingerprints.py; a pytest
//! checks the fixture is still fastavro's output).

use schemas::canonical::{crc64_avro, fingerprint, parsing_canonical_form};
use schemas::codec::{legacy_fingerprint, HEADER_LEN, MARKER};
use schemas::registry::SCHEMA_FILES;
use schemas::{Codec, EventKind};

/// (input, canonical form, fingerprint as Java's signed long when given).
const SPEC_VECTORS: &[(&str, &str, Option<i64>)] = &[
    (r#""null""#, r#""null""#, Some(7195948357588979594)),
    (r#"{"type":"null"}"#, r#""null""#, None),
    (r#""boolean""#, r#""boolean""#, Some(-6970731678124411036)),
    (r#"{"type":"boolean"}"#, r#""boolean""#, None),
    (r#""int""#, r#""int""#, Some(8247732601305521295)),
    (r#"{"type":"int"}"#, r#""int""#, None),
    (r#""long""#, r#""long""#, Some(-3434872931120570953)),
    (r#"{"type":"long"}"#, r#""long""#, None),
    (r#""float""#, r#""float""#, Some(5583340709985441680)),
    (r#"{"type":"float"}"#, r#""float""#, None),
    (r#""double""#, r#""double""#, Some(-8181574048448539266)),
    (r#"{"type":"double"}"#, r#""double""#, None),
    (r#""bytes""#, r#""bytes""#, Some(5746618253357095269)),
    (r#"{"type":"bytes"}"#, r#""bytes""#, None),
    (r#""string""#, r#""string""#, Some(-8142146995180207161)),
    (r#"{"type":"string"}"#, r#""string""#, None),
    ("[  ]", "[]", Some(-1241056759729112623)),
    (r#"[ "int"  ]"#, r#"["int"]"#, Some(-5232228896498058493)),
    (
        r#"[ "int" , {"type":"boolean"} ]"#,
        r#"["int","boolean"]"#,
        Some(5392556393470105090),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"foo"}"#,
        r#"{"name":"foo","type":"record","fields":[]}"#,
        Some(-4824392279771201922),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}"#,
        r#"{"name":"x.y.foo","type":"record","fields":[]}"#,
        Some(5916914534497305771),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}"#,
        r#"{"name":"a.b.foo","type":"record","fields":[]}"#,
        Some(-4616218487480524110),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}"#,
        r#"{"name":"foo","type":"record","fields":[]}"#,
        Some(-4824392279771201922),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}"#,
        r#"{"name":"foo","type":"record","fields":[]}"#,
        Some(-4824392279771201922),
    ),
    (
        r#"{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}"#,
        r#"{"name":"foo","type":"record","fields":[]}"#,
        Some(-4824392279771201922),
    ),
    (
        r#"{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}"#,
        r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}"#,
        Some(7843277075252814651),
    ),
    (
        r#"{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
  "type":"record", "name":"foo"
}"#,
        r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}"#,
        Some(-4860222112080293046),
    ),
    (
        r#"{"type":"enum", "name":"foo", "symbols":["A1"]}"#,
        r#"{"name":"foo","type":"enum","symbols":["A1"]}"#,
        Some(-6342190197741309591),
    ),
    (
        r#"{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}"#,
        r#"{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}"#,
        Some(-4448647247586288245),
    ),
    (
        r#"{"name":"foo","type":"fixed","size":15}"#,
        r#"{"name":"foo","type":"fixed","size":15}"#,
        Some(1756455273707447556),
    ),
    (
        r#"{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}"#,
        r#"{"name":"x.y.z.foo","type":"fixed","size":32}"#,
        Some(-3064184465700546786),
    ),
    (
        r#"{ "items":{"type":"null"}, "type":"array"}"#,
        r#"{"type":"array","items":"null"}"#,
        Some(-589620603366471059),
    ),
    (
        r#"{ "values":"string", "type":"map"}"#,
        r#"{"type":"map","values":"string"}"#,
        Some(-8732877298790414990),
    ),
    (
        r#"{"name":"PigValue","type":"record",
   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}"#,
        r#"{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}"#,
        Some(-1759257747318642341),
    ),
];

#[test]
fn the_avro_projects_canonical_form_vectors() {
    for (i, (input, canonical, fp)) in SPEC_VECTORS.iter().enumerate() {
        let got = parsing_canonical_form(input).unwrap_or_else(|e| panic!("vector {i:03}: {e}"));
        assert_eq!(got, *canonical, "vector {i:03}: canonical form");
        if let Some(fp) = fp {
            assert_eq!(
                crc64_avro(got.as_bytes()) as i64,
                *fp,
                "vector {i:03}: fingerprint"
            );
        }
    }
}

#[derive(serde::Deserialize)]
struct Fixture {
    generator: String,
    schemas: Vec<FixtureSchema>,
}

#[derive(serde::Deserialize)]
struct FixtureSchema {
    file: String,
    canonical_form: String,
    header_hex: String,
    fingerprint: u64,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/fastavro_fingerprints.json");
    let fixture: Fixture = serde_json::from_str(text).expect("fixture parses");
    assert_eq!(fixture.generator, "fastavro");
    fixture
}

fn avsc(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn our_schemas_have_the_canonical_form_and_fingerprint_fastavro_computes() {
    let fixture = fixture();
    for published in SCHEMA_FILES {
        let file = format!("schemas/avro/{}", published.file_name);
        assert!(
            fixture.schemas.iter().any(|s| s.file == file),
            "{file} is missing from the fastavro fixture: regenerate it"
        );
    }
    for s in &fixture.schemas {
        let text = avsc(&s.file);
        assert_eq!(
            parsing_canonical_form(&text).unwrap(),
            s.canonical_form,
            "{}",
            s.file
        );
        let fp = fingerprint(&text).unwrap();
        assert_eq!(fp, s.fingerprint, "{}", s.file);
        assert_eq!(hex::encode(fp.to_le_bytes()), s.header_hex, "{}", s.file);
    }
}

#[test]
fn the_codec_writes_the_fastavro_fingerprint_and_still_reads_the_legacy_one() {
    let fixture = fixture();
    let codec = Codec::new().unwrap();
    for published in SCHEMA_FILES {
        let file = format!("schemas/avro/{}", published.file_name);
        let Some(expected) = fixture.schemas.iter().find(|s| s.file == file) else {
            panic!("{file} not in the fixture");
        };
        assert_eq!(
            codec.current_fingerprint(published.kind),
            expected.fingerprint,
            "{file}"
        );
    }
    // A record framed with the fingerprint earlier versions wrote
    // (apache-avro's canonical form) decodes to the same event.
    let event = schemas::Event::Notification(schemas::NotificationSent {
        event_id: "e1".into(),
        tenant_id: "t".into(),
        campaign_id: "c".into(),
        job_id: "j".into(),
        occurred_at: 1_700_000_000_000,
        user_id: "u".into(),
        node_id: None,
        first_message: true,
        warning_message: false,
    });
    let bytes = codec.encode(&event).unwrap();
    assert_eq!(bytes[..2], MARKER);
    let text = avsc("schemas/avro/notification_sent.v1.avsc");
    let schema = apache_avro::Schema::parse_str(&text).unwrap();
    let legacy = legacy_fingerprint(&schema);
    assert_ne!(
        legacy,
        codec.current_fingerprint(EventKind::Notification),
        "AVRO-4004: apache-avro's form differs"
    );
    let mut old = bytes.clone();
    old[2..HEADER_LEN].copy_from_slice(&legacy.to_le_bytes());
    assert_eq!(codec.decode(&old).unwrap(), event);
    assert_eq!(codec.decode_generic(&old).unwrap(), event);
    assert_eq!(codec.decode(&bytes).unwrap(), event);
}
