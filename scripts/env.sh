# Shared set-up for the project's scripts: a virtualenv with both packages, and a Redis.
# Sourced, not run.

ensure_venv() {
  local stamp=.venv/.installed
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # Reinstall only when the package definitions changed since the last install.
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] || [ client/pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ./client -e '.[dev]'
    touch "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
  export VIRTUAL_ENV="$PWD/.venv"
}

# The clock-skew drill (tests/chaos/test_clock_skew.py) runs a server under libfaketime.
ensure_faketime() {
  if ! command -v faketime >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq faketime >/dev/null
  fi
}

ensure_redis() {
  ensure_faketime
  export TASKQUEUE_TEST_REDIS_URL="${TASKQUEUE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    return
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  echo "no Redis answered on 127.0.0.1:6379; starting one"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/taskqueue-test-redis.log
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "Redis did not start; see /tmp/taskqueue-test-redis.log" >&2
  exit 1
}

# Debian packages the tests drive for real: promtool and Prometheus (deploy/ checks), and
# chromium for the dashboard's browser tests (Playwright drives it; never `playwright install`).
ensure_system_tools() {
  local missing=()
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return
  echo "installing ${missing[*]} from Debian"
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
}
