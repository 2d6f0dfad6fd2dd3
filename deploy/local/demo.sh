#!/usr/bin/env bash
# `make run`: the local stack, the processor, demo traffic, and where to look.
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$REPO_ROOT"

"$here/stack.sh" up
log "building the release binaries"
cargo build --release --locked -p processor -p benches --bins
target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release

# Demo traffic: the same seed always gives the same figures.
DEMO_ARGS=(--seed "${DEMO_SEED:-42}" --tenants 3 --campaigns 8 --jobs 3 --users 200 --poison 10)
expected=$LOCAL_DIR/demo-expected.json
"$target/loadgen" "${DEMO_ARGS[@]}" --dry-run --expected "$expected" >/dev/null
TENANT_TIMEZONES=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tenants"]
print(",".join(k + "=" + v["timezone"] for k, v in sorted(t.items())))' "$expected")
export TENANT_TIMEZONES
"$here/processor.sh" start
log "producing demo traffic"
"$target/loadgen" "${DEMO_ARGS[@]}" --expected "$expected"

log "waiting for the processor to catch up"
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["distinct_events"])' "$expected")
q() { curl -fsS "$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE" --data-binary "$1"; }
have=0
for _ in $(seq 120); do
  have=$(q "SELECT count() FROM events_raw" 2>/dev/null || echo 0)
  [ "$have" -ge "$want" ] && break
  sleep 0.5
done
log "events_raw holds $have of $want distinct demo events"
campaign=$(q "SELECT campaign_id FROM campaign_reports WHERE job_id = '' ORDER BY tenant_id, campaign_id LIMIT 1")
tenant=$(q "SELECT tenant_id FROM campaign_reports WHERE job_id = '' ORDER BY tenant_id, campaign_id LIMIT 1")

cat <<TXT

The local stack is running:
  Kafka (tansu)   $KAFKA_BROKERS  topics $TOPIC_LIFECYCLE, $TOPIC_NOTIFICATIONS, $TOPIC_INTERACTIONS, $TOPIC_DLQ
  ClickHouse      $CLICKHOUSE_URL  database $CLICKHOUSE_DATABASE
  processor       metrics http://${METRICS_ADDR:-127.0.0.1:9464}/metrics  health http://${METRICS_ADDR:-127.0.0.1:9464}/healthz  log $LOCAL_DIR/processor.log
  expected demo figures (from loadgen): $expected

Look at the data:
  clickhouse-client --port ${CLICKHOUSE_TCP_PORT:-9000} --database $CLICKHOUSE_DATABASE \\
    --query "SELECT tenant_id, campaign_id, status, sent_users, interacted_users, completed_users, round(interaction_rate, 1) AS rate FROM campaign_reports FINAL WHERE job_id = '' ORDER BY tenant_id, campaign_id"
  curl -s '$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE' --data-binary \\
    "SELECT * FROM campaign_reports FINAL WHERE tenant_id = '$tenant' AND campaign_id = '$campaign' AND job_id = '' FORMAT Vertical"
  curl -s '$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE' --data-binary \\
    "SELECT tenant_id, period_start, uniqExactMerge(sent_users) AS sent, sumMerge(interactions) AS interactions FROM rollup_campaign_weekly GROUP BY tenant_id, period_start ORDER BY tenant_id, period_start"

The query API (dashboards' HTTP API) is not built yet; see its issue.
Stop everything with: make down
TXT
