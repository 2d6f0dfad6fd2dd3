//! The tenants registry against the real PostgreSQL of the local stack.

use chrono::{DateTime, Duration, Utc};
use metadata::tenants::{Created, NewTenant, TenantPatch, Updated};
use metadata::testing::TestDatabase;

fn tenant(id: &str, zone: &str) -> NewTenant {
    NewTenant {
        id: id.into(),
        display_name: format!("{id} Inc."),
        timezone: zone.into(),
        rate_limit_per_second: Some(20),
        rate_limit_burst: None,
    }
}

fn zones(t: &runtime::tenant_directory::TenantRecord) -> Vec<(DateTime<Utc>, &str)> {
    t.zones
        .iter()
        .map(|z| (z.effective_from, z.timezone.as_str()))
        .collect()
}

#[tokio::test]
async fn tenants_are_created_changed_deleted_audited_and_published() {
    let db = TestDatabase::new("tenants").await;
    let m = &db.metadata;
    let Created::Created(acme) = m
        .create_tenant("root", tenant("acme", "Europe/Berlin"))
        .await
        .unwrap()
    else {
        panic!("acme was not created");
    };
    assert_eq!(acme.record.revision, 1);
    assert_eq!(acme.record.rate_limit_per_second, Some(20));
    assert_eq!(
        zones(&acme.record),
        vec![(DateTime::UNIX_EPOCH, "Europe/Berlin")]
    );
    // The id is taken.
    assert_eq!(
        m.create_tenant("root", tenant("acme", "UTC"))
            .await
            .unwrap(),
        Created::Taken { deleted: false }
    );
    // Seeds add only tenants that do not exist.
    let added = m
        .seed_tenants(&[
            ("acme".into(), "Asia/Tokyo".into()),
            ("beta".into(), "America/New_York".into()),
        ])
        .await
        .unwrap();
    assert_eq!(added, 1);
    let listed: Vec<String> = m
        .list_tenants(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(listed, ["acme", "beta"]);
    assert_eq!(m.list_tenants(Some("acme"), 10).await.unwrap().len(), 1);
    assert_eq!(m.list_tenants(None, 1).await.unwrap().len(), 1);

    // A zone change is appended; an earlier or equal one is refused.
    let from = Utc::now() + Duration::hours(1);
    let Updated::Updated(changed) = m
        .update_tenant(
            "root",
            "acme",
            TenantPatch {
                zone: Some(("Asia/Tokyo".into(), from)),
                rate_limit_per_second: Some(None),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap()
    else {
        panic!("acme was not updated");
    };
    assert_eq!(changed.record.revision, 2);
    assert_eq!(changed.record.rate_limit_per_second, None);
    assert_eq!(changed.record.display_name, "acme Inc.");
    let stored_from = changed.record.zones[1].effective_from;
    assert!(
        (stored_from - from).num_milliseconds().abs() < 1,
        "{stored_from} vs {from}"
    );
    assert_eq!(changed.record.zones[1].timezone, "Asia/Tokyo");
    let refused = m
        .update_tenant(
            "root",
            "acme",
            TenantPatch {
                zone: Some(("UTC".into(), from - Duration::minutes(1))),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        Updated::ZoneNotAfter {
            latest: stored_from
        }
    );
    assert_eq!(
        m.update_tenant("root", "nobody", TenantPatch::default())
            .await
            .unwrap(),
        Updated::NotFound
    );

    // The outbox: every tenant once, at its latest revision.
    let pending = m.unpublished_tenants(10).await.unwrap();
    let mut revisions: Vec<(String, u64)> =
        pending.iter().map(|r| (r.id.clone(), r.revision)).collect();
    revisions.sort();
    assert_eq!(revisions, [("acme".into(), 2), ("beta".into(), 1)]);
    m.mark_tenant_published("acme", 2).await.unwrap();
    m.mark_tenant_published("beta", 1).await.unwrap();
    assert!(m.unpublished_tenants(10).await.unwrap().is_empty());
    let version = m.tenants_version().await.unwrap();

    // Deleting keeps the calendar and the id; the record is published again.
    let deleted = m.delete_tenant("root", "acme").await.unwrap().unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.zones.len(), 2);
    assert!(m.delete_tenant("root", "acme").await.unwrap().is_none());
    assert!(m.tenant("acme").await.unwrap().is_none());
    assert_ne!(m.tenants_version().await.unwrap(), version);
    assert_eq!(
        m.create_tenant("root", tenant("acme", "UTC"))
            .await
            .unwrap(),
        Created::Taken { deleted: true }
    );
    let all = m.all_tenant_records().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|r| r.id == "acme" && r.deleted));
    assert_eq!(m.unpublished_tenants(10).await.unwrap().len(), 1);

    // Audited under the tenant's id.
    let audit = m.audit_of("acme", "tenant", "acme").await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(actions, ["create", "update", "delete"]);
    assert!(audit.iter().all(|(p, _, _)| p == "root"));
    let seeded = m.audit_of("beta", "tenant", "beta").await.unwrap();
    assert_eq!(seeded[0].0, "seed:TENANT_TIMEZONES");
}

#[tokio::test]
async fn a_rebase_makes_the_latest_zone_apply_from_the_beginning_of_time() {
    let db = TestDatabase::new("tenants_rebase").await;
    let m = &db.metadata;
    m.create_tenant("root", tenant("acme", "Europe/Berlin"))
        .await
        .unwrap();
    // One zone: nothing to rebase, no new revision.
    let (record, rebased) = m
        .rebase_tenant_calendar("ops", "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(!rebased);
    assert_eq!(record.revision, 1);
    let from = Utc::now() + Duration::hours(1);
    m.update_tenant(
        "root",
        "acme",
        TenantPatch {
            zone: Some(("Asia/Tokyo".into(), from)),
            ..TenantPatch::default()
        },
    )
    .await
    .unwrap();
    m.mark_tenant_published("acme", 2).await.unwrap();

    // Rebased on the latest entry (not in effect yet): one zone, for all
    // time, a new revision to publish.
    let (record, rebased) = m
        .rebase_tenant_calendar("ops", "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(rebased);
    assert_eq!(record.revision, 3);
    assert_eq!(record.zones.len(), 1);
    assert_eq!(record.zones[0].timezone, "Asia/Tokyo");
    let history = record.history().unwrap();
    assert_eq!(history.at(0).name(), "Asia/Tokyo", "applies to old events");
    let pending = m.unpublished_tenants(10).await.unwrap();
    assert_eq!(pending, vec![record.clone()]);
    assert_eq!(m.tenant("acme").await.unwrap().unwrap().record, record);

    // A later change still has to come after every entry, superseded ones
    // included.
    let refused = m
        .update_tenant(
            "root",
            "acme",
            TenantPatch {
                zone: Some(("UTC".into(), from - Duration::minutes(1))),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(refused, Updated::ZoneNotAfter { .. }),
        "{refused:?}"
    );
    let audit = m.audit_of("acme", "tenant", "acme").await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|(p, a, _)| (p.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("root", "create"),
            ("root", "update"),
            ("ops", "rebase_calendar")
        ]
    );
    assert!(m
        .rebase_tenant_calendar("ops", "nobody")
        .await
        .unwrap()
        .is_none());
}
