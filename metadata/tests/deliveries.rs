//! Channels, silences and the delivery queue against the real PostgreSQL
//! of the local stack: deliveries enqueued with the transition (once, to
//! the rule's live channels of the tenant only), claims with leases that
//! never hand one delivery to two workers, fenced finishing, retries and
//! the give-up age, silences in force.

use std::time::Duration;

use alerting::{alert_id, RuleInput, Severity, Transition, TransitionKind};
use chrono::Utc;
use metadata::testing::TestDatabase;
use metadata::{
    AttemptOutcome, AttemptRecord, ChannelConfig, Metadata, NewSilence, NextState, SilenceMatchers,
};

fn rule_with(name: &str, channels: &[&str]) -> alerting::ValidRule {
    let mut input = RuleInput::from_json(&format!(
        r#"{{"name": "{name}", "condition": {{"kind": "status", "status": "ERROR"}}}}"#
    ))
    .unwrap();
    input.channels = channels.iter().map(|c| c.to_string()).collect();
    input.validate().unwrap()
}

fn fired(rule_id: &str, tenant: &str, campaign: &str) -> Transition {
    Transition {
        alert_id: alert_id(rule_id, tenant, campaign, None, 1),
        kind: TransitionKind::Fired,
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
        resolved_at_ms: None,
        at_ms: 1_700_000_000_000,
    }
}

fn webhook(url: &str) -> ChannelConfig {
    ChannelConfig::Webhook {
        url: url.into(),
        secret: Some("s3cret".into()),
    }
}

fn attempt(outcome: AttemptOutcome) -> AttemptRecord {
    AttemptRecord {
        outcome,
        http_status: Some(503),
        error: Some("HTTP 503".into()),
        duration: Duration::from_millis(3),
    }
}

async fn claim_all(m: &Metadata, worker: &str) -> Vec<metadata::ClaimedDelivery> {
    m.claim_deliveries(worker, 100, Duration::from_secs(60))
        .await
        .unwrap()
}

#[tokio::test]
async fn deliveries_are_enqueued_once_per_live_channel_of_the_rule() {
    let db = TestDatabase::new("deliveries_enqueue").await;
    let m = &db.metadata;
    let hook = m
        .create_channel("t1", "eve", "hook", webhook("http://127.0.0.1:9/h"))
        .await
        .unwrap();
    let mail = m
        .create_channel(
            "t1",
            "eve",
            "mail",
            ChannelConfig::Email {
                recipients: vec!["ops@example.com".into()],
            },
        )
        .await
        .unwrap();
    let gone = m
        .create_channel("t1", "eve", "gone", webhook("http://127.0.0.1:9/g"))
        .await
        .unwrap();
    assert_eq!(
        m.delete_channel("t1", "eve", &gone.id).await.unwrap(),
        metadata::ChannelDeletion::Deleted
    );
    let foreign = m
        .create_channel("t2", "bob", "foreign", webhook("http://127.0.0.1:9/f"))
        .await
        .unwrap();
    let rule = m
        .create_rule("t1", "eve", rule_with("r", &[&hook.id, &mail.id]))
        .await
        .unwrap();
    // Channel lists as releases before the check in the rule's transaction
    // could leave them: upper case, repeated, deleted, another tenant's,
    // not a UUID. Only the live channels of the tenant are delivered to.
    let legacy = serde_json::json!([
        hook.id.to_uppercase(),
        hook.id,
        mail.id,
        gone.id,
        foreign.id,
        "nope"
    ]);
    db.client()
        .await
        .execute(
            "UPDATE alert_rules SET body = jsonb_set(body, '{channels}', $1) WHERE id::text = $2",
            &[&legacy, &rule.rule.id],
        )
        .await
        .unwrap();
    let t = fired(&rule.rule.id, "t1", "c-1");
    assert!(m.store_transition(&t).await.unwrap().is_some());
    // A replay enqueues nothing.
    assert!(m.store_transition(&t).await.unwrap().is_none());
    let claimed = claim_all(m, "w1").await;
    let mut names: Vec<&str> = claimed
        .iter()
        .map(|d| d.channel.as_ref().unwrap().name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["hook", "mail"]);
    for d in &claimed {
        assert_eq!(d.idempotency_key, format!("{}:fired", t.alert_id));
        assert_eq!(d.event_kind, "fired");
        assert_eq!(d.alert.id, t.alert_id);
        assert_eq!(d.attempts, 0);
    }
    // Secrets come back to the worker.
    let hook_claim = claimed
        .iter()
        .find(|d| d.channel.as_ref().unwrap().id == hook.id);
    assert_eq!(
        hook_claim.unwrap().channel.as_ref().unwrap().config,
        webhook("http://127.0.0.1:9/h")
    );

    // A rule without channels, a manual alert: nothing to deliver.
    let quiet = m
        .create_rule("t1", "eve", rule_with("q", &[]))
        .await
        .unwrap();
    m.store_transition(&fired(&quiet.rule.id, "t1", "c-1"))
        .await
        .unwrap();
    m.create_manual_alert(
        "t1",
        "eve",
        metadata::ManualAlert {
            severity: "info".into(),
            message: "m".into(),
            rule_name: None,
            campaign_id: None,
            job_id: None,
            value: None,
            threshold: None,
        },
    )
    .await
    .unwrap();
    assert!(claim_all(m, "w2").await.is_empty());
    // The alert shows its deliveries, the other tenant none.
    let shown = m.deliveries_of_alert("t1", &t.alert_id).await.unwrap();
    assert_eq!(shown.len(), 2);
    assert!(shown
        .iter()
        .all(|d| d.state == "pending" && d.attempts.is_empty()));
    assert!(m
        .deliveries_of_alert("t2", &t.alert_id)
        .await
        .unwrap()
        .is_empty());
    db.drop().await;
}

