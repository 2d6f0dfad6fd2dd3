//! The oracle against hand-written events, one test per rule of
//! `metrics.md` (and of `docs/metrics-decisions.md`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use schemas::{
    CampaignLifecycle, CampaignStatus, Event, LifecycleKind, NotificationSent, Script, ScriptEdge,
    ScriptNode, UserInteraction,
};

use super::{compute, Expected};
use crate::loadgen::expected_json::{parse_millis, FunnelStep, Journey, Period, Report};

/// `2026-09-01T10:00:00Z` style text as milliseconds.
fn at(text: &str) -> i64 {
    parse_millis(text).expect("a valid test time")
}

/// 10:00 UTC on 2026-09-01 plus `secs` seconds.
fn t(secs: i64) -> i64 {
    at("2026-09-01T10:00:00Z") + secs * 1000
}

/// A script from `(source, target, label)` edges; nodes in first-seen order.
fn script(edges: &[(&str, &str, Option<&str>)]) -> Script {
    let mut nodes: Vec<ScriptNode> = Vec::new();
    for (source, target, _) in edges {
        for id in [source, target] {
            if !nodes.iter().any(|n| n.id == *id) {
                nodes.push(ScriptNode {
                    id: (*id).to_owned(),
                    node_type: "question".to_owned(),
                    script_type: "buttons".to_owned(),
                });
            }
        }
    }
    let edges = edges
        .iter()
        .map(|(s, t, l)| ScriptEdge {
            source: (*s).to_owned(),
            target: (*t).to_owned(),
            label: l.map(str::to_owned),
        })
        .collect();
    Script { nodes, edges }
}

/// Events of one campaign of one tenant.
struct C {
    tenant: &'static str,
    campaign: &'static str,
}

const C1: C = C {
    tenant: "t0",
    campaign: "c1",
};

impl C {
    #[allow(clippy::too_many_arguments)]
    fn lifecycle(
        &self,
        id: &str,
        job: &str,
        at: i64,
        kind: LifecycleKind,
        status: Option<CampaignStatus>,
        audience_size: Option<i64>,
        script: Option<Script>,
    ) -> Event {
        Event::Lifecycle(CampaignLifecycle {
            event_id: id.to_owned(),
            tenant_id: self.tenant.to_owned(),
            campaign_id: self.campaign.to_owned(),
            job_id: job.to_owned(),
            occurred_at: at,
            kind,
            status,
            audience_size,
            script,
        })
    }

    fn created(&self, id: &str, at: i64, s: Option<Script>) -> Event {
        let new = Some(CampaignStatus::New);
        self.lifecycle(id, "", at, LifecycleKind::Created, new, None, s)
    }

    fn script_updated(&self, id: &str, at: i64, s: Script) -> Event {
        self.lifecycle(
            id,
            "",
            at,
            LifecycleKind::ScriptUpdated,
            None,
            None,
            Some(s),
        )
    }

    fn status(&self, id: &str, job: &str, at: i64, status: CampaignStatus) -> Event {
        self.lifecycle(
            id,
            job,
            at,
            LifecycleKind::StatusChanged,
            Some(status),
            None,
            None,
        )
    }

    fn audience(&self, id: &str, job: &str, at: i64, n: i64) -> Event {
        let running = Some(CampaignStatus::Running);
        self.lifecycle(
            id,
            job,
            at,
            LifecycleKind::StatusChanged,
            running,
            Some(n),
            None,
        )
    }

    fn notification(
        &self,
        id: &str,
        job: &str,
        user: &str,
        at: i64,
        first: bool,
        warn: bool,
    ) -> Event {
        Event::Notification(NotificationSent {
            event_id: id.to_owned(),
            tenant_id: self.tenant.to_owned(),
            campaign_id: self.campaign.to_owned(),
            job_id: job.to_owned(),
            occurred_at: at,
            user_id: user.to_owned(),
            node_id: None,
            first_message: first,
            warning_message: warn,
        })
    }

    /// A first message.
    fn first(&self, id: &str, job: &str, user: &str, at: i64) -> Event {
        self.notification(id, job, user, at, true, false)
    }

    /// A later script message.
    fn msg(&self, id: &str, job: &str, user: &str, at: i64) -> Event {
        self.notification(id, job, user, at, false, false)
    }

    fn warning(&self, id: &str, job: &str, user: &str, at: i64) -> Event {
        self.notification(id, job, user, at, false, true)
    }

