-- Retention (ARCHITECTURE.md, "Retention"): whole months of raw events and
-- of snapshot rows can be dropped without changing a figure.
--
-- The snapshot tables are partitioned by the month of the version's wall
-- clock (a version is epoch * 2^41 + milliseconds). A processor writes
-- every campaign it holds in full at least every quarter of the horizon,
-- so the months the retention job drops hold only superseded rows and the
-- rows of campaigns that left memory before the horizon. events_raw is
-- partitioned by month already (local_date).
--
-- `REPARTITION TABLE t <engine clause>` is not ClickHouse SQL: the
-- migration runner rebuilds t with the new clause (copy into a new table,
-- swap the names, drop the old one), idempotently, resuming a rebuild
-- that died half-way. The materialized views that write into t follow
-- the name.
REPARTITION TABLE campaign_reports ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(toDateTime(intDiv(bitAnd(version, 2199023255551), 1000), 'UTC')) ORDER BY (tenant_id, campaign_id, job_id);
REPARTITION TABLE journeys ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(toDateTime(intDiv(bitAnd(version, 2199023255551), 1000), 'UTC')) ORDER BY (tenant_id, campaign_id, job_id, user_id);
REPARTITION TABLE campaign_state ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(toDateTime(intDiv(bitAnd(version, 2199023255551), 1000), 'UTC')) ORDER BY (partition, tenant_id, campaign_id);

-- With each checkpoint, the oldest full write among the campaigns its
-- partition holds: the retention job drops no month after it. 0: unknown
-- (a checkpoint of an earlier release, or a reset): nothing is dropped.
ALTER TABLE checkpoints ADD COLUMN retained_from_ms Int64 DEFAULT 0;
ALTER TABLE checkpoints_incoming ADD COLUMN retained_from_ms Int64 DEFAULT 0;
-- The view's `SELECT *` was expanded without the new column: again.
DROP TABLE IF EXISTS checkpoints_fenced_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS checkpoints_fenced_mv TO checkpoints AS
SELECT * FROM checkpoints_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);
