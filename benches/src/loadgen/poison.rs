//! Poison records: what the processor must send to the dead-letter topic
//! without applying it (`metrics.md`, "Bad input"). Each is keyed by a real
//! campaign id, so it lands on a partition next to real records.

use rand::Rng;
use schemas::codec::HEADER_LEN;
use schemas::error::EncodeError;
use schemas::{Codec, Event, EventKind, NotificationSent};

use super::traffic::Traffic;

/// 2099-01-01T00:00:00Z: far beyond any allowed clock skew.
pub const FAR_FUTURE_MS: i64 = 4_070_908_800_000;

/// The schema id of `UnknownSchemaId` poison: no schema ids file or
/// registry of the tests names it.
pub const UNKNOWN_SCHEMA_ID: u32 = 0x7fff_fff0;

/// What is wrong with a poison record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoisonReason {
    /// Random bytes (never starting with a marker of either wire format).
    RandomBytes,
    /// An Avro object container file (`Obj` 01 ...) instead of a record.
    BadMarker,
    /// A Confluent-framed record whose schema id no registry knows.
    UnknownSchemaId,
    /// The single-object header with a fingerprint of no known schema.
    UnknownFingerprint,
    /// A valid record cut short.
    TruncatedBody,
    /// A valid encoding of an event with an empty `tenant_id`.
    EmptyTenantId,
    /// A valid encoding of a notification or interaction with an empty `user_id`.
    EmptyUserId,
    /// A valid event whose `occurred_at` is in 2099.
    FarFuture,
}

impl PoisonReason {
    pub const ALL: [PoisonReason; 8] = [
        PoisonReason::RandomBytes,
        PoisonReason::BadMarker,
        PoisonReason::UnknownSchemaId,
        PoisonReason::UnknownFingerprint,
        PoisonReason::TruncatedBody,
        PoisonReason::EmptyTenantId,
        PoisonReason::EmptyUserId,
        PoisonReason::FarFuture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PoisonReason::RandomBytes => "random_bytes",
            PoisonReason::BadMarker => "bad_marker",
            PoisonReason::UnknownSchemaId => "unknown_schema_id",
            PoisonReason::UnknownFingerprint => "unknown_fingerprint",
            PoisonReason::TruncatedBody => "truncated_body",
            PoisonReason::EmptyTenantId => "empty_tenant_id",
            PoisonReason::EmptyUserId => "empty_user_id",
            PoisonReason::FarFuture => "far_future",
        }
    }
}

/// One poison record and the topic (kind) it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonRecord {
    pub kind: EventKind,
    pub key: String,
    pub reason: PoisonReason,
    pub payload: Vec<u8>,
}

/// `n` poison records cycling through every reason and every topic.
pub fn generate<R: Rng>(
    rng: &mut R,
    n: u32,
    traffic: &Traffic,
    codec: &Codec,
) -> Result<Vec<PoisonRecord>, EncodeError> {
    let mut by_kind: [Vec<usize>; 3] = Default::default();
    if n > 0 {
        for (i, event) in traffic.events.iter().enumerate() {
            by_kind[event.kind() as usize].push(i);
        }
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let reason = PoisonReason::ALL[i % PoisonReason::ALL.len()];
        let mut kind = EventKind::ALL[i % EventKind::ALL.len()];
        if reason == PoisonReason::EmptyUserId && kind == EventKind::Lifecycle {
            kind = EventKind::Notification;
        }
        let candidates = &by_kind[kind as usize];
        let mut event = match candidates.len() {
            0 => stand_in(traffic),
            len => traffic.events[candidates[rng.gen_range(0..len)]].clone(),
        };
        // A stand-in is a notification; the record goes where its kind does.
        kind = event.kind();
        set_event_id(&mut event, format!("poison-{i:06}"));
        let key = event.campaign_id().to_owned();
        let payload = match reason {
            PoisonReason::RandomBytes => {
                let mut bytes: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
                if bytes[0] == schemas::codec::MARKER[0]
                    || bytes[0] == schemas::codec::CONFLUENT_MAGIC
                {
                    bytes[0] = 0x01;
                }
                bytes
            }
            PoisonReason::BadMarker => {
                let encoded = codec.encode(&event)?;
                let mut bytes = b"Obj\x01".to_vec();
                bytes.extend_from_slice(&encoded[HEADER_LEN..]);
                bytes
            }
            PoisonReason::UnknownSchemaId => {
                let encoded = codec.encode(&event)?;
                let mut bytes = vec![schemas::codec::CONFLUENT_MAGIC];
                bytes.extend_from_slice(&UNKNOWN_SCHEMA_ID.to_be_bytes());
                bytes.extend_from_slice(&encoded[HEADER_LEN..]);
                bytes
            }
            PoisonReason::UnknownFingerprint => {
                let mut bytes = codec.encode(&event)?;
                for b in &mut bytes[2..HEADER_LEN] {
                    *b ^= 0xff;
                }
                bytes
            }
            PoisonReason::TruncatedBody => {
                let mut bytes = codec.encode(&event)?;
                let body = bytes.len() - HEADER_LEN;
                bytes.truncate(HEADER_LEN + rng.gen_range(0..body));
                bytes
            }
            PoisonReason::EmptyTenantId => {
                set_tenant_id(&mut event);
                codec.encode(&event)?
            }
            PoisonReason::EmptyUserId => {
                match &mut event {
                    Event::Notification(e) => e.user_id.clear(),
                    Event::Interaction(e) => e.user_id.clear(),
                    Event::Lifecycle(_) => unreachable!("lifecycle events have no user"),
                }
                codec.encode(&event)?
            }
            PoisonReason::FarFuture => {
                set_occurred_at(&mut event, FAR_FUTURE_MS + rng.gen_range(0..86_400_000));
                codec.encode(&event)?
            }
        };
        out.push(PoisonRecord {
            kind,
            key,
            reason,
            payload,
        });
    }
    Ok(out)
}

/// A notification of the first campaign, when the traffic has no event of
/// the kind wanted.
fn stand_in(traffic: &Traffic) -> Event {
    let (tenant, campaign) = traffic.campaigns.first().map_or(("t0", "t0-c0000"), |c| {
        (c.tenant_id.as_str(), c.campaign_id.as_str())
    });
    Event::Notification(NotificationSent {
        event_id: String::new(),
        tenant_id: tenant.to_owned(),
        campaign_id: campaign.to_owned(),
        job_id: format!("{campaign}-j0"),
        occurred_at: 1_788_220_800_000,
        user_id: format!("{tenant}-u0000000"),
        node_id: None,
        first_message: true,
        warning_message: false,
    })
}

fn set_event_id(event: &mut Event, id: String) {
    match event {
        Event::Lifecycle(e) => e.event_id = id,
        Event::Notification(e) => e.event_id = id,
        Event::Interaction(e) => e.event_id = id,
    }
}

fn set_tenant_id(event: &mut Event) {
    match event {
        Event::Lifecycle(e) => e.tenant_id.clear(),
        Event::Notification(e) => e.tenant_id.clear(),
        Event::Interaction(e) => e.tenant_id.clear(),
    }
}

fn set_occurred_at(event: &mut Event, at: i64) {
    match event {
        Event::Lifecycle(e) => e.occurred_at = at,
        Event::Notification(e) => e.occurred_at = at,
        Event::Interaction(e) => e.occurred_at = at,
    }
}
