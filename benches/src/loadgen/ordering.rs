//! The production order of a run: which record goes out when.
//!
//! Each distinct event gets a production time of its event time plus a
//! random lag (up to two minutes, rarely up to an hour), so the three topics
//! run out of order against each other and against event time. For 15% of
//! the campaigns every lifecycle event (the script included) goes out only
//! after a third of the campaign's interactions (late scripts). Duplicates
//! (the same bytes again) go out seconds to hours after their original;
//! poison records anywhere. Records are produced in production-time order.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::error::EncodeError;
use schemas::{Codec, EventKind};

use super::config::{GenConfig, Topics};
use super::expected_json::{Counts, PoisonInfo, TopicCounts};
use super::poison::{self, PoisonRecord};
use super::traffic::Traffic;

/// Share of campaigns whose lifecycle events are produced late.
const LATE_SCRIPT_SHARE: f64 = 0.15;

/// One record of the plan; the numbers index [`Traffic::events`] or
/// [`Plan::poison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Event(u32),
    Duplicate(u32),
    Poison(u32),
}

/// Every record of a run, in production order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub items: Vec<Item>,
    pub poison: Vec<PoisonRecord>,
    /// Campaigns whose lifecycle events go out after their first interactions.
    pub late_campaigns: Vec<String>,
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordClass {
    Event,
    Duplicate,
    Poison,
}

/// A record ready to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: EventKind,
    pub key: &'a str,
    pub payload: Cow<'a, [u8]>,
    pub class: RecordClass,
}

/// A [`Record`] that owns its key and bytes (encoded ahead of producing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    pub kind: EventKind,
    pub key: String,
    pub payload: Vec<u8>,
    pub class: RecordClass,
}

impl OwnedRecord {
    pub fn of(record: Record<'_>) -> Self {
        OwnedRecord {
            kind: record.kind,
            key: record.key.to_owned(),
            payload: record.payload.into_owned(),
            class: record.class,
        }
    }

    pub fn borrowed(&self) -> Record<'_> {
        Record {
            kind: self.kind,
            key: &self.key,
            payload: Cow::Borrowed(&self.payload),
            class: self.class,
        }
    }
}

/// The production order of `traffic`. Uses its own random stream of the
/// seed, so the events do not depend on the ordering options.
pub fn plan(cfg: &GenConfig, traffic: &Traffic, codec: &Codec) -> Result<Plan, EncodeError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(1);
    let events = &traffic.events;
    assert!(
        events.len() < u32::MAX as usize / 2,
        "too many events for one plan"
    );

    let mut at: Vec<i64> = events
        .iter()
        .map(|e| {
            let lag = if rng.gen_bool(0.01) {
                rng.gen_range(120_000..3_600_000)
            } else {
                rng.gen_range(0..120_000)
            };
            e.occurred_at() + lag
        })
        .collect();

    let mut late_campaigns = Vec::new();
    for campaign in &traffic.campaigns {
        if !rng.gen_bool(LATE_SCRIPT_SHARE) {
            continue;
        }
        let range = campaign.events.clone();
        let mut clicks: Vec<i64> = range
            .clone()
            .filter(|i| events[*i].kind() == EventKind::Interaction)
            .map(|i| at[i])
            .collect();
        if clicks.is_empty() {
            continue;
        }
        clicks.sort_unstable();
        let after = clicks[clicks.len() / 3];
        for i in range.filter(|i| events[*i].kind() == EventKind::Lifecycle) {
            if at[i] <= after {
                at[i] = after + rng.gen_range(1_000..600_000);
            }
        }
        late_campaigns.push(campaign.campaign_id.clone());
    }

    // (production time, sequence number, item): the sequence number makes
    // the order total.
    let mut entries: Vec<(i64, u32, Item)> = (0..events.len())
        .map(|i| (at[i], i as u32, Item::Event(i as u32)))
        .collect();
    let mut seq = events.len() as u32;
    let duplicates = (cfg.duplicate_ratio * events.len() as f64).round() as usize;
    if !events.is_empty() {
        for _ in 0..duplicates {
            let i = rng.gen_range(0..events.len());
            let when = at[i] + rng.gen_range(1_000..7_200_000);
            entries.push((when, seq, Item::Duplicate(i as u32)));
            seq += 1;
        }
    }
    let poison = poison::generate(&mut rng, cfg.poison, traffic, codec)?;
    let (first, last) = (
        at.iter().min().copied().unwrap_or(cfg.start),
        at.iter().max().copied().unwrap_or(cfg.start),
    );
    for p in 0..poison.len() {
        let when = rng.gen_range(first..=last);
        entries.push((when, seq, Item::Poison(p as u32)));
        seq += 1;
    }
    drop(at);
    entries.sort_unstable_by_key(|(when, seq, _)| (*when, *seq));
    Ok(Plan {
        items: entries.into_iter().map(|(_, _, item)| item).collect(),
        poison,
        late_campaigns,
    })
}

