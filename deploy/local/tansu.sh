#!/usr/bin/env bash
# The Kafka-compatible broker (tansu) of the local stack, listening on
# $KAFKA_HOST:$KAFKA_PORT with storage $TANSU_STORAGE.
#   tansu.sh start|stop|status|wait
# Pid file, log and the storage it was started with under $TANSU_DIR.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$TANSU_DIR/tansu.pid
LOG_FILE=$TANSU_DIR/tansu.log
STORAGE_FILE=$TANSU_DIR/tansu.storage
BROKER_URL=tcp://$KAFKA_HOST:$KAFKA_PORT
TIMEOUT=${TANSU_TIMEOUT:-30}

# Listening, and answers a metadata request (topic list).
healthy() {
  port_open "$KAFKA_HOST" "$KAFKA_PORT" &&
    timeout 10 "$TANSU_BIN" topic list --broker "$BROKER_URL" >/dev/null 2>&1
}

wait_healthy() { wait_until_healthy tansu "$PID_FILE" tansu "$TIMEOUT" "$LOG_FILE"; }

start() {
  local pid workdir
  if pid=$(live_pid "$PID_FILE" tansu); then
    wait_healthy
    log "tansu already running (pid $pid) on $KAFKA_BROKERS, storage $(cat "$STORAGE_FILE" 2>/dev/null || echo '?')"
    return 0
  fi
  rm -f "$PID_FILE"
  [ -x "$TANSU_BIN" ] || die "tansu is not installed at $TANSU_BIN; run deploy/local/install.sh tansu (make setup)"
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    die "$KAFKA_HOST:$KAFKA_PORT is taken by another process (not ours: no live pid in $PID_FILE); stop it or set KAFKA_PORT"
  fi
  mkdir -p "$TANSU_DIR"
  # tansu resolves a sqlite path against its working directory.
  case "$TANSU_STORAGE" in
    sqlite:///*)
      workdir=/
      mkdir -p "$(dirname "${TANSU_STORAGE#sqlite://}")"
      ;;
    *) workdir=$TANSU_DIR ;;
  esac
  echo "$TANSU_STORAGE" >"$STORAGE_FILE"
  log "starting tansu on $KAFKA_BROKERS, storage $TANSU_STORAGE, log $LOG_FILE"
  (cd "$workdir" && daemon "$PID_FILE" "$LOG_FILE" "$TANSU_BIN" broker \
    --listener-url "$BROKER_URL" \
    --advertised-listener-url "$BROKER_URL" \
    --storage-engine "$TANSU_STORAGE")
  wait_healthy
  log "tansu started (pid $(cat "$PID_FILE")) on $KAFKA_BROKERS"
}

case "${1:-}" in
  start) start ;;
  stop)
    if stop_pid "$PID_FILE" tansu "${TANSU_STOP_TIMEOUT:-20}"; then
      log "tansu stopped"
    else
      log "tansu was not running (no live pid in $PID_FILE)"
    fi
    ;;
  status)
    if pid=$(live_pid "$PID_FILE" tansu); then
      if healthy; then health=healthy; else health="NOT answering"; fi
      echo "tansu: running (pid $pid) on $KAFKA_BROKERS, $health, storage $(cat "$STORAGE_FILE" 2>/dev/null || echo '?')"
    else
      echo "tansu: stopped"
      exit 1
    fi
    ;;
  wait)
    live_pid "$PID_FILE" tansu >/dev/null || die "tansu is not running (no live pid in $PID_FILE)"
    wait_healthy
    ;;
  *) die "usage: tansu.sh start|stop|status|wait" ;;
esac
