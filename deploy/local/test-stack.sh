#!/usr/bin/env bash
# Checks of the local stack scripts against the running stack: starting what
# runs is a no-op, topics have the configured partition count, ClickHouse
# answers; and a second ClickHouse on other ports starts and stops on its own
# without touching the first.
set -uo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

pid_before=$(cat "$TANSU_DIR/tansu.pid" 2>/dev/null || echo none)
ch_before=$(cat "$CLICKHOUSE_DATA/clickhouse.pid" 2>/dev/null || echo none)
check "stack status reports running" "$here/stack.sh" status
check "tansu start is a no-op when running" "$here/tansu.sh" start
check "clickhouse start is a no-op when running" "$here/clickhouse.sh" start
check "tansu pid unchanged" test "$pid_before" = "$(cat "$TANSU_DIR/tansu.pid")"
check "clickhouse pid unchanged" test "$ch_before" = "$(cat "$CLICKHOUSE_DATA/clickhouse.pid")"
check "ClickHouse answers SELECT 1" sh -c "test \"\$(curl -fsS '$CLICKHOUSE_URL/?query=SELECT%201')\" = 1"
check "topics are idempotent" "$here/topics.sh"
for t in "$TOPIC_LIFECYCLE" "$TOPIC_NOTIFICATIONS" "$TOPIC_INTERACTIONS" "$TOPIC_DLQ"; do
  check "topic $t has $TOPIC_PARTITIONS partitions" sh -c "'$TANSU_BIN' topic list --broker tcp://$KAFKA_BROKERS | python3 -c '
import json, sys
t = [x for x in json.load(sys.stdin) if x[\"name\"] == \"$t\"]
sys.exit(0 if t and len(t[0][\"partitions\"]) == $TOPIC_PARTITIONS else 1)'"
done
check "a topic with another partition count is refused" sh -c "! TOPIC_PARTITIONS=3 '$here/topics.sh'"

other=$(mktemp -d)
export_other() {
  env LOCAL_DIR="$other" CLICKHOUSE_HTTP_PORT=18923 CLICKHOUSE_TCP_PORT=19900 \
    CLICKHOUSE_INTERSERVER_PORT=19909 CLICKHOUSE_URL=http://127.0.0.1:18923 "$@"
}
check "a second ClickHouse starts on other ports" export_other "$here/clickhouse.sh" start
check "the second ClickHouse answers" curl -fsS http://127.0.0.1:18923/ping
check "starting on a taken port is refused" sh -c "! env LOCAL_DIR='$other/x' CLICKHOUSE_HTTP_PORT=18923 CLICKHOUSE_URL=http://127.0.0.1:18923 '$here/clickhouse.sh' start"
other_pid=$(cat "$other/clickhouse/clickhouse.pid" 2>/dev/null || echo 0)
check "the second ClickHouse stops" export_other "$here/clickhouse.sh" stop
check "its process is gone" sh -c "! kill -0 $other_pid"
check "the first ClickHouse still runs" curl -fsS "$CLICKHOUSE_URL/ping"
rm -rf "$other"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
