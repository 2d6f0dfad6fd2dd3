-- Fencing (ARCHITECTURE.md, "Fencing"): a processor that lost a partition
-- can never add rows for it.
--
-- Every assignment of a partition claims a new epoch here before it
-- restores. The processor writes into the *_incoming tables (engine Null:
-- nothing is stored there); materialized views move each row on to its
-- table only if it carries its partition's current epoch, checked by the
-- server when the block is written. Raw events carry the epoch in a
-- column; versions carry it in their high bits (version = epoch * 2^41 +
-- milliseconds), so a later owner's versions exceed every earlier one's.
-- The rollups and status changes are fed from events_incoming with the
-- same check (ClickHouse 18.16 does not run a table's views for rows a
-- view inserts).
--
-- A table that gains a column later must gain it in its *_incoming table
-- too, and its view must be created again (`SELECT *` is expanded when the
-- view is created).
CREATE TABLE IF NOT EXISTS partition_epochs
(
    partition Int32,
    epoch UInt64,
    -- Who claimed it: host and process, for operators.
    owner String,
    claimed_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY (partition, epoch);

ALTER TABLE events_raw ADD COLUMN epoch UInt64 DEFAULT 0;

CREATE TABLE IF NOT EXISTS events_incoming AS events_raw ENGINE = Null;
CREATE TABLE IF NOT EXISTS journeys_incoming AS journeys ENGINE = Null;
CREATE TABLE IF NOT EXISTS campaign_reports_incoming AS campaign_reports ENGINE = Null;
CREATE TABLE IF NOT EXISTS campaign_state_incoming AS campaign_state ENGINE = Null;
CREATE TABLE IF NOT EXISTS snapshot_intents_incoming AS snapshot_intents ENGINE = Null;
CREATE TABLE IF NOT EXISTS checkpoints_incoming AS checkpoints ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_raw_fenced_mv TO events_raw AS
SELECT * FROM events_incoming
WHERE (kafka_partition, epoch) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS journeys_fenced_mv TO journeys AS
SELECT * FROM journeys_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_reports_fenced_mv TO campaign_reports AS
SELECT * FROM campaign_reports_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_state_fenced_mv TO campaign_state AS
SELECT * FROM campaign_state_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS snapshot_intents_fenced_mv TO snapshot_intents AS
SELECT * FROM snapshot_intents_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS checkpoints_fenced_mv TO checkpoints AS
SELECT * FROM checkpoints_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);

-- The rollups and status changes, fed from the fenced stream instead of
-- events_raw (same definitions as 0002).
DROP TABLE IF EXISTS rollup_campaign_daily_mv;
DROP TABLE IF EXISTS rollup_campaign_weekly_mv;
DROP TABLE IF EXISTS rollup_campaign_monthly_mv;
DROP TABLE IF EXISTS campaign_status_changes_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_daily_fenced_mv TO rollup_campaign_daily AS
SELECT
    tenant_id,
    local_date AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_incoming
WHERE (kafka_partition, epoch) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition)
GROUP BY tenant_id, period_start, campaign_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_weekly_fenced_mv TO rollup_campaign_weekly AS
SELECT
    tenant_id,
    toMonday(local_date) AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_incoming
WHERE (kafka_partition, epoch) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition)
GROUP BY tenant_id, period_start, campaign_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_monthly_fenced_mv TO rollup_campaign_monthly AS
SELECT
    tenant_id,
    toStartOfMonth(local_date) AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_incoming
WHERE (kafka_partition, epoch) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition)
GROUP BY tenant_id, period_start, campaign_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_status_changes_fenced_mv TO campaign_status_changes AS
SELECT tenant_id, campaign_id, status, occurred_at_ms, local_date, event_id
FROM events_incoming
WHERE event_kind = 'lifecycle' AND status != ''
  AND (kafka_partition, epoch) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);
