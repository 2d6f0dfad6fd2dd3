#!/usr/bin/env bash
# The ClickHouse server (Debian's 18.16) of the local stack, with a
# project-local data directory, listening on loopback only.
#   clickhouse.sh start|stop|status|wait
set -euo pipefail
. "$(dirname "$0")/env.sh"

PID_FILE=$CLICKHOUSE_DATA/clickhouse.pid

healthy() { [ "$(curl -fsS "$CLICKHOUSE_URL/ping" 2>/dev/null)" = "Ok." ]; }

wait_healthy() { wait_until_healthy ClickHouse "$PID_FILE" "$CLICKHOUSE_DATA/error.log" 60; }

case "${1:-}" in
  start)
    if pid=$(live_pid "$PID_FILE"); then
      log "ClickHouse already running (pid $pid) at $CLICKHOUSE_URL"
      exit 0
    fi
    port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT" && die "port $CLICKHOUSE_HTTP_PORT is taken by another process; set CLICKHOUSE_HTTP_PORT"
    command -v clickhouse-server >/dev/null || die "clickhouse-server is not installed; run deploy/local/install.sh apt (make setup)"
    mkdir -p "$CLICKHOUSE_DATA/tmp" "$CLICKHOUSE_DATA/user_files" "$CLICKHOUSE_DATA/format_schemas"
    daemon "$PID_FILE" "$CLICKHOUSE_DATA/stdout.log" \
      clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
      --path="$CLICKHOUSE_DATA/" --tmp_path="$CLICKHOUSE_DATA/tmp/" \
      --user_files_path="$CLICKHOUSE_DATA/user_files/" \
      --format_schema_path="$CLICKHOUSE_DATA/format_schemas/" \
      --logger.log="$CLICKHOUSE_DATA/server.log" --logger.errorlog="$CLICKHOUSE_DATA/error.log" \
      --http_port="$CLICKHOUSE_HTTP_PORT" --tcp_port="$CLICKHOUSE_TCP_PORT" \
      --interserver_http_port="$CLICKHOUSE_INTERSERVER_PORT" \
      --listen_host="$CLICKHOUSE_HOST"
    wait_healthy
    log "ClickHouse started (pid $(cat "$PID_FILE")) at $CLICKHOUSE_URL, data in $CLICKHOUSE_DATA"
    ;;
  stop)
    stop_pid "$PID_FILE" 30
    log "ClickHouse stopped"
    ;;
  status)
    if pid=$(live_pid "$PID_FILE"); then
      echo "clickhouse: running (pid $pid) at $CLICKHOUSE_URL"
    else
      echo "clickhouse: stopped"
      exit 1
    fi
    ;;
  wait) wait_healthy ;;
  *) die "usage: clickhouse.sh start|stop|status|wait" ;;
esac
