#!/usr/bin/env bash
# The processor of an earlier release, for the upgrade test
# (tests/tests/upgrade.rs): built once from this repository's history and
# kept at $CACHE_DIR/releases/<commit>/processor; seconds when it is there.
#
#   previous-release.sh [COMMIT]   build if missing, print the binary's path
#
# COMMIT defaults to PREVIOUS_RELEASE below: the last release before state
# rows, fencing and retention (issue 11), whose database is the one an
# in-place upgrade has to take (no state rows, no epochs, no headers).
# Its sources come from `git archive` and build with its own Cargo.lock
# (--locked) in a target directory of their own, removed after the build
# (the workspace's binaries of the same name are not touched).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

PREVIOUS_RELEASE=${PREVIOUS_RELEASE:-cfd5d8dacf452ff082f99f3c6b58abad4a40e084}
commit=${1:-$PREVIOUS_RELEASE}

if ! full=$(git -C "$REPO_ROOT" rev-parse --verify --quiet "$commit^{commit}"); then
  die "commit $commit is not in $REPO_ROOT's history: the upgrade test builds the previous release from it (a full clone has it; a shallow one needs \`git fetch --unshallow\`)"
fi
dir=$CACHE_DIR/releases/$full
bin=$dir/processor
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$CACHE_DIR/releases"
exec 9>"$CACHE_DIR/releases/.lock"
flock 9
if [ ! -x "$bin" ]; then
  work=$(mktemp -d "$CACHE_DIR/releases/build-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "building the processor of ${full:0:12} (once; a few minutes) in $work"
  git -C "$REPO_ROOT" archive "$full" | tar -x -C "$work/"
  (
    cd "$work"
    CARGO_TARGET_DIR=$work/target CARGO_INCREMENTAL=0 \
      cargo build --locked --quiet -p processor --bin processor
  )
  mkdir -p "$dir"
  cp "$work/target/debug/processor" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  log "built $bin"
fi
echo "$bin"