    fn click(&self, id: &str, job: &str, user: &str, at: i64, action: &str, target: &str) -> Event {
        Event::Interaction(UserInteraction {
            event_id: id.to_owned(),
            tenant_id: self.tenant.to_owned(),
            campaign_id: self.campaign.to_owned(),
            job_id: job.to_owned(),
            occurred_at: at,
            user_id: user.to_owned(),
            selected_action: action.to_owned(),
            answer_target: target.to_owned(),
            answer_title: None,
            question: None,
        })
    }
}

fn utc(events: &[Event]) -> Expected {
    compute(events, &BTreeMap::new())
}

fn report<'a>(e: &'a Expected, job: Option<&str>) -> &'a Report {
    e.reports
        .iter()
        .find(|r| r.job_id.as_deref() == job)
        .unwrap_or_else(|| panic!("no report for job {job:?} in {:#?}", e.reports))
}

fn journey<'a>(e: &'a Expected, job: &str, user: &str) -> &'a Journey {
    e.journeys
        .iter()
        .find(|j| j.job_id == job && j.user_id == user)
        .unwrap_or_else(|| panic!("no journey for {job}/{user}"))
}

fn funnel(r: &Report) -> Vec<(&str, u64, f64, u64)> {
    r.funnel
        .iter()
        .map(
            |FunnelStep {
                 node_id,
                 users,
                 conversion_from_previous,
                 drop_off,
             }| {
                (
                    node_id.as_str(),
                    *users,
                    *conversion_from_previous,
                    *drop_off,
                )
            },
        )
        .collect()
}

/// start -> a -> end_x, start -> b -> c (c: an end node by the graph only).
fn branching() -> Script {
    script(&[
        ("start", "a", Some("A")),
        ("start", "b", Some("B")),
        ("a", "end_x", Some("Done")),
        ("b", "c", None),
    ])
}

// --- target_users ----------------------------------------------------------

#[test]
fn job_target_is_the_announced_audience_when_larger_than_the_users() {
    let e = utc(&[
        C1.audience("l1", "j1", t(0), 10),
        C1.first("n1", "j1", "u1", t(1)),
        C1.first("n2", "j1", "u2", t(2)),
    ]);
    assert_eq!(report(&e, Some("j1")).target_users, 10);
}

#[test]
fn job_target_is_the_distinct_users_when_the_audience_is_smaller() {
    let e = utc(&[
        C1.audience("l1", "j1", t(0), 1),
        C1.first("n1", "j1", "u1", t(1)),
        // A user with only an interaction counts too.
        C1.click("i1", "j1", "u2", t(2), "Yes", "a"),
        C1.click("i2", "j1", "u3", t(3), "Yes", "a"),
    ]);
    assert_eq!(report(&e, Some("j1")).target_users, 3);
}

#[test]
fn job_without_an_audience_takes_the_campaign_wide_one() {
    let e = utc(&[
        C1.audience("l0", "", t(0), 50),
        C1.audience("l1", "j1", t(1), 5),
        C1.first("n1", "j1", "u1", t(2)),
        C1.first("n2", "j2", "u2", t(3)),
        C1.first("n3", "j3", "u3", t(4)),
        C1.audience("l3", "j3", t(5), 70),
    ]);
    // j1 announced its own (smaller) audience: it wins over the campaign's.
    assert_eq!(report(&e, Some("j1")).target_users, 5);
    assert_eq!(report(&e, Some("j2")).target_users, 50);
    assert_eq!(report(&e, Some("j3")).target_users, 70);
    // All jobs: max(campaign-wide 50, job targets 5/50/70, 3 users).
    assert_eq!(report(&e, None).target_users, 70);
}

#[test]
fn latest_audience_by_event_time_wins_whatever_the_input_order() {
    let e = utc(&[
        C1.audience("l2", "j1", t(100), 20),
        C1.audience("l1", "j1", t(0), 90),
        C1.first("n1", "j1", "u1", t(1)),
    ]);
    assert_eq!(report(&e, Some("j1")).target_users, 20);
    // Same time: the greater event id is the later one.
    let e = utc(&[
        C1.audience("l-b", "j1", t(0), 30),
        C1.audience("l-a", "j1", t(0), 40),
    ]);
    assert_eq!(report(&e, Some("j1")).target_users, 30);
}

