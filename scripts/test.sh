#!/usr/bin/env bash
# The whole test suite: installs what it needs into .venv, starts a Redis when none answers,
# checks generated stubs, lint, types, the contract, the docs site and both packages' builds,
# then runs pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/engine -x).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ensure_venv
ensure_redis
ensure_system_tools

echo "== generated stubs"; bash scripts/gen_proto.sh --check
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== buf lint"; buf lint
if git rev-parse -q --verify origin/main >/dev/null 2>&1 || git rev-parse -q --verify main >/dev/null 2>&1; then
  echo "== buf breaking"; bash scripts/buf_breaking.sh
fi
built="$(mktemp -d)"; trap 'rm -rf "$built"' EXIT
echo "== docs site"; NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$built/site"
echo "== packages"; bash scripts/build_packages.sh "$built/dist"
echo "== pytest"; python -m pytest "$@"
