//! The metadata store against the real PostgreSQL of the local stack.

use alerting::{alert_id, RuleInput, Severity, Transition, TransitionKind};
use metadata::testing::TestDatabase;
use metadata::AlertFilter;

fn rule(name: &str) -> alerting::ValidRule {
    RuleInput::from_json(&format!(
        r#"{{"name": "{name}", "condition": {{"kind": "status", "status": "ERROR"}}}}"#
    ))
    .unwrap()
    .validate()
    .unwrap()
}

fn transition(
    rule_id: &str,
    tenant: &str,
    campaign: &str,
    n: u32,
    kind: TransitionKind,
    at: i64,
) -> Transition {
    Transition {
        alert_id: alert_id(rule_id, tenant, campaign, None, n),
        kind,
        tenant_id: tenant.into(),
        rule_id: rule_id.into(),
        rule_name: "errors".into(),
        severity: Severity::Critical,
        campaign_id: campaign.into(),
        job_id: None,
        value: None,
        threshold: None,
        message: format!("campaign {campaign} status is ERROR"),
        fired_at_ms: 1_700_000_000_000,
        resolved_at_ms: (kind == TransitionKind::Resolved).then_some(at),
        at_ms: at,
    }
}

#[tokio::test]
async fn rules_are_scoped_audited_and_published_through_the_outbox() {
    let db = TestDatabase::new("rules").await;
    let m = &db.metadata;
    // Migrating again applies nothing.
    assert!(m.migrate().await.unwrap().is_empty());
    let a = m.create_rule("t1", "ann", rule("a")).await.unwrap();
    let b = m.create_rule("t2", "bob", rule("b")).await.unwrap();
    assert_eq!(a.rule.tenant_id, "t1");
    assert_eq!(a.rule.revision, 1);
    // Tenants see their own rules only.
    assert_eq!(m.list_rules("t1").await.unwrap(), vec![a.clone()]);
    assert!(m.rule("t1", &b.rule.id).await.unwrap().is_none());
    assert!(m.rule("t1", "not-a-uuid").await.unwrap().is_none());
    assert!(m
        .replace_rule("t1", "ann", &b.rule.id, rule("x"))
        .await
        .unwrap()
        .is_none());
    assert!(!m.delete_rule("t1", "ann", &b.rule.id).await.unwrap());
    let replaced = m
        .replace_rule("t1", "ann", &a.rule.id, rule("a2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.rule.revision, 2);
    assert_eq!(replaced.rule.name, "a2");
    // The outbox holds the latest revision of each changed rule.
    let pending = m.unpublished_rules(100).await.unwrap();
    assert_eq!(pending.len(), 2);
    let pa = pending.iter().find(|c| c.id == a.rule.id).unwrap();
    assert_eq!(
        (pa.revision, pa.rule.as_ref().unwrap().name.as_str()),
        (2, "a2")
    );
    m.mark_rule_published(&a.rule.id, 2).await.unwrap();
    m.mark_rule_published(&b.rule.id, 1).await.unwrap();
    assert!(m.unpublished_rules(100).await.unwrap().is_empty());
    // A deletion is a change to publish, with no rule.
    assert!(m.delete_rule("t1", "ann", &a.rule.id).await.unwrap());
    assert!(m.rule("t1", &a.rule.id).await.unwrap().is_none());
    let pending = m.unpublished_rules(100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].revision, pending[0].rule.is_none()), (3, true));
    let audit = m.audit_of("t1", "alert_rule", &a.rule.id).await.unwrap();
    let actions: Vec<_> = audit
        .iter()
        .map(|(p, a, _)| (p.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("ann", "create"), ("ann", "replace"), ("ann", "delete")]
    );
    db.drop().await;
}