#[tokio::test]
async fn a_channel_in_use_is_not_deleted_and_rules_take_only_live_channels() {
    let db = TestDatabase::new("channels_in_use").await;
    let m = &db.metadata;
    let hook = m
        .create_channel("t1", "eve", "hook", webhook("http://127.0.0.1:9/h"))
        .await
        .unwrap();
    let spare = m
        .create_channel("t1", "eve", "spare", webhook("http://127.0.0.1:9/s"))
        .await
        .unwrap();
    let foreign = m
        .create_channel("t2", "bob", "foreign", webhook("http://127.0.0.1:9/f"))
        .await
        .unwrap();
    let b = m
        .create_rule("t1", "eve", rule_with("b-rule", &[&hook.id]))
        .await
        .unwrap();
    let a = m
        .create_rule("t1", "eve", rule_with("a-rule", &[&spare.id, &hook.id]))
        .await
        .unwrap();
    // In use: refused, naming the rules (by name); nothing changes.
    match m.delete_channel("t1", "eve", &hook.id).await.unwrap() {
        metadata::ChannelDeletion::InUse(rules) => {
            let names: Vec<(&str, &str)> = rules
                .iter()
                .map(|r| (r.name.as_str(), r.id.as_str()))
                .collect();
            assert_eq!(
                names,
                [
                    ("a-rule", a.rule.id.as_str()),
                    ("b-rule", b.rule.id.as_str())
                ]
            );
        }
        other => panic!("deleted a channel in use: {other:?}"),
    }
    assert_eq!(
        m.audit_of("t1", "channel", &hook.id).await.unwrap().len(),
        1
    );
    // Another tenant's channel, or one never made, is not found.
    for (tenant, id) in [("t1", foreign.id.as_str()), ("t1", "nope")] {
        assert_eq!(
            m.delete_channel(tenant, "eve", id).await.unwrap(),
            metadata::ChannelDeletion::NotFound
        );
    }
    // A rule may only name live channels of its tenant.
    for bad in [foreign.id.as_str(), "nope"] {
        match m
            .create_rule("t1", "eve", rule_with("c", &[&hook.id, bad]))
            .await
        {
            Err(metadata::MetadataError::UnknownChannels(ids)) => assert_eq!(ids, [bad]),
            other => panic!("a rule with channel {bad}: {other:?}"),
        }
    }
    m.delete_rule("t1", "eve", &b.rule.id).await.unwrap();
    m.replace_rule("t1", "eve", &a.rule.id, rule_with("a-rule", &[&spare.id]))
        .await
        .unwrap();
    assert_eq!(
        m.delete_channel("t1", "eve", &hook.id).await.unwrap(),
        metadata::ChannelDeletion::Deleted
    );
    match m
        .replace_rule("t1", "eve", &a.rule.id, rule_with("a-rule", &[&hook.id]))
        .await
    {
        Err(metadata::MetadataError::UnknownChannels(ids)) => assert_eq!(ids, [hook.id.as_str()]),
        other => panic!("a rule took a deleted channel: {other:?}"),
    }

    m.replace_rule("t1", "eve", &a.rule.id, rule_with("a-rule", &[]))
        .await
        .unwrap();
    // The race: a rule written while the channel is deleted. The rule's
    // transaction holds a share lock on its channels (as create_rule's
    // does); the deletion waits for it, then sees the rule.
    let mut writer = db.client().await;
    let tx = writer.transaction().await.unwrap();
    let locked = tx
        .query(
            "SELECT id FROM channels WHERE id::text = $1 AND NOT deleted FOR SHARE",
            &[&spare.id],
        )
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    let deleting = {
        let m = m.clone();
        let id = spare.id.clone();
        tokio::spawn(async move { m.delete_channel("t1", "eve", &id).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !deleting.is_finished(),
        "the deletion did not wait for the rule's lock"
    );
    let late = uuid::Uuid::new_v4();
    tx.execute(
        "INSERT INTO alert_rules (id, tenant_id, revision, body) \
         VALUES ($1, 't1', 1, jsonb_build_object('name', 'late-rule', 'channels', jsonb_build_array($2::text)))",
        &[&late, &spare.id],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    match deleting.await.unwrap().unwrap() {
        metadata::ChannelDeletion::InUse(rules) => {
            assert!(rules.iter().any(|r| r.name == "late-rule"), "{rules:?}")
        }
        other => panic!("deleted under a rule being written: {other:?}"),
    }
    db.drop().await;
}

#[tokio::test]
async fn claims_lease_finishes_are_fenced_and_retries_give_up() {
    let db = TestDatabase::new("deliveries_claims").await;
    let m = &db.metadata;
    let hook = m
        .create_channel("t1", "eve", "hook", webhook("http://127.0.0.1:9/h"))
        .await
        .unwrap();
    let rule = m
        .create_rule("t1", "eve", rule_with("r", &[&hook.id]))
        .await
        .unwrap();
    for c in ["c-1", "c-2", "c-3"] {
        m.store_transition(&fired(&rule.rule.id, "t1", c))
            .await
            .unwrap();
    }
    // Two workers take disjoint rows; a leased row is nobody else's.
    let a = m
        .claim_deliveries("a", 2, Duration::from_secs(60))
        .await
        .unwrap();
    let b = claim_all(m, "b").await;
    assert_eq!((a.len(), b.len()), (2, 1));
    assert!(claim_all(m, "c").await.is_empty());
    assert!(a.iter().all(|d| d.id != b[0].id));

    // Delivered by its holder; another worker's finish is refused (the
    // attempt is logged all the same).
    let (first, second) = (&a[0], &a[1]);
    let ok = AttemptRecord {
        http_status: Some(200),
        error: None,
        ..attempt(AttemptOutcome::Ok)
    };
    assert!(!m
        .finish_delivery(first.id, "b", &ok, NextState::Delivered)
        .await
        .unwrap());
    assert!(m
        .finish_delivery(first.id, "a", &ok, NextState::Delivered)
        .await
        .unwrap());
    assert!(!m
        .finish_delivery(first.id, "a", &ok, NextState::Delivered)
        .await
        .unwrap());

    // A retry comes back after its wait, with the attempt counted.
    let retry = NextState::Retry {
        after: Duration::from_millis(300),
        give_up: Duration::from_secs(3600),
    };
    assert!(m
        .finish_delivery(second.id, "a", &attempt(AttemptOutcome::Error), retry)
        .await
        .unwrap());
    assert!(claim_all(m, "c").await.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = claim_all(m, "c").await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (second.id, 1));

    // Past the give-up age a retry fails.
    let late = NextState::Retry {
        after: Duration::from_millis(1),
        give_up: Duration::ZERO,
    };
    assert!(m
        .finish_delivery(second.id, "c", &attempt(AttemptOutcome::Error), late)
        .await
        .unwrap());

    let shown = m.deliveries_of_alert("t1", &first.alert.id).await.unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].state, "delivered");
    assert_eq!(shown[0].next_attempt_at, None);
    let outcomes: Vec<(&str, Option<i32>)> = shown[0]
        .attempts
        .iter()
        .map(|a| (a.outcome.as_str(), a.http_status))
        .collect();
    assert_eq!(
        outcomes,
        [("ok", Some(200)), ("ok", Some(200)), ("ok", Some(200))]
    );
    let failed = m.deliveries_of_alert("t1", &second.alert.id).await.unwrap();
    assert_eq!(failed[0].state, "failed");
    assert_eq!(failed[0].attempts.len(), 2);
    db.drop().await;
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again() {
    let db = TestDatabase::new("deliveries_lease").await;
    let m = &db.metadata;
    let hook = m
        .create_channel("t1", "eve", "hook", webhook("http://127.0.0.1:9/h"))
        .await
        .unwrap();
    let rule = m
        .create_rule("t1", "eve", rule_with("r", &[&hook.id]))
        .await
        .unwrap();
    m.store_transition(&fired(&rule.rule.id, "t1", "c-1"))
        .await
        .unwrap();
    let first = m
        .claim_deliveries("dead", 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(claim_all(m, "live").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = claim_all(m, "live").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    // The dead worker's late finish does not touch the row.
    let ok = attempt(AttemptOutcome::Ok);
    assert!(!m
        .finish_delivery(first[0].id, "dead", &ok, NextState::Delivered)
        .await
        .unwrap());
    assert!(m
        .finish_delivery(again[0].id, "live", &ok, NextState::Delivered)
        .await
        .unwrap());
    db.drop().await;
}

#[tokio::test]
async fn silences_in_force_match_every_given_matcher() {
    let db = TestDatabase::new("silences").await;
    let m = &db.metadata;
    let rule = m
        .create_rule("t1", "eve", rule_with("r", &[]))
        .await
        .unwrap();
    let t = fired(&rule.rule.id, "t1", "c-1");
    m.store_transition(&t).await.unwrap();
    let alert = m.alert("t1", "eve", &t.alert_id).await.unwrap().unwrap();
    let in_an_hour = Utc::now() + chrono::Duration::hours(1);
    let silence = |matchers: SilenceMatchers| NewSilence {
        matchers,
        starts_at: None,
        ends_at: in_an_hour,
        comment: Some("maintenance".into()),
    };
    assert_eq!(m.matching_silence(&alert).await.unwrap(), None);
    // Another campaign, another tenant, a future one: no match.
    m.create_silence(
        "t1",
        "eve",
        silence(SilenceMatchers {
            rule_id: Some(rule.rule.id.clone()),
            campaign_id: Some("c-2".into()),
            severity: None,
        }),
    )
    .await
    .unwrap();
    m.create_silence(
        "t2",
        "bob",
        silence(SilenceMatchers {
            severity: Some("critical".into()),
            ..SilenceMatchers::default()
        }),
    )
    .await
    .unwrap();
    let future = m
        .create_silence(
            "t1",
            "eve",
            NewSilence {
                starts_at: Some(in_an_hour),
                ends_at: in_an_hour + chrono::Duration::hours(1),
                ..silence(SilenceMatchers {
                    campaign_id: Some("c-1".into()),
                    ..SilenceMatchers::default()
                })
            },
        )
        .await
        .unwrap();
    assert!(!future.active);
    assert_eq!(m.matching_silence(&alert).await.unwrap(), None);
    // Rule and campaign: a match, until it is deleted.
    let s = m
        .create_silence(
            "t1",
            "eve",
            silence(SilenceMatchers {
                rule_id: Some(rule.rule.id.clone()),
                campaign_id: Some("c-1".into()),
                severity: None,
            }),
        )
        .await
        .unwrap();
    assert!(s.active);
    assert_eq!(s.created_by, "eve");
    assert_eq!(
        m.matching_silence(&alert).await.unwrap(),
        Some(s.id.clone())
    );
    assert_eq!(m.list_silences("t1", false).await.unwrap().len(), 3);
    assert!(!m.delete_silence("t2", "bob", &s.id).await.unwrap());
    assert!(m.delete_silence("t1", "eve", &s.id).await.unwrap());
    assert_eq!(m.matching_silence(&alert).await.unwrap(), None);
    let audit: Vec<String> = m
        .audit_of("t1", "silence", &s.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(who, what, _)| format!("{who} {what}"))
        .collect();
    assert_eq!(audit, ["eve create", "eve delete"]);
    db.drop().await;
}
