#!/usr/bin/env bash
# The processor of the local stack (release build), as a daemon.
#   processor.sh start|stop|status
# Extra settings come from the environment (see `processor run --help`).
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$LOCAL_DIR/processor.pid
LOG_FILE=$LOCAL_DIR/processor.log
BIN=${PROCESSOR_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/processor}
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:9464}
export METRICS_ADDR

case "${1:-}" in
  start)
    if pid=$(live_pid "$PID_FILE"); then
      log "processor already running (pid $pid)"
      exit 0
    fi
    [ -x "$BIN" ] || die "$BIN is missing: cargo build --release -p processor"
    mkdir -p "$LOCAL_DIR"
    daemon "$PID_FILE" "$LOG_FILE" "$BIN" run
    for _ in $(seq 300); do
      curl -fsS "http://$METRICS_ADDR/healthz" >/dev/null 2>&1 && break
      live_pid "$PID_FILE" >/dev/null || { tail -n 20 "$LOG_FILE" >&2; die "processor exited; log: $LOG_FILE"; }
      sleep 0.1
    done
    log "processor started (pid $(cat "$PID_FILE")); metrics http://$METRICS_ADDR/metrics, log $LOG_FILE"
    ;;
  stop)
    stop_pid "$PID_FILE" 60
    log "processor stopped"
    ;;
  status)
    if pid=$(live_pid "$PID_FILE"); then
      echo "processor: running (pid $pid), metrics http://$METRICS_ADDR/metrics"
    else
      echo "processor: stopped"
      exit 1
    fi
    ;;
  *) die "usage: processor.sh start|stop|status" ;;
esac
