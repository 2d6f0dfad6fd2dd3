#!/usr/bin/env bash
# The query API of the local stack (release build), as a daemon, with demo
# API keys.
#   query-api.sh start [TENANT...]   keys for these tenants and an admin key
#   query-api.sh stop|status
# The demo keys (random, made once) are in $LOCAL_DIR/query-api/keys.txt
# (tenant<TAB>key, git-ignored); the server reads only their hashes
# (keys.toml). Extra settings come from the environment (see
# `query-api serve --help`).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

DIR=$LOCAL_DIR/query-api
PID_FILE=$DIR/query-api.pid
LOG_FILE=$DIR/query-api.log
KEYS=$DIR/keys.txt
KEYS_TOML=$DIR/keys.toml
BIN=${QUERY_API_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/query-api}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:8080}
export LISTEN_ADDR

healthy() { curl -fsS --max-time 5 "http://$LISTEN_ADDR/healthz" >/dev/null 2>&1; }

# Keys for the tenants (and "admin"), kept across restarts; new tenants get
# a new key.
write_keys() {
  local who key hash
  mkdir -p "$DIR"
  touch "$KEYS"
  chmod 600 "$KEYS"
  for who in admin "$@"; do
    grep -q "^$who	" "$KEYS" || printf '%s\t%s\n' "$who" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$KEYS"
  done
  {
    echo "# Demo keys of the local stack (hashes of $KEYS); written by query-api.sh."
    while IFS=$'\t' read -r who key; do
      hash=$("$BIN" hash-key "$key")
      if [ "$who" = admin ]; then
        printf '[[keys]]\nrole = "admin"\nsha256 = "%s"\n\n' "$hash"
      else
        # Editors: the demo creates alert rules with them.
        printf '[[keys]]\ntenant = "%s"\nrole = "editor"\nuser = "demo@%s"\nsha256 = "%s"\n\n' "$who" "$who" "$hash"
      fi
    done <"$KEYS"
  } >"$KEYS_TOML.tmp"
  mv "$KEYS_TOML.tmp" "$KEYS_TOML"
}

case "${1:-}" in
  start)
    shift
    [ -x "$BIN" ] || die "$BIN is missing: cargo build --release -p query-api"
    write_keys "$@"
    if pid=$(live_pid "$PID_FILE" query-api); then
      # Keys may have changed: restart to read them.
      stop_pid "$PID_FILE" query-api 30 || true
      log "restarting the query API (pid $pid) to read the keys"
    fi
    port_open "${LISTEN_ADDR%:*}" "${LISTEN_ADDR##*:}" &&
      die "$LISTEN_ADDR is taken by another process; set LISTEN_ADDR"
    # Report files and the secret their download links are signed with
    # (made once, kept across restarts so that links stay valid).
    [ -s "$DIR/link-secret" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/link-secret")
    REPORT_STORAGE=${REPORT_STORAGE:-$LOCAL_DIR/reports} \
      REPORT_LINK_SECRET_FILE=$DIR/link-secret \
      API_KEYS_FILE=$KEYS_TOML daemon "$PID_FILE" "$LOG_FILE" "$BIN" serve
    wait_until_healthy query-api "$PID_FILE" query-api "${QUERY_API_TIMEOUT:-30}" "$LOG_FILE"
    log "query API started (pid $(cat "$PID_FILE")) at http://$LISTEN_ADDR, log $LOG_FILE"
    ;;
  stop)
    if stop_pid "$PID_FILE" query-api 30; then
      log "query API stopped"
    else
      log "query API was not running (no live pid in $PID_FILE)"
    fi
    ;;
  status)
    if pid=$(live_pid "$PID_FILE" query-api); then
      echo "http://$LISTEN_ADDR (pid $pid), docs http://$LISTEN_ADDR/docs, keys in $KEYS, log $LOG_FILE"
    else
      echo "query API: stopped"
      exit 1
    fi
    ;;
  key)
    # The demo key of a tenant (or admin).
    awk -F'\t' -v who="${2:-admin}" '$1 == who { print $2 }' "$KEYS"
    ;;
  *)
    die "usage: query-api.sh start [TENANT...]|stop|status|key [TENANT]"
    ;;
esac
