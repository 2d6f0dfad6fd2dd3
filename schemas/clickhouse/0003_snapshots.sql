-- Processor snapshots: reports and journeys, versioned, and the checkpoints
-- that make a version visible.
--
-- Every snapshot of a Kafka partition writes its changed reports and
-- journeys with a new version (greater than any the partition had), then one
-- checkpoint row: the version and the next offset of each input topic it
-- reflects. A report or journey row is visible only when its version is at
-- most its partition's checkpointed version; rows of a snapshot whose
-- checkpoint never landed stay invisible until they are superseded.
-- Read: the row with the greatest visible version per key.

CREATE TABLE IF NOT EXISTS checkpoints
(
    partition Int32,
    version UInt64,
    -- Next offset to read per topic; -1: from the beginning.
    lifecycle_offset Int64,
    notifications_offset Int64,
    interactions_offset Int64,
    written_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY partition;

CREATE TABLE IF NOT EXISTS campaign_reports
(
    tenant_id String,
    campaign_id String,
    -- Empty for the report over all jobs of the campaign.
    job_id String,
    partition Int32,
    version UInt64,
    -- Latest lifecycle status by event time; empty when none was announced.
    status String,
    target_users UInt64,
    sent_users UInt64,
    interacted_users UInt64,
    completed_users UInt64,
    interaction_rate Float64,
    completion_rate Float64,
    total_interactions UInt64,
    messages_sent UInt64,
    warnings_sent UInt64,
    avg_completion_seconds Nullable(Float64),
    -- [{"node_id","reached_users","choices":{action: n}}]
    nodes_json String,
    -- [{"node_id","users","conversion_from_previous","drop_off"}]
    funnel_json String,
    first_event_at_ms Int64,
    last_event_at_ms Int64,
    snapshot_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, campaign_id, job_id);

CREATE TABLE IF NOT EXISTS journeys
(
    tenant_id String,
    campaign_id String,
    job_id String,
    user_id String,
    partition Int32,
    version UInt64,
    -- Steps in order (occurred_at, then event_id), one entry per array.
    step_node_ids Array(String),
    step_choices Array(String),
    step_occurred_at_ms Array(Int64),
    step_event_ids Array(String),
    total_interactions UInt64,
    completed UInt8,
    -- The first end node reached; empty when not completed.
    exit_node String,
    completion_seconds Nullable(Float64),
    snapshot_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, campaign_id, job_id, user_id);
