//! Property tests: random events round trip; random bytes never panic.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use schemas::codec::{HEADER_LEN, MARKER};
use schemas::{
    CampaignLifecycle, CampaignStatus, Codec, Event, EventKind, LifecycleKind, NotificationSent,
    Script, ScriptEdge, ScriptNode, UserInteraction,
};

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_\\-é日]{1,24}"
}

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn script() -> impl Strategy<Value = Script> {
    (
        vec((id(), text(), text()), 0..8),
        vec((id(), id(), option::of(text())), 0..8),
    )
        .prop_map(|(nodes, edges)| Script {
            nodes: nodes
                .into_iter()
                .map(|(id, node_type, script_type)| ScriptNode {
                    id,
                    node_type,
                    script_type,
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|(source, target, label)| ScriptEdge {
                    source,
                    target,
                    label,
                })
                .collect(),
        })
}

type Common = (String, String, String, String, i64);

fn common() -> impl Strategy<Value = Common> {
    (id(), id(), id(), "[a-z0-9]{0,8}", any::<i64>())
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            common(),
            0usize..4,
            option::of(0usize..6),
            option::of(any::<i64>()),
            option::of(script())
        )
            .prop_map(|((e, t, c, j, at), kind, status, audience_size, script)| {
                Event::Lifecycle(CampaignLifecycle {
                    event_id: e,
                    tenant_id: t,
                    campaign_id: c,
                    job_id: j,
                    occurred_at: at,
                    kind: LifecycleKind::ALL[kind],
                    status: status.map(|s| CampaignStatus::ALL[s]),
                    audience_size,
                    script,
                })
            }),
        (
            common(),
            id(),
            option::of(id()),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |((e, t, c, j, at), user_id, node_id, first_message, warning_message)| {
                    Event::Notification(NotificationSent {
                        event_id: e,
                        tenant_id: t,
                        campaign_id: c,
                        job_id: j,
                        occurred_at: at,
                        user_id,
                        node_id,
                        first_message,
                        warning_message,
                    })
                }
            ),
        (
            common(),
            id(),
            text(),
            text(),
            option::of(text()),
            option::of(text())
        )
            .prop_map(
                |(
                    (e, t, c, j, at),
                    user_id,
                    selected_action,
                    answer_target,
                    answer_title,
                    question,
                )| {
                    Event::Interaction(UserInteraction {
                        event_id: e,
                        tenant_id: t,
                        campaign_id: c,
                        job_id: j,
                        occurred_at: at,
                        user_id,
                        selected_action,
                        answer_target,
                        answer_title,
                        question,
                    })
                }
            ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_events_round_trip(event in event()) {
        let codec = Codec::new().unwrap();
        let bytes = codec.encode(&event).unwrap();
        prop_assert_eq!(codec.decode(&bytes).unwrap(), event);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let codec = Codec::new().unwrap();
        let _ = codec.decode(&bytes);
    }

    /// Random bodies behind a valid header exercise the Avro decoder itself:
    /// a typed error or an event, never a panic or a runaway allocation.
    #[test]
    fn random_bodies_behind_a_known_fingerprint_never_panic(
        kind in 0usize..3,
        body in vec(any::<u8>(), 0..256),
    ) {
        let codec = Codec::new().unwrap();
        let mut bytes = MARKER.to_vec();
        bytes.extend_from_slice(&codec.current_fingerprint(EventKind::ALL[kind]).to_le_bytes());
        bytes.extend_from_slice(&body);
        prop_assert_eq!(bytes.len(), HEADER_LEN + body.len());
        let _ = codec.decode(&bytes);
    }

    /// Flipping any byte of a valid record gives a typed result, never a panic.
    #[test]
    fn corrupted_records_never_panic(event in event(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let codec = Codec::new().unwrap();
        let mut bytes = codec.encode(&event).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        let _ = codec.decode(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The direct decoder and the generic apache-avro path agree: the same
    /// event, or errors of the same kind.
    #[test]
    fn direct_and_generic_decoding_agree(event in event(), pos in any::<prop::sample::Index>(), flip in 0u8..=255, cut in any::<prop::sample::Index>()) {
        let codec = Codec::new().unwrap();
        let bytes = codec.encode(&event).unwrap();
        let mut corrupt = bytes.clone();
        let i = pos.index(corrupt.len());
        corrupt[i] ^= flip;
        let short = &bytes[..cut.index(bytes.len())];
        for input in [&bytes[..], &corrupt[..], short] {
            let fast = codec.decode(input);
            let generic = codec.decode_generic(input);
            match (&fast, &generic) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(a.code(), b.code(), "{} vs {}", a, b),
                _ => prop_assert!(false, "fast {:?} vs generic {:?}", fast, generic),
            }
        }
    }
}