#[tokio::test]
async fn transitions_are_stored_once_and_alerts_follow_them() {
    let db = TestDatabase::new("alerts").await;
    let m = &db.metadata;
    let rule_id = uuid::Uuid::new_v4().to_string();
    let mut listener = m.listen_events().await.unwrap();
    let fired = transition(
        &rule_id,
        "t1",
        "c1",
        1,
        TransitionKind::Fired,
        1_700_000_000_000,
    );
    let s1 = m.store_transition(&fired).await.unwrap();
    assert!(s1.is_some());
    // A replay is a no-op.
    assert_eq!(m.store_transition(&fired).await.unwrap(), None);
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.wakeups.recv())
        .await
        .expect("a NOTIFY after the stored transition")
        .unwrap();
    let other = transition(
        &rule_id,
        "t2",
        "c9",
        1,
        TransitionKind::Fired,
        1_700_000_000_500,
    );
    m.store_transition(&other).await.unwrap().unwrap();

    let all = AlertFilter {
        limit: 10,
        ..AlertFilter::default()
    };
    let page = m.list_alerts("t1", "ann", &all).await.unwrap();
    assert_eq!(
        (page.total, page.unread_count, page.has_more),
        (1, 1, false)
    );
    let alert = &page.alerts[0];
    assert_eq!((alert.status.as_str(), alert.read), ("firing", false));
    assert_eq!(alert.id, fired.alert_id);
    // Another tenant's alert is not found on any route.
    assert!(m
        .alert("t1", "ann", &other.alert_id)
        .await
        .unwrap()
        .is_none());
    assert!(!m.mark_read("t1", "ann", &other.alert_id).await.unwrap());
    assert!(!m.dismiss_alert("t1", "ann", &other.alert_id).await.unwrap());

    let stats = m.alert_stats("t1", "ann").await.unwrap();
    assert_eq!((stats.total_unread, stats.firing), (1, 1));
    assert_eq!(stats.by_severity.get("critical"), Some(&1));
    assert_eq!(stats.by_rule.get(&rule_id), Some(&1));

    // Read state is per principal.
    assert!(m.mark_read("t1", "ann", &fired.alert_id).await.unwrap());
    assert!(
        m.alert("t1", "ann", &fired.alert_id)
            .await
            .unwrap()
            .unwrap()
            .read
    );
    assert!(
        !m.alert("t1", "bob", &fired.alert_id)
            .await
            .unwrap()
            .unwrap()
            .read
    );
    let unread = AlertFilter {
        unread_only: true,
        ..all.clone()
    };
    assert_eq!(m.list_alerts("t1", "ann", &unread).await.unwrap().total, 0);
    assert_eq!(m.list_alerts("t1", "bob", &unread).await.unwrap().total, 1);

    let resolved = transition(
        &rule_id,
        "t1",
        "c1",
        1,
        TransitionKind::Resolved,
        1_700_000_060_000,
    );
    let s2 = m.store_transition(&resolved).await.unwrap().unwrap();
    assert!(s2 > s1.unwrap());
    let alert = m
        .alert("t1", "ann", &fired.alert_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert.status, "resolved");
    assert_eq!(
        alert.resolved_at.unwrap().timestamp_millis(),
        1_700_000_060_000
    );
    // A late replay of the fired transition does not reopen it.
    assert_eq!(m.store_transition(&fired).await.unwrap(), None);
    assert_eq!(
        m.alert("t1", "ann", &fired.alert_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "resolved"
    );

    // The log of tenant t1, in order, from any point.
    let events = m.events_after("t1", "ann", 0, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["fired", "resolved"]);
    assert_eq!(
        m.events_after("t1", "ann", events[0].seq, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // Dismissed alerts leave lists unless asked for.
    assert!(m.dismiss_alert("t1", "ann", &fired.alert_id).await.unwrap());
    assert_eq!(m.list_alerts("t1", "ann", &all).await.unwrap().total, 0);
    let with_dismissed = AlertFilter {
        include_dismissed: true,
        ..all.clone()
    };
    assert_eq!(
        m.list_alerts("t1", "ann", &with_dismissed)
            .await
            .unwrap()
            .total,
        1
    );
    assert!(m.delete_alert("t1", "ann", &fired.alert_id).await.unwrap());
    assert!(m
        .alert("t1", "ann", &fired.alert_id)
        .await
        .unwrap()
        .is_none());
    db.drop().await;
}

#[tokio::test]
async fn alert_pages_follow_the_cursor_newest_first() {
    let db = TestDatabase::new("pages").await;
    let m = &db.metadata;
    let rule_id = uuid::Uuid::new_v4().to_string();
    for i in 0..5u32 {
        let mut t = transition(
            &rule_id,
            "t1",
            &format!("c{i}"),
            1,
            TransitionKind::Fired,
            0,
        );
        t.fired_at_ms = 1_700_000_000_000 + i64::from(i) * 1000;
        t.at_ms = t.fired_at_ms;
        m.store_transition(&t).await.unwrap().unwrap();
    }
    let mut filter = AlertFilter {
        limit: 2,
        ..AlertFilter::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = m.list_alerts("t1", "ann", &filter).await.unwrap();
        assert_eq!(page.total, 5);
        seen.extend(page.alerts.iter().map(|a| a.campaign_id.clone().unwrap()));
        if !page.has_more {
            break;
        }
        let last = page.alerts.last().unwrap();
        filter.after = Some((last.fired_at, last.id.clone()));
    }
    assert_eq!(seen, ["c4", "c3", "c2", "c1", "c0"]);
    let manual = m
        .create_manual_alert(
            "t1",
            "svc",
            metadata::ManualAlert {
                severity: "info".into(),
                message: "deploy".into(),
                rule_name: None,
                campaign_id: None,
                job_id: None,
                value: None,
                threshold: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (manual.status.as_str(), manual.rule_id.as_deref()),
        ("firing", None)
    );
    let resolved = m
        .resolve_manual_alert("t1", "svc", &manual.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.status, "resolved");
    assert!(m
        .resolve_manual_alert("t2", "svc", &manual.id)
        .await
        .unwrap()
        .is_none());
    db.drop().await;
}
