//! Shared by the integration tests: test traffic, and a ClickHouse database
//! of its own per test ([`database`]).
#![allow(dead_code)]

pub mod database;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use processor::engine::{DeadLetterSink, Engine, EngineConfig};
use processor::kafka::dlq::Rejected;
use processor::kafka::source::{SourceControl, SourceRecord};
use processor::metrics::Metrics;
use processor::state::PartitionState;
use processor::store::Store;
use processor::tenants::TenantZones;
use schemas::{Codec, Event, NotificationSent, UserInteraction};

/// Dead letters, collected in memory.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Rejected>>);

impl DeadLetterSink for Collect {
    fn send(&self, r: &Rejected) -> Result<(), String> {
        self.0.lock().unwrap().push(r.clone());
        Ok(())
    }
}

/// An engine over `store` on topics l, n, i that snapshots only when the
/// test flushes.
pub fn test_engine<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    dead_letters: Arc<Collect>,
    control: Arc<SourceControl>,
) -> Engine<S> {
    Engine::new(
        EngineConfig {
            topics: ["l".into(), "n".into(), "i".into()],
            snapshot_interval: Duration::from_secs(3600),
            max_buffered_rows,
            max_skew_ms: 60_000,
            evict_completed_after_ms,
        },
        store,
        Codec::new().unwrap(),
        TenantZones::default(),
        Metrics::new(),
        rt.handle().clone(),
        dead_letters,
        control,
    )
}

/// A stream of (topic, event) with a redelivery of every fifth user's last click.
pub fn traffic(users: usize) -> Vec<(usize, Event)> {
    let mut out = Vec::new();
    for u in 0..users {
        let n = Event::Notification(NotificationSent {
            event_id: format!("n-{u}"),
            tenant_id: "t".into(),
            campaign_id: format!("c{}", u % 3),
            job_id: "j".into(),
            occurred_at: 1_000 + u as i64,
            user_id: format!("u{u}"),
            node_id: Some("start".into()),
            first_message: true,
            warning_message: false,
        });
        out.push((1, n));
        for step in 0..3 {
            let i = Event::Interaction(UserInteraction {
                event_id: format!("i-{u}-{step}"),
                tenant_id: "t".into(),
                campaign_id: format!("c{}", u % 3),
                job_id: "j".into(),
                occurred_at: 2_000 + (u * 10 + step) as i64,
                user_id: format!("u{u}"),
                selected_action: "next".into(),
                answer_target: if step == 2 {
                    "end".into()
                } else {
                    format!("n{step}")
                },
                answer_title: None,
                question: None,
            });
            out.push((2, i));
        }
        if u % 5 == 0 {
            let again = out[out.len() - 2].clone();
            out.push(again);
        }
    }
    out
}

/// Kafka records for the traffic, with offsets per topic.
pub fn records(codec: &Codec, traffic: &[(usize, Event)]) -> Vec<SourceRecord> {
    let mut next = [0i64; 3];
    traffic
        .iter()
        .map(|(t, e)| {
            let offset = next[*t];
            next[*t] += 1;
            SourceRecord {
                topic: *t,
                partition: 0,
                offset,
                key: Some(e.campaign_id().as_bytes().to_vec()),
                payload: codec.encode(e).unwrap(),
            }
        })
        .collect()
}

pub fn reference(traffic: &[(usize, Event)]) -> PartitionState {
    let mut s = PartitionState::new();
    for (_, e) in traffic {
        s.apply(e);
    }
    s
}

pub fn distinct_events(traffic: &[(usize, Event)]) -> usize {
    traffic
        .iter()
        .map(|(_, e)| e.event_id().to_string())
        .collect::<BTreeSet<_>>()
        .len()
}
