#!/usr/bin/env bash
# The ClickHouse server (Debian's 18.16) of the local stack: Debian's config
# file, every path under $CLICKHOUSE_DATA (nothing written to /var), ports
# from the environment, listening on $CLICKHOUSE_HOST only (Debian's config
# would also listen on ::1). HTTP on $CLICKHOUSE_HTTP_PORT and HTTPS on
# $CLICKHOUSE_HTTPS_PORT, with the certificate tls.sh makes (clients trust
# $LOCAL_CA_FILE).
#   clickhouse.sh start|stop|status|wait
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$CLICKHOUSE_DATA/clickhouse.pid
LOG_FILE=$CLICKHOUSE_DATA/server.log
ERR_FILE=$CLICKHOUSE_DATA/error.log
OUT_FILE=$CLICKHOUSE_DATA/stdout.log
TIMEOUT=${CLICKHOUSE_TIMEOUT:-60}

healthy() { [ "$(curl -fsS --max-time 5 "$CLICKHOUSE_URL/ping" 2>/dev/null)" = "Ok." ]; }

# The https port answers, and its certificate verifies against the local CA.
https_healthy() {
  [ "$(curl -fsS --max-time 5 --cacert "$LOCAL_CA_FILE" "$CLICKHOUSE_HTTPS_URL/ping" 2>/dev/null)" = "Ok." ]
}

wait_healthy() { wait_until_healthy ClickHouse "$PID_FILE" clickhouse-server "$TIMEOUT" "$OUT_FILE" "$ERR_FILE"; }

start() {
  local pid taken
  if pid=$(live_pid "$PID_FILE" clickhouse-server); then
    wait_healthy
    https_healthy ||
      die "ClickHouse (pid $pid) runs but does not answer at $CLICKHOUSE_HTTPS_URL with the certificate of $LOCAL_CA_FILE (started before HTTPS was added?); restart it: $0 stop && $0 start"
    log "ClickHouse already running (pid $pid) at $CLICKHOUSE_URL and $CLICKHOUSE_HTTPS_URL"
    return 0
  fi
  rm -f "$PID_FILE"
  command -v clickhouse-server >/dev/null ||
    die "clickhouse-server is not installed; run deploy/local/install.sh apt (make setup)"
  taken=$(taken_ports "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_HTTPS_PORT" \
    "$CLICKHOUSE_TCP_PORT" "$CLICKHOUSE_INTERSERVER_PORT")
  [ -z "$taken" ] ||
    die "port(s) $taken on $CLICKHOUSE_HOST are taken by another process (not ours: no live pid in $PID_FILE); stop it or set CLICKHOUSE_HTTP_PORT / CLICKHOUSE_HTTPS_PORT / CLICKHOUSE_TCP_PORT / CLICKHOUSE_INTERSERVER_PORT"
  "$(dirname "$0")/tls.sh" ensure
  mkdir -p "$CLICKHOUSE_DATA/tmp" "$CLICKHOUSE_DATA/user_files" "$CLICKHOUSE_DATA/format_schemas"
  # Debian's config names /etc/clickhouse-server/dhparam.pem, which does not
  # exist, and 18.16 does not start when that file is missing; empty means
  # OpenSSL's built-in parameters (and the EC key negotiates ECDHE anyway).
  log "starting ClickHouse at $CLICKHOUSE_URL and $CLICKHOUSE_HTTPS_URL (native port $CLICKHOUSE_TCP_PORT), data and logs in $CLICKHOUSE_DATA"
  (cd "$CLICKHOUSE_DATA" && daemon "$PID_FILE" "$OUT_FILE" \
    clickhouse-server --config-file="$CLICKHOUSE_CONFIG" -- \
    --path="$CLICKHOUSE_DATA/" --tmp_path="$CLICKHOUSE_DATA/tmp/" \
    --user_files_path="$CLICKHOUSE_DATA/user_files/" \
    --format_schema_path="$CLICKHOUSE_DATA/format_schemas/" \
    --logger.log="$LOG_FILE" --logger.errorlog="$ERR_FILE" \
    --http_port="$CLICKHOUSE_HTTP_PORT" --tcp_port="$CLICKHOUSE_TCP_PORT" \
    --interserver_http_port="$CLICKHOUSE_INTERSERVER_PORT" \
    --https_port="$CLICKHOUSE_HTTPS_PORT" \
    --openSSL.server.certificateFile="$TLS_DIR/server.pem" \
    --openSSL.server.privateKeyFile="$TLS_DIR/server.key" \
    --openSSL.server.dhParamsFile= \
    --listen_host="$CLICKHOUSE_HOST")
  wait_healthy
  https_healthy || { show_logs "$ERR_FILE"; die "ClickHouse does not answer at $CLICKHOUSE_HTTPS_URL; logs: $ERR_FILE"; }
  log "ClickHouse started (pid $(cat "$PID_FILE")) at $CLICKHOUSE_URL and $CLICKHOUSE_HTTPS_URL"
}

case "${1:-}" in
  start) start ;;
  stop)
    if stop_pid "$PID_FILE" clickhouse-server "${CLICKHOUSE_STOP_TIMEOUT:-30}"; then
      log "ClickHouse stopped"
    else
      log "ClickHouse was not running (no live pid in $PID_FILE)"
    fi
    ;;
  status)
    if pid=$(live_pid "$PID_FILE" clickhouse-server); then
      if healthy; then health=healthy; else health="NOT answering"; fi
      if ! https_healthy; then health="$health, NOT answering at $CLICKHOUSE_HTTPS_URL"; fi
      echo "clickhouse: running (pid $pid) at $CLICKHOUSE_URL and $CLICKHOUSE_HTTPS_URL, native port $CLICKHOUSE_TCP_PORT, $health"
    else
      echo "clickhouse: stopped"
      exit 1
    fi
    ;;
  wait)
    live_pid "$PID_FILE" clickhouse-server >/dev/null || die "ClickHouse is not running (no live pid in $PID_FILE)"
    wait_healthy
    ;;
  *) die "usage: clickhouse.sh start|stop|status|wait" ;;
esac
