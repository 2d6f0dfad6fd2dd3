#!/usr/bin/env bash
# Checks of the local stack scripts against the running stack (started by
# `stack.sh up`; run-tests.sh runs this after the other tests):
# - status reports running; starting what runs is a no-op (same pids)
# - the topics exist with $TOPIC_PARTITIONS partitions; another count is refused
# - ClickHouse answers SELECT 1 over HTTP, HTTPS (certificate of the local
#   CA, refused without it) and the native protocol, PostgreSQL in the
#   metadata database, plain and over verified TLS; all servers listen on
#   loopback only
# - a second stack on other ports and another LOCAL_DIR starts, records what
#   it started, stops exactly that, and leaves the first one running
# - a pid file naming somebody else's process is not ours: status says
#   stopped, stop leaves that process alone
# The last line is "N passed, N failed"; the exit status is 0 when none failed.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
check_log=$(mktemp)
other=$(mktemp -d) # LOCAL_DIR of the second stack
sleeper=""
cleanup() {
  in_other "$here/stack.sh" down >/dev/null 2>&1 || true
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  rm -rf "$other" "$check_log" "$LOCAL_DIR/started-by-test-stack-noop-$$"
}
trap cleanup EXIT
. "$here/checks.sh"

pid_of() { cat "$1" 2>/dev/null || echo none; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
same() { [ "$1" = "$2" ] || { echo "'$1' != '$2'"; return 1; }; }
contains() { grep -q -- "$2" <<<"$1" || { echo "'$2' not in: $1"; return 1; }; }

partition_count() { # BROKERS TOPIC
  "$here/kafka-topics.py" --brokers "$1" --json "$2" |
    python3 -c 'import json, sys; t = json.load(sys.stdin)[0]; print(t.get("partitions", 0))'
}

# Every listening socket of these ports is on 127.0.0.1.
loopback_only() {
  local port lines
  for port in "$@"; do
    lines=$(ss -Hltn "sport = :$port" | awk '{print $4}')
    [ -n "$lines" ] || { echo "nothing listens on $port"; return 1; }
    if grep -v "^127\.0\.0\.1:$port\$" <<<"$lines"; then
      echo "port $port also listens elsewhere"
      return 1
    fi
  done
}

free_ports() { # N: N distinct free loopback ports
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# PostgreSQL's pid file (postmaster.pid) has the pid on its first line.
pg_pid_of() { head -n1 "$1" 2>/dev/null || echo none; }

echo "== the running stack ($KAFKA_BROKERS, $CLICKHOUSE_URL, PostgreSQL $POSTGRES_HOST:$POSTGRES_PORT)"
tansu_pid=$(pid_of "$TANSU_DIR/tansu.pid")
ch_pid=$(pid_of "$CLICKHOUSE_DATA/clickhouse.pid")
pg_pid=$(pg_pid_of "$POSTGRES_DATA/postmaster.pid")
check "stack status reports running" "$here/stack.sh" status
status_text=$("$here/stack.sh" status 2>&1 || true)
check "status names tansu running" contains "$status_text" "tansu: running (pid $tansu_pid)"
check "status names clickhouse running" contains "$status_text" "clickhouse: running (pid $ch_pid)"
check "status names postgres running" contains "$status_text" "postgres: running (pid $pg_pid)"
start_text=$("$here/tansu.sh" start 2>&1 || true)
check "tansu start when running says so" contains "$start_text" "already running"
start_text=$("$here/clickhouse.sh" start 2>&1 || true)
check "clickhouse start when running says so" contains "$start_text" "already running"
start_text=$("$here/postgres.sh" start 2>&1 || true)
check "postgres start when running says so" contains "$start_text" "already running"
check "stack up when running starts nothing" "$here/stack.sh" up "test-stack-noop-$$"
check "  and records nothing" test ! -s "$LOCAL_DIR/started-by-test-stack-noop-$$"
check "stack down of that tag stops nothing" "$here/stack.sh" down "test-stack-noop-$$"
check "tansu pid unchanged" same "$tansu_pid" "$(pid_of "$TANSU_DIR/tansu.pid")"
check "clickhouse pid unchanged" same "$ch_pid" "$(pid_of "$CLICKHOUSE_DATA/clickhouse.pid")"
check "postgres pid unchanged" same "$pg_pid" "$(pg_pid_of "$POSTGRES_DATA/postmaster.pid")"
check "tansu still alive" alive "$tansu_pid"
check "clickhouse still alive" alive "$ch_pid"
check "postgres still alive" alive "$pg_pid"

check "topics.sh is idempotent" "$here/topics.sh"
for t in "$TOPIC_LIFECYCLE" "$TOPIC_NOTIFICATIONS" "$TOPIC_INTERACTIONS" "$TOPIC_DLQ"; do
  check "topic $t has $TOPIC_PARTITIONS partitions" same "$(partition_count "$KAFKA_BROKERS" "$t")" "$TOPIC_PARTITIONS"
done
refuse "existing topics with another partition count are refused" \
  env TOPIC_PARTITIONS=$((TOPIC_PARTITIONS + 1)) "$here/topics.sh"
check "topics.sh describe lists the topics" "$here/topics.sh" describe

check "ClickHouse answers SELECT 1 over HTTP" same "$(curl -fsS "$CLICKHOUSE_URL/" --data-binary 'SELECT 1')" 1
check "ClickHouse answers SELECT 1 natively" \
  same "$(clickhouse-client --host "$CLICKHOUSE_HOST" --port "$CLICKHOUSE_TCP_PORT" --query 'SELECT 1' 2>&1)" 1
check "ClickHouse answers SELECT 1 over HTTPS (certificate of $LOCAL_CA_FILE)" \
  same "$(curl -fsS --cacert "$LOCAL_CA_FILE" "$CLICKHOUSE_HTTPS_URL/" --data-binary 'SELECT 1')" 1
refuse "ClickHouse's HTTPS certificate is refused without the local CA" \
  curl -fsS "$CLICKHOUSE_HTTPS_URL/ping"
check "PostgreSQL answers SELECT 1 in the metadata database" \
  same "$("$here/postgres.sh" psql -Atc 'SELECT 1' 2>&1)" 1
check "PostgreSQL takes TLS (sslmode=verify-full, certificate of $LOCAL_CA_FILE)" \
  same "$(PGSSLMODE=verify-full PGSSLROOTCERT="$LOCAL_CA_FILE" "$here/postgres.sh" psql -Atc \
    'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>&1)" t
check "PostgreSQL takes plain connections too (sslmode=disable)" \
  same "$(PGSSLMODE=disable "$here/postgres.sh" psql -Atc \
    'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>&1)" f
if command -v ss >/dev/null; then
  check "tansu, ClickHouse and PostgreSQL listen on 127.0.0.1 only" loopback_only \
    "$KAFKA_PORT" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_HTTPS_PORT" "$CLICKHOUSE_TCP_PORT" \
    "$CLICKHOUSE_INTERSERVER_PORT" "$POSTGRES_PORT"
fi

echo "== a second stack on other ports"
read -r k_port h_port t_port i_port p_port s_port < <(free_ports 6)
# As root, PostgreSQL runs as the postgres user: it must reach the directory.
chmod 755 "$other"
tag=test-stack-$$
# Only LOCAL_DIR, ports and storage: URLs, data directories and pid files
# follow from them (as for the Rust tests' own ClickHouse servers), even
# though this script's environment exports the first stack's URLs.
in_other() {
  env LOCAL_DIR="$other" TANSU_STORAGE=memory://tansu/ KAFKA_PORT="$k_port" \
    CLICKHOUSE_HTTP_PORT="$h_port" CLICKHOUSE_TCP_PORT="$t_port" CLICKHOUSE_INTERSERVER_PORT="$i_port" \
    CLICKHOUSE_HTTPS_PORT="$s_port" POSTGRES_PORT="$p_port" "$@"
}

check "stack up on ports $k_port $h_port $t_port $i_port $p_port $s_port" in_other "$here/stack.sh" up "$tag"
check "  it records that it started all three" same "$(sort "$other/started-by-$tag" 2>/dev/null | tr '\n' ' ')" "clickhouse postgres tansu "
o_tansu=$(pid_of "$other/tansu/tansu.pid")
o_ch=$(pid_of "$other/clickhouse/clickhouse.pid")
o_pg=$(pg_pid_of "$other/postgres/postmaster.pid")
check "  its data and pid files are under its LOCAL_DIR" ls "$other/tansu/tansu.pid" "$other/clickhouse/clickhouse.pid"
check "  its status names its own ports" contains "$(in_other "$here/stack.sh" status 2>&1)" "127.0.0.1:$h_port"
check "  its ClickHouse answers" same "$(curl -fsS "http://127.0.0.1:$h_port/ping")" "Ok."
check "  its ClickHouse answers over HTTPS with a certificate of its own CA" \
  same "$(curl -fsS --cacert "$other/tls/ca.pem" "https://127.0.0.1:$s_port/ping")" "Ok."
check "  its CA is not the first stack's" negate cmp -s "$other/tls/ca.pem" "$LOCAL_CA_FILE"
check "  its broker has the topics" same "$(partition_count "127.0.0.1:$k_port" "$TOPIC_DLQ")" "$TOPIC_PARTITIONS"
check "  it is another process than the first" negate same "$o_ch" "$ch_pid"
check "  its PostgreSQL answers on its port" \
  same "$(in_other "$here/postgres.sh" psql -Atc "SELECT current_setting('port')" 2>&1)" "$p_port"
check "  its PostgreSQL is another server than the first" negate same "$o_pg" "$pg_pid"
refuse "a ClickHouse on a taken port is refused" \
  env LOCAL_DIR="$other/third" CLICKHOUSE_HTTP_PORT="$h_port" "$here/clickhouse.sh" start
refuse "a broker on a taken port is refused" \
  env LOCAL_DIR="$other/third" KAFKA_PORT="$k_port" "$here/tansu.sh" start
check "stack down of its tag" in_other "$here/stack.sh" down "$tag"
check "  its ClickHouse process is gone" gone "$o_ch"
check "  its broker process is gone" gone "$o_tansu"
check "  its PostgreSQL process is gone" gone "$o_pg"
check "  its pid files are removed" negate ls "$other/tansu/tansu.pid" "$other/clickhouse/clickhouse.pid"
check "  its ports are closed" negate port_open 127.0.0.1 "$h_port"
check "  its HTTPS port is closed" negate port_open 127.0.0.1 "$s_port"
check "  its record is removed" test ! -e "$other/started-by-$tag"
check "  status says stopped" negate in_other "$here/stack.sh" status
check "the first stack still runs, same pids" same "$tansu_pid $ch_pid $pg_pid" \
  "$(pid_of "$TANSU_DIR/tansu.pid") $(pid_of "$CLICKHOUSE_DATA/clickhouse.pid") $(pg_pid_of "$POSTGRES_DATA/postmaster.pid")"
check "  and answers" "$here/stack.sh" status

echo "== a pid file naming somebody else's process"
sleep 300 &
sleeper=$!
mkdir -p "$other/clickhouse" "$other/tansu" "$other/postgres"
echo "$sleeper" >"$other/clickhouse/clickhouse.pid"
echo "$sleeper" >"$other/tansu/tansu.pid"
printf '%s\n%s\n' "$sleeper" "$other/postgres" >"$other/postgres/postmaster.pid"
check "status says stopped" negate in_other "$here/stack.sh" status
check "stop succeeds" in_other "$here/stack.sh" down
check "  and leaves that process alone" alive "$sleeper"
check "  and removes the stale pid files" negate ls "$other/tansu/tansu.pid" "$other/clickhouse/clickhouse.pid" \
  "$other/postgres/postmaster.pid"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
