#!/usr/bin/env bash
# The PostgreSQL server (Debian's `postgresql` package) of the local stack:
# its own cluster in $POSTGRES_DATA (initdb on first start; nothing under
# /etc or /var), listening on $POSTGRES_HOST:$POSTGRES_PORT only, with the
# socket in the data directory. The metadata database (rules, alerts, report
# definitions, ...) is created on start; the services apply their migrations.
# TLS is on (ssl=on) with the server certificate tls.sh makes (clients trust
# $LOCAL_CA_FILE); plain connections are accepted on the same port too.
#   postgres.sh start|stop|status|wait|psql [ARGS...]
#
# PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user the package creates, and the data directory belongs to it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

TIMEOUT=${POSTGRES_TIMEOUT:-60}
OUT_FILE=$POSTGRES_DATA/server.log
PID_FILE=$POSTGRES_DATA/postmaster.pid

pg_bin() {
  local bin=/usr/lib/postgresql/$POSTGRES_MAJOR/bin/$1
  [ -x "$bin" ] && { echo "$bin"; return 0; }
  die "PostgreSQL $POSTGRES_MAJOR is not installed ($1 missing); run deploy/local/install.sh apt (make setup)"
}

# Run a server-side command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_() {
  "$(pg_bin psql)" -X -q -v ON_ERROR_STOP=1 -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" \
    -U "$POSTGRES_USER" "$@"
}

healthy() {
  "$(pg_bin pg_isready)" -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d postgres
}

wait_healthy() {
  local i
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    healthy && return 0
    server_pid >/dev/null || { show_logs "$OUT_FILE"; die "PostgreSQL is not running; log: $OUT_FILE"; }
    sleep 0.1
  done
  show_logs "$OUT_FILE"
  die "PostgreSQL is not healthy after ${TIMEOUT}s; log: $OUT_FILE"
}

server_pid() {
  # postmaster.pid's first line is the server's pid.
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid=$(head -n1 "$PID_FILE" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  case "$(ps -p "$pid" -o args= 2>/dev/null)" in *postgres*) echo "$pid" ;; *) return 1 ;; esac
}

init_cluster() {
  [ -f "$POSTGRES_DATA/PG_VERSION" ] && return 0
  log "creating a PostgreSQL $POSTGRES_MAJOR cluster in $POSTGRES_DATA (superuser $POSTGRES_USER, trust on $POSTGRES_HOST only)"
  mkdir -p "$POSTGRES_DATA"
  chmod 700 "$POSTGRES_DATA"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as (Debian's postgresql package creates it)"
    chown postgres: "$POSTGRES_DATA"
    runuser -u postgres -- test -w "$POSTGRES_DATA" ||
      die "the postgres user cannot reach $POSTGRES_DATA (a parent directory is closed to it); set POSTGRES_DATA to a path it can reach"
  fi
  # A local development cluster: password-less on the loopback address it
  # listens on (production: see README, "PostgreSQL").
  as_owner "$(pg_bin initdb)" -D "$POSTGRES_DATA" -U "$POSTGRES_USER" -E UTF8 --locale=C.UTF-8 \
    --auth=trust >"$POSTGRES_DATA.initdb.log" 2>&1 ||
    { show_logs "$POSTGRES_DATA.initdb.log"; die "initdb failed"; }
  rm -f "$POSTGRES_DATA.initdb.log"
}

# The server's certificate and key in the data directory (its default
# ssl_cert_file and ssl_key_file), copied from $TLS_DIR at each start: the
# key must belong to the server's user and be readable by it alone.
install_tls() {
  "$(dirname "$0")/tls.sh" ensure
  local owner=()
  [ "$(id -u)" -ne 0 ] || owner=(-o postgres -g postgres)
  install -m 644 "${owner[@]}" "$TLS_DIR/server.pem" "$POSTGRES_DATA/server.crt"
  install -m 600 "${owner[@]}" "$TLS_DIR/server.key" "$POSTGRES_DATA/server.key"
}

# The server takes TLS connections.
tls_on() { [ "$(psql_ -d postgres -Atc 'SHOW ssl' 2>/dev/null)" = on ]; }

start() {
  local pid taken
  if pid=$(server_pid); then
    wait_healthy
    tls_on ||
      die "PostgreSQL (pid $pid) runs without TLS (ssl = off: started before TLS was added?); restart it: $0 stop && $0 start"
    log "PostgreSQL already running (pid $pid) at $POSTGRES_HOST:$POSTGRES_PORT"
  else
    taken=$(taken_ports "$POSTGRES_HOST" "$POSTGRES_PORT")
    [ -z "$taken" ] ||
      die "port $taken on $POSTGRES_HOST is taken by another process (not our cluster in $POSTGRES_DATA); stop it or set POSTGRES_PORT"
    # A pid file not naming a live server of ours is stale (the server
    # would refuse to start while that pid lives, whoever it is now).
    rm -f "$PID_FILE"
    init_cluster
    install_tls
    log "starting PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT (TLS on), data and log in $POSTGRES_DATA"
    as_owner "$(pg_bin pg_ctl)" -D "$POSTGRES_DATA" -l "$OUT_FILE" -w -t "$TIMEOUT" start -o \
      "-c listen_addresses=$POSTGRES_HOST -c port=$POSTGRES_PORT -c unix_socket_directories=$POSTGRES_DATA -c max_connections=200 -c fsync=${POSTGRES_FSYNC:-on} -c ssl=on" \
      >/dev/null || { show_logs "$OUT_FILE"; die "PostgreSQL did not start"; }
    wait_healthy
    log "PostgreSQL started (pid $(server_pid)) at $POSTGRES_HOST:$POSTGRES_PORT"
  fi
  if [ "$(psql_ -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DATABASE'")" != 1 ]; then
    psql_ -d postgres -c "CREATE DATABASE \"$POSTGRES_DATABASE\""
    log "created database $POSTGRES_DATABASE"
  fi
}

stop() {
  local pid i
  if ! pid=$(server_pid); then
    rm -f "$PID_FILE"
    log "PostgreSQL was not running (no live server in $POSTGRES_DATA)"
    return 0
  fi
  # Fast shutdown: roll back open transactions, then stop.
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < ${POSTGRES_STOP_TIMEOUT:-30} * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "PostgreSQL (pid $pid) did not stop; sending SIGQUIT"
    kill -QUIT "$pid" 2>/dev/null || true
  fi
  log "PostgreSQL stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if pid=$(server_pid); then
      if healthy; then health=healthy; else health="NOT answering"; fi
      if tls_on; then tls="TLS on"; else tls="TLS OFF"; fi
      echo "postgres: running (pid $pid) at $POSTGRES_HOST:$POSTGRES_PORT, database $POSTGRES_DATABASE, $tls, $health"
    else
      echo "postgres: stopped"
      exit 1
    fi
    ;;
  wait)
    server_pid >/dev/null || die "PostgreSQL is not running (no live server in $POSTGRES_DATA)"
    wait_healthy
    ;;
  psql)
    shift
    psql_ -d "$POSTGRES_DATABASE" "$@"
    ;;
  *) die "usage: postgres.sh start|stop|status|wait|psql [ARGS...]" ;;
esac
