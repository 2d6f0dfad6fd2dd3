-- The partition count of the input topics the state was built with. State
-- is sharded by Kafka partition (campaign_id hash): with another count the
-- same campaign would land on another shard, so the processor refuses to
-- start when the topics' count differs from the one recorded here.
-- One row per start that recorded it; read: the latest.

CREATE TABLE IF NOT EXISTS topology
(
    partitions Int32,
    recorded_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY recorded_at;
