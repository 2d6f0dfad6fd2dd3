# Settings of the local stack, sourced by every script here. Each one can be
# overridden from the environment; the defaults are the documented ones.
# shellcheck shell=bash

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LOCAL_DIR=${LOCAL_DIR:-$REPO_ROOT/.local}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/campaign-analytics}

TANSU_VERSION=${TANSU_VERSION:-0.6.0}
TANSU_FEATURES=${TANSU_FEATURES:-dynostore,libsql}
TANSU_BIN=${TANSU_BIN:-$CACHE_DIR/tansu-$TANSU_VERSION/bin/tansu}

KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_BROKERS=${KAFKA_BROKERS:-$KAFKA_HOST:$KAFKA_PORT}
TANSU_DIR=${TANSU_DIR:-$LOCAL_DIR/tansu}
# sqlite://FILE keeps data across restarts; memory://tansu/ is faster.
TANSU_STORAGE=${TANSU_STORAGE:-sqlite://tansu.db}

CLICKHOUSE_HOST=${CLICKHOUSE_HOST:-127.0.0.1}
CLICKHOUSE_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
CLICKHOUSE_TCP_PORT=${CLICKHOUSE_TCP_PORT:-9000}
CLICKHOUSE_INTERSERVER_PORT=${CLICKHOUSE_INTERSERVER_PORT:-9009}
CLICKHOUSE_URL=${CLICKHOUSE_URL:-http://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTP_PORT}
CLICKHOUSE_DATA=${CLICKHOUSE_DATA:-$LOCAL_DIR/clickhouse}
CLICKHOUSE_DATABASE=${CLICKHOUSE_DATABASE:-campaign_analytics}

TOPIC_LIFECYCLE=${TOPIC_LIFECYCLE:-campaign-lifecycle}
TOPIC_NOTIFICATIONS=${TOPIC_NOTIFICATIONS:-notifications}
TOPIC_INTERACTIONS=${TOPIC_INTERACTIONS:-interactions}
TOPIC_DLQ=${TOPIC_DLQ:-dead-letter}
TOPIC_PARTITIONS=${TOPIC_PARTITIONS:-8}

REQUIREMENTS=$REPO_ROOT/tests/requirements.txt
VENV_DIR=${VENV_DIR:-$CACHE_DIR/venv-$(sha256sum "$REQUIREMENTS" | cut -c1-12)}

export REPO_ROOT LOCAL_DIR CACHE_DIR TANSU_BIN KAFKA_BROKERS CLICKHOUSE_URL CLICKHOUSE_DATABASE \
  TOPIC_LIFECYCLE TOPIC_NOTIFICATIONS TOPIC_INTERACTIONS TOPIC_DLQ TOPIC_PARTITIONS VENV_DIR

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Is something listening on host:port?
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid in a pid file, if that process is alive.
live_pid() {
  local file=$1 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Start a daemon: its own session, stdin from /dev/null, stdout and stderr to
# a log file, no other inherited descriptors (so a pipe reading our output
# ends when we do); its pid goes to a pid file.
daemon() {
  local pidfile=$1 logfile=$2
  shift 2
  python3 - "$pidfile" "$logfile" "$@" <<'PY'
import os, sys
pidfile, logfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    os.setsid()
    log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
with open(pidfile, "w") as f:
    f.write(f"{pid}\n")
PY
}

# Wait until `healthy` succeeds: NAME PIDFILE LOG SECONDS. Fails early,
# showing the log, when the process dies.
wait_until_healthy() {
  local name=$1 pidfile=$2 logfile=$3 seconds=$4
  for _ in $(seq $((seconds * 10))); do
    healthy && return 0
    if ! live_pid "$pidfile" >/dev/null; then
      tail -n 20 "$logfile" >&2 || true
      die "$name exited; log: $logfile"
    fi
    sleep 0.1
  done
  die "$name is not healthy after ${seconds} s; log: $logfile"
}

# Stop the process of a pid file: TERM, then KILL after $2 seconds.
stop_pid() {
  local file=$1 wait=${2:-20} pid
  pid=$(live_pid "$file") || { rm -f "$file"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((wait * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    sleep 0.1
  done
  log "pid $pid did not stop in ${wait}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}
