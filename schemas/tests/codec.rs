//! The codec against the contract: round trips, schema evolution, and every
//! way a record can be rejected.

use apache_avro::types::Value;
use apache_avro::Schema;
use schemas::codec::{fingerprint, HEADER_LEN, MARKER};
use schemas::registry::SCHEMA_FILES;
use schemas::{
    CampaignLifecycle, CampaignStatus, Codec, ContractViolation, DecodeError, Event, EventKind,
    LifecycleKind, NotificationSent, Script, ScriptEdge, ScriptNode, UserInteraction,
};

const V1_INTERACTION: &str = include_str!("../avro/user_interaction.v1.avsc");
const V2_INTERACTION: &str = include_str!("fixtures/user_interaction.v2.avsc");
const V1_LIFECYCLE: &str = include_str!("../avro/campaign_lifecycle.v1.avsc");
const V1_NOTIFICATION: &str = include_str!("../avro/notification_sent.v1.avsc");

fn lifecycle() -> Event {
    Event::Lifecycle(CampaignLifecycle {
        event_id: "e-1".into(),
        tenant_id: "acme".into(),
        campaign_id: "c-1".into(),
        job_id: String::new(),
        occurred_at: 1_788_000_000_123,
        kind: LifecycleKind::Created,
        status: Some(CampaignStatus::New),
        audience_size: Some(1200),
        script: Some(Script {
            nodes: vec![
                ScriptNode {
                    id: "start".into(),
                    node_type: "message".into(),
                    script_type: "buttons".into(),
                },
                ScriptNode {
                    id: "end_ok".into(),
                    node_type: "message".into(),
                    script_type: "final".into(),
                },
            ],
            edges: vec![ScriptEdge {
                source: "start".into(),
                target: "end_ok".into(),
                label: Some("Yes".into()),
            }],
        }),
    })
}

fn notification() -> Event {
    Event::Notification(NotificationSent {
        event_id: "e-2".into(),
        tenant_id: "acme".into(),
        campaign_id: "c-1".into(),
        job_id: "j-1".into(),
        occurred_at: 1_788_000_001_000,
        user_id: "u-1".into(),
        node_id: Some("start".into()),
        first_message: true,
        warning_message: false,
    })
}

fn interaction() -> Event {
    Event::Interaction(UserInteraction {
        event_id: "e-3".into(),
        tenant_id: "acme".into(),
        campaign_id: "c-1".into(),
        job_id: "j-1".into(),
        occurred_at: 1_788_000_002_000,
        user_id: "u-1".into(),
        selected_action: "Yes".into(),
        answer_target: "end_ok".into(),
        answer_title: None,
        question: Some("Ready?".into()),
    })
}

fn codec() -> Codec {
    Codec::new().expect("embedded schemas parse")
}

#[test]
fn every_record_round_trips() {
    let codec = codec();
    for event in [lifecycle(), notification(), interaction()] {
        let bytes = codec.encode(&event).unwrap();
        assert_eq!(bytes[..2], MARKER);
        assert_eq!(codec.decode(&bytes).unwrap(), event);
        assert_eq!(codec.decode_expecting(&bytes, event.kind()).unwrap(), event);
    }
}

#[test]
fn header_carries_the_little_endian_fingerprint_of_the_writer_schema() {
    let codec = codec();
    let bytes = codec.encode(&interaction()).unwrap();
    let fp = fingerprint(V1_INTERACTION).unwrap();
    assert_eq!(bytes[2..HEADER_LEN], fp.to_le_bytes());
    assert_eq!(codec.current_fingerprint(EventKind::Interaction), fp);
}

