//! The state machine against every row of metrics.md, and the edge cases:
//! duplicates, arrival order, late and changed scripts.

use schemas::{
    CampaignLifecycle, CampaignStatus, Event, LifecycleKind, NotificationSent, Script, ScriptEdge,
    ScriptNode, UserInteraction,
};

use super::{Applied, Eviction, PartitionState, Report};

const T: &str = "acme";
const C: &str = "spring";
const C2: &str = "autumn";
const MIN: i64 = 60_000;

fn script(edges: &[(&str, &str)]) -> Script {
    let mut nodes: Vec<String> = Vec::new();
    for (s, t) in edges {
        for n in [s, t] {
            if !nodes.iter().any(|x| x == n) {
                nodes.push(n.to_string());
            }
        }
    }
    Script {
        nodes: nodes
            .into_iter()
            .map(|id| ScriptNode {
                id,
                node_type: "message".into(),
                script_type: "buttons".into(),
            })
            .collect(),
        edges: edges
            .iter()
            .map(|(s, t)| ScriptEdge {
                source: s.to_string(),
                target: t.to_string(),
                label: Some(format!("to {t}")),
            })
            .collect(),
    }
}

fn lifecycle(id: &str, job: &str, at: i64) -> CampaignLifecycle {
    CampaignLifecycle {
        event_id: id.into(),
        tenant_id: T.into(),
        campaign_id: C.into(),
        job_id: job.into(),
        occurred_at: at,
        kind: LifecycleKind::StatusChanged,
        status: None,
        audience_size: None,
        script: None,
    }
}

fn with_script(id: &str, at: i64, edges: &[(&str, &str)]) -> Event {
    Event::Lifecycle(CampaignLifecycle {
        kind: LifecycleKind::ScriptUpdated,
        script: Some(script(edges)),
        ..lifecycle(id, "", at)
    })
}

fn status(id: &str, job: &str, at: i64, status: CampaignStatus) -> Event {
    Event::Lifecycle(CampaignLifecycle {
        status: Some(status),
        ..lifecycle(id, job, at)
    })
}

fn audience(id: &str, job: &str, at: i64, n: i64) -> Event {
    Event::Lifecycle(CampaignLifecycle {
        audience_size: Some(n),
        ..lifecycle(id, job, at)
    })
}

fn sent(id: &str, job: &str, user: &str, at: i64, first: bool, warning: bool) -> Event {
    Event::Notification(NotificationSent {
        event_id: id.into(),
        tenant_id: T.into(),
        campaign_id: C.into(),
        job_id: job.into(),
        occurred_at: at,
        user_id: user.into(),
        node_id: Some("start".into()),
        first_message: first,
        warning_message: warning,
    })
}

fn first(id: &str, job: &str, user: &str, at: i64) -> Event {
    sent(id, job, user, at, true, false)
}

/// [`first`] in another campaign.
fn first_in(campaign: &str, id: &str, job: &str, user: &str, at: i64) -> Event {
    match first(id, job, user, at) {
        Event::Notification(mut n) => {
            n.campaign_id = campaign.into();
            Event::Notification(n)
        }
        other => other,
    }
}

fn click(id: &str, job: &str, user: &str, at: i64, action: &str, target: &str) -> Event {
    Event::Interaction(UserInteraction {
        event_id: id.into(),
        tenant_id: T.into(),
        campaign_id: C.into(),
        job_id: job.into(),
        occurred_at: at,
        user_id: user.into(),
        selected_action: action.into(),
        answer_target: target.into(),
        answer_title: None,
        question: None,
    })
}

fn state(events: &[Event]) -> PartitionState {
    let mut s = PartitionState::new();
    for e in events {
        s.apply(e);
    }
    s
}

fn job(s: &PartitionState, job: &str) -> Report {
    s.job_report(T, C, job).expect("job report")
}

fn all(s: &PartitionState) -> Report {
    s.campaign_report(T, C).expect("campaign report")
}

/// start -> a -> done ; start -> b (b is a dead end, so an end node too).
const SCRIPT: &[(&str, &str)] = &[("start", "a"), ("start", "b"), ("a", "done")];

#[test]
fn target_users_take_the_job_audience_else_the_campaign_audience() {
    let s = state(&[
        audience("a1", "", 0, 50),
        audience("a2", "j1", 1, 10),
        first("n1", "j1", "u1", 2),
        first("n2", "j2", "u2", 3),
    ]);
    assert_eq!(job(&s, "j1").target_users, 10);
    assert_eq!(
        job(&s, "j2").target_users,
        50,
        "no job audience: campaign-wide"
    );
    assert_eq!(all(&s).target_users, 50);
}

#[test]
fn target_users_are_at_least_the_distinct_users_and_the_latest_audience_wins() {
    let s = state(&[
        audience("late", "j1", 20, 1),
        audience("early", "j1", 10, 100),
        first("n1", "j1", "u1", 2),
        first("n2", "j1", "u2", 3),
    ]);
    // The latest announcement by event time says 1, but two users were seen.
    assert_eq!(job(&s, "j1").target_users, 2);
}

#[test]
fn all_jobs_counts_are_unions_not_sums() {
    let s = state(&[
        audience("a1", "j1", 0, 2),
        audience("a2", "j2", 0, 2),
        first("n1", "j1", "u1", 1),
        first("n2", "j1", "u2", 1),
        first("n3", "j2", "u2", 2),
        first("n4", "j2", "u3", 2),
        click("i1", "j1", "u2", 3, "x", "a"),
        click("i2", "j2", "u2", 4, "x", "a"),
    ]);
    let r = all(&s);
    assert_eq!(r.sent_users, 3);
    assert_eq!(r.interacted_users, 1);
    assert_eq!(
        r.target_users, 3,
        "union of users beats every job's audience"
    );
    assert_eq!(r.total_interactions, 2);
    assert_eq!(job(&s, "j1").sent_users, 2);
    assert_eq!(job(&s, "j2").interacted_users, 1);
}

