"""--max-concurrent-rpcs: the server-wide RPC limit, and the watch cap that must stay below it."""

from __future__ import annotations

import pytest
from taskqueue_server.config import ServerSettings, load_settings

BENCH_UNARY_CALLERS = 32  # bench/service_bench.py's unary load
BENCH_WATCHERS = 1000  # bench/service_bench.py's WatchTask round


def test_defaults_leave_unary_calls_room_beside_a_full_watch_cap() -> None:
    settings = load_settings([], {})
    assert settings.max_watch_streams < settings.max_concurrent_rpcs
    assert settings.max_watch_streams >= BENCH_WATCHERS
    # Even with every watch slot taken, the benchmark's callers never meet the limit.
    assert settings.max_concurrent_rpcs - settings.max_watch_streams >= 8 * BENCH_UNARY_CALLERS
    # One connection meets the server-wide limit (an at-once refusal) before its own
    # stream limit (where the client queues calls until their deadline).
    assert settings.max_concurrent_rpcs < settings.max_concurrent_streams


def test_flag_and_environment_set_the_limit() -> None:
    assert load_settings(["--max-concurrent-rpcs", "64", "--max-watch-streams", "32"], {}) \
        .max_concurrent_rpcs == 64  # fmt: skip
    env = {"TASKQUEUE_MAX_CONCURRENT_RPCS": "300", "TASKQUEUE_MAX_WATCH_STREAMS": "200"}
    settings = load_settings([], env)
    assert (settings.max_concurrent_rpcs, settings.max_watch_streams) == (300, 200)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--max-concurrent-rpcs", "100"], {}),  # below the default watch cap
        (["--max-watch-streams", "5000"], {}),
        (["--max-concurrent-rpcs", "8", "--max-watch-streams", "8"], {}),
        ([], {"TASKQUEUE_MAX_CONCURRENT_RPCS": "16", "TASKQUEUE_MAX_WATCH_STREAMS": "16"}),
    ],
)
def test_watch_cap_not_below_the_rpc_limit_exits_with_usage(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        load_settings(argv, env)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--max-watch-streams" in err and "--max-concurrent-rpcs" in err
    assert "must be below" in err


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_limit_must_be_a_positive_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(["--max-concurrent-rpcs", value], {})
    assert "--max-concurrent-rpcs" in capsys.readouterr().err


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="must be below"):
        ServerSettings(max_concurrent_rpcs=10, max_watch_streams=10)
