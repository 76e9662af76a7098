#!/usr/bin/env bash
# Starts the server with the demo handlers and its default store: a private redis-server
# (its child, data kept in ./.taskqueue-data, AOF on) when redis-server is on PATH, else the
# in-memory store, which keeps nothing. The ready line says which one runs.
# Extra arguments go to taskqueue-server (e.g. --redis-url redis://127.0.0.1:6379/0 to use
# a Redis of your own, or --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ensure_venv
exec taskqueue-server --handlers taskqueue_server.handlers.demo "$@"