#[test]
fn all_jobs_unique_users_are_unions_not_sums() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        C1.first("n2", "j1", "u2", t(0)),
        C1.first("n3", "j2", "u2", t(10)),
        C1.first("n4", "j2", "u3", t(10)),
        C1.click("i1", "j1", "u2", t(20), "Yes", "end_ok"),
        C1.click("i2", "j2", "u2", t(30), "Yes", "end_ok"),
        C1.click("i3", "j2", "u3", t(30), "No", "a"),
    ]);
    let all = report(&e, None);
    assert_eq!(all.target_users, 3);
    assert_eq!(all.sent_users, 3);
    assert_eq!(all.interacted_users, 2);
    assert_eq!(all.completed_users, 1);
    assert_eq!(all.total_interactions, 3);
    assert_eq!(report(&e, Some("j1")).sent_users, 2);
    assert_eq!(report(&e, Some("j2")).sent_users, 2);
}

// --- sent / interacted / completed / rates ---------------------------------

#[test]
fn sent_interacted_completed_and_rates() {
    let e = utc(&[
        C1.created("l1", t(0), Some(branching())),
        C1.first("n1", "j1", "u1", t(1)),
        C1.first("n2", "j1", "u2", t(1)),
        C1.first("n3", "j1", "u3", t(1)),
        C1.first("n4", "j1", "u4", t(1)),
        C1.msg("n5", "j1", "u1", t(5)),
        C1.click("i1", "j1", "u1", t(4), "A", "a"),
        C1.click("i2", "j1", "u1", t(6), "Done", "end_x"),
        C1.click("i3", "j1", "u2", t(4), "B", "b"),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(r.sent_users, 4);
    assert_eq!(r.interacted_users, 2);
    assert_eq!(r.completed_users, 1);
    assert_eq!(r.interaction_rate, 50.0);
    assert_eq!(r.completion_rate, 25.0);
    assert_eq!(r.total_interactions, 3);
    assert_eq!(r.messages_sent, 5);
    assert_eq!(r.warnings_sent, 0);
}

#[test]
fn rates_are_zero_when_nobody_was_sent_a_first_message() {
    let e = utc(&[
        C1.msg("n1", "j1", "u1", t(0)),
        C1.click("i1", "j1", "u1", t(1), "Yes", "end_ok"),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(r.sent_users, 0);
    assert_eq!((r.interacted_users, r.completed_users), (1, 1));
    assert_eq!((r.interaction_rate, r.completion_rate), (0.0, 0.0));
}

#[test]
fn duplicate_event_ids_count_once() {
    let first = C1.first("n1", "j1", "u1", t(0));
    let warning = C1.warning("n2", "j1", "u1", t(5));
    let click = C1.click("i1", "j1", "u1", t(10), "Yes", "a");
    let e = utc(&[
        first.clone(),
        click.clone(),
        warning.clone(),
        first,
        click.clone(),
        warning,
        click,
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(r.total_interactions, 1);
    assert_eq!((r.messages_sent, r.warnings_sent), (1, 1));
    assert_eq!(r.nodes[0].choices["Yes"], 1);
    assert_eq!(journey(&e, "j1", "u1").total_interactions, 1);
    assert_eq!(e.rollups.day[0].interactions, 1);
}

#[test]
fn messages_and_warnings_are_counted_apart() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        C1.msg("n2", "j1", "u1", t(1)),
        C1.warning("n3", "j1", "u1", t(2)),
        C1.warning("n4", "j1", "u2", t(3)),
        C1.notification("n5", "j1", "u3", t(4), true, true),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!((r.messages_sent, r.warnings_sent), (2, 3));
    // A first message flagged as a warning still makes its user "sent".
    assert_eq!(r.sent_users, 2);
}

// --- nodes and funnel --------------------------------------------------------

#[test]
fn nodes_count_users_and_choices_per_answer_target() {
    let e = utc(&[
        C1.click("i1", "j1", "u1", t(0), "Yes", "a"),
        C1.click("i2", "j1", "u1", t(1), "Yes", "a"),
        C1.click("i3", "j1", "u2", t(2), "btn_start_1", "a"),
        C1.click("i4", "j2", "u3", t(3), "No", "b"),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(r.nodes.len(), 1);
    assert_eq!(r.nodes[0].node_id, "a");
    assert_eq!(r.nodes[0].reached_users, 2);
    let choices: Vec<(&str, u64)> = r.nodes[0]
        .choices
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(choices, [("Yes", 2), ("btn_start_1", 1)]);
    let all = report(&e, None);
    let ids: Vec<&str> = all.nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn funnel_follows_the_breadth_first_flow_of_a_branching_script() {
    let e = utc(&[
        C1.created("l1", t(0), Some(branching())),
        C1.first("n1", "j1", "u1", t(1)),
        C1.first("n2", "j1", "u2", t(1)),
        C1.first("n3", "j1", "u3", t(1)),
        C1.first("n4", "j1", "u4", t(1)),
        C1.click("i1", "j1", "u1", t(2), "A", "a"),
        C1.click("i2", "j1", "u2", t(2), "B", "b"),
        C1.click("i3", "j1", "u3", t(2), "B", "b"),
        C1.click("i4", "j1", "u2", t(3), "btn_b_0", "c"),
        C1.click("i5", "j1", "u3", t(3), "btn_b_0", "c"),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(
        funnel(r),
        [
            ("start", 4, 100.0, 0),
            ("a", 1, 25.0, 3),
            // More users than the previous step: conversion above 100.
            ("b", 2, 200.0, 0),
            ("end_x", 0, 0.0, 2),
            // Previous step had nobody: 0.
            ("c", 2, 0.0, 0),
        ]
    );
    // c has no buttons, so it ends the journey; end_x was never reached.
    assert_eq!(r.completed_users, 2);
}

#[test]
fn funnel_first_step_is_zero_without_first_messages() {
    let e = utc(&[
        C1.created("l1", t(0), Some(branching())),
        C1.click("i1", "j1", "u1", t(2), "A", "a"),
    ]);
    let f = funnel(report(&e, Some("j1")));
    assert_eq!(f[0], ("start", 0, 0.0, 0));
    assert_eq!(f[1], ("a", 1, 0.0, 0));
}

#[test]
fn flow_order_follows_edges_in_script_order_and_ignores_the_node_order() {
    let mut s = script(&[
        ("q1", "z", None),
        ("q1", "y", None),
        ("root", "q1", None),
        ("y", "q1", None),
    ]);
    s.nodes.reverse();
    let e = utc(&[C1.created("l1", t(0), Some(s))]);
    let nodes: Vec<&str> = report(&e, None)
        .funnel
        .iter()
        .map(|f| f.node_id.as_str())
        .collect();
    assert_eq!(nodes, ["root", "q1", "z", "y"]);
}

// --- completion --------------------------------------------------------------

#[test]
fn completion_via_a_graph_end_node_and_via_end_in_the_id() {
    // "WeekEnd_offer" has buttons but "end" in its id; "bye" has no "end" but
    // no buttons either.
    let s = script(&[
        ("start", "WeekEnd_offer", Some("Offer")),
        ("WeekEnd_offer", "bye", Some("Ok")),
        ("start", "q", Some("Q")),
        ("q", "start2", Some("Loop")),
    ]);
    let e = utc(&[
        C1.created("l1", t(0), Some(s)),
        C1.first("n1", "j1", "u1", t(1)),
        C1.click("i1", "j1", "u1", t(10), "Offer", "WeekEnd_offer"),
        C1.click("i2", "j1", "u1", t(20), "Ok", "bye"),
        C1.first("n2", "j1", "u2", t(1)),
        C1.click("i3", "j1", "u2", t(5), "Q", "q"),
        C1.first("n3", "j1", "u3", t(1)),
        C1.click("i4", "j1", "u3", t(5), "Q", "q"),
        C1.click("i5", "j1", "u3", t(7), "Loop", "start2"),
    ]);
    let u1 = journey(&e, "j1", "u1");
    assert!(u1.completed);
    assert_eq!(u1.exit_node.as_deref(), Some("WeekEnd_offer"));
    assert_eq!(u1.completion_seconds, Some(9.0));
    let u2 = journey(&e, "j1", "u2");
    assert!(!u2.completed);
    assert_eq!(
        (u2.exit_node.as_deref(), u2.completion_seconds),
        (None, None)
    );
    // start2: target of an edge, source of none.
    assert_eq!(journey(&e, "j1", "u3").exit_node.as_deref(), Some("start2"));
    assert_eq!(report(&e, Some("j1")).completed_users, 2);
}

#[test]
fn without_a_script_only_end_in_the_id_completes_and_the_funnel_is_empty() {
    let e = utc(&[
        C1.created("l1", t(0), None),
        C1.first("n1", "j1", "u1", t(1)),
        C1.click("i1", "j1", "u1", t(2), "Yes", "leaf"),
        C1.first("n2", "j1", "u2", t(1)),
        C1.click("i2", "j1", "u2", t(2), "Yes", "The_END"),
    ]);
    let r = report(&e, Some("j1"));
    assert!(r.funnel.is_empty());
    assert_eq!(r.completed_users, 1);
    assert_eq!(
        journey(&e, "j1", "u2").exit_node.as_deref(),
        Some("The_END")
    );
}

#[test]
fn a_script_that_arrives_after_the_interactions_is_still_used() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        C1.click("i1", "j1", "u1", t(10), "B", "b"),
        C1.click("i2", "j1", "u1", t(20), "C", "c"),
        C1.created("l1", t(3600), Some(branching())),
    ]);
    let r = report(&e, Some("j1"));
    assert_eq!(r.completed_users, 1);
    assert_eq!(r.funnel.len(), 5);
    assert_eq!(journey(&e, "j1", "u1").exit_node.as_deref(), Some("c"));
}

#[test]
fn a_script_change_recomputes_completion_of_existing_journeys() {
    let changed = script(&[
        ("start", "a", Some("A")),
        ("start", "b", Some("B")),
        ("a", "end_x", Some("Done")),
        ("b", "c", None),
        ("c", "followup", Some("Continue")),
    ]);
    let events = [
        C1.created("l1", t(0), Some(branching())),
        C1.first("n1", "j1", "u1", t(1)),
        C1.click("i1", "j1", "u1", t(10), "B", "b"),
        C1.click("i2", "j1", "u1", t(20), "C", "c"),
        C1.first("n2", "j1", "u2", t(1)),
        C1.click("i3", "j1", "u2", t(10), "B", "b"),
        C1.click("i4", "j1", "u2", t(20), "C", "c"),
        C1.click("i5", "j1", "u2", t(30), "Continue", "followup"),
    ];
    let before = utc(&events);
    assert_eq!(report(&before, Some("j1")).completed_users, 2);
    assert_eq!(journey(&before, "j1", "u2").exit_node.as_deref(), Some("c"));

    // The update is the latest by event time even when it comes first.
    let mut with_update = vec![C1.script_updated("l2", t(15), changed)];
    with_update.extend(events);
    let after = utc(&with_update);
    let r = report(&after, Some("j1"));
    assert_eq!(r.completed_users, 1);
    assert!(!journey(&after, "j1", "u1").completed);
    let u2 = journey(&after, "j1", "u2");
    assert_eq!(u2.exit_node.as_deref(), Some("followup"));
    assert_eq!(u2.completion_seconds, Some(29.0));
    let steps: Vec<&str> = r.funnel.iter().map(|f| f.node_id.as_str()).collect();
    assert_eq!(steps, ["start", "a", "b", "end_x", "c", "followup"]);
}

#[test]
fn the_latest_script_ties_on_time_break_on_event_id() {
    let ends_at_a = script(&[("start", "a", None)]);
    let a_continues = script(&[("start", "a", None), ("a", "b", None)]);
    let e = utc(&[
        C1.script_updated("l-b", t(0), ends_at_a),
        C1.script_updated("l-a", t(0), a_continues),
        C1.click("i1", "j1", "u1", t(1), "x", "a"),
    ]);
    assert!(journey(&e, "j1", "u1").completed);
}

#[test]
fn completion_seconds_from_the_first_first_message_or_the_first_step() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(100)),
        C1.first("n0", "j1", "u1", t(40)), // re-sent, earlier by event time
        C1.click("i1", "j1", "u1", t(160), "x", "q"),
        C1.click("i2", "j1", "u1", t(200), "y", "end_ok"),
        C1.click("i3", "j1", "u1", t(300), "z", "end_again"),
        // No first message seen: from the first step.
        C1.click("i4", "j1", "u2", t(10), "x", "q"),
        C1.click("i5", "j1", "u2", t(12), "y", "end_ok"),
        // Another job: the first message of j2 does not count for j1.
        C1.first("n5", "j2", "u2", t(0)),
        C1.click("i6", "j2", "u2", t(30), "y", "end_ok"),
    ]);
    assert_eq!(journey(&e, "j1", "u1").completion_seconds, Some(160.0));
    assert_eq!(journey(&e, "j1", "u1").exit_node.as_deref(), Some("end_ok"));
    assert_eq!(journey(&e, "j1", "u2").completion_seconds, Some(2.0));
    assert_eq!(journey(&e, "j2", "u2").completion_seconds, Some(30.0));
    assert_eq!(report(&e, Some("j1")).avg_completion_seconds, Some(81.0));
    // All jobs: mean over the three completed (job, user) journeys.
    let all = report(&e, None);
    assert_eq!(all.avg_completion_seconds, Some(64.0));
    assert_eq!(all.completed_users, 2);
    assert_eq!(
        report(&utc(&[C1.first("n1", "j1", "u1", t(0))]), None).avg_completion_seconds,
        None
    );
}

#[test]
fn completion_seconds_keep_milliseconds() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        C1.click("i1", "j1", "u1", t(1) + 250, "y", "end_ok"),
    ]);
    assert_eq!(journey(&e, "j1", "u1").completion_seconds, Some(1.25));
}