impl Plan {
    /// The record of `item`, encoded (the codec is deterministic, so a
    /// duplicate has the same bytes as its original).
    pub fn record<'a>(
        &'a self,
        traffic: &'a Traffic,
        codec: &Codec,
        item: Item,
    ) -> Result<Record<'a>, EncodeError> {
        match item {
            Item::Event(i) | Item::Duplicate(i) => {
                let event = &traffic.events[i as usize];
                Ok(Record {
                    kind: event.kind(),
                    key: event.campaign_id(),
                    payload: Cow::Owned(codec.encode(event)?),
                    class: if matches!(item, Item::Event(_)) {
                        RecordClass::Event
                    } else {
                        RecordClass::Duplicate
                    },
                })
            }
            Item::Poison(p) => {
                let poison = &self.poison[p as usize];
                Ok(Record {
                    kind: poison.kind,
                    key: &poison.key,
                    payload: Cow::Borrowed(&poison.payload),
                    class: RecordClass::Poison,
                })
            }
        }
    }

    /// Every record, in production order.
    pub fn records<'a>(
        &'a self,
        traffic: &'a Traffic,
        codec: &'a Codec,
    ) -> impl Iterator<Item = Result<Record<'a>, EncodeError>> + 'a {
        self.items
            .iter()
            .map(move |item| self.record(traffic, codec, *item))
    }

    /// The kind (topic) of `item`.
    pub fn kind(&self, traffic: &Traffic, item: Item) -> EventKind {
        match item {
            Item::Event(i) | Item::Duplicate(i) => traffic.events[i as usize].kind(),
            Item::Poison(p) => self.poison[p as usize].kind,
        }
    }

    /// The `counts` of the expected-figures file.
    pub fn counts(&self, traffic: &Traffic, topics: &Topics) -> Counts {
        let mut per_topic: BTreeMap<String, TopicCounts> = EventKind::ALL
            .iter()
            .map(|k| {
                let zero = TopicCounts {
                    records: 0,
                    poison: 0,
                };
                (topics.of(*k).to_owned(), zero)
            })
            .collect();
        let mut duplicates = 0;
        for item in &self.items {
            let topic = topics.of(self.kind(traffic, *item));
            if let Some(counts) = per_topic.get_mut(topic) {
                counts.records += 1;
                if matches!(item, Item::Poison(_)) {
                    counts.poison += 1;
                }
            }
            if matches!(item, Item::Duplicate(_)) {
                duplicates += 1;
            }
        }
        Counts {
            records: self.items.len() as u64,
            distinct_events: traffic.events.len() as u64,
            duplicates,
            poison: self.poison.len() as u64,
            per_topic,
        }
    }

    /// The `poison` list of the expected-figures file, in production order.
    pub fn poison_infos(&self, topics: &Topics) -> Vec<PoisonInfo> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Poison(p) => Some(&self.poison[*p as usize]),
                _ => None,
            })
            .map(|p| PoisonInfo {
                topic: topics.of(p.kind).to_owned(),
                key: p.key.clone(),
                reason: p.reason.as_str().to_owned(),
            })
            .collect()
    }
}
