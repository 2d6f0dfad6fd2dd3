-- Rule changes and evicted campaigns (ARCHITECTURE.md, "Rules and evicted
-- campaigns"): with each checkpoint, the offset of the rules topic up to
-- which every rule change has reached the partition's evicted campaigns.
-- A restore sweeps again the tenants whose rules changed after it, so a
-- sweep cut off by a crash or a rebalance, or a change made while no
-- processor ran, is not lost. -1: unknown (a checkpoint of an earlier
-- release, or a reset): every tenant with rules is swept once.
ALTER TABLE checkpoints ADD COLUMN rules_offset Int64 DEFAULT -1;
ALTER TABLE checkpoints_incoming ADD COLUMN rules_offset Int64 DEFAULT -1;
-- The view's `SELECT *` was expanded without the new column: again.
DROP TABLE IF EXISTS checkpoints_fenced_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS checkpoints_fenced_mv TO checkpoints AS
SELECT * FROM checkpoints_incoming
WHERE (partition, intDiv(version, 2199023255552)) IN (SELECT partition, max(epoch) FROM partition_epochs GROUP BY partition);