// --- status, first/last, report existence -----------------------------------

#[test]
fn status_is_the_latest_by_event_time() {
    let e = utc(&[
        C1.status("l3", "", t(300), CampaignStatus::Completed),
        C1.status("l2", "j1", t(200), CampaignStatus::Running),
        C1.created("l1", t(0), None),
        C1.status("l4", "j2", t(100), CampaignStatus::Running),
        C1.status("l5", "j2", t(400), CampaignStatus::Error),
        // No status: does not count.
        C1.script_updated("l6", t(500), branching()),
    ]);
    assert_eq!(report(&e, None).status.as_deref(), Some("ERROR"));
    // j1: its own RUNNING (200) and the campaign-wide COMPLETED (300).
    assert_eq!(report(&e, Some("j1")).status.as_deref(), Some("COMPLETED"));
    assert_eq!(report(&e, Some("j2")).status.as_deref(), Some("ERROR"));
}

#[test]
fn status_is_null_without_lifecycle_events() {
    let e = utc(&[C1.first("n1", "j1", "u1", t(0))]);
    assert_eq!(report(&e, None).status, None);
    assert_eq!(report(&e, Some("j1")).status, None);
}

#[test]
fn first_and_last_event_times() {
    let e = utc(&[
        C1.click("i1", "j1", "u1", t(50), "x", "a"),
        C1.created("l1", t(-100), None),
        C1.first("n1", "j1", "u1", t(10)),
        C1.warning("n2", "j2", "u1", t(900)),
    ]);
    let all = report(&e, None);
    assert_eq!((all.first_event_at, all.last_event_at), (t(-100), t(900)));
    let j1 = report(&e, Some("j1"));
    assert_eq!((j1.first_event_at, j1.last_event_at), (t(10), t(50)));
}