#[test]
fn sent_counts_first_messages_only_and_messages_split_from_warnings() {
    let s = state(&[
        first("n1", "j", "u1", 1),
        sent("n2", "j", "u2", 2, false, false),
        sent("n3", "j", "u1", 3, false, true),
        sent("n4", "j", "u1", 4, false, true),
    ]);
    let r = job(&s, "j");
    assert_eq!(r.sent_users, 1);
    assert_eq!(r.target_users, 2);
    assert_eq!(r.messages_sent, 2);
    assert_eq!(r.warnings_sent, 2);
}

#[test]
fn rates_are_percentages_of_sent_users_and_zero_without_sent() {
    let s = state(&[
        with_script("s", 0, SCRIPT),
        first("n1", "j", "u1", 1),
        first("n2", "j", "u2", 1),
        first("n3", "j", "u3", 1),
        first("n4", "j", "u4", 1),
        click("i1", "j", "u1", 2, "go", "a"),
        click("i2", "j", "u1", 3, "go", "done"),
        click("i3", "j", "u2", 2, "go", "a"),
    ]);
    let r = job(&s, "j");
    assert_eq!((r.interacted_users, r.completed_users), (2, 1));
    assert_eq!(r.interaction_rate, 50.0);
    assert_eq!(r.completion_rate, 25.0);

    let s = state(&[click("i1", "j", "u1", 2, "go", "the_end")]);
    let r = job(&s, "j");
    assert_eq!(
        (r.sent_users, r.interacted_users, r.completed_users),
        (0, 1, 1)
    );
    assert_eq!((r.interaction_rate, r.completion_rate), (0.0, 0.0));
}

#[test]
fn duplicates_count_once() {
    let mut s = PartitionState::new();
    let events = [
        first("n1", "j", "u1", 1),
        click("i1", "j", "u1", 2, "go", "a"),
        sent("w1", "j", "u1", 3, false, true),
    ];
    for e in &events {
        assert_eq!(s.apply(e), Applied::New);
    }
    for e in &events {
        assert_eq!(s.apply(e), Applied::Duplicate);
    }
    let r = job(&s, "j");
    assert_eq!(
        (r.total_interactions, r.messages_sent, r.warnings_sent),
        (1, 1, 1)
    );
    assert_eq!(s.journey(T, C, "j", "u1").unwrap().steps.len(), 1);
}

#[test]
fn nodes_count_reached_users_and_choices_per_answer_target() {
    let s = state(&[
        click("i1", "j", "u1", 1, "yes", "a"),
        click("i2", "j", "u1", 2, "yes", "a"),
        click("i3", "j", "u2", 3, "sure", "a"),
        click("i4", "j", "u2", 4, "no", "b"),
    ]);
    let nodes = job(&s, "j").nodes;
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].node_id, "a");
    assert_eq!(nodes[0].reached_users, 2);
    assert_eq!(nodes[0].choices.get("yes"), Some(&2));
    assert_eq!(nodes[0].choices.get("sure"), Some(&1));
    assert_eq!(nodes[1].node_id, "b");
    assert_eq!(nodes[1].reached_users, 1);
}

