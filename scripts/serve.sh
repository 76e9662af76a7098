#!/usr/bin/env bash
# Starts the server with the embedded in-memory store and the demo handlers.
# Extra arguments go to taskqueue-server (e.g. --redis-url redis://127.0.0.1:6379/0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ensure_venv
exec taskqueue-server --handlers taskqueue_server.handlers.demo "$@"