#[test]
fn a_report_exists_for_every_job_seen_and_campaigns_apart() {
    let c2 = C {
        tenant: "t0",
        campaign: "c2",
    };
    let e = utc(&[
        C1.audience("l1", "j9", t(0), 25),
        C1.first("n1", "j1", "u1", t(0)),
        c2.first("n2", "j1", "u1", t(0)),
    ]);
    let keys: Vec<(&str, Option<&str>)> = e
        .reports
        .iter()
        .map(|r| (r.campaign_id.as_str(), r.job_id.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("c1", None),
            ("c1", Some("j1")),
            ("c1", Some("j9")),
            ("c2", None),
            ("c2", Some("j1"))
        ]
    );
    assert_eq!(report(&e, Some("j9")).target_users, 25);
    assert_eq!(report(&e, Some("j9")).sent_users, 0);
    assert_eq!(report(&e, None).target_users, 25);
}

// --- journeys ----------------------------------------------------------------

#[test]
fn journey_steps_are_ordered_by_time_then_event_id_whatever_the_input_order() {
    let e = utc(&[
        C1.click("i-9", "j1", "u1", t(30), "c", "z"),
        C1.click("i-b", "j1", "u1", t(10), "b", "y_end"),
        C1.click("i-a", "j1", "u1", t(10), "a", "x"),
        C1.click("i-0", "j1", "u1", t(5), "0", "w"),
    ]);
    let j = journey(&e, "j1", "u1");
    let ids: Vec<&str> = j.steps.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(ids, ["i-0", "i-a", "i-b", "i-9"]);
    assert_eq!(j.steps[1].node_id, "x");
    assert_eq!(j.steps[1].choice, "a");
    assert_eq!(j.steps[1].occurred_at, t(10));
    assert_eq!(j.total_interactions, 4);
    assert_eq!(j.exit_node.as_deref(), Some("y_end"));
    // From the first step, no first message being seen.
    assert_eq!(j.completion_seconds, Some(5.0));
}

