#!/usr/bin/env bash
# The local stack as a whole: tansu broker, ClickHouse, PostgreSQL, topics.
#   stack.sh up [TAG]    install check (fast when done), start the broker and
#                        ClickHouse unless they run, wait until healthy, create
#                        the topics. With TAG, $LOCAL_DIR/started-by-TAG lists
#                        what this call started (written as it goes, so a
#                        failed `up` can still be undone).
#   stack.sh down [TAG]  with TAG: stop only what `up TAG` started;
#                        without: stop both
#   stack.sh status      what runs, and the topics
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)

check_tag() {
  case "$1" in
    *[!A-Za-z0-9._-]*) die "a TAG is letters, digits, '.', '_' and '-': $1" ;;
  esac
}

up() {
  local tag=${1:-} record="" what
  "$here/install.sh" all
  mkdir -p "$LOCAL_DIR"
  if [ -n "$tag" ]; then
    check_tag "$tag"
    record=$LOCAL_DIR/started-by-$tag
    : >"$record"
  fi
  for what in tansu clickhouse postgres; do
    if "$here/$what.sh" status >/dev/null 2>&1; then
      "$here/$what.sh" start # already ours: waits until healthy
    else
      [ -z "$record" ] || echo "$what" >>"$record"
      "$here/$what.sh" start
    fi
  done
  "$here/topics.sh" create
  if [ -n "$record" ]; then
    log "started by '$tag': $(tr '\n' ' ' <"$record")"
  fi
}

down() {
  local tag=${1:-} record what rc=0
  if [ -n "$tag" ]; then
    check_tag "$tag"
    record=$LOCAL_DIR/started-by-$tag
    if [ ! -f "$record" ]; then
      log "nothing recorded as started by '$tag'"
      return 0
    fi
    [ -s "$record" ] || log "'$tag' started nothing: nothing to stop"
    # The reverse of up.
    for what in postgres clickhouse tansu; do
      if grep -qx "$what" "$record"; then "$here/$what.sh" stop || rc=1; fi
    done
    rm -f "$record"
  else
    "$here/postgres.sh" stop || rc=1
    "$here/clickhouse.sh" stop || rc=1
    "$here/tansu.sh" stop || rc=1
  fi
  return $rc
}

status() {
  local rc=0
  "$here/tansu.sh" status || rc=1
  "$here/clickhouse.sh" status || rc=1
  "$here/postgres.sh" status || rc=1
  if "$here/tansu.sh" status >/dev/null 2>&1; then
    "$here/topics.sh" describe || rc=1
  fi
  return $rc
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  status) status ;;
  *) die "usage: stack.sh up [TAG] | down [TAG] | status" ;;
esac
