#!/usr/bin/env bash
# The local stack as a whole.
#   stack.sh up [TAG]    install check, start broker and ClickHouse, create topics;
#                        records in $LOCAL_DIR/started-by-TAG what this call started
#   stack.sh down [TAG]  with TAG: stop only what `up TAG` started; without: stop both
#   stack.sh status
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(dirname "$0")

case "${1:-}" in
  up)
    tag=${2:-}
    "$here/install.sh" all
    mkdir -p "$LOCAL_DIR"
    started=()
    "$here/tansu.sh" status >/dev/null 2>&1 || { "$here/tansu.sh" start; started+=(tansu); }
    "$here/clickhouse.sh" status >/dev/null 2>&1 || { "$here/clickhouse.sh" start; started+=(clickhouse); }
    "$here/topics.sh"
    [ -z "$tag" ] || printf '%s\n' "${started[@]}" >"$LOCAL_DIR/started-by-$tag"
    ;;
  down)
    tag=${2:-}
    if [ -n "$tag" ]; then
      file=$LOCAL_DIR/started-by-$tag
      [ -f "$file" ] || exit 0
      while read -r what; do
        [ -z "$what" ] || "$here/$what.sh" stop
      done <"$file"
      rm -f "$file"
    else
      "$here/tansu.sh" stop
      "$here/clickhouse.sh" stop
    fi
    ;;
  status)
    rc=0
    "$here/tansu.sh" status || rc=1
    "$here/clickhouse.sh" status || rc=1
    exit $rc
    ;;
  *) die "usage: stack.sh up [TAG] | down [TAG] | status" ;;
esac