#[test]
fn users_with_messages_only_have_an_empty_journey() {
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        C1.warning("n2", "j1", "u1", t(9)),
    ]);
    assert_eq!(e.journeys.len(), 1);
    let j = &e.journeys[0];
    assert!(j.steps.is_empty());
    assert_eq!((j.total_interactions, j.completed), (0, false));
}

// --- rollups -----------------------------------------------------------------

fn zones(pairs: &[(&str, Tz)]) -> BTreeMap<String, Tz> {
    pairs.iter().map(|(t, z)| ((*t).to_owned(), *z)).collect()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a valid test date")
}

fn period<'a>(periods: &'a [Period], tenant: &str, start: &str) -> &'a Period {
    periods
        .iter()
        .find(|p| p.tenant_id == tenant && p.period_start == day(start))
        .unwrap_or_else(|| panic!("no period {tenant} {start} in {periods:#?}"))
}

fn starts(periods: &[Period]) -> Vec<String> {
    periods
        .iter()
        .map(|p| format!("{} {}", p.tenant_id, p.period_start))
        .collect()
}

#[test]
fn days_are_local_to_the_tenant_time_zone() {
    let berlin = C {
        tenant: "tb",
        campaign: "cb",
    };
    let late = at("2026-09-01T23:30:00Z");
    let e = compute(
        &[
            C1.first("n1", "j1", "u1", late),
            berlin.first("n2", "j1", "u1", late),
        ],
        &zones(&[("tb", Tz::Europe__Berlin)]),
    );
    // t0 has no zone configured: UTC.
    assert_eq!(starts(&e.rollups.day), ["t0 2026-09-01", "tb 2026-09-02"]);
    assert_eq!(period(&e.rollups.day, "tb", "2026-09-02").sent_users, 1);
}

