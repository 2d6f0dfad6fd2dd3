//! Confluent writer schemas from a schema registry and from a schema ids
//! file. No registry server can be installed here, so the registry is a
//! small HTTP server in this test that serves the documented API
//! (`GET /schemas/ids/{id}` -> `{"schema": "<avsc>"}`, 404 with
//! `error_code` 40403 for an unknown id) behind basic authentication.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use processor::schema_source::{
    IdsFile, RegistryClient, SchemaIds, SchemaSource, SchemaSourceError, MISS_TTL,
};
use schemas::{Codec, DecodeError, Event, EventKind, UserInteraction};

const V1_INTERACTION: &str = include_str!("../../schemas/avro/user_interaction.v1.avsc");
const V1_NOTIFICATION: &str = include_str!("../../schemas/avro/notification_sent.v1.avsc");
/// "user:secret" in base64.
const AUTH: &str = "Basic dXNlcjpzZWNyZXQ=";

#[derive(Default)]
struct Registry {
    /// id -> (schemaType, schema)
    schemas: Mutex<HashMap<u32, (Option<&'static str>, String)>>,
    requests: AtomicUsize,
}

async fn schema_by_id(
    State(reg): State<Arc<Registry>>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> axum::response::Response {
    reg.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(AUTH) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error_code": 401, "message": "Unauthorized"})),
        )
            .into_response();
    }
    let found = reg.schemas.lock().unwrap().get(&id).cloned();
    match found {
        Some((ty, schema)) => {
            let mut body = serde_json::json!({ "schema": schema });
            if let Some(ty) = ty {
                body["schemaType"] = ty.into();
            }
            Json(body).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error_code": 40403, "message": "Schema not found"})),
        )
            .into_response(),
    }
}

