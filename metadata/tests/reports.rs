//! Scheduled reports against the real PostgreSQL of the local stack:
//! definitions (versions, soft delete, list filters, sort and keyset
//! pages, tenant isolation), schedules and the scheduler's step (one run
//! per scheduled instant however many steps race), runs with leases
//! (claims never hand one run to two workers, a dead worker's run is taken
//! over, finishing is fenced, attempts run out), files and deliveries
//! written with the success, cancellation, and the audit log.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use metadata::reports::{
    AuditFilter, CancelOutcome, DefinitionBody, DefinitionFilter, DefinitionSort, NewFile,
    RunFilter, ScheduleStep,
};
use metadata::testing::TestDatabase;
use metadata::{AttemptOutcome, AttemptRecord, Metadata, NextState};
use serde_json::json;

fn body(name: &str, kind: &str, tags: &[&str]) -> DefinitionBody {
    DefinitionBody {
        name: name.into(),
        description: Some(format!("about {name}")),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        kind: kind.into(),
        parameters: json!({"granularity": "day"}),
        formats: vec!["csv".into(), "xlsx".into()],
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn definition(m: &Metadata, tenant: &str, name: &str) -> String {
    m.create_definition(tenant, "ann", &body(name, "overview", &[]), None)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn definitions_are_versioned_listed_and_isolated() {
    let db = TestDatabase::new("rep_defs").await;
    let m = &db.metadata;
    let a = m
        .create_definition(
            "acme",
            "ann",
            &body("Weekly overview", "overview", &["exec"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    assert_eq!(a.created_by, "ann");
    let b = m
        .create_definition(
            "acme",
            "bob",
            &body("Campaign table", "campaign_reports", &["ops"]),
            None,
        )
        .await
        .unwrap();
    m.create_definition(
        "other",
        "eve",
        &body("Weekly overview", "overview", &["exec"]),
        None,
    )
    .await
    .unwrap();

    // Another tenant's definition is not found, for reads and changes.
    assert!(m.definition("other", &a.id).await.unwrap().is_none());
    assert!(m
        .update_definition("other", "eve", &a.id, &body("x", "overview", &[]))
        .await
        .unwrap()
        .is_none());
    assert!(!m.delete_definition("other", "eve", &a.id).await.unwrap());

    let updated = m
        .update_definition(
            "acme",
            "ann",
            &a.id,
            &body("Weekly overview v2", "overview", &["exec"]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.version, 2);
    assert!(updated.updated_at >= a.updated_at);

    let list = |filter: DefinitionFilter| async move {
        m.list_definitions("acme", &filter).await.unwrap()
    };
    let names = |defs: Vec<metadata::reports::StoredDefinition>| {
        defs.into_iter().map(|d| d.body.name).collect::<Vec<_>>()
    };
    let all = DefinitionFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        names(list(all.clone()).await),
        ["Weekly overview v2", "Campaign table"]
    );
    let by_kind = DefinitionFilter {
        kind: Some("campaign_reports".into()),
        ..all.clone()
    };
    assert_eq!(names(list(by_kind).await), ["Campaign table"]);
    let by_tag = DefinitionFilter {
        tag: Some("exec".into()),
        ..all.clone()
    };
    assert_eq!(names(list(by_tag).await), ["Weekly overview v2"]);
    // Search is case-insensitive over name and description, literal.
    let search = DefinitionFilter {
        search: Some("ABOUT CAMPAIGN".into()),
        ..all.clone()
    };
    assert_eq!(names(list(search).await), ["Campaign table"]);
    let percent = DefinitionFilter {
        search: Some("%".into()),
        ..all.clone()
    };
    assert!(list(percent).await.is_empty());

    // Sorted by name, one per page, pages follow the cursor.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = list(DefinitionFilter {
            sort: DefinitionSort::Name,
            after: after.clone(),
            limit: 1,
            ..Default::default()
        })
        .await;
        let Some(d) = page.first() else { break };
        seen.push(d.body.name.clone());
        after = Some(d.id.clone());
    }
    assert_eq!(seen, ["Campaign table", "Weekly overview v2"]);
    let desc = DefinitionFilter {
        sort: DefinitionSort::Name,
        descending: true,
        ..all.clone()
    };
    assert_eq!(
        names(list(desc).await),
        ["Weekly overview v2", "Campaign table"]
    );

    // Soft delete: gone from reads and lists, kept for runs.
    assert!(m.delete_definition("acme", "bob", &b.id).await.unwrap());
    assert!(!m.delete_definition("acme", "bob", &b.id).await.unwrap());
    assert!(m.definition("acme", &b.id).await.unwrap().is_none());
    assert_eq!(names(list(all).await), ["Weekly overview v2"]);
    assert!(m
        .create_run("acme", "bob", &b.id, "manual")
        .await
        .unwrap()
        .is_none());

    // Every change is in the audit log, newest first, of its tenant only.
    let audit = m
        .list_audit(
            "acme",
            &AuditFilter {
                entity: Some("report_definition".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<_> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.principal.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("delete", "bob"),
            ("update", "ann"),
            ("create", "bob"),
            ("create", "ann")
        ]
    );
    db.drop().await;
}

#[tokio::test]
async fn racing_scheduler_steps_create_one_run_per_instant() {
    let db = TestDatabase::new("rep_sched").await;
    let m = &db.metadata;
    let id = definition(m, "acme", "hourly").await;
    let past = at("2020-01-01T08:00:00Z");
    let spec = json!({"cron": "0 * * * *", "recipients": ["ops@example.com", "https://hooks.example.com/r"]});
    let schedule = m
        .put_schedule("acme", "ann", &id, &spec, true, Some(past))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(schedule.next_run_at, Some(past));
    assert!(m
        .put_schedule("other", "eve", &id, &spec, true, Some(past))
        .await
        .unwrap()
        .is_none());

    // Eight steps at once, each deciding to run the due instant and to
    // leave next_run_at in the past (the worst case for a race): the
    // unique key keeps one run.
    let steps = (0..8).map(|_| {
        m.step_schedules(10, |due, _now| ScheduleStep {
            run_for: Some(due.due_at),
            next_run_at: Some(due.due_at),
        })
    });
    let created: Vec<String> = futures_util::future::join_all(steps)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    assert_eq!(created.len(), 1, "one run for the instant: {created:?}");
    let runs = m
        .list_runs(
            "acme",
            &RunFilter {
                definition_id: Some(id.clone()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "schedule");
    assert_eq!(runs[0].scheduled_for, Some(past));
    assert_eq!(runs[0].recipients, spec["recipients"]);
    assert_eq!(runs[0].definition["name"], "hourly");

    // A step that skips (missed, policy skip) creates nothing and moves on.
    let next = at("2030-01-01T09:00:00Z");
    let created = m
        .step_schedules(10, |_, _| ScheduleStep {
            run_for: None,
            next_run_at: Some(next),
        })
        .await
        .unwrap();
    assert!(created.is_empty());
    let schedule = m.schedule("acme", &id).await.unwrap().unwrap();
    assert_eq!(schedule.next_run_at, Some(next));
    assert_eq!(schedule.last_scheduled_for, Some(past));
    // Not due: the step sees nothing.
    let mut asked = 0;
    m.step_schedules(10, |_, _| {
        asked += 1;
        ScheduleStep {
            run_for: None,
            next_run_at: None,
        }
    })
    .await
    .unwrap();
    assert_eq!(asked, 0);

    // Pause and resume; a paused schedule is never due.
    let paused = m
        .set_schedule_enabled("acme", "ann", &id, false, None)
        .await
        .unwrap()
        .unwrap();
    assert!(!paused.enabled && paused.next_run_at.is_none());
    let resumed = m
        .set_schedule_enabled("acme", "ann", &id, true, Some(past))
        .await
        .unwrap()
        .unwrap();
    assert!(resumed.enabled);
    assert_eq!(m.list_schedules("acme").await.unwrap().len(), 1);
    assert!(m.list_schedules("other").await.unwrap().is_empty());
    // Cancel removes it; the runs stay.
    assert!(m.delete_schedule("acme", "ann", &id).await.unwrap());
    assert!(m.schedule("acme", &id).await.unwrap().is_none());
    assert_eq!(
        m.list_runs(
            "acme",
            &RunFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
    db.drop().await;
}

fn ok_attempt() -> AttemptRecord {
    AttemptRecord {
        outcome: AttemptOutcome::Ok,
        http_status: Some(200),
        error: None,
        duration: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn runs_are_leased_taken_over_fenced_and_delivered_once() {
    let db = TestDatabase::new("rep_runs").await;
    let m = &db.metadata;
    let id = definition(m, "acme", "leased").await;
    let spec = json!({"cron": "0 8 * * 1", "recipients": ["ops@example.com", "https://hooks.example.com/r"]});
    m.put_schedule(
        "acme",
        "ann",
        &id,
        &spec,
        true,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()),
    )
    .await
    .unwrap();
    let run = m
        .create_run("acme", "ann", &id, "manual")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, "queued");
    assert_eq!(run.recipients, spec["recipients"]);
    assert!(m.run("other", &run.id).await.unwrap().is_none());

    // One worker gets it; the other gets nothing while the lease holds.
    let lease = Duration::from_millis(300);
    let first = m.claim_run("w1", lease).await.unwrap().unwrap();
    assert_eq!((first.run.id.as_str(), first.attempt), (run.id.as_str(), 1));
    assert!(m.claim_run("w2", lease).await.unwrap().is_none());
    assert!(m.heartbeat_run(&run.id, "w1", lease, 40, 10).await.unwrap());
    assert!(!m.heartbeat_run(&run.id, "w2", lease, 40, 10).await.unwrap());
    assert_eq!(m.run("acme", &run.id).await.unwrap().unwrap().progress, 40);

    // w1 "dies": its lease runs out and w2 takes the run over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = m.claim_run("w2", lease * 10).await.unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    // The old holder can neither renew nor finish.
    assert!(!m.heartbeat_run(&run.id, "w1", lease, 90, 10).await.unwrap());
    let file = NewFile {
        format: "csv".into(),
        storage_key: format!("acme/{}/2/report.csv", run.id),
        file_name: "report.csv".into(),
        content_type: "text/csv".into(),
        size: 42,
    };
    let retention = Duration::from_secs(3600);
    let as_of = Some(at("2026-11-30T10:00:00Z"));
    assert!(!m
        .finish_run(
            &run.id,
            "w1",
            as_of,
            7,
            std::slice::from_ref(&file),
            retention
        )
        .await
        .unwrap());
    assert!(m
        .finish_run(
            &run.id,
            "w2",
            as_of,
            7,
            std::slice::from_ref(&file),
            retention
        )
        .await
        .unwrap());
    // Finishing twice does nothing more.
    assert!(!m
        .finish_run(&run.id, "w2", as_of, 7, &[file], retention)
        .await
        .unwrap());

    let done = m.run("acme", &run.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.progress, done.rows_written),
        ("succeeded", 100, 7)
    );
    assert_eq!(done.as_of, as_of);
    assert_eq!(done.files.len(), 1);
    assert_eq!(m.run_file(&run.id, "csv").await.unwrap().unwrap().size, 42);
    assert!(m.run_file(&run.id, "pdf").await.unwrap().is_none());

    // One delivery per recipient, claimed once.
    let claimed = m
        .claim_report_deliveries("w1", 10, lease * 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(m
        .claim_report_deliveries("w2", 10, lease)
        .await
        .unwrap()
        .is_empty());
    let kinds: Vec<_> = claimed
        .iter()
        .map(|d| (d.recipient.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ops@example.com", "email"),
            ("https://hooks.example.com/r", "webhook")
        ]
    );
    for d in &claimed {
        assert!(m
            .finish_report_delivery(d.id, "w1", &ok_attempt(), NextState::Delivered)
            .await
            .unwrap());
    }
    let deliveries = m.deliveries_of_run("acme", &run.id).await.unwrap();
    assert!(deliveries
        .iter()
        .all(|d| d.state == "delivered" && d.attempts.len() == 1));
    assert!(m
        .deliveries_of_run("other", &run.id)
        .await
        .unwrap()
        .is_empty());
    db.drop().await;
}

#[tokio::test]
async fn failures_retry_then_fail_and_cancel_stops_a_run() {
    let db = TestDatabase::new("rep_fail").await;
    let m = &db.metadata;
    let id = definition(m, "acme", "flaky").await;
    let run = m
        .create_run("acme", "ann", &id, "api")
        .await
        .unwrap()
        .unwrap();
    let lease = Duration::from_secs(60);
    for attempt in 1..=3 {
        let claimed = m.claim_run("w", lease).await.unwrap().unwrap();
        assert_eq!(claimed.attempt, attempt);
        assert!(m
            .fail_run(&run.id, "w", "ClickHouse down", Some(Duration::ZERO))
            .await
            .unwrap());
    }
    let failed = m.run("acme", &run.id).await.unwrap().unwrap();
    assert_eq!(failed.state, "failed");
    assert_eq!(failed.error.as_deref(), Some("ClickHouse down"));
    assert!(m.claim_run("w", lease).await.unwrap().is_none());

    // A run that died on its last attempt fails at the next claim.
    let run = m
        .create_run("acme", "ann", &id, "api")
        .await
        .unwrap()
        .unwrap();
    let short = Duration::from_millis(50);
    for _ in 0..3 {
        m.claim_run("w", short).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert!(m.claim_run("w", short).await.unwrap().is_none());
    let died = m.run("acme", &run.id).await.unwrap().unwrap();
    assert_eq!(died.state, "failed");
    assert!(died.error.unwrap().contains("lease expired"));

    // Cancel: queued or running runs only; the worker's lease is gone.
    let run = m
        .create_run("acme", "ann", &id, "manual")
        .await
        .unwrap()
        .unwrap();
    m.claim_run("w", lease).await.unwrap().unwrap();
    assert!(matches!(
        m.cancel_run("other", "eve", &run.id).await.unwrap(),
        CancelOutcome::NotFound
    ));
    let CancelOutcome::Cancelled(cancelled) = m.cancel_run("acme", "ann", &run.id).await.unwrap()
    else {
        panic!("not cancelled");
    };
    assert_eq!(cancelled.state, "cancelled");
    assert!(!m.heartbeat_run(&run.id, "w", lease, 50, 0).await.unwrap());
    assert!(!m
        .finish_run(&run.id, "w", None, 0, &[], lease)
        .await
        .unwrap());
    assert!(matches!(
        m.cancel_run("acme", "ann", &run.id).await.unwrap(),
        CancelOutcome::Finished(_)
    ));
    db.drop().await;
}