#[test]
fn a_week_counts_a_user_once_per_campaign_and_sums_campaigns() {
    let c2 = C {
        tenant: "t0",
        campaign: "c2",
    };
    // 2026-09-07 is a Monday.
    let mon = at("2026-09-07T09:00:00Z");
    let wed = at("2026-09-09T09:00:00Z");
    let e = utc(&[
        C1.first("n1", "j1", "u1", mon),
        C1.click("i1", "j1", "u1", mon + 1000, "x", "a"),
        C1.click("i2", "j2", "u1", wed, "x", "a"),
        C1.first("n2", "j2", "u1", wed),
        C1.first("n3", "j2", "u2", wed),
        c2.first("n4", "j1", "u1", wed),
        c2.msg("n5", "j1", "u3", wed),
    ]);
    assert_eq!(starts(&e.rollups.week), ["t0 2026-09-07"]);
    let w = &e.rollups.week[0];
    assert_eq!(w.campaigns, 2);
    // c1: {u1, u2}; c2: {u1, u3}.
    assert_eq!(w.target_users, 4);
    // c1: {u1, u2}; c2: {u1}.
    assert_eq!(w.sent_users, 3);
    assert_eq!(w.interacted_users, 1);
    assert_eq!(w.interactions, 2);
    assert!((w.interaction_rate - 100.0 / 3.0).abs() < 1e-9);
    // Per day the user counts on both days.
    assert_eq!(
        period(&e.rollups.day, "t0", "2026-09-07").interacted_users,
        1
    );
    assert_eq!(
        period(&e.rollups.day, "t0", "2026-09-09").interacted_users,
        1
    );
}

#[test]
fn weeks_start_on_monday_and_months_on_the_first() {
    let sunday = at("2026-09-06T12:00:00Z");
    let monday = at("2026-09-07T00:00:00Z");
    let october = at("2026-10-01T00:00:00Z");
    let e = utc(&[
        C1.first("n1", "j1", "u1", sunday),
        C1.first("n2", "j1", "u2", monday),
        C1.first("n3", "j1", "u3", october),
    ]);
    assert_eq!(
        starts(&e.rollups.week),
        ["t0 2026-08-31", "t0 2026-09-07", "t0 2026-09-28"]
    );
    assert_eq!(starts(&e.rollups.month), ["t0 2026-09-01", "t0 2026-10-01"]);
    assert_eq!(period(&e.rollups.month, "t0", "2026-09-01").sent_users, 2);
}

