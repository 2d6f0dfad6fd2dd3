#!/usr/bin/env bash
# `make dist`: the operators' tarball
#   dist/campaign-analytics-<version>-<arch>-linux.tar.gz (and its .sha256)
# holding, under campaign-analytics-<version>-<arch>-linux/:
#   bin/processor, bin/query-api     the binaries (debug info stripped)
#   etc/config.example.toml          the configuration file to start from
#   lib/systemd/*.service            hardened systemd units
#   share/grafana/                   deploy/grafana/ (dashboards, scrape example)
#   share/migrations/                the SQL migrations, for reference only:
#                                    both binaries embed and apply them
#   share/avro/                      the event schemas (SCHEMA_IDS_FILE names them)
#   INSTALL.md, VERSION
# The version is the workspace's ([workspace.package] version in Cargo.toml);
# VERSION also names the commit (with "-dirty" for uncommitted changes).
# The last line of stdout is the tarball's path.
#
# Settings (environment, or `make dist NAME=VALUE`):
#   PROFILE=release|debug  which binaries (default release: cargo build
#                          --release --locked -p processor -p query-api --bins)
#   BUILD=1|0              0: pack the binaries already in the target
#                          directory, build nothing (the test's way)
#   STRIP=1|0              strip debug info from the packed binaries (default 1;
#                          symbols stay, so backtraces still name functions)
#   DIST_DIR=DIR           where the tarball goes (default dist/ of the checkout)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
here=$REPO_ROOT/deploy/dist
PROFILE=${PROFILE:-release}
BUILD=${BUILD:-1}
STRIP=${STRIP:-1}
DIST_DIR=${DIST_DIR:-$REPO_ROOT/dist}
BINARIES=(processor query-api)

log() { printf '[dist] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

case "$PROFILE" in
  release | debug) ;;
  *) die "PROFILE is release or debug, not '$PROFILE'" ;;
esac
case "$BUILD" in 0 | 1) ;; *) die "BUILD is 0 or 1, not '$BUILD'" ;; esac
case "$STRIP" in 0 | 1) ;; *) die "STRIP is 0 or 1, not '$STRIP'" ;; esac

cd "$REPO_ROOT"

# [workspace.package] version of the workspace manifest.
version=$(python3 - Cargo.toml <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["workspace"]["package"]["version"])
PY
) || die "no [workspace.package] version in Cargo.toml"
# The architecture the binaries are built for: the toolchain's host.
arch=$(rustc -vV | sed -n 's/^host: \([^-]*\)-.*/\1/p')
[ -n "$arch" ] || die "cannot tell the architecture from rustc -vV"
commit=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse --short=12 HEAD)
  git diff --quiet HEAD -- 2>/dev/null || commit=$commit-dirty
fi
# The commit's time, so that the same commit packs the same file dates.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

name=campaign-analytics-$version-$arch-linux
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir=$target_dir/$PROFILE

if [ "$BUILD" = 1 ]; then
  flags=(--locked -p processor -p query-api --bins)
  [ "$PROFILE" = debug ] || flags=(--release "${flags[@]}")
  log "cargo build ${flags[*]}"
  cargo build "${flags[@]}"
fi
for b in "${BINARIES[@]}"; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing: build it (BUILD=1), or pick PROFILE"
done

mkdir -p "$DIST_DIR"
stage=$(mktemp -d "$DIST_DIR/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/$name
install -d "$root/bin" "$root/etc" "$root/lib/systemd" "$root/share/migrations"

for b in "${BINARIES[@]}"; do
  install -m 0755 "$bin_dir/$b" "$root/bin/$b"
  if [ "$STRIP" = 1 ]; then strip --strip-debug "$root/bin/$b"; fi
done
install -m 0644 "$here/config.example.toml" "$root/etc/config.example.toml"
install -m 0644 "$here"/systemd/*.service "$root/lib/systemd/"
install -m 0644 "$here/INSTALL.md" "$root/INSTALL.md"
cp -R deploy/grafana "$root/share/grafana"
install -d "$root/share/migrations/clickhouse" "$root/share/migrations/postgresql" "$root/share/avro"
install -m 0644 schemas/clickhouse/*.sql "$root/share/migrations/clickhouse/"
install -m 0644 metadata/migrations/*.sql "$root/share/migrations/postgresql/"
install -m 0644 schemas/avro/*.avsc "$root/share/avro/"
cat >"$root/share/migrations/README.md" <<'EOF'
# Migrations (reference only)

Both binaries embed their migrations and apply them themselves: the
processor the ClickHouse ones (`clickhouse/`) at every start and with
`processor migrate`, the query API the PostgreSQL ones (`postgresql/`) at
start when `database_url` is set. Nothing here needs to be run by hand;
the files show what the database user must be allowed to do.
EOF
{
  echo "campaign-analytics $version"
  echo "commit $commit"
  echo "profile $PROFILE"
  echo "target $(rustc -vV | sed -n 's/^host: //p')"
  echo "rustc $(rustc -V | cut -d' ' -f2)"
} >"$root/VERSION"
# Directories 0755, files as installed; no write bit for others anywhere.
find "$root" -type d -exec chmod 0755 {} +
chmod -R go-w "$root"

tarball=$DIST_DIR/$name.tar.gz
log "packing $tarball ($PROFILE binaries, commit $commit)"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$stage" -cf - "$name" | gzip -n >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
(cd "$DIST_DIR" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
log "$(du -h "$tarball" | cut -f1) $tarball; sha256 in $name.tar.gz.sha256"
echo "$tarball"
