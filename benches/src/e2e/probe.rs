//! The freshness probe: a campaign of a tenant of its own whose
//! notifications are produced one at a time while the load runs, and the
//! count of them the query API shows. Its messages are first messages to
//! distinct users, so `messages_sent` of the campaign report counts the
//! probes a reader can see, and only grows: `messages_sent ≥ k` means
//! probe k is visible.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use schemas::{CampaignLifecycle, CampaignStatus, Codec, Event, LifecycleKind, NotificationSent};
use serde::Deserialize;

use super::api::QueryApi;
use super::topics::Topics;

/// The probe's tenant (no loadgen tenant is named like it).
pub const TENANT: &str = "freshness-probe";
/// The probe's campaign.
pub const CAMPAIGN: &str = "probe-campaign";
const JOB: &str = "probe-job";
/// How long the broker may take to acknowledge a probe.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// One produced probe.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Just before it was handed to the producer.
    pub at: Instant,
    /// The same moment, wall clock (ms since the epoch), to set against
    /// the processor's snapshot versions.
    pub at_ms: i64,
    /// From `at` until the broker acknowledged it.
    pub acked: Duration,
}

/// Produces the probe campaign's records, keyed by campaign id like
/// loadgen's (same partitioner), without lingering.
pub struct Prober {
    producer: FutureProducer,
    codec: Codec,
    topics: Topics,
    sent: u64,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("topics", &self.topics)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// A producer of probe records: keyed by campaign id like loadgen's (the
/// same partitioner, so a campaign's records of the three topics land on
/// the same partition number), without lingering.
pub fn producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "0")
        .set("partitioner", "murmur2_random")
        .create()
        .context("probe producer")
}

impl Prober {
    pub fn new(brokers: &str, topics: &Topics) -> anyhow::Result<Self> {
        Ok(Prober {
            producer: producer(brokers)?,
            codec: Codec::new()?,
            topics: topics.clone(),
            sent: 0,
        })
    }

    /// Probes produced so far.
    pub fn count(&self) -> u64 {
        self.sent
    }

    /// The campaign's CREATED event (status RUNNING): the campaign has a
    /// report before the first probe.
    pub async fn create_campaign(&self) -> anyhow::Result<()> {
        let event = Event::Lifecycle(CampaignLifecycle {
            event_id: format!("{CAMPAIGN}-created"),
            tenant_id: TENANT.to_owned(),
            campaign_id: CAMPAIGN.to_owned(),
            job_id: String::new(),
            occurred_at: now_ms(),
            kind: LifecycleKind::Created,
            status: Some(CampaignStatus::Running),
            audience_size: None,
            script: None,
        });
        self.produce(&self.topics.lifecycle, &event).await?;
        Ok(())
    }

    /// Produce the next probe (a first message to a user of its own) and
    /// wait for the broker's acknowledgement.
    pub async fn send(&mut self) -> anyhow::Result<Sent> {
        let k = self.sent + 1;
        let at_ms = now_ms();
        let event = Event::Notification(NotificationSent {
            event_id: format!("{CAMPAIGN}-probe-{k}"),
            tenant_id: TENANT.to_owned(),
            campaign_id: CAMPAIGN.to_owned(),
            job_id: JOB.to_owned(),
            occurred_at: at_ms,
            user_id: format!("probe-user-{k}"),
            node_id: None,
            first_message: true,
            warning_message: false,
        });
        let at = Instant::now();
        self.produce(&self.topics.notifications, &event).await?;
        self.sent = k;
        Ok(Sent {
            at,
            at_ms,
            acked: at.elapsed(),
        })
    }

    async fn produce(&self, topic: &str, event: &Event) -> anyhow::Result<()> {
        let payload = self.codec.encode(event)?;
        let record = FutureRecord::to(topic).key(CAMPAIGN).payload(&payload);
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map_err(|(e, _)| e)
            .with_context(|| format!("produce a probe record to {topic}"))?;
        Ok(())
    }
}

/// The part of the campaign report the probe reads.
#[derive(Debug, Deserialize)]
struct ReportCounts {
    messages_sent: u64,
}

/// Probes visible through the query API (`None` while the campaign has no
/// visible report yet).
pub async fn visible(api: &QueryApi, key: &str) -> anyhow::Result<Option<u64>> {
    let path = format!("/v1/campaigns/{CAMPAIGN}/report");
    let r = api.get(&path, Some(key), None).await?;
    match r.status {
        200 => Ok(Some(r.json::<ReportCounts>()?.messages_sent)),
        404 => Ok(None),
        status => bail!("GET {path}: {status} {}", r.text()),
    }
}

/// The probe campaign's report versions newer than `after` that are in
/// ClickHouse right now, with the probes each holds: (version,
/// messages_sent), oldest first. A version is the wall clock (ms) when its
/// snapshot was taken (unless the partition's versions ran ahead of the
/// clock). The table keeps only the latest version of a report once its
/// parts merge, so a caller that wants every version asks often.
pub async fn versions(db: &clickhouse::Client, after: u64) -> anyhow::Result<Vec<(u64, u64)>> {
    db.query(
        "SELECT version, max(messages_sent) FROM campaign_reports \
         WHERE tenant_id = ? AND campaign_id = ? AND job_id = '' AND version > ? \
         GROUP BY version ORDER BY version",
    )
    .bind(TENANT)
    .bind(CAMPAIGN)
    .bind(after)
    .fetch_all::<(u64, u64)>()
    .await
    .context("read the probe campaign's report versions")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