#[test]
fn months_and_weeks_follow_the_local_calendar() {
    let tokyo = C {
        tenant: "tj",
        campaign: "cj",
    };
    // 2026-09-30T20:00Z is 2026-10-01 05:00 in Tokyo; 2026-09-27 is a Sunday
    // in UTC, Monday 2026-09-28 02:00 in Tokyo.
    let e = compute(
        &[
            tokyo.first("n1", "j1", "u1", at("2026-09-30T20:00:00Z")),
            tokyo.first("n2", "j1", "u2", at("2026-09-27T17:00:00Z")),
        ],
        &zones(&[("tj", Tz::Asia__Tokyo)]),
    );
    assert_eq!(starts(&e.rollups.month), ["tj 2026-09-01", "tj 2026-10-01"]);
    assert_eq!(starts(&e.rollups.week), ["tj 2026-09-28"]);
}

#[test]
fn campaign_status_counts_use_the_latest_status_by_the_end_of_the_period() {
    let c2 = C {
        tenant: "t0",
        campaign: "c2",
    };
    let week1 = at("2026-09-01T10:00:00Z");
    let week3 = at("2026-09-16T10:00:00Z");
    let e = utc(&[
        C1.created("l1", week1, None),
        C1.status("l2", "j1", week1 + 1000, CampaignStatus::Running),
        C1.first("n1", "j1", "u1", week1 + 2000),
        // Week 2: only c2 is active.
        c2.status("l3", "", at("2026-09-09T10:00:00Z"), CampaignStatus::Error),
        C1.lifecycle(
            "l4",
            "",
            week3,
            LifecycleKind::Completed,
            Some(CampaignStatus::Completed),
            None,
            None,
        ),
    ]);
    let counts = |p: &Period| {
        (
            p.campaigns,
            p.campaigns_running,
            p.campaigns_completed,
            p.campaigns_error,
        )
    };
    assert_eq!(
        counts(period(&e.rollups.week, "t0", "2026-08-31")),
        (1, 1, 0, 0)
    );
    // c1 inactive in week 2, still running at its end.
    assert_eq!(
        counts(period(&e.rollups.week, "t0", "2026-09-07")),
        (1, 1, 0, 1)
    );
    assert_eq!(
        counts(period(&e.rollups.week, "t0", "2026-09-14")),
        (1, 0, 1, 1)
    );
    // Per day: on 2026-09-01 c2 had no status yet.
    assert_eq!(
        counts(period(&e.rollups.day, "t0", "2026-09-01")),
        (1, 1, 0, 0)
    );
    assert_eq!(
        counts(period(&e.rollups.month, "t0", "2026-09-01")),
        (2, 0, 1, 1)
    );
}

#[test]
fn a_status_change_counts_by_its_local_day() {
    let ny = C {
        tenant: "tn",
        campaign: "cn",
    };
    // 2026-09-02T02:00Z is still 2026-09-01 in New York.
    let e = compute(
        &[
            ny.status(
                "l1",
                "",
                at("2026-09-01T15:00:00Z"),
                CampaignStatus::Running,
            ),
            ny.status(
                "l2",
                "",
                at("2026-09-02T02:00:00Z"),
                CampaignStatus::Completed,
            ),
        ],
        &zones(&[("tn", Tz::America__New_York)]),
    );
    assert_eq!(starts(&e.rollups.day), ["tn 2026-09-01"]);
    let d = &e.rollups.day[0];
    assert_eq!((d.campaigns_running, d.campaigns_completed), (0, 1));
}

#[test]
fn rollup_rate_is_zero_without_first_messages() {
    let e = utc(&[C1.click("i1", "j1", "u1", t(0), "x", "a")]);
    let d = &e.rollups.day[0];
    assert_eq!(
        (d.sent_users, d.interacted_users, d.interaction_rate),
        (0, 1, 0.0)
    );
}

#[test]
fn tenants_are_apart_and_a_campaign_id_may_repeat_across_tenants() {
    let other = C {
        tenant: "t1",
        campaign: "c1",
    };
    let e = utc(&[
        C1.first("n1", "j1", "u1", t(0)),
        other.first("n2", "j1", "u1", t(0)),
    ]);
    let all: Vec<(&str, &str)> = e
        .reports
        .iter()
        .filter(|r| r.job_id.is_none())
        .map(|r| (r.tenant_id.as_str(), r.campaign_id.as_str()))
        .collect();
    assert_eq!(all, [("t0", "c1"), ("t1", "c1")]);
    assert_eq!(starts(&e.rollups.day), ["t0 2026-09-01", "t1 2026-09-01"]);
}
