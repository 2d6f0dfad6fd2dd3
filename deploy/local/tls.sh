#!/usr/bin/env bash
# The local stack's TLS material, made by the openssl CLI into $TLS_DIR
# (under $LOCAL_DIR) the first time a server needs it, then kept:
#   ca.pem, ca.key          a CA of this checkout ($LOCAL_CA_FILE is ca.pem:
#                           what clients trust)
#   server.pem, server.key  a server certificate signed by it, for DNS
#                           localhost and IP 127.0.0.1 and ::1, presented by
#                           ClickHouse's https port and by PostgreSQL
# Nothing is made again while these files are there, the server certificate
# verifies against the CA and it is valid for 30 more days (else the server
# certificate is made again, the CA kept). Keys are EC P-256: small and
# quick, and no Diffie-Hellman parameters needed (ECDHE).
#   tls.sh ensure|show
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

CA_DAYS=3650
SERVER_DAYS=825
SANS="DNS:localhost,IP:127.0.0.1,IP:::1"

server_ok() {
  [ -s "$TLS_DIR/server.pem" ] && [ -s "$TLS_DIR/server.key" ] &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null 2>&1 &&
    openssl x509 -in "$TLS_DIR/server.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1
}

new_key() { # FILE
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null)
}

make_ca() { # DIR: ca.key and ca.pem in DIR
  new_key "$1/ca.key"
  cat >"$1/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = campaign-analytics local CA
[ca]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -x509 -new -key "$1/ca.key" -config "$1/ca.cnf" -days "$CA_DAYS" \
    -set_serial "0x$(openssl rand -hex 16)" -out "$1/ca.pem" 2>/dev/null
  rm -f "$1/ca.cnf"
}

make_server() { # DIR: server.key and server.pem in DIR, signed by $TLS_DIR's CA
  new_key "$1/server.key"
  openssl req -new -key "$1/server.key" -subj "/CN=localhost" -out "$1/server.csr" 2>/dev/null
  cat >"$1/server.ext" <<EOF
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $SANS
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl x509 -req -in "$1/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$SERVER_DAYS" -extfile "$1/server.ext" \
    -out "$1/server.pem" 2>/dev/null
  rm -f "$1/server.csr" "$1/server.ext"
}

ensure() {
  local tmp
  command -v openssl >/dev/null || die "openssl is missing; run deploy/local/install.sh apt (make setup)"
  mkdir -p "$TLS_DIR"
  # One at a time (two servers starting at once).
  if command -v flock >/dev/null; then
    exec 8>"$TLS_DIR/.lock"
    flock -w 60 8 || die "another tls.sh holds $TLS_DIR/.lock"
  fi
  if [ -s "$TLS_DIR/ca.pem" ] && [ -s "$TLS_DIR/ca.key" ] && server_ok; then
    return 0
  fi
  tmp=$(mktemp -d "$TLS_DIR/.new.XXXXXX")
  # Each file lands whole (rename), the CA before what it signs.
  if ! [ -s "$TLS_DIR/ca.pem" ] || ! [ -s "$TLS_DIR/ca.key" ]; then
    log "making the local CA in $TLS_DIR"
    make_ca "$tmp" || { rm -rf "$tmp"; die "openssl could not make the CA"; }
    mv -f "$tmp/ca.key" "$TLS_DIR/ca.key"
    mv -f "$tmp/ca.pem" "$TLS_DIR/ca.pem"
  fi
  log "making the server certificate ($SANS) in $TLS_DIR"
  make_server "$tmp" || { rm -rf "$tmp"; die "openssl could not make the server certificate"; }
  mv -f "$tmp/server.key" "$TLS_DIR/server.key"
  mv -f "$tmp/server.pem" "$TLS_DIR/server.pem"
  rm -rf "$tmp"
  server_ok || die "the server certificate in $TLS_DIR does not verify against its CA"
}

case "${1:-}" in
  ensure) ensure ;;
  show)
    ensure
    openssl x509 -in "$TLS_DIR/server.pem" -noout -subject -issuer -enddate -ext subjectAltName
    echo "CA: $LOCAL_CA_FILE"
    ;;
  *) die "usage: tls.sh ensure|show" ;;
esac
