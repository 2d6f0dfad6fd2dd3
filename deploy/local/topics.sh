#!/usr/bin/env bash
# The topics of the local stack: the three input topics and the dead-letter
# topic, $TOPIC_PARTITIONS partitions each; the alert rules (one partition:
# every processor reads all of it; the latest record per rule id counts)
# and the alert transitions ($TOPIC_PARTITIONS partitions, keyed by alert id).
#   topics.sh [create]   create the missing ones (existing ones are left
#                        alone), then verify every partition count; fails
#                        when one differs (the processor needs the inputs
#                        co-partitioned)
#   topics.sh describe   partitions, messages and offsets of each
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)

TOPICS=("$TOPIC_LIFECYCLE" "$TOPIC_NOTIFICATIONS" "$TOPIC_INTERACTIONS" "$TOPIC_DLQ")
ALL_TOPICS=("${TOPICS[@]}" "$TOPIC_ALERT_RULES" "$TOPIC_ALERTS" "$TOPIC_TENANTS")

# Partition count of a topic, 0 when it does not exist.
partitions_of() {
  local out rc=0
  # kafka-topics.py exits 2 when a topic is missing.
  out=$("$here/kafka-topics.py" --brokers "$KAFKA_BROKERS" --json "$1") || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 2 ] || return 1
  python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
print(t["partitions"] if t["exists"] else 0)' <<<"$out"
}

create() {
  local topic have bad=0
  local count
  for topic in "${ALL_TOPICS[@]}"; do
    have=$(partitions_of "$topic") || die "cannot read the topics of $KAFKA_BROKERS"
    if [ "$have" = 0 ]; then
      count=$TOPIC_PARTITIONS
      [ "$topic" != "$TOPIC_ALERT_RULES" ] || count=1
      [ "$topic" != "$TOPIC_TENANTS" ] || count=1
      log "creating $topic with $count partition(s)"
      "$TANSU_BIN" topic create --broker "tcp://$KAFKA_BROKERS" --partitions "$count" "$topic" >/dev/null
    fi
  done
  # Verify, also what was just created.
  for topic in "${TOPICS[@]}"; do
    have=$(partitions_of "$topic") || die "cannot read the topics of $KAFKA_BROKERS"
    if [ "$have" != "$TOPIC_PARTITIONS" ]; then
      log "error: topic $topic has $have partitions, expected $TOPIC_PARTITIONS"
      bad=1
    fi
  done
  [ "$bad" = 0 ] || die "delete the topic(s) (\"$TANSU_BIN\" topic delete --broker tcp://$KAFKA_BROKERS NAME) or set TOPIC_PARTITIONS"
  log "topics ready on $KAFKA_BROKERS: ${TOPICS[*]} ($TOPIC_PARTITIONS partitions each), $TOPIC_ALERT_RULES, $TOPIC_ALERTS, $TOPIC_TENANTS"
}

case "${1:-create}" in
  create) create ;;
  describe) "$here/kafka-topics.py" --brokers "$KAFKA_BROKERS" "${ALL_TOPICS[@]}" ;;
  *) die "usage: topics.sh [create|describe]" ;;
esac
