#!/usr/bin/env bash
# The secrets of deploy/docker/compose.yaml, made once into
# deploy/docker/secrets/ (git-ignored; files already there are kept):
#   clickhouse-password, clickhouse-users.xml   the ClickHouse user `analytics`
#                                               (the server gets its SHA-256 only)
#   postgres-password, database-url             the PostgreSQL user `campaign`
#   report-link-secret                          signs report download links
#   api-keys.toml, keys.txt                     API keys: the hashes the API reads,
#                                               and the keys themselves (for you)
# The directory is yours only (0700); the files in it are world-readable (0644)
# because compose bind-mounts them into containers that run as other users.
#   init-secrets.sh [DIR]
set -euo pipefail

dir=${1:-$(cd "$(dirname "$0")" && pwd)/secrets}
umask 022
mkdir -p "$dir"
chmod 0700 "$dir"

random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
sha256() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
# write NAME: stdin into $dir/NAME unless it exists.
write() {
  if [ -e "$dir/$1" ]; then
    cat >/dev/null
    echo "kept    $dir/$1"
  else
    cat >"$dir/$1.tmp"
    chmod 0644 "$dir/$1.tmp"
    mv "$dir/$1.tmp" "$dir/$1"
    echo "created $dir/$1"
  fi
}

random | write clickhouse-password
# The user the binaries connect as; ClickHouse's passwordless `default` user
# is removed (zz-: this file is merged after the image's own).
cat <<EOF | write clickhouse-users.xml
<clickhouse>
  <users>
    <default remove="remove"/>
    <analytics>
      <password_sha256_hex>$(sha256 "$(cat "$dir/clickhouse-password")")</password_sha256_hex>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </analytics>
  </users>
</clickhouse>
EOF

random | write postgres-password
printf 'postgres://campaign:%s@postgres:5432/campaign_analytics\n' "$(cat "$dir/postgres-password")" |
  write database-url
random | write report-link-secret

# Keys: an admin key, and an editor and a producer key of tenant "demo".
if [ ! -e "$dir/api-keys.toml" ]; then
  admin=$(random) editor=$(random) producer=$(random)
  printf 'admin\t%s\ndemo editor\t%s\ndemo producer\t%s\n' "$admin" "$editor" "$producer" >"$dir/keys.txt.tmp"
  chmod 0600 "$dir/keys.txt.tmp"
  mv "$dir/keys.txt.tmp" "$dir/keys.txt"
  echo "created $dir/keys.txt (the keys; only you can read it)"
fi
if [ -e "$dir/keys.txt" ]; then
  admin=$(sed -n 's/^admin\t//p' "$dir/keys.txt")
  editor=$(sed -n 's/^demo editor\t//p' "$dir/keys.txt")
  producer=$(sed -n 's/^demo producer\t//p' "$dir/keys.txt")
  cat <<EOF | write api-keys.toml
# API keys of the compose stack (init-secrets.sh): SHA-256 hashes of the keys
# in keys.txt. Add keys with \`query-api hash-key KEY\` (README, "The query API").
[[keys]]
role = "admin"
name = "admin"
sha256 = "$(sha256 "$admin")"

[[keys]]
tenant = "demo"
role = "editor"
name = "demo-editor"
sha256 = "$(sha256 "$editor")"

[[keys]]
tenant = "demo"
role = "producer"
name = "demo-producer"
sha256 = "$(sha256 "$producer")"
EOF
fi
