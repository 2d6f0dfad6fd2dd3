#!/usr/bin/env bash
# Install what the project needs, idempotently; fast when all is there.
#   install.sh [all|apt|tansu|python]
set -euo pipefail
. "$(dirname "$0")/env.sh"

APT_PACKAGES=(
  "clickhouse-server=18.16.1+ds-7.3+b2"
  "clickhouse-client=18.16.1+ds-7.3+b2"
  "clickhouse-common=18.16.1+ds-7.3+b2"
  "wrk=4.1.0-3+b2"
  "python3-venv"
)

install_apt() {
  local missing=()
  for spec in "${APT_PACKAGES[@]}"; do
    local name=${spec%%=*} want=${spec#*=} have
    have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
    if [ "$name" = "$spec" ]; then want=""; fi
    case "$have" in
      "install ok installed ${want}"*) ;;
      *) missing+=("$spec") ;;
    esac
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_tansu() {
  if [ -x "$TANSU_BIN" ] && "$TANSU_BIN" --version 2>/dev/null | grep -q "tansu $TANSU_VERSION"; then
    log "tansu $TANSU_VERSION present ($TANSU_BIN)"
    return
  fi
  log "building tansu $TANSU_VERSION (features $TANSU_FEATURES): about 15 minutes the first time, cached in $CACHE_DIR"
  mkdir -p "$CACHE_DIR"
  CARGO_TARGET_DIR="$CACHE_DIR/tansu-build" cargo install tansu --version "$TANSU_VERSION" --locked \
    --features "$TANSU_FEATURES" --root "$CACHE_DIR/tansu-$TANSU_VERSION" --quiet
  "$TANSU_BIN" --version
}

install_python() {
  local marker="$VENV_DIR/.installed"
  if [ -f "$marker" ] && cmp -s "$marker" "$REQUIREMENTS"; then
    log "python test tools present ($VENV_DIR)"
    return
  fi
  log "installing python test tools into $VENV_DIR"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$marker"
}

case "${1:-all}" in
  all) install_apt; install_tansu; install_python ;;
  apt) install_apt ;;
  tansu) install_tansu ;;
  python) install_python ;;
  *) die "usage: install.sh [all|apt|tansu|python]" ;;
esac
