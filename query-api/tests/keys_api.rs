//! A tenant admin manages its keys' roles (`/v1/keys`) against the real
//! PostgreSQL of the local stack: only admins of the tenant, a changed role
//! takes effect at once (and on another instance within a second), a key
//! cannot change its own role, other tenants' keys are not found, every
//! change is audited, and `DELETE` gives the file's role back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use query_api::key_roles::{spawn_sync, KeyRoles};
use query_api::keys::Access;
use serde_json::{json, Value};

mod common;

use common::*;

/// The id `/v1/keys` gives the key whose principal is `principal`.
fn id_of(list: &Value, principal: &str) -> String {
    list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["principal"] == principal)
        .and_then(|k| k["id"].as_str())
        .unwrap_or_else(|| panic!("no key of {principal} in {list}"))
        .to_string()
}

#[tokio::test]
async fn a_tenant_admin_changes_its_keys_roles_at_once_and_audited() {
    let s = setup("keys_api").await;
    let app = &s.app;
    let dashboard = json!({"name": "Ops", "widgets": [{"type": "campaign_table"}]});

    // Only admins of the tenant list its keys.
    for key in [VIEWER_A, EDITOR_A] {
        expect(
            app,
            GET,
            "/v1/keys",
            key,
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let list = get_json(app, "/v1/keys", ADMIN_A).await;
    let roles: Vec<(&str, &str, bool)> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["principal"].as_str().unwrap_or_default(),
                k["role"].as_str().unwrap_or_default(),
                k["changed"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("ann", "viewer", false),
            ("eve", "editor", false),
            ("ada", "admin", false)
        ]
    );
    assert!(!list.to_string().contains(VIEWER_A), "keys are never shown");
    let viewer = id_of(&list, "ann");
    let admin = id_of(&list, "ada");
    let bob = id_of(&get_json(app, "/v1/keys", ADMIN_B).await, "bob");

    // The viewer cannot save a dashboard, until the admin makes it an editor.
    expect(
        app,
        POST,
        "/v1/dashboards",
        VIEWER_A,
        Some(&dashboard),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let path = format!("/v1/keys/{viewer}/role");
    let changed = expect(
        app,
        PUT,
        &path,
        ADMIN_A,
        Some(&json!({"role": "editor"})),
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(
        (
            changed["role"].as_str(),
            changed["file_role"].as_str(),
            changed["changed"].as_bool()
        ),
        (Some("editor"), Some("viewer"), Some(true)),
        "{changed}"
    );
    expect(
        app,
        POST,
        "/v1/dashboards",
        VIEWER_A,
        Some(&dashboard),
        StatusCode::CREATED,
        "",
    )
    .await;
    // Now an editor, still not an admin.
    expect(
        app,
        GET,
        "/v1/keys",
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Bad requests.
    for body in [
        json!({"role": "root"}),
        json!({"role": "editor", "x": 1}),
        json!({}),
    ] {
        expect(
            app,
            PUT,
            &path,
            ADMIN_A,
            Some(&body),
            StatusCode::BAD_REQUEST,
            "bad_role",
        )
        .await;
    }
    let own = expect(
        app,
        PUT,
        &format!("/v1/keys/{admin}/role"),
        ADMIN_A,
        Some(&json!({"role": "viewer"})),
        StatusCode::BAD_REQUEST,
        "bad_role",
    )
    .await;
    assert!(own.message().contains("its own role"), "{}", own.message());
    // Another tenant's key, or none, is not found.
    for id in [bob.as_str(), "0123456789abcdef"] {
        expect(
            app,
            PUT,
            &format!("/v1/keys/{id}/role"),
            ADMIN_A,
            Some(&json!({"role": "admin"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // A platform admin manages any tenant's keys by naming it.
    let b = get_json(app, "/v1/keys?tenant_id=b", ADMIN_ALL).await;
    assert_eq!(id_of(&b, "bob"), bob);

    // Another instance (its own roles, the same database) follows within a
    // second or two.
    let other = Arc::new(KeyRoles::default());
    let sync = spawn_sync(s.db.metadata.clone(), other.clone());
    let keys = keys();
    let ann = keys
        .keys()
        .iter()
        .find(|k| k.principal == "ann")
        .expect("ann's key");
    let deadline = Instant::now() + Duration::from_secs(10);
    while other.access(ann) != Access::Editor {
        assert!(
            Instant::now() < deadline,
            "the other instance never saw the change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Back to the file's role, here and there.
    let reset = expect(app, DELETE, &path, ADMIN_A, None, StatusCode::OK, "")
        .await
        .json();
    assert_eq!(
        (reset["role"].as_str(), reset["changed"].as_bool()),
        (Some("viewer"), Some(false))
    );
    expect(
        app,
        POST,
        "/v1/dashboards",
        VIEWER_A,
        Some(&dashboard),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while other.access(ann) != Access::Viewer {
        assert!(
            Instant::now() < deadline,
            "the other instance never saw the reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sync.abort();

    // Audited under the tenant, by the admin's principal.
    let audit = get_json(app, "/v1/audit?entity=api_key", ADMIN_A).await;
    let mut entries: Vec<(String, String, String)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["principal"].as_str().unwrap_or_default().to_string(),
                e["entity_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ("reset_role".to_string(), "ada".to_string(), viewer.clone()),
            ("set_role".to_string(), "ada".to_string(), viewer.clone()),
        ]
    );
}
