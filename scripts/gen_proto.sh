#!/usr/bin/env bash
# Regenerates the Python stubs shipped in client/ from proto/.
# With --check, generates into a temporary folder and fails if the committed stubs differ.
set -euo pipefail
cd "$(dirname "$0")/.."
out=client
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
python -m grpc_tools.protoc -Iproto \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  proto/taskqueue/v1/taskqueue.proto proto/taskqueue/v1/worker.proto proto/taskqueue/v1/schedule.proto
if [ "${1:-}" = "--check" ]; then
  for f in "$out"/taskqueue/v1/*; do
    if ! cmp -s "$f" "client/taskqueue/v1/$(basename "$f")"; then
      echo "stale generated stub: client/taskqueue/v1/$(basename "$f"); run scripts/gen_proto.sh" >&2
      exit 1
    fi
  done
  echo "generated stubs are current"
fi
