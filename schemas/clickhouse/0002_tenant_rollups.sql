-- Tenant overview rollups (metrics.md, "Tenant overview rollups").
--
-- One row per (tenant, period, campaign) with any event in the period, where
-- a period is a tenant-local day, week (starting Monday) or month. Distinct
-- users are kept as uniqExact states, so merging rows never double counts a
-- user: a week's figure is the union of its users, not a sum of days.
--   active_users     users with any notification or interaction (target_users)
--   sent_users       users with a first_message notification
--   interacted_users users with an interaction
--   interactions     interaction events (events_raw holds each event_id once)
-- Read with uniqExactMerge / sumMerge, grouped by campaign, then summed over
-- campaigns. campaign_status_changes keeps every announced status, so the
-- status at the end of any period is the latest change at or before it.

CREATE TABLE IF NOT EXISTS rollup_campaign_daily
(
    tenant_id String,
    period_start Date,
    campaign_id String,
    active_users AggregateFunction(uniqExact, String),
    sent_users AggregateFunction(uniqExact, String),
    interacted_users AggregateFunction(uniqExact, String),
    interactions AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(period_start)
ORDER BY (tenant_id, period_start, campaign_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_daily_mv TO rollup_campaign_daily AS
SELECT
    tenant_id,
    local_date AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_raw
GROUP BY tenant_id, period_start, campaign_id;

CREATE TABLE IF NOT EXISTS rollup_campaign_weekly
(
    tenant_id String,
    period_start Date,
    campaign_id String,
    active_users AggregateFunction(uniqExact, String),
    sent_users AggregateFunction(uniqExact, String),
    interacted_users AggregateFunction(uniqExact, String),
    interactions AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(period_start)
ORDER BY (tenant_id, period_start, campaign_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_weekly_mv TO rollup_campaign_weekly AS
SELECT
    tenant_id,
    toMonday(local_date) AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_raw
GROUP BY tenant_id, period_start, campaign_id;

CREATE TABLE IF NOT EXISTS rollup_campaign_monthly
(
    tenant_id String,
    period_start Date,
    campaign_id String,
    active_users AggregateFunction(uniqExact, String),
    sent_users AggregateFunction(uniqExact, String),
    interacted_users AggregateFunction(uniqExact, String),
    interactions AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(period_start)
ORDER BY (tenant_id, period_start, campaign_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_campaign_monthly_mv TO rollup_campaign_monthly AS
SELECT
    tenant_id,
    toStartOfMonth(local_date) AS period_start,
    campaign_id,
    uniqExactStateIf(user_id, event_kind != 'lifecycle') AS active_users,
    uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1) AS sent_users,
    uniqExactStateIf(user_id, event_kind = 'interaction') AS interacted_users,
    sumState(toUInt64(event_kind = 'interaction')) AS interactions
FROM events_raw
GROUP BY tenant_id, period_start, campaign_id;

CREATE TABLE IF NOT EXISTS campaign_status_changes
(
    tenant_id String,
    campaign_id String,
    status String,
    occurred_at_ms Int64,
    local_date Date,
    event_id String
)
ENGINE = MergeTree()
ORDER BY (tenant_id, campaign_id, occurred_at_ms, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_status_changes_mv TO campaign_status_changes AS
SELECT tenant_id, campaign_id, status, occurred_at_ms, local_date, event_id
FROM events_raw
WHERE event_kind = 'lifecycle' AND status != '';
