#!/bin/sh
# Entry point of the campaign analytics image (Dockerfile): the first
# argument picks the binary, the others are its own.
#   processor ARGS...   e.g. processor run, processor migrate, processor config check
#   query-api ARGS...   e.g. query-api serve, query-api hash-key KEY
# The binary replaces this shell (it gets the signals: SIGTERM stops it
# gracefully).
set -eu
bin=$(dirname "$0")

case "${1:-help}" in
  processor | query-api)
    name=$1
    shift
    exec "$bin/$name" "$@"
    ;;
  help | --help | -h)
    cat <<'EOF'
campaign analytics: the first argument picks the binary.
  processor run            consume, aggregate, snapshot to ClickHouse
  processor --help         every command (migrate, checkpoint, retention, dlq, config)
  query-api serve          the HTTP API
  query-api hash-key KEY   the sha256 of an API keys file entry
Settings: environment variables (processor run --help, query-api serve --help),
or a config file with ANALYTICS_CONFIG=PATH (example: /etc/campaign-analytics/config.example.toml).
EOF
    ;;
  *)
    echo "unknown binary '$1': processor or query-api (help lists them)" >&2
    exit 64
    ;;
esac
