#!/usr/bin/env bash
# The Kafka-compatible broker (tansu) of the local stack.
#   tansu.sh start|stop|status|wait
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$TANSU_DIR/tansu.pid
LOG_FILE=$TANSU_DIR/tansu.log

healthy() { port_open "$KAFKA_HOST" "$KAFKA_PORT" && "$TANSU_BIN" topic list --broker "tcp://$KAFKA_HOST:$KAFKA_PORT" >/dev/null 2>&1; }

wait_healthy() { wait_until_healthy tansu "$PID_FILE" "$LOG_FILE" 30; }

case "${1:-}" in
  start)
    if pid=$(live_pid "$PID_FILE"); then
      log "tansu already running (pid $pid) on $KAFKA_BROKERS"
      exit 0
    fi
    port_open "$KAFKA_HOST" "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set KAFKA_PORT"
    [ -x "$TANSU_BIN" ] || die "tansu is not installed; run deploy/local/install.sh tansu (make setup)"
    mkdir -p "$TANSU_DIR"
    # The sqlite path of TANSU_STORAGE is relative to $TANSU_DIR.
    (cd "$TANSU_DIR" && daemon "$PID_FILE" "$LOG_FILE" "$TANSU_BIN" broker \
      --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --storage-engine "$TANSU_STORAGE")
    wait_healthy
    log "tansu started (pid $(cat "$PID_FILE")) on $KAFKA_BROKERS, storage $TANSU_STORAGE"
    ;;
  stop)
    stop_pid "$PID_FILE" 20
    log "tansu stopped"
    ;;
  status)
    if pid=$(live_pid "$PID_FILE"); then
      echo "tansu: running (pid $pid) on $KAFKA_BROKERS"
    else
      echo "tansu: stopped"
      exit 1
    fi
    ;;
  wait) wait_healthy ;;
  *) die "usage: tansu.sh start|stop|status|wait" ;;
esac
