-- Raw events: one row per distinct event_id, written by the processor exactly
-- once (it skips records its checkpoints show as already written). Analysts
-- query this table directly; the rollups of 0002 are fed from it.
CREATE TABLE IF NOT EXISTS events_raw
(
    tenant_id String,
    campaign_id String,
    -- Empty for lifecycle events that concern the whole campaign.
    job_id String,
    -- Empty for lifecycle events.
    user_id String,
    event_id String,
    event_kind Enum8('lifecycle' = 1, 'notification' = 2, 'interaction' = 3),
    -- notification: the node the message shows; interaction: answer_target.
    node_id String,
    -- interaction: selected_action.
    choice String,
    first_message UInt8,
    warning_message UInt8,
    -- lifecycle: CREATED, SCRIPT_UPDATED, STATUS_CHANGED or COMPLETED.
    lifecycle_kind String,
    -- lifecycle: the status the event announces; empty when it announces none.
    status String,
    audience_size Nullable(Int64),
    -- lifecycle: the script graph as JSON {"nodes":[{"id","type","script_type"}],
    -- "edges":[{"source","target","label"}]}; empty when the event has none.
    script_json String,
    -- interaction: answer_title and question, when given.
    answer_title Nullable(String),
    question Nullable(String),
    occurred_at DateTime('UTC'),
    occurred_at_ms Int64,
    -- Calendar day of occurred_at in the tenant's configured time zone.
    local_date Date,
    kafka_topic String,
    kafka_partition Int32,
    kafka_offset Int64,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(local_date)
ORDER BY (tenant_id, campaign_id, local_date, event_kind, event_id);