#[test]
fn funnel_follows_the_flow_sequence_from_sent_users() {
    let s = state(&[
        with_script("s", 0, SCRIPT),
        first("n1", "j", "u1", 1),
        first("n2", "j", "u2", 1),
        first("n3", "j", "u3", 1),
        first("n4", "j", "u4", 1),
        click("i1", "j", "u1", 2, "go", "a"),
        click("i2", "j", "u2", 2, "go", "a"),
        click("i3", "j", "u3", 2, "go", "b"),
        click("i4", "j", "u1", 3, "go", "done"),
    ]);
    let f = job(&s, "j").funnel;
    let got: Vec<(&str, u64, f64, u64)> = f
        .iter()
        .map(|x| {
            (
                x.node_id.as_str(),
                x.users,
                x.conversion_from_previous,
                x.drop_off,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("start", 4, 100.0, 0),
            ("a", 2, 50.0, 2),
            ("b", 1, 50.0, 1),
            ("done", 1, 100.0, 0),
        ]
    );
}

#[test]
fn completion_uses_end_nodes_and_times_from_the_first_message() {
    let s = state(&[
        with_script("s", 0, SCRIPT),
        first("n1", "j", "u1", 10 * MIN),
        first("n0", "j", "u1", 5 * MIN),
        click("i1", "j", "u1", 11 * MIN, "go", "a"),
        click("i2", "j", "u1", 12 * MIN, "go", "done"),
        // No first message seen: the clock starts at the first step.
        click("i3", "j", "u2", 20 * MIN, "go", "a"),
        click("i4", "j", "u2", 23 * MIN, "go", "done"),
    ]);
    let j1 = s.journey(T, C, "j", "u1").unwrap();
    assert!(j1.completed);
    assert_eq!(j1.exit_node.as_deref(), Some("done"));
    assert_eq!(j1.completion_seconds, Some(7.0 * 60.0));
    let j2 = s.journey(T, C, "j", "u2").unwrap();
    assert_eq!(j2.completion_seconds, Some(3.0 * 60.0));
    let r = job(&s, "j");
    assert_eq!(r.completed_users, 2);
    assert_eq!(r.avg_completion_seconds, Some(5.0 * 60.0));
}

#[test]
fn ids_containing_end_complete_even_without_a_script() {
    let s = state(&[
        click("i1", "j", "u1", 1, "go", "q1"),
        click("i2", "j", "u1", 2, "go", "Weekend_Offer"),
        click("i3", "j", "u1", 3, "go", "THE_END"),
    ]);
    let j = s.journey(T, C, "j", "u1").unwrap();
    assert_eq!(
        j.exit_node.as_deref(),
        Some("Weekend_Offer"),
        "first end node reached"
    );
    assert!(job(&s, "j").funnel.is_empty(), "no script, no funnel");
    assert_eq!(job(&s, "j").avg_completion_seconds, Some(0.001));
}

#[test]
fn journeys_are_ordered_by_event_time_then_event_id_whatever_the_arrival() {
    let events = [
        click("e-b", "j", "u1", 5, "x", "b"),
        click("e-c", "j", "u1", 1, "x", "c"),
        click("e-a", "j", "u1", 5, "x", "a"),
    ];
    let forward = state(&events);
    let mut reversed = events.to_vec();
    reversed.reverse();
    let backward = state(&reversed);
    let j = forward.journey(T, C, "j", "u1").unwrap();
    let ids: Vec<&str> = j.steps.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(ids, ["e-c", "e-a", "e-b"]);
    assert_eq!(j.total_interactions, 3);
    assert_eq!(Some(j), backward.journey(T, C, "j", "u1"));
}

#[test]
fn a_late_script_recomputes_completion_and_funnel() {
    let mut s = state(&[
        first("n1", "j", "u1", 1),
        click("i1", "j", "u1", 2, "go", "a"),
        click("i2", "j", "u1", 3, "go", "done"),
    ]);
    assert_eq!(
        job(&s, "j").completed_users,
        0,
        "done is no end node by name"
    );
    s.take_changes();
    // The script was written before the clicks but arrives after them.
    s.apply(&with_script("s", 0, SCRIPT));
    let changes = s.take_changes();
    assert_eq!(job(&s, "j").completed_users, 1);
    assert_eq!(job(&s, "j").funnel.len(), 4);
    assert!(
        changes
            .journeys
            .iter()
            .any(|j| j.user_id == "u1" && j.completed),
        "the journey is rewritten with its new completion"
    );
}

#[test]
fn the_latest_script_by_event_time_wins_and_a_change_recomputes() {
    let old = [("start", "a"), ("a", "done")];
    let new = [("start", "a"), ("a", "done"), ("done", "more")];
    let events = [
        with_script("s1", 0, &old),
        click("i1", "j", "u1", 2, "go", "done"),
    ];
    let mut s = state(&events);
    assert_eq!(job(&s, "j").completed_users, 1);
    s.apply(&with_script("s2", 10, &new));
    assert_eq!(job(&s, "j").completed_users, 0, "done has an exit now");
    // An older script arriving late changes nothing.
    s.apply(&with_script("s0", -5, &old));
    assert_eq!(job(&s, "j").completed_users, 0);
}

#[test]
fn status_is_the_latest_by_event_time() {
    let s = state(&[
        status("l3", "", 30, CampaignStatus::Completed),
        status("l1", "", 10, CampaignStatus::New),
        status("l2", "j1", 20, CampaignStatus::Running),
        status("l4", "j2", 40, CampaignStatus::Error),
    ]);
    assert_eq!(all(&s).status.as_deref(), Some("ERROR"));
    assert_eq!(job(&s, "j1").status.as_deref(), Some("COMPLETED"));
    assert_eq!(job(&s, "j2").status.as_deref(), Some("ERROR"));
    let s = state(&[first("n1", "j", "u1", 1)]);
    assert_eq!(all(&s).status, None);
}

#[test]
fn first_and_last_event_are_min_and_max_event_time() {
    let s = state(&[
        click("i1", "j", "u1", 50, "x", "a"),
        status("l1", "", 5, CampaignStatus::New),
        first("n1", "j", "u1", 20),
        sent("n2", "j", "u1", 90, false, true),
    ]);
    let r = all(&s);
    assert_eq!((r.first_event_at, r.last_event_at), (5, 90));
    let r = job(&s, "j");
    assert_eq!((r.first_event_at, r.last_event_at), (20, 90));
}

#[test]
fn take_changes_returns_only_what_changed() {
    let mut s = state(&[first("n1", "j", "u1", 1), first("n2", "j", "u2", 1)]);
    let c = s.take_changes();
    assert_eq!(c.reports.len(), 2, "all-jobs and the job");
    assert_eq!(c.journeys.len(), 2);
    assert_eq!(s.take_changes(), super::Changes::default());
    s.apply(&click("i1", "j", "u2", 2, "x", "a"));
    let c = s.take_changes();
    assert_eq!(c.journeys.len(), 1);
    assert_eq!(c.journeys[0].user_id, "u2");
    s.apply(&click("i1", "j", "u2", 2, "x", "a"));
    assert_eq!(
        s.take_changes(),
        super::Changes::default(),
        "a duplicate changes nothing"
    );
}

#[test]
fn any_arrival_order_gives_the_same_reports_and_journeys() {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut events = vec![
        with_script("s", 0, SCRIPT),
        status("l1", "", 1, CampaignStatus::Running),
        audience("a1", "j1", 1, 3),
    ];
    for u in 0..6 {
        let user = format!("u{u}");
        let j = if u % 2 == 0 { "j1" } else { "j2" };
        events.push(first(&format!("f{u}"), j, &user, 10 + u));
        events.push(click(&format!("c{u}a"), j, &user, 20 + u, "go", "a"));
        if u % 3 == 0 {
            events.push(click(&format!("c{u}d"), j, &user, 30 + u, "go", "done"));
        }
    }
    let canonical = |s: &PartitionState| {
        let mut all = s.all();
        all.reports.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        all.journeys
            .sort_by(|a, b| (&a.job_id, &a.user_id).cmp(&(&b.job_id, &b.user_id)));
        all
    };
    let expected = canonical(&state(&events));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..20 {
        let mut shuffled = events.clone();
        shuffled.shuffle(&mut rng);
        // Redeliver a few.
        let extra: Vec<Event> = shuffled.iter().take(5).cloned().collect();
        shuffled.extend(extra);
        assert_eq!(canonical(&state(&shuffled)), expected);
    }
}

#[test]
fn only_idle_completed_unchanged_campaigns_are_evictable() {
    let mut s = state(&[
        status("l1", "", 1_000, CampaignStatus::Completed),
        first("n1", "j", "u1", 2_000),
    ]);
    assert!(
        s.evictable(10_000, 1_000, 0).is_empty(),
        "changes not yet taken"
    );
    s.take_changes();
    assert!(
        s.evictable(2_500, 1_000, 0).is_empty(),
        "within the grace period"
    );
    assert_eq!(
        s.evictable(10_000, 1_000, 0),
        [(T.to_string(), C.to_string())]
    );
    s.apply(&status("l2", "", 3_000, CampaignStatus::Running));
    s.take_changes();
    assert!(s.evictable(10_000, 1_000, 0).is_empty(), "running again");
}

#[test]
fn changed_reports_are_what_the_next_take_reports_and_take_nothing() {
    let mut s = state(&[
        status("l1", "", 1_000, CampaignStatus::Running),
        first("n1", "j", "u1", 2_000),
    ]);
    s.take_changes();
    assert!(s.changed_reports().is_empty(), "nothing changed since");
    s.apply(&first("n2", "j", "u2", 2_100));
    let ahead = s.changed_reports();
    assert_eq!(ahead.len(), 2, "the campaign's report and its job's");
    let taken = s.take_changes();
    assert_eq!(ahead, taken.reports, "the same reports, still taken");
    assert_eq!(taken.journeys.len(), 1);
}

#[test]
fn a_campaign_leaves_memory_after_a_full_write_marked_evicted() {
    let mut s = state(&[
        status("l1", "", 1_000, CampaignStatus::Completed),
        first("n1", "j", "u1", 2_000),
        first("n2", "j", "u2", 2_100),
    ]);
    s.take_changes();
    assert!(!s.evict(T, C), "not before its eviction write is taken");
    s.request_eviction(T, C, 50_000);
    let c = s.take_changes();
    assert!(c.headers.is_empty());
    assert_eq!(c.evicted_headers.len(), 1);
    assert_eq!(c.evicted_headers[0].rewritten_at, 50_000);
    assert_eq!(c.journeys.len(), 2, "every user, changed or not");
    assert_eq!(c.reports.len(), 2, "the campaign's report and its job's");
    assert_eq!(s.eviction(T, C), Some(Eviction::Taken));
    assert!(s.evict(T, C));
    assert_eq!(s.campaign_count(), 0);
    assert!(!s.evict(T, C));
}

#[test]
fn an_event_cancels_an_eviction_and_an_unwritten_one_is_taken_again() {
    let mut s = state(&[status("l1", "", 1_000, CampaignStatus::Completed)]);
    s.take_changes();
    s.request_eviction(T, C, 50_000);
    s.take_changes();
    s.retake_evictions();
    assert_eq!(s.eviction(T, C), Some(Eviction::Requested));
    assert_eq!(s.take_changes().evicted_headers.len(), 1);
    s.apply(&first("n1", "j", "u1", 2_000));
    assert_eq!(s.eviction(T, C), Some(Eviction::None));
    assert!(!s.evict(T, C));
    let c = s.take_changes();
    assert!(c.evicted_headers.is_empty());
    assert_eq!(c.headers.len(), 1);
}

#[test]
fn refresh_writes_in_full_the_campaigns_last_written_before_the_cutoff() {
    let mut s = state(&[
        first("n1", "j", "u1", 1_000),
        first("n2", "j", "u2", 1_000),
        first_in(C2, "n3", "j", "u3", 1_000),
    ]);
    s.stamp_new(3_000);
    assert_eq!(
        s.retained_from(9_999),
        3_000,
        "new: written in full by its first snapshot"
    );
    assert_eq!(s.refresh(100, 4_000), 0);
    s.take_changes();
    assert_eq!(s.refresh(3_001, 5_000), 2);
    let c = s.take_changes();
    assert_eq!(c.journeys.len(), 3);
    assert!(c.headers.iter().all(|h| h.rewritten_at == 5_000));
    assert_eq!(s.retained_from(9_999), 5_000);
    s.apply(&first("n4", "j", "u4", 1_000));
    assert_eq!(s.refresh(5_000, 6_000), 0, "written in full at the cutoff");
    assert_eq!(s.take_changes().journeys.len(), 1, "only what changed");
    assert_eq!(s.refresh(5_001, 7_000), 2);
    assert_eq!(s.take_changes().journeys.len(), 4);
    assert_eq!(PartitionState::new().retained_from(42), 42);
}

#[test]
fn the_full_write_time_survives_a_restore() {
    let mut s = state(&[first("n1", "j", "u1", 1_000)]);
    s.refresh(100, 5_000);
    let header = s.take_changes().headers.remove(0);
    let mut restored = PartitionState::new();
    restored.restore_campaign(header, Vec::new());
    assert_eq!(restored.retained_from(9_999), 5_000);
}

#[test]
fn a_campaign_is_evictable_only_after_idle_snapshots_without_an_event() {
    // Old events (catching up): past the grace in event time at once, but
    // still receiving events snapshot after snapshot.
    let mut s = state(&[status("l1", "", 1_000, CampaignStatus::Completed)]);
    s.take_changes();
    assert!(
        s.evictable(1_000_000, 1_000, 2).is_empty(),
        "changed in the last snapshot"
    );
    s.apply(&first("n1", "j", "u1", 2_000));
    s.take_changes();
    s.take_changes();
    assert!(
        s.evictable(1_000_000, 1_000, 2).is_empty(),
        "one snapshot without an event since"
    );
    assert_eq!(s.apply(&first("n1", "j", "u1", 2_000)), Applied::Duplicate);
    s.take_changes();
    assert_eq!(
        s.evictable(1_000_000, 1_000, 2),
        [(T.to_string(), C.to_string())],
        "two snapshots without an event (a duplicate is none)"
    );
    s.apply(&first("n2", "j", "u2", 2_500));
    s.take_changes();
    s.take_changes();
    assert!(
        s.evictable(1_000_000, 1_000, 2).is_empty(),
        "a new event starts the count again"
    );
}

#[test]
fn events_without_a_job_count_in_the_all_jobs_report_only() {
    let mut s = state(&[first("n1", "", "u1", 1), first("n2", "j", "u2", 2)]);
    let changes = s.take_changes();
    let jobs: Vec<Option<&str>> = changes
        .reports
        .iter()
        .map(|r| r.job_id.as_deref())
        .collect();
    assert_eq!(
        jobs,
        [None, Some("j")],
        "no report keyed by an empty job id"
    );
    assert_eq!(all(&s).sent_users, 2);
    assert_eq!(
        changes.journeys.len(),
        2,
        "the job-less user still has a journey"
    );
}

/// Everything a campaign's events can set: a script, wide and per-job
/// statuses and audiences, first messages, warnings, repeated messages,
/// notifications without a job, and clicks (one reaching the end).
fn rich_events(from: i64, tag: &str) -> Vec<Event> {
    let id = |s: &str| format!("{tag}{s}");
    let mut events = vec![
        with_script(&id("s"), from, SCRIPT),
        status(&id("l1"), "", from + 1, CampaignStatus::Running),
        status(&id("l2"), "j1", from + 2, CampaignStatus::Running),
        audience(&id("a1"), "j1", from + 3, 5),
        audience(&id("a2"), "", from + 3, 9),
    ];
    for u in 0..5 {
        let user = format!("{tag}u{u}");
        let j = if u % 2 == 0 { "j1" } else { "j2" };
        let at = from + 10 + u;
        events.push(first(&id(&format!("f{u}")), j, &user, at));
        events.push(sent(&id(&format!("w{u}")), j, &user, at + 1, false, true));
        events.push(sent(&id(&format!("m{u}")), j, &user, at + 2, false, false));
        events.push(click(&id(&format!("c{u}")), j, &user, at + 3, "go", "a"));
        if u % 2 == 1 {
            events.push(click(&id(&format!("d{u}")), j, &user, at + 4, "go", "done"));
        }
    }
    events.push(first(&id("nojob"), "", &id("solo"), from + 40));
    events
}

/// Reports and journeys in a fixed order.
fn canonical(s: &PartitionState) -> super::Changes {
    let mut all = s.all();
    all.reports.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    all.journeys
        .sort_by(|a, b| (&a.job_id, &a.user_id).cmp(&(&b.job_id, &b.user_id)));
    all
}

/// What a snapshot writes of the campaign: its header and, per user, the
/// record (keyed by job and user).
type Rows = (
    super::CampaignHeader,
    std::collections::BTreeMap<(String, String), super::UserRecord>,
);

fn taken(s: &mut PartitionState) -> Rows {
    let changes = s.take_changes();
    let header = changes.headers.into_iter().next().expect("a header");
    let users = changes
        .journeys
        .iter()
        .map(|j| ((j.job_id.clone(), j.user_id.clone()), j.to_user_record()))
        .collect();
    (header, users)
}

fn restored(header: super::CampaignHeader, users: Vec<super::UserRecord>) -> PartitionState {
    let mut s = PartitionState::new();
    s.restore_campaign(header, users);
    s
}

#[test]
fn a_campaign_restored_from_its_rows_equals_its_fold_and_knows_every_event() {
    let events = rich_events(1_000, "");
    let mut s = state(&events);
    let (header, users) = taken(&mut s);
    let mut r = restored(header, users.into_values().collect());
    assert_eq!(canonical(&r), canonical(&s));
    assert_eq!(
        r.take_changes(),
        super::Changes::default(),
        "restored as unchanged"
    );
    for e in &events {
        assert_eq!(
            r.apply(e),
            Applied::Duplicate,
            "{} after the restore",
            e.event_id()
        );
    }
    // And it goes on like the original.
    for e in rich_events(5_000, "later-") {
        assert_eq!(r.apply(&e), s.apply(&e));
    }
    assert_eq!(canonical(&r), canonical(&s));
}

#[test]
fn rows_of_two_snapshots_mixed_by_a_crash_plus_the_tail_give_the_exact_state() {
    // Snapshot 1 wrote everything of `early`; snapshot 2, interrupted,
    // wrote its raw events (`late`) and then only some of its rows. Any
    // such mix, with the raw events folded in again by `apply_tail`, is
    // the state of all events: counters come from user rows, the header
    // is idempotent, and duplicates still move the times.
    let early = rich_events(1_000, "");
    let mut late = rich_events(9_000, "late-");
    // Old users get more too, beyond every time the first header knows.
    late.push(sent("w-again", "j1", "u0", 20_000, false, true));
    late.push(click("c-again", "j2", "u1", 20_001, "go", "b"));
    late.push(status("l-late", "j2", 20_002, CampaignStatus::Completed));
    let all_events: Vec<Event> = early.iter().chain(&late).cloned().collect();
    let full = state(&all_events);

    let mut s = state(&early);
    let (h1, u1) = taken(&mut s);
    for e in &late {
        s.apply(e);
    }
    let (h2, u2) = taken(&mut s);
    let keys: Vec<_> = u2.keys().cloned().collect();
    for header in [&h1, &h2] {
        for landed in [0, keys.len() / 2, keys.len()] {
            let mut users = u1.clone();
            for k in &keys[..landed] {
                users.insert(k.clone(), u2[k].clone());
            }
            let mut r = restored(header.clone(), users.into_values().collect());
            for e in &late {
                r.apply_tail(e);
            }
            assert_eq!(
                canonical(&r),
                canonical(&full),
                "header {}, {landed} of {} user rows of snapshot 2",
                if std::ptr::eq(header, &h1) { 1 } else { 2 },
                keys.len()
            );
            for e in &all_events {
                assert_eq!(r.apply(e), Applied::Duplicate);
            }
        }
    }
}

#[test]
fn event_keys_stay_what_the_stored_rows_hold() {
    // Notification keys are persisted: the hash of an event id must not
    // change between releases (two foldhash halves, fixed seeds).
    use std::hash::BuildHasher;
    let id = "n-42";
    let a = foldhash::fast::FixedState::with_seed(0x5eed_0001).hash_one(id);
    let b = foldhash::fast::FixedState::with_seed(0x5eed_0002).hash_one(id);
    assert_eq!(super::event_key(id), (u128::from(a) << 64) | u128::from(b));
}

mod alerts {
    //! Alert rules on the partition state: evaluated on the reports each
    //! snapshot takes, persisted in headers, resolved on rule deletion.
    use std::collections::HashSet;
    use std::sync::Arc;

    use alerting::{RuleInput, TransitionKind};

    use super::*;
    use crate::state::{AlertPass, RuleIndex};

    fn rule(id: &str, json: &str) -> Arc<alerting::Rule> {
        let input = RuleInput::from_json(json).unwrap().validate().unwrap();
        Arc::new(input.into_rule(id.into(), T.into(), 1))
    }

    fn take(
        s: &mut PartitionState,
        rules: &RuleIndex,
        changed: &[&str],
        now_ms: i64,
    ) -> Vec<alerting::Transition> {
        let changed: HashSet<String> = changed.iter().map(|t| t.to_string()).collect();
        let pass = AlertPass {
            rules,
            changed_tenants: &changed,
            now_ms,
        };
        s.take_changes_with(Some(&pass)).transitions
    }

    const ERROR_RULE: &str =
        r#"{"name": "errors", "condition": {"kind": "status", "status": "ERROR"}}"#;

    #[test]
    fn a_status_rule_fires_once_and_resolves_when_the_status_moves_on() {
        let rules = RuleIndex::new([rule("r1", ERROR_RULE)]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Running)]);
        assert!(take(&mut s, &rules, &[], 1_000).is_empty());
        s.apply(&status("s2", "", 2 * MIN, CampaignStatus::Error));
        let t = take(&mut s, &rules, &[], 2_000);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].kind, t[0].campaign_id.as_str()),
            (TransitionKind::Fired, C)
        );
        // Unchanged reports are not evaluated again: nothing repeats.
        s.apply(&first("n1", "j1", "u1", 3 * MIN));
        assert!(take(&mut s, &rules, &[], 3_000).is_empty());
        s.apply(&status("s3", "", 4 * MIN, CampaignStatus::Running));
        let t2 = take(&mut s, &rules, &[], 4_000);
        assert_eq!(t2.len(), 1);
        assert_eq!(
            (t2[0].kind, &t2[0].alert_id),
            (TransitionKind::Resolved, &t[0].alert_id)
        );
    }

    #[test]
    fn a_new_rule_is_evaluated_on_campaigns_that_do_not_change_and_a_deleted_one_resolves() {
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        let none = RuleIndex::default();
        assert!(take(&mut s, &none, &[], 1_000).is_empty());
        let rules = RuleIndex::new([rule("r1", ERROR_RULE)]);
        // Without naming the tenant as changed, nothing looks at it.
        assert!(take(&mut s, &rules, &[], 2_000).is_empty());
        let t = take(&mut s, &rules, &[T], 3_000);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TransitionKind::Fired);
        let t2 = take(&mut s, &none, &[T], 4_000);
        assert_eq!(t2.len(), 1);
        assert_eq!(
            (t2[0].kind, &t2[0].alert_id),
            (TransitionKind::Resolved, &t[0].alert_id)
        );
    }

    #[test]
    fn inactivity_fires_on_a_timer_and_resolves_with_the_next_event() {
        let rules = RuleIndex::new([rule(
            "r1",
            r#"{"name": "quiet", "condition": {"kind": "inactivity", "seconds": 60}}"#,
        )]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Running)]);
        assert!(take(&mut s, &rules, &[], 1_000).is_empty());
        assert!(take(&mut s, &rules, &[], 30_000).is_empty());
        let t = take(&mut s, &rules, &[], 61_000);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TransitionKind::Fired);
        // Still idle: no second firing.
        assert!(take(&mut s, &rules, &[], 120_000).is_empty());
        s.apply(&first("n1", "j1", "u1", 2 * MIN));
        let t2 = take(&mut s, &rules, &[], 121_000);
        assert_eq!(t2.len(), 1);
        assert_eq!(t2[0].kind, TransitionKind::Resolved);
    }

    #[test]
    fn for_seconds_waits_on_a_timer_without_report_changes() {
        let rules = RuleIndex::new([rule(
            "r1",
            r#"{"name": "errors", "for_seconds": 10, "condition": {"kind": "status", "status": "ERROR"}}"#,
        )]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        assert!(take(&mut s, &rules, &[], 1_000).is_empty());
        assert!(take(&mut s, &rules, &[], 5_000).is_empty());
        let t = take(&mut s, &rules, &[], 11_000);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TransitionKind::Fired);
    }

    #[test]
    fn would_change_is_a_dry_run_of_the_evaluation_on_a_stored_book_and_reports() {
        use crate::state::would_change;
        let errors = RuleIndex::new([rule("r1", ERROR_RULE)]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        let reports = s.all().reports;
        let blank = alerting::AlertBook::default();
        let none = RuleIndex::default();
        assert!(!would_change(&blank, T, &reports, &none, 1_000));
        assert!(would_change(&blank, T, &reports, &errors, 1_000), "fires");
        let other = RuleIndex::new([rule(
            "r2",
            r#"{"name": "running", "condition": {"kind": "status", "status": "RUNNING"}}"#,
        )]);
        assert!(
            !would_change(&blank, T, &reports, &other, 1_000),
            "holds nowhere"
        );
        let waiting = RuleIndex::new([rule(
            "r1",
            r#"{"name": "errors", "for_seconds": 60, "condition": {"kind": "status", "status": "ERROR"}}"#,
        )]);
        assert!(
            would_change(&blank, T, &reports, &waiting, 1_000),
            "goes pending, no transition yet"
        );
        // A book where r1 fires: the same rules change nothing; without
        // r1 it resolves; another tenant's rules do not touch it.
        assert_eq!(take(&mut s, &errors, &[T], 1_000).len(), 1);
        let book = s.campaigns.get(T, C).unwrap().alerts.clone();
        assert_eq!(book.firing().count(), 1);
        assert!(!would_change(&book, T, &reports, &errors, 2_000));
        assert!(would_change(&book, T, &reports, &none, 2_000), "resolves");
        assert!(!would_change(&blank, "another", &reports, &errors, 2_000));
    }

    /// [`PartitionState::transition_due`] under `rules` at `now_ms`.
    fn due(s: &mut PartitionState, rules: &RuleIndex, now_ms: i64) -> bool {
        let changed = HashSet::new();
        s.transition_due(&AlertPass {
            rules,
            changed_tenants: &changed,
            now_ms,
        })
    }

    #[test]
    fn transition_due_is_a_dry_run_that_looks_at_each_change_once() {
        let rules = RuleIndex::new([rule("r1", ERROR_RULE)]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Running)]);
        assert!(!due(&mut s, &rules, 1_000), "RUNNING fires nothing");
        assert!(take(&mut s, &rules, &[], 1_000).is_empty());
        s.apply(&status("s2", "", 2 * MIN, CampaignStatus::Error));
        assert!(due(&mut s, &rules, 2_000), "ERROR would fire");
        assert!(!due(&mut s, &rules, 2_100), "each change looked at once");
        // Nothing was evaluated: the snapshot fires it, once.
        let t = take(&mut s, &rules, &[], 2_200);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TransitionKind::Fired);
        // A change that keeps the condition as it is.
        s.apply(&first("n1", "j1", "u1", 3 * MIN));
        assert!(!due(&mut s, &rules, 3_000), "still firing: no transition");
        assert!(take(&mut s, &rules, &[], 3_100).is_empty());
        s.apply(&status("s3", "", 4 * MIN, CampaignStatus::Running));
        assert!(due(&mut s, &rules, 4_000), "would resolve");
        // A change the snapshot evaluated is not looked at again.
        s.apply(&status("s4", "", 5 * MIN, CampaignStatus::Error));
        assert!(take(&mut s, &rules, &[], 5_000).is_empty(), "still firing");
        assert!(!due(&mut s, &rules, 5_100));

        // Going pending is no transition; nor is a disabled rule, nor
        // another tenant's.
        let in_error = || state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        let waiting = RuleIndex::new([rule(
            "r1",
            r#"{"name": "errors", "for_seconds": 60, "condition": {"kind": "status", "status": "ERROR"}}"#,
        )]);
        assert!(!due(&mut in_error(), &waiting, 1_000));
        let mut off = (*rule("r1", ERROR_RULE)).clone();
        off.enabled = false;
        assert!(!due(
            &mut in_error(),
            &RuleIndex::new([Arc::new(off)]),
            1_000
        ));
        let mut elsewhere = (*rule("r1", ERROR_RULE)).clone();
        elsewhere.tenant_id = "another".into();
        assert!(!due(
            &mut in_error(),
            &RuleIndex::new([Arc::new(elsewhere)]),
            1_000
        ));
        assert!(
            due(&mut in_error(), &rules, 1_000),
            "the control: it would fire"
        );

        // A restored campaign is not looked at until an event changes it.
        let header = in_error().take_changes().headers.remove(0);
        let mut restored = PartitionState::new();
        restored.restore_campaign(header, Vec::new());
        assert!(!due(&mut restored, &rules, 1_000));
        restored.apply(&status("s9", "", 9 * MIN, CampaignStatus::Error));
        assert!(due(&mut restored, &rules, 2_000));
    }

    #[test]
    fn alert_states_and_untaken_transitions_survive_a_restore_through_the_header() {
        let rules = RuleIndex::new([rule("r1", ERROR_RULE)]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        let changes = {
            let changed: HashSet<String> = HashSet::new();
            let pass = AlertPass {
                rules: &rules,
                changed_tenants: &changed,
                now_ms: 1_000,
            };
            s.take_changes_with(Some(&pass))
        };
        assert_eq!(changes.transitions.len(), 1);
        let header = changes.headers[0].clone();
        let stored = header.alerts.as_ref().unwrap();
        assert_eq!(stored.transitions, changes.transitions);
        // Through the persisted JSON, as the store keeps it.
        let header: crate::state::CampaignHeader =
            serde_json::from_str(&serde_json::to_string(&header).unwrap()).unwrap();
        let mut restored = PartitionState::new();
        restored.restore_campaign(header, Vec::new());
        // The header's transitions go out again with the next snapshot...
        let again = take(&mut restored, &rules, &[], 2_000);
        assert_eq!(again, changes.transitions);
        // ...once: the state knows the alert fires, nothing new fires.
        restored.reevaluate_alerts();
        assert!(take(&mut restored, &rules, &[], 3_000).is_empty());
    }

    #[test]
    fn a_late_script_turns_a_funnel_rule_on_and_later_clicks_resolve_it() {
        let rules = RuleIndex::new([rule(
            "r1",
            r#"{"name": "drop at a", "condition": {"kind": "funnel_conversion", "node_id": "a", "op": "<", "value": 60}}"#,
        )]);
        let mut s = state(&[
            first("n1", "j", "u1", 1),
            first("n2", "j", "u2", 1),
            first("n3", "j", "u3", 1),
            first("n4", "j", "u4", 1),
            click("i1", "j", "u1", 2, "go", "a"),
            click("i2", "j", "u2", 2, "go", "a"),
        ]);
        // No script yet: no funnel, so no step `a`: the rule does not hold.
        assert!(take(&mut s, &rules, &[], 1_000).is_empty());
        // The script arrives late: `a` converts 2 of 4 (50 %).
        s.apply(&with_script("s", 0, SCRIPT));
        let t = take(&mut s, &rules, &[], 2_000);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].kind, t[0].value), (TransitionKind::Fired, Some(50.0)));
        // Two more users reach `a` (100 %): resolved.
        s.apply(&click("i3", "j", "u3", 3, "go", "a"));
        s.apply(&click("i4", "j", "u4", 3, "go", "a"));
        let t2 = take(&mut s, &rules, &[], 3_000);
        assert_eq!(t2.len(), 1);
        assert_eq!(
            (t2[0].kind, &t2[0].alert_id),
            (TransitionKind::Resolved, &t[0].alert_id)
        );
    }

    #[test]
    fn requeued_transitions_are_taken_again() {
        let rules = RuleIndex::new([rule("r1", ERROR_RULE)]);
        let mut s = state(&[status("s1", "", MIN, CampaignStatus::Error)]);
        let t = take(&mut s, &rules, &[], 1_000);
        assert_eq!(t.len(), 1);
        s.requeue_transitions(t.clone());
        assert_eq!(take(&mut s, &rules, &[], 2_000), t);
        assert!(take(&mut s, &rules, &[], 3_000).is_empty());
    }
}

