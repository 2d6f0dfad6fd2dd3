# Settings of the local stack, sourced by every script here. Each one can be
# overridden from the environment; the defaults are the documented ones.
#
# Only what programs read is exported (KAFKA_BROKERS, CLICKHOUSE_URL,
# CLICKHOUSE_DATABASE, TOPIC_*), plus REPO_ROOT, CACHE_DIR, TANSU_BIN,
# VENV_DIR and, for the TLS tests, CLICKHOUSE_HTTPS_URL and LOCAL_CA_FILE.
# Paths under LOCAL_DIR are not exported (but LOCAL_CA_FILE), and exported values
# derived from other settings are derived again in a child, so a script run
# by another with only LOCAL_DIR and ports changed (a second server in a
# test) gets its own data directory, pid file and URL.
# shellcheck shell=bash

# derive NAME VALUE: set NAME to VALUE unless the user set it. A value that
# an outer env.sh derived and exported (marked in _ENVSH_NAME) counts as not
# set: it is derived again from this script's settings.
derive() {
  local name=$1 value=$2 mark=_ENVSH_$1
  if [ -z "${!name:-}" ] || [ "${!name}" = "${!mark:-}" ]; then
    printf -v "$name" %s "$value"
    printf -v "$mark" %s "$value"
    export "${mark?}"
  else
    unset "$mark"
  fi
}

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# Pid files, logs and data of this checkout (git-ignored).
LOCAL_DIR=${LOCAL_DIR:-$REPO_ROOT/.local}
# What survives a fresh clone on the same machine: tansu, the Python venv,
# the CI build outputs.
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/campaign-analytics}

TANSU_VERSION=${TANSU_VERSION:-0.6.0}
# dynostore: memory:// storage; libsql: sqlite:// storage.
TANSU_FEATURES=${TANSU_FEATURES:-dynostore,libsql}
TANSU_ROOT=${TANSU_ROOT:-$CACHE_DIR/tansu-$TANSU_VERSION}
derive TANSU_BIN "$TANSU_ROOT/bin/tansu"

KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
derive KAFKA_BROKERS "$KAFKA_HOST:$KAFKA_PORT"
TANSU_DIR=${TANSU_DIR:-$LOCAL_DIR/tansu}
# sqlite://FILE keeps data across restarts, memory://tansu/ is faster and
# volatile. tansu resolves a sqlite path against its working directory:
# tansu.sh runs it from / for an absolute path (sqlite:///abs/file.db) and
# from $TANSU_DIR for a relative one (sqlite://file.db).
TANSU_STORAGE=${TANSU_STORAGE:-sqlite://$TANSU_DIR/tansu.db}

CLICKHOUSE_HOST=${CLICKHOUSE_HOST:-127.0.0.1}
CLICKHOUSE_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
CLICKHOUSE_TCP_PORT=${CLICKHOUSE_TCP_PORT:-9000}
CLICKHOUSE_INTERSERVER_PORT=${CLICKHOUSE_INTERSERVER_PORT:-9009}
# HTTPS, with the server certificate of $TLS_DIR (below).
CLICKHOUSE_HTTPS_PORT=${CLICKHOUSE_HTTPS_PORT:-8443}
derive CLICKHOUSE_URL "http://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTP_PORT"
derive CLICKHOUSE_HTTPS_URL "https://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTPS_PORT"
CLICKHOUSE_DATA=${CLICKHOUSE_DATA:-$LOCAL_DIR/clickhouse}
CLICKHOUSE_CONFIG=${CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}
CLICKHOUSE_DATABASE=${CLICKHOUSE_DATABASE:-campaign_analytics}

# PostgreSQL: the metadata database (what users create and change).
POSTGRES_MAJOR=${POSTGRES_MAJOR:-15}
POSTGRES_HOST=${POSTGRES_HOST:-127.0.0.1}
POSTGRES_PORT=${POSTGRES_PORT:-5433}
POSTGRES_USER=${POSTGRES_USER:-campaign}
POSTGRES_DATABASE=${POSTGRES_DATABASE:-campaign_analytics}
POSTGRES_DATA=${POSTGRES_DATA:-$LOCAL_DIR/postgres}
derive DATABASE_URL "postgres://$POSTGRES_USER@$POSTGRES_HOST:$POSTGRES_PORT/$POSTGRES_DATABASE"

# TLS (tls.sh): a CA of this checkout and a server certificate it signed
# (localhost, 127.0.0.1, ::1), made once; ClickHouse's https port and
# PostgreSQL present it (PostgreSQL takes TLS and plain connections on the
# same port). Clients trust LOCAL_CA_FILE: CLICKHOUSE_CA_FILE=$LOCAL_CA_FILE
# with CLICKHOUSE_URL=$CLICKHOUSE_HTTPS_URL, or
# DATABASE_URL=postgres://campaign@localhost:5433/campaign_analytics?sslmode=verify-full&sslrootcert=$LOCAL_CA_FILE
TLS_DIR=${TLS_DIR:-$LOCAL_DIR/tls}
derive LOCAL_CA_FILE "$TLS_DIR/ca.pem"

TOPIC_LIFECYCLE=${TOPIC_LIFECYCLE:-campaign-lifecycle}
TOPIC_NOTIFICATIONS=${TOPIC_NOTIFICATIONS:-notifications}
TOPIC_INTERACTIONS=${TOPIC_INTERACTIONS:-interactions}
TOPIC_DLQ=${TOPIC_DLQ:-dead-letter}
TOPIC_ALERT_RULES=${TOPIC_ALERT_RULES:-alert-rules}
TOPIC_ALERTS=${TOPIC_ALERTS:-alerts}
TOPIC_TENANTS=${TOPIC_TENANTS:-tenants}
TOPIC_PARTITIONS=${TOPIC_PARTITIONS:-8}

REQUIREMENTS=${REQUIREMENTS:-$REPO_ROOT/tests/requirements.txt}
REQUIREMENTS_HASH=$(sha256sum "$REQUIREMENTS" | cut -c1-12)
derive VENV_DIR "$CACHE_DIR/venv-$REQUIREMENTS_HASH"

# CI builds on a fresh clone: keep its build outputs in the cache.
if [ -n "${CI:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  CARGO_TARGET_DIR=$CACHE_DIR/target
  export CARGO_TARGET_DIR
fi

export REPO_ROOT CACHE_DIR TANSU_BIN VENV_DIR \
  KAFKA_BROKERS CLICKHOUSE_URL CLICKHOUSE_DATABASE DATABASE_URL \
  CLICKHOUSE_HTTPS_URL LOCAL_CA_FILE \
  TOPIC_LIFECYCLE TOPIC_NOTIFICATIONS TOPIC_INTERACTIONS TOPIC_DLQ TOPIC_PARTITIONS \
  TOPIC_ALERT_RULES TOPIC_ALERTS TOPIC_TENANTS

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Is something listening on host:port?
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# The pid of a pid file, printed, if that process is alive and its command
# line contains $2 (so a pid reused by another program is not ours).
live_pid() {
  local file=$1 name=${2:-} pid args
  [ -f "$file" ] || return 1
  pid=$(cat "$file" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -n "$name" ]; then
    args=$(ps -p "$pid" -o args= 2>/dev/null) || return 1
    case "$args" in *"$name"*) ;; *) return 1 ;; esac
  fi
  echo "$pid"
}

# Start a daemon in the current directory: its own session, stdin from
# /dev/null, stdout and stderr appended to a log file, no other inherited
# descriptors (so a pipe reading our output ends when we do); its pid goes
# to a pid file.
#   daemon PIDFILE LOGFILE COMMAND [ARGS...]
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
tmp = pidfile + ".tmp"
with open(tmp, "w") as f:
    f.write(f"{pid}\n")
os.replace(tmp, pidfile)
PY
}

# Wait until the caller's `healthy` function succeeds. Fails early, showing
# the end of the logs, when the process dies.
#   wait_until_healthy NAME PIDFILE PROCESS-NAME SECONDS LOGFILE...
wait_until_healthy() {
  local name=$1 pidfile=$2 process=$3 seconds=$4 i
  shift 4
  for ((i = 0; i < seconds * 10; i++)); do
    healthy && return 0
    if ! live_pid "$pidfile" "$process" >/dev/null; then
      show_logs "$@"
      die "$name is not running; logs: $*"
    fi
    sleep 0.1
  done
  show_logs "$@"
  die "$name is not healthy after ${seconds}s; logs: $*"
}

show_logs() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "--- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# Stop the process of a pid file (only if it is ours): TERM, then KILL after
# SECONDS; removes the pid file.
#   stop_pid PIDFILE PROCESS-NAME SECONDS
stop_pid() {
  local file=$1 process=$2 wait=$3 pid i
  if ! pid=$(live_pid "$file" "$process"); then
    rm -f "$file"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop in ${wait}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$file"
}

# Which of these ports on host are taken: prints them.
#   taken_ports HOST PORT...
taken_ports() {
  local host=$1 port out=()
  shift
  for port in "$@"; do
    if port_open "$host" "$port"; then out+=("$port"); fi
  done
  [ ${#out[@]} -eq 0 ] || echo "${out[*]}"
}
