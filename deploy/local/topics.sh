#!/usr/bin/env bash
# Create the three input topics and the dead-letter topic with
# $TOPIC_PARTITIONS partitions each; leave existing ones alone, but fail when
# one has another partition count (the processor needs them co-partitioned).
set -euo pipefail
. "$(dirname "$0")/env.sh"

broker="tcp://$KAFKA_BROKERS"
partitions_of() {
  "$TANSU_BIN" topic list --broker "$broker" | python3 -c '
import json, sys
name = sys.argv[1]
for t in json.load(sys.stdin):
    if t.get("name") == name:
        print(len(t.get("partitions") or []))
        break
else:
    print(0)
' "$1"
}

for topic in "$TOPIC_LIFECYCLE" "$TOPIC_NOTIFICATIONS" "$TOPIC_INTERACTIONS" "$TOPIC_DLQ"; do
  have=$(partitions_of "$topic")
  if [ "$have" = 0 ]; then
    "$TANSU_BIN" topic create --broker "$broker" --partitions "$TOPIC_PARTITIONS" "$topic" >/dev/null
    have=$(partitions_of "$topic")
    log "created $topic ($have partitions)"
  fi
  [ "$have" = "$TOPIC_PARTITIONS" ] || die "topic $topic has $have partitions, expected $TOPIC_PARTITIONS (delete it or set TOPIC_PARTITIONS)"
done
log "topics ready: $TOPIC_LIFECYCLE, $TOPIC_NOTIFICATIONS, $TOPIC_INTERACTIONS, $TOPIC_DLQ ($TOPIC_PARTITIONS partitions each)"