/// Reports count users without building user sets (each user is in a job
/// once; the all-jobs report takes the union of the jobs' users once).
/// Checked against the definition by sets, over users in several jobs
/// (and in the job without an id), repeated and unordered steps, users
/// without a first message and completions.
#[test]
fn counted_reports_equal_the_definition_by_user_sets() {
    use rand::{Rng, SeedableRng};
    use std::collections::{BTreeMap, HashSet};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for round in 0..30 {
        let mut events = vec![with_script("s", 0, SCRIPT)];
        let jobs = ["", "j1", "j2", "j3"];
        let n_jobs = 1 + round % jobs.len();
        for i in 0..rng.gen_range(1..200) {
            let job = jobs[rng.gen_range(0..n_jobs)];
            let user = format!("u{}", rng.gen_range(0..40));
            let at = rng.gen_range(1..10_000);
            match rng.gen_range(0..4) {
                0 => events.push(first(&format!("f{i}"), job, &user, at)),
                1 => events.push(sent(&format!("m{i}"), job, &user, at, false, i % 5 == 0)),
                _ => {
                    let target = ["a", "b", "done", "start"][rng.gen_range(0..4)];
                    events.push(click(&format!("c{i}"), job, &user, at, "go", target));
                }
            }
        }
        let mut s = state(&events);
        let mut reports = s.all().reports;
        reports.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        let campaign = s.campaigns.values().next().expect("one campaign");
        let script = campaign.script.as_ref().map(|l| &l.value.info);
        let by_sets = |jobs: &[&super::campaign::Job]| {
            let (mut users, mut sent, mut interacted, mut completed) = (
                HashSet::new(),
                HashSet::new(),
                HashSet::new(),
                HashSet::new(),
            );
            let mut reached: BTreeMap<String, HashSet<_>> = BTreeMap::new();
            let (mut millis, mut completions) = (0i64, 0u64);
            for job in jobs {
                for (&user, entry) in &job.users {
                    users.insert(user);
                    if entry.first_message_at.is_some() {
                        sent.insert(user);
                    }
                    if !entry.steps.is_empty() {
                        interacted.insert(user);
                    }
                    for step in &entry.steps {
                        reached
                            .entry(s.interner.resolve(step.node).to_string())
                            .or_default()
                            .insert(user);
                    }
                    if let Some(c) = super::report::completion(entry, script, &s.interner) {
                        completed.insert(user);
                        millis += c.millis;
                        completions += 1;
                    }
                }
            }
            let reached: Vec<(String, u64)> = reached
                .into_iter()
                .map(|(node, u)| (node, u.len() as u64))
                .collect();
            let mean = (completions > 0).then(|| millis as f64 / completions as f64 / 1000.0);
            (
                users.len() as u64,
                sent.len() as u64,
                interacted.len() as u64,
                completed.len() as u64,
                reached,
                mean,
            )
        };
        let counted = |r: &Report| {
            let reached: Vec<(String, u64)> = r
                .nodes
                .iter()
                .map(|n| (n.node_id.clone(), n.reached_users))
                .collect();
            (
                r.sent_users,
                r.interacted_users,
                r.completed_users,
                reached,
                r.avg_completion_seconds,
            )
        };
        let all_jobs: Vec<_> = campaign.jobs.values().collect();
        let (users, sent, interacted, completed, reached, mean) = by_sets(&all_jobs);
        let all = &reports[0];
        assert_eq!(all.job_id, None);
        assert_eq!(
            counted(all),
            (sent, interacted, completed, reached, mean),
            "round {round}, all jobs"
        );
        assert_eq!(
            all.target_users, users,
            "round {round}: no audience announced"
        );
        for r in &reports[1..] {
            let id = r.job_id.as_deref().expect("a job report");
            let job = &campaign.jobs[&s.interner.get(id).expect("interned")];
            let (users, sent, interacted, completed, reached, mean) = by_sets(&[job]);
            assert_eq!(
                counted(r),
                (sent, interacted, completed, reached, mean),
                "round {round}, job {id}"
            );
            assert_eq!(r.target_users, users);
        }
        // The snapshot path gives the same reports.
        let mut taken = s.take_changes().reports;
        taken.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        assert_eq!(taken, reports, "round {round}");
    }
}
