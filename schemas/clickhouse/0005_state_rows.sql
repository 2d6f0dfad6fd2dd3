-- Persisted state (ARCHITECTURE.md, "Persisted state"): a partition is
-- restored from the rows its snapshots wrote, not from its history.
--
-- journeys gains what a user's state holds besides the steps: the earliest
-- first-message time and the 128-bit keys of the user's notifications
-- (messages and warnings apart), so duplicates stay exact across restarts
-- and the counters are counted from the rows. (ClickHouse 18.16 has no
-- ADD COLUMN IF NOT EXISTS: the migration runner treats "already exists"
-- of an ADD COLUMN as done, so a half-applied file runs again.)
ALTER TABLE journeys ADD COLUMN first_message_at_ms Nullable(Int64);
ALTER TABLE journeys ADD COLUMN message_keys Array(FixedString(16));
ALTER TABLE journeys ADD COLUMN warning_keys Array(FixedString(16));

-- 1: the partition's state rows (campaign_state, journeys) are complete as
-- of this checkpoint. 0: written by a release before them; that partition
-- is restored once from events_raw and rewritten in the new format.
ALTER TABLE checkpoints ADD COLUMN state_format UInt8 DEFAULT 0;

-- One header per campaign: what lifecycle events set (script analysis,
-- statuses and audiences with their stamps, lifecycle event keys) and the
-- first/last event times of the campaign and its jobs, as JSON. Sorted by
-- partition first: a restore reads one partition's keys, then the state of
-- its live (not evicted) campaigns only. Read: greatest version per key.
CREATE TABLE IF NOT EXISTS campaign_state
(
    partition Int32,
    tenant_id String,
    campaign_id String,
    version UInt64,
    -- 1: dropped from the processor's memory (completed and idle); read
    -- back only when a late event arrives.
    evicted UInt8,
    state_json String,
    written_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (partition, tenant_id, campaign_id);

-- Written first by every snapshot: its version (the floor of every later
-- version of the partition) and the campaigns whose raw events it writes.
-- A restore reads the intents newer than the checkpoint to find the raw
-- events an interrupted snapshot left beyond it.
CREATE TABLE IF NOT EXISTS snapshot_intents
(
    partition Int32,
    version UInt64,
    tenant_ids Array(String),
    campaign_ids Array(String),
    written_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY partition;
