#!/usr/bin/env bash
# Fails when the contract breaks compatibility with the last landed version on main.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=main
git rev-parse -q --verify origin/main >/dev/null 2>&1 && ref=origin/main
if ! git cat-file -e "$ref:proto/taskqueue/v1/taskqueue.proto" 2>/dev/null; then
  echo "no landed contract on $ref yet; nothing to compare"
  exit 0
fi
buf breaking --against ".git#ref=$ref"
