//! Saved dashboards against the real PostgreSQL of the local stack:
//! versions and the expected-version check, soft delete, pages by name,
//! search, tenant isolation and the audit trail.

use metadata::reports::AuditFilter;
use metadata::testing::TestDatabase;
use metadata::{DashboardBody, DashboardFilter, Replaced};
use serde_json::json;

fn body(name: &str) -> DashboardBody {
    DashboardBody {
        name: name.into(),
        description: Some(format!("about {name}")),
        widgets: json!([{"id": "w1", "type": "live_counter", "width": 3,
                         "params": {"metric": "sent_users"}}]),
    }
}

fn page(limit: i64) -> DashboardFilter {
    DashboardFilter {
        limit,
        ..DashboardFilter::default()
    }
}

#[tokio::test]
async fn dashboards_are_versioned_listed_isolated_and_audited() {
    let db = TestDatabase::new("dashboards").await;
    let m = &db.metadata;
    let ops = m
        .create_dashboard("acme", "ann", &body("Ops"))
        .await
        .unwrap();
    assert_eq!((ops.version, ops.created_by.as_str()), (1, "ann"));
    assert_eq!(ops.body, body("Ops"));
    let exec = m
        .create_dashboard("acme", "bob", &body("Exec"))
        .await
        .unwrap();
    let other = m
        .create_dashboard("globex", "gil", &body("Ops"))
        .await
        .unwrap();

    // Read back; another tenant's id or a malformed id is "not found".
    assert_eq!(
        m.dashboard("acme", &ops.id).await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(m.dashboard("acme", &other.id).await.unwrap(), None);
    assert_eq!(m.dashboard("acme", "not-a-uuid").await.unwrap(), None);

    // Pages by name then id; the cursor is the last id.
    let names = |rows: &[metadata::StoredDashboard]| {
        rows.iter().map(|d| d.body.name.clone()).collect::<Vec<_>>()
    };
    let first = m.list_dashboards("acme", &page(1)).await.unwrap();
    assert_eq!(names(&first), ["Exec"]);
    let rest = m
        .list_dashboards(
            "acme",
            &DashboardFilter {
                after: Some(first[0].id.clone()),
                ..page(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&rest), ["Ops"]);
    let found = m
        .list_dashboards(
            "acme",
            &DashboardFilter {
                search: Some("ABOUT e".into()),
                ..page(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&found), ["Exec"]);
    let literal = m
        .list_dashboards(
            "acme",
            &DashboardFilter {
                search: Some("%".into()),
                ..page(10)
            },
        )
        .await
        .unwrap();
    assert!(literal.is_empty(), "% is taken literally");

    // Replace: the version grows; an expected version must match.
    let renamed = match m
        .replace_dashboard("acme", "bob", &ops.id, &body("Ops 2"), Some(1))
        .await
        .unwrap()
    {
        Replaced::Done(d) => d,
        other => panic!("expected a replace, got {other:?}"),
    };
    assert_eq!((renamed.version, renamed.body.name.as_str()), (2, "Ops 2"));
    assert_eq!(renamed.created_by, "ann");
    assert_eq!(
        m.replace_dashboard("acme", "bob", &ops.id, &body("stale"), Some(1))
            .await
            .unwrap(),
        Replaced::VersionMismatch { current: 2 }
    );
    assert_eq!(
        m.replace_dashboard("acme", "bob", &other.id, &body("x"), None)
            .await
            .unwrap(),
        Replaced::NotFound
    );
    assert_eq!(
        m.dashboard("globex", &other.id)
            .await
            .unwrap()
            .unwrap()
            .body
            .name,
        "Ops"
    );

    // Delete is soft and final for the API; another tenant cannot.
    assert!(!m.delete_dashboard("globex", "gil", &exec.id).await.unwrap());
    assert!(m.delete_dashboard("acme", "bob", &exec.id).await.unwrap());
    assert!(!m.delete_dashboard("acme", "bob", &exec.id).await.unwrap());
    assert_eq!(m.dashboard("acme", &exec.id).await.unwrap(), None);
    assert_eq!(
        names(&m.list_dashboards("acme", &page(10)).await.unwrap()),
        ["Ops 2"]
    );

    // Every change is in the tenant's audit log.
    let audit = m
        .list_audit(
            "acme",
            &AuditFilter {
                entity: Some("dashboard".into()),
                limit: 10,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.principal.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("delete", "bob"),
            ("update", "bob"),
            ("create", "bob"),
            ("create", "ann")
        ]
    );
    assert_eq!(audit[1].detail.as_ref().unwrap()["name"], "Ops 2");
    db.drop().await;
}