#[test]
fn fingerprint_matches_the_avro_spec_test_vector() {
    // From the Avro specification's CRC-64-AVRO test data: the schema "null".
    assert_eq!(fingerprint(r#""null""#).unwrap(), 0x63dd_24e7_cc25_8f8a);
}

#[test]
fn embedded_schema_list_matches_the_avro_folder() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/avro");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = SCHEMA_FILES
        .iter()
        .map(|f| f.file_name.to_string())
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
    for f in SCHEMA_FILES {
        let text = std::fs::read_to_string(format!("{dir}/{}", f.file_name)).unwrap();
        assert_eq!(
            text, f.text,
            "{} differs from the embedded copy",
            f.file_name
        );
        assert!(f.file_name.ends_with(&format!(".v{}.avsc", f.version)));
    }
}

#[test]
fn contract_field_names_are_those_of_metrics_md() {
    fn names(text: &str) -> Vec<String> {
        let Schema::Record(r) = Schema::parse_str(text).unwrap() else {
            panic!("not a record")
        };
        r.fields.iter().map(|f| f.name.clone()).collect()
    }
    let common = [
        "event_id",
        "tenant_id",
        "campaign_id",
        "job_id",
        "occurred_at",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        common.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    assert_eq!(
        names(V1_LIFECYCLE),
        with(&["kind", "status", "audience_size", "script"])
    );
    assert_eq!(
        names(V1_NOTIFICATION),
        with(&["user_id", "node_id", "first_message", "warning_message"])
    );
    assert_eq!(
        names(V1_INTERACTION),
        with(&[
            "user_id",
            "selected_action",
            "answer_target",
            "answer_title",
            "question"
        ])
    );
}

/// A v2 `UserInteraction` record with the added optional `channel` field.
fn v2_interaction_bytes(channel: Option<&str>) -> Vec<u8> {
    let schema = Schema::parse_str(V2_INTERACTION).unwrap();
    let opt = |v: Option<&str>| match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(Value::String(s.into()))),
    };
    let value = Value::Record(vec![
        ("event_id".into(), Value::String("e-9".into())),
        ("tenant_id".into(), Value::String("acme".into())),
        ("campaign_id".into(), Value::String("c-1".into())),
        ("job_id".into(), Value::String("j-1".into())),
        (
            "occurred_at".into(),
            Value::TimestampMillis(1_788_000_009_000),
        ),
        ("user_id".into(), Value::String("u-9".into())),
        ("selected_action".into(), Value::String("No".into())),
        ("answer_target".into(), Value::String("n2".into())),
        ("answer_title".into(), opt(Some("Nope"))),
        ("question".into(), opt(None)),
        ("channel".into(), opt(channel)),
    ]);
    let body = apache_avro::to_avro_datum(&schema, value).unwrap();
    let mut out = MARKER.to_vec();
    out.extend_from_slice(&fingerprint(V2_INTERACTION).unwrap().to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn v1_reader_reads_a_v2_record_ignoring_the_added_field() {
    // The v1 reader knows the v2 writer schema (as it would once v2 is published).
    let codec = Codec::from_schemas(
        &[
            (EventKind::Lifecycle, "lifecycle v1", V1_LIFECYCLE),
            (EventKind::Notification, "notification v1", V1_NOTIFICATION),
            (EventKind::Interaction, "interaction v1", V1_INTERACTION),
        ],
        &[(EventKind::Interaction, "interaction v2", V2_INTERACTION)],
    )
    .unwrap();
    let event = codec
        .decode(&v2_interaction_bytes(Some("whatsapp")))
        .unwrap();
    let Event::Interaction(e) = event else {
        panic!("not an interaction")
    };
    assert_eq!(e.user_id, "u-9");
    assert_eq!(e.answer_title.as_deref(), Some("Nope"));
    assert_eq!(e.question, None);
}

#[test]
fn v2_reader_reads_a_v1_record_with_the_default() {
    let v2_codec = Codec::from_schemas(
        &[
            (EventKind::Lifecycle, "lifecycle v1", V1_LIFECYCLE),
            (EventKind::Notification, "notification v1", V1_NOTIFICATION),
            (EventKind::Interaction, "interaction v2", V2_INTERACTION),
        ],
        &[(EventKind::Interaction, "interaction v1", V1_INTERACTION)],
    )
    .unwrap();
    // Written by today's producers, with v1.
    let bytes = codec().encode(&interaction()).unwrap();
    assert_eq!(v2_codec.decode(&bytes).unwrap(), interaction());
    // And v2 records still read with the v2 reader.
    let v2 = v2_codec.decode(&v2_interaction_bytes(None)).unwrap();
    assert_eq!(v2.event_id(), "e-9");
}

#[test]
fn an_unknown_writer_version_is_rejected_by_fingerprint() {
    // Today's codec does not know v2.
    let err = codec().decode(&v2_interaction_bytes(None)).unwrap_err();
    let v2 = fingerprint(V2_INTERACTION).unwrap();
    assert_eq!(err, DecodeError::UnknownFingerprint { fingerprint: v2 });
    assert_eq!(err.code(), "unknown_fingerprint");
}

#[test]
fn resolution_failure_is_typed() {
    // A writer whose `user_id` is an int cannot be read as the v1 string.
    let incompatible = V1_INTERACTION.replace(
        r#"{"name": "user_id", "type": "string"}"#,
        r#"{"name": "user_id", "type": "int"}"#,
    );
    assert_ne!(incompatible, V1_INTERACTION);
    let schema = Schema::parse_str(&incompatible).unwrap();
    let codec = Codec::from_schemas(
        &[
            (EventKind::Lifecycle, "l", V1_LIFECYCLE),
            (EventKind::Notification, "n", V1_NOTIFICATION),
            (EventKind::Interaction, "i", V1_INTERACTION),
        ],
        &[(EventKind::Interaction, "int user", &incompatible)],
    )
    .unwrap();
    let value = Value::Record(vec![
        ("event_id".into(), Value::String("e".into())),
        ("tenant_id".into(), Value::String("t".into())),
        ("campaign_id".into(), Value::String("c".into())),
        ("job_id".into(), Value::String("j".into())),
        ("occurred_at".into(), Value::TimestampMillis(1)),
        ("user_id".into(), Value::Int(7)),
        ("selected_action".into(), Value::String("a".into())),
        ("answer_target".into(), Value::String("n".into())),
        (
            "answer_title".into(),
            Value::Union(0, Box::new(Value::Null)),
        ),
        ("question".into(), Value::Union(0, Box::new(Value::Null))),
    ]);
    let mut bytes = MARKER.to_vec();
    bytes.extend_from_slice(&fingerprint(&incompatible).unwrap().to_le_bytes());
    bytes.extend_from_slice(&apache_avro::to_avro_datum(&schema, value).unwrap());
    let err = codec.decode(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Resolution {
                record: "UserInteraction",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn short_and_unmarked_records_are_rejected() {
    let codec = codec();
    assert_eq!(
        codec.decode(&[]).unwrap_err(),
        DecodeError::TooShort { len: 0 }
    );
    assert_eq!(
        codec.decode(&[0xC3, 0x01, 1, 2]).unwrap_err(),
        DecodeError::TooShort { len: 4 }
    );
    let mut bytes = codec.encode(&notification()).unwrap();
    bytes[0] = b'{';
    assert_eq!(
        codec.decode(&bytes).unwrap_err(),
        DecodeError::BadMarker {
            found: [b'{', 0x01]
        }
    );
}

#[test]
fn every_truncation_is_a_typed_error() {
    let codec = codec();
    for event in [lifecycle(), notification(), interaction()] {
        let bytes = codec.encode(&event).unwrap();
        for len in 0..bytes.len() {
            let err = codec.decode(&bytes[..len]).unwrap_err();
            if len >= HEADER_LEN {
                assert!(
                    matches!(err, DecodeError::TruncatedBody { .. }),
                    "{} bytes of {}: {err:?}",
                    len,
                    bytes.len()
                );
            }
        }
    }
}

#[test]
fn trailing_bytes_are_malformed() {
    let codec = codec();
    let mut bytes = codec.encode(&interaction()).unwrap();
    bytes.push(0);
    assert!(matches!(
        codec.decode(&bytes).unwrap_err(),
        DecodeError::MalformedBody { .. }
    ));
}

fn with_interaction(f: impl FnOnce(&mut UserInteraction)) -> Event {
    let Event::Interaction(mut e) = interaction() else {
        unreachable!()
    };
    f(&mut e);
    Event::Interaction(e)
}

#[test]
fn empty_required_ids_are_contract_violations() {
    let codec = codec();
    let cases: [(&str, Event); 4] = [
        ("event_id", with_interaction(|e| e.event_id.clear())),
        ("tenant_id", with_interaction(|e| e.tenant_id.clear())),
        ("campaign_id", with_interaction(|e| e.campaign_id.clear())),
        ("user_id", with_interaction(|e| e.user_id.clear())),
    ];
    for (field, event) in cases {
        let bytes = codec.encode(&event).unwrap();
        let err = codec.decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Contract(ContractViolation::EmptyField { field })
        );
        assert_eq!(err.code(), "empty_field");
    }
    // An empty job_id is allowed (campaign-wide lifecycle events).
    let bytes = codec
        .encode(&with_interaction(|e| e.job_id.clear()))
        .unwrap();
    assert!(codec.decode(&bytes).is_ok());
}

#[test]
fn a_record_on_the_wrong_topic_is_a_contract_violation() {
    let codec = codec();
    let bytes = codec.encode(&notification()).unwrap();
    assert_eq!(
        codec
            .decode_expecting(&bytes, EventKind::Interaction)
            .unwrap_err(),
        DecodeError::Contract(ContractViolation::WrongTopic {
            expected: EventKind::Interaction,
            found: EventKind::Notification
        })
    );
}

#[test]
fn future_events_are_contract_violations_beyond_the_skew() {
    let event = interaction();
    let at = event.occurred_at();
    assert!(schemas::check_not_in_future(&event, at, 0).is_ok());
    assert!(schemas::check_not_in_future(&event, at - 1_000, 1_000).is_ok());
    assert_eq!(
        schemas::check_not_in_future(&event, at - 1_001, 1_000).unwrap_err(),
        ContractViolation::InFuture {
            occurred_at: at,
            ahead_ms: 1_001,
            max_skew_ms: 1_000
        }
    );
}

// ── Confluent Schema Registry wire format ────────────────────────────────

#[test]
fn confluent_framed_records_decode_once_their_id_is_registered() {
    let mut codec = codec();
    for event in [notification(), interaction()] {
        let bytes = codec.encode_confluent(&event, 7).unwrap();
        assert_eq!(bytes[0], schemas::codec::CONFLUENT_MAGIC);
        assert_eq!(bytes[1..5], 7u32.to_be_bytes());
        // The body is the single-object record's body.
        assert_eq!(bytes[5..], codec.encode(&event).unwrap()[HEADER_LEN..]);
    }
    let bytes = codec.encode_confluent(&interaction(), 7).unwrap();
    let err = codec.decode(&bytes).unwrap_err();
    assert_eq!(err, DecodeError::UnknownSchemaId { id: 7 });
    assert_eq!(err.code(), "unknown_schema_id");
    assert!(!codec.knows_schema_id(7));
    assert_eq!(
        codec.register_schema_id(7, V1_INTERACTION).unwrap(),
        EventKind::Interaction
    );
    assert!(codec.knows_schema_id(7));
    assert_eq!(codec.decode(&bytes).unwrap(), interaction());
    assert_eq!(codec.decode_generic(&bytes).unwrap(), interaction());
    // Single-object records are read as before, record by record.
    let single = codec.encode(&interaction()).unwrap();
    assert_eq!(codec.decode(&single).unwrap(), interaction());
}

#[test]
fn a_confluent_writer_schema_is_resolved_against_the_reader() {
    // v2 adds a field with a default; a v2 writer registered under an id is
    // read into the v1 reader.
    let mut codec = codec();
    codec.register_schema_id(12, V2_INTERACTION).unwrap();
    let single = v2_interaction_bytes(Some("whatsapp"));
    let mut framed = vec![0x00];
    framed.extend_from_slice(&12u32.to_be_bytes());
    framed.extend_from_slice(&single[HEADER_LEN..]);
    let event = codec.decode(&framed).unwrap();
    assert_eq!(event.event_id(), "e-9");
    // A truncated body behind a known id is a typed error, not a panic.
    let cut = &framed[..framed.len() - 3];
    assert_eq!(codec.decode(cut).unwrap_err().code(), "truncated_body");
}

#[test]
fn a_schema_of_another_record_cannot_be_registered() {
    let mut codec = codec();
    let other = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"}]}"#;
    assert!(codec.register_schema_id(3, other).is_err());
    assert!(codec.register_schema_id(3, "not json").is_err());
    assert!(!codec.knows_schema_id(3));
}

#[test]
fn headers_of_either_format_that_end_early_are_too_short() {
    let codec = codec();
    for bytes in [
        &[][..],
        &[0x00][..],
        &[0x00, 0, 0, 1][..],
        &[0xC3][..],
        &[0xC3, 0x01, 1, 2][..],
    ] {
        assert!(
            matches!(codec.decode(bytes), Err(DecodeError::TooShort { .. })),
            "{bytes:02x?}"
        );
    }
    assert!(matches!(
        codec.decode(b"Obj\x01 rest of a container file"),
        Err(DecodeError::BadMarker {
            found: [b'O', b'b']
        })
    ));
}
