#!/usr/bin/env bash
# Install what the project needs, idempotently; a few seconds when all is
# there (nothing is downloaded then).
#   install.sh [all|apt|tansu|python]
#   apt     Debian packages (pinned where the version matters); apt-get runs
#           only when one is missing or at another version
#   tansu   the Kafka-compatible broker, built from crates.io into $CACHE_DIR
#           (about 15 minutes the first time; an interrupted build resumes)
#   python  a venv with tests/requirements.txt in $VENV_DIR
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

# name=version pins the version; a bare name takes Debian's.
APT_PACKAGES=(
  "clickhouse-server=18.16.1+ds-7.3+b2"
  "clickhouse-client=18.16.1+ds-7.3+b2"
  "clickhouse-common=18.16.1+ds-7.3+b2"
  "wrk=4.1.0-3+b2"
  "postgresql-15=15.18-0+deb12u1"
  "postgresql-client-15=15.18-0+deb12u1"
  "poppler-utils=22.12.0-2+deb12u3"
  # A real browser for the tests of pages (security updates move its
  # version: Debian's current one), and its WebDriver server (the /ui
  # tests drive it; it must match chromium's version, so it is unpinned too).
  chromium
  chromium-driver
  curl
  # The local stack's CA and server certificate (tls.sh).
  openssl
  python3-venv
  # librdkafka's TLS and SASL/SCRAM (rdkafka's ssl feature links OpenSSL).
  libssl-dev
  pkg-config
  # TLS in front of the test broker (tansu 0.6 cannot take --cert and --key
  # together): the Kafka TLS/SASL tests.
  socat
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "not root and no sudo: run as root: $*"
  fi
}

install_apt() {
  local spec name want have missing=()
  for spec in "${APT_PACKAGES[@]}"; do
    name=${spec%%=*}
    want=""
    [ "$name" = "$spec" ] || want=${spec#*=}
    have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
    case "$have" in
      "install ok installed $want"*) ;;
      *) missing+=("$spec") ;;
    esac
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages present: ${APT_PACKAGES[*]}"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --allow-downgrades "${missing[@]}"
  # Debian's package starts its own server as a systemd service where there
  # is systemd; the project runs its own (clickhouse.sh) on the same ports.
  if command -v systemctl >/dev/null && systemctl is-active --quiet clickhouse-server 2>/dev/null; then
    log "note: the system clickhouse-server service runs and takes ports 8123/9000;" \
      "stop it (systemctl disable --now clickhouse-server) or set CLICKHOUSE_*_PORT"
  fi
}

tansu_ok() {
  local feature help
  [ -x "$TANSU_BIN" ] || return 1
  [ "$("$TANSU_BIN" --version 2>/dev/null)" = "tansu $TANSU_VERSION" ] || return 1
  # `tansu --help` ends with "Storage engines: dynostore, libsql".
  help=$("$TANSU_BIN" --help 2>/dev/null | grep '^Storage engines:') || return 1
  for feature in ${TANSU_FEATURES//,/ }; do
    case "$help" in *"$feature"*) ;; *) return 1 ;; esac
  done
}

install_tansu() {
  if tansu_ok; then
    log "tansu $TANSU_VERSION ($TANSU_FEATURES) present: $TANSU_BIN"
    return
  fi
  command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (rustup) first"
  mkdir -p "$CACHE_DIR"
  log "building tansu $TANSU_VERSION with features $TANSU_FEATURES into $TANSU_ROOT" \
    "(about 15 minutes on 2 cores the first time; build directory $CACHE_DIR/tansu-build, an interrupted build resumes)"
  CARGO_TARGET_DIR="$CACHE_DIR/tansu-build" cargo install tansu --version "$TANSU_VERSION" --locked \
    --features "$TANSU_FEATURES" --root "$TANSU_ROOT" --force
  tansu_ok || die "$TANSU_BIN does not report tansu $TANSU_VERSION with $TANSU_FEATURES after the install"
  log "installed $("$TANSU_BIN" --version)"
}

install_python() {
  local marker=$VENV_DIR/.requirements-sha256 want
  want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  if [ -x "$VENV_DIR/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
    log "Python test tools present: $VENV_DIR"
    return
  fi
  log "installing the Python test tools of $REQUIREMENTS into $VENV_DIR"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$marker"
}

what=${1:-all}
case "$what" in
  all | apt | tansu | python) ;;
  *) die "usage: install.sh [all|apt|tansu|python]" ;;
esac

# One install at a time (make setup and make test may overlap).
mkdir -p "$CACHE_DIR"
if command -v flock >/dev/null; then
  exec 9>"$CACHE_DIR/install.lock"
  flock -w 3600 9 || die "another install.sh holds $CACHE_DIR/install.lock"
fi

case "$what" in
  all)
    install_apt
    install_tansu
    install_python
    ;;
  apt) install_apt ;;
  tansu) install_tansu ;;
  python) install_python ;;
esac