/// The registry on 127.0.0.1:<free port>, served from a thread of its own.
fn start_registry(reg: Arc<Registry>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/schemas/ids/{id}", get(schema_by_id))
                .with_state(reg);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn interaction(id: &str) -> Event {
    Event::Interaction(UserInteraction {
        event_id: id.into(),
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

fn lookups() -> prometheus::IntCounterVec {
    prometheus::IntCounterVec::new(prometheus::Opts::new("lookups", "test"), &["outcome"]).unwrap()
}

#[test]
fn registry_schemas_are_fetched_with_basic_auth_and_cached() {
    let reg = Arc::new(Registry::default());
    reg.schemas
        .lock()
        .unwrap()
        .insert(101, (None, V1_INTERACTION.to_owned()));
    reg.schemas
        .lock()
        .unwrap()
        .insert(102, (Some("AVRO"), V1_NOTIFICATION.to_owned()));
    let addr = start_registry(reg.clone());
    let url = format!("http://{addr}/");
    let client = RegistryClient::new(&url, Some(("user".into(), "secret".into()))).unwrap();
    let counter = lookups();
    let mut ids = SchemaIds::new(vec![Box::new(client)], counter.clone());
    let mut codec = Codec::new().unwrap();

    for i in 0..50 {
        let event = interaction(&format!("e-{i}"));
        let bytes = codec.encode_confluent(&event, 101).unwrap();
        let decoded = ids
            .decode_expecting(&mut codec, &bytes, EventKind::Interaction)
            .unwrap();
        assert_eq!(decoded, event);
    }
    assert_eq!(
        reg.requests.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );
    assert_eq!(counter.with_label_values(&["found"]).get(), 1);

    // An id the registry does not have: dead-lettered as unknown, and a
    // burst of such records costs one request per MISS_TTL.
    let bytes = codec.encode_confluent(&interaction("x"), 999).unwrap();
    for _ in 0..100 {
        let err = ids
            .decode_expecting(&mut codec, &bytes, EventKind::Interaction)
            .unwrap_err();
        assert_eq!(err, DecodeError::UnknownSchemaId { id: 999 });
    }
    assert_eq!(reg.requests.load(Ordering::SeqCst), 2);
    // Once registered and MISS_TTL later, the id is readable.
    reg.schemas
        .lock()
        .unwrap()
        .insert(999, (None, V1_INTERACTION.to_owned()));
    std::thread::sleep(MISS_TTL + Duration::from_millis(50));
    assert!(ids
        .decode_expecting(&mut codec, &bytes, EventKind::Interaction)
        .is_ok());

    // A notification schema id on the interactions topic: wrong topic.
    let notif = Event::Notification(schemas::NotificationSent {
        event_id: "n".into(),
        tenant_id: "acme".into(),
        campaign_id: "c-1".into(),
        job_id: "j-1".into(),
        occurred_at: 1_788_000_002_000,
        user_id: "u".into(),
        node_id: None,
        first_message: true,
        warning_message: false,
    });
    let bytes = codec.encode_confluent(&notif, 102).unwrap();
    let err = ids
        .decode_expecting(&mut codec, &bytes, EventKind::Interaction)
        .unwrap_err();
    assert_eq!(err.code(), "wrong_topic");
}

#[test]
fn a_protobuf_or_foreign_schema_is_a_clear_dead_letter_reason() {
    let reg = Arc::new(Registry::default());
    reg.schemas
        .lock()
        .unwrap()
        .insert(5, (Some("PROTOBUF"), "syntax = \"proto3\";".to_owned()));
    reg.schemas.lock().unwrap().insert(
        6,
        (
            None,
            r#"{"type":"record","name":"Payment","fields":[]}"#.to_owned(),
        ),
    );
    let addr = start_registry(reg.clone());
    let client = RegistryClient::new(
        &format!("http://{addr}"),
        Some(("user".into(), "secret".into())),
    )
    .unwrap();
    let mut ids = SchemaIds::new(vec![Box::new(client)], lookups());
    let mut codec = Codec::new().unwrap();
    for id in [5, 6] {
        let bytes = codec.encode_confluent(&interaction("e"), id).unwrap();
        let err = ids
            .decode_expecting(&mut codec, &bytes, EventKind::Interaction)
            .unwrap_err();
        assert_eq!(err.code(), "foreign_schema", "{err}");
    }
}

#[test]
fn wrong_credentials_are_an_error_that_names_the_settings() {
    let reg = Arc::new(Registry::default());
    let addr = start_registry(reg);
    let mut client = RegistryClient::new(
        &format!("http://{addr}"),
        Some(("user".into(), "wrong".into())),
    )
    .unwrap();
    let err = client.schema(1).unwrap_err();
    assert!(matches!(err, SchemaSourceError::Registry { .. }));
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("SCHEMA_REGISTRY_PASSWORD"),
        "{text}"
    );
    assert!(
        !text.contains("wrong"),
        "the password is never shown: {text}"
    );
    assert!(RegistryClient::new("ftp://x", None).is_err());
}

#[test]
fn an_ids_file_is_read_again_when_an_id_is_missing() {
    let dir = std::env::temp_dir().join(format!("schema-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("interaction.avsc"), V1_INTERACTION).unwrap();
    let file = dir.join("ids.toml");
    std::fs::write(&file, "[ids]\n1 = \"interaction.avsc\"\n").unwrap();
    let source = IdsFile::open(&file).unwrap();
    let mut ids = SchemaIds::new(vec![Box::new(source)], lookups());
    let mut codec = Codec::new().unwrap();

    let one = codec.encode_confluent(&interaction("a"), 1).unwrap();
    let two = codec.encode_confluent(&interaction("b"), 2).unwrap();
    assert!(ids
        .decode_expecting(&mut codec, &one, EventKind::Interaction)
        .is_ok());
    assert_eq!(
        ids.decode_expecting(&mut codec, &two, EventKind::Interaction)
            .unwrap_err(),
        DecodeError::UnknownSchemaId { id: 2 }
    );
    // The schema ships: a line is added, no restart.
    std::fs::write(
        &file,
        "[ids]\n1 = \"interaction.avsc\"\n2 = \"interaction.avsc\"\n",
    )
    .unwrap();
    std::thread::sleep(MISS_TTL + Duration::from_millis(50));
    assert_eq!(
        ids.decode_expecting(&mut codec, &two, EventKind::Interaction)
            .unwrap(),
        interaction("b")
    );
    // A file that does not parse is an error at start.
    std::fs::write(&file, "[ids]\nx = 1\n").unwrap();
    assert!(IdsFile::open(&file).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
