"""Settings: a flag wins over TASKQUEUE_*, which wins over the default; secrets stay out of logs."""

from __future__ import annotations

import pytest
from taskqueue_server.config import env_name, load_settings, redact_url


def test_defaults() -> None:
    settings = load_settings([], {})
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 50051, None)
    assert settings.concurrency == 16 and settings.engine.lease_seconds == 30.0
    assert settings.queues == ("default",) and settings.handlers == ()
    assert settings.limits.max_task_data_bytes == 1024 * 1024
    assert settings.limits.max_batch_size == 1000
    assert settings.engine.key_prefix == "taskqueue"
    assert not settings.limits.accept_unknown_types
    assert settings.event_loop == "auto"
    assert load_settings([], {"TASKQUEUE_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


def test_environment_names_follow_the_flags() -> None:
    assert env_name("--redis-url") == "TASKQUEUE_REDIS_URL"
    env = {
        "TASKQUEUE_HOST": "0.0.0.0",
        "TASKQUEUE_PORT": "6000",
        "TASKQUEUE_REDIS_URL": "redis://r:6379/1",
        "TASKQUEUE_HANDLERS": "a.b, c.d",
        "TASKQUEUE_CONCURRENCY": "4",
        "TASKQUEUE_LEASE_SECONDS": "7.5",
        "TASKQUEUE_ACCEPT_UNKNOWN_TYPES": "true",
        "TASKQUEUE_RETRY_BASE_SECONDS": "0.2",
    }
    settings = load_settings([], env)
    assert (settings.host, settings.port, settings.redis_url) == ("0.0.0.0", 6000, "redis://r:6379/1")
    assert settings.handlers == ("a.b", "c.d")
    assert settings.concurrency == 4 and settings.engine.lease_seconds == 7.5
    assert settings.limits.accept_unknown_types
    assert settings.retry.base_seconds == 0.2


def test_flags_win_over_the_environment_and_repeat() -> None:
    settings = load_settings(
        ["--port", "0", "--handlers", "x", "--handlers", "y,z", "--queues", "a,b"],
        {"TASKQUEUE_PORT": "7000", "TASKQUEUE_HANDLERS": "ignored"},
    )
    assert settings.port == 0
    assert settings.handlers == ("x", "y", "z")
    assert settings.queues == ("a", "b")


@pytest.mark.parametrize(
    "argv",
    [["--port", "70000"], ["--concurrency", "0"], ["--lease-seconds", "nan"],
     ["--retry-jitter", "2"], ["--queues", "bad queue"], ["--log-level", "loud"],
     ["--event-loop", "trio"]],
)
def test_bad_values_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        load_settings(argv, {})
    assert info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_bad_environment_values_name_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings([], {"TASKQUEUE_CONCURRENCY": "many"})
    assert "TASKQUEUE_CONCURRENCY" in capsys.readouterr().err


def test_results_must_fit_in_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_settings([], {}).max_result_bytes == 1024 * 1024
    env = {"TASKQUEUE_MAX_RESULT_BYTES": "2000000"}
    assert load_settings([], env).max_result_bytes == 2_000_000
    with pytest.raises(SystemExit) as info:
        load_settings(["--max-result-bytes", str(4 * 1024 * 1024)], {})
    assert info.value.code == 2
    assert "--max-result-bytes (4194304) must stay" in capsys.readouterr().err
    raised = ["--max-result-bytes", "8000000", "--max-message-bytes", "9000000"]
    assert load_settings(raised, {}).max_result_bytes == 8_000_000
    # Unset, it shrinks to fit a smaller message limit instead of refusing to start.
    assert load_settings(["--max-message-bytes", "65536"], {}).max_result_bytes == 49152


def test_redis_passwords_are_redacted() -> None:
    assert redact_url("redis://:hunter2@h:6379/0") == "redis://:***@h:6379/0"
    assert "hunter2" not in redact_url("rediss://user:hunter2@h/0?password=hunter2")
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert "not durable" in redact_url(None)
