#!/usr/bin/env bash
# The processor of the local stack (release build), as a daemon.
#   processor.sh start|stop|status
# Extra settings come from the environment (see `processor run --help`).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$LOCAL_DIR/processor.pid
LOG_FILE=$LOCAL_DIR/processor.log
BIN=${PROCESSOR_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/processor}
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:9464}
# The local stack evaluates alert rules and follows the tenants registry
# (the topics exist: topics.sh).
ALERTING=${ALERTING:-true}
TENANT_REGISTRY=${TENANT_REGISTRY:-true}
export METRICS_ADDR ALERTING TENANT_REGISTRY

healthy() { curl -fsS --max-time 5 "http://$METRICS_ADDR/healthz" >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if pid=$(live_pid "$PID_FILE" processor); then
      log "processor already running (pid $pid)"
      exit 0
    fi
    [ -x "$BIN" ] || die "$BIN is missing: cargo build --release -p processor"
    mkdir -p "$LOCAL_DIR"
    port_open "${METRICS_ADDR%:*}" "${METRICS_ADDR##*:}" &&
      die "$METRICS_ADDR is taken by another process; set METRICS_ADDR"
    daemon "$PID_FILE" "$LOG_FILE" "$BIN" run
    wait_until_healthy processor "$PID_FILE" processor "${PROCESSOR_TIMEOUT:-60}" "$LOG_FILE"
    log "processor started (pid $(cat "$PID_FILE")); metrics http://$METRICS_ADDR/metrics, log $LOG_FILE"
    ;;
  stop)
    if stop_pid "$PID_FILE" processor 60; then
      log "processor stopped"
    else
      log "processor was not running (no live pid in $PID_FILE)"
    fi
    ;;
  status)
    if pid=$(live_pid "$PID_FILE" processor); then
      echo "processor: running (pid $pid), metrics http://$METRICS_ADDR/metrics"
    else
      echo "processor: stopped"
      exit 1
    fi
    ;;
  *) die "usage: processor.sh start|stop|status" ;;
esac
