"""The Lua scripts themselves: every error code and reason they can return is one Python knows."""

from __future__ import annotations

import re
from importlib import resources

from redis.exceptions import ResponseError
from taskqueue_server.engine.errors import DEFAULT_REASON, EngineError, ErrorCode, Reason
from taskqueue_server.engine.scripts import SCRIPT_NAMES, as_engine_error, script_source
from taskqueue_server.engine.store import RedisEngine


def test_every_code_a_script_returns_is_mapped() -> None:
    folder = resources.files("taskqueue_server.engine").joinpath("scripts")
    lua = "\n".join(f.read_text() for f in folder.iterdir() if f.name.endswith(".lua"))
    codes = {int(c) for c in re.findall(r"fail_with\((\d+)", lua)}
    codes |= {int(c) for c in re.findall(r"return nil, \{(\d+),", lua)}
    assert codes, "the pattern must find the scripts' codes"
    assert codes <= {code.value for code in ErrorCode}


def test_every_reason_a_script_returns_is_a_known_reason() -> None:
    folder = resources.files("taskqueue_server.engine").joinpath("scripts")
    lua = "\n".join(f.read_text() for f in folder.iterdir() if f.name.endswith(".lua"))
    reasons = set(re.findall(r"fail_with\(\d+, '(\w+)'", lua))
    reasons |= set(re.findall(r"return nil, \{\d+, '(\w+)'", lua))
    assert len(reasons) >= 6, "the pattern must find the scripts' reasons"
    assert reasons <= {reason.value for reason in Reason}


def test_every_code_has_a_default_reason() -> None:
    assert set(DEFAULT_REASON) == set(ErrorCode)
    for code in ErrorCode:
        assert EngineError(code, "why").reason is DEFAULT_REASON[code]


def test_every_script_file_is_loaded_and_documents_its_keys() -> None:
    folder = resources.files("taskqueue_server.engine").joinpath("scripts")
    lua_files = {f.name[:-4] for f in folder.iterdir() if f.name.endswith(".lua")}
    files = lua_files - {"_lib", "_claim"}
    assert files == set(SCRIPT_NAMES)
    for name in SCRIPT_NAMES:
        header = folder.joinpath(f"{name}.lua").read_text().split("\nlocal ", 1)[0]
        assert "KEYS[1]" in header and "ARGV[1]" in header, name
        assert script_source(name).startswith(folder.joinpath("_lib.lua").read_text())


def test_error_replies_become_engine_errors() -> None:
    error = as_engine_error(
        ResponseError("TQ3 TASK_TERMINAL task x is already completed script: abc")
    )
    assert isinstance(error, EngineError)
    assert (error.code, error.reason, error.message) == (
        ErrorCode.FAILED_PRECONDITION,
        Reason.TASK_TERMINAL,
        "task x is already completed",
    )
    unknown = ResponseError("ERR something else")
    assert as_engine_error(unknown) is unknown


async def test_lua_and_python_spell_every_key_alike(engine: RedisEngine) -> None:
    """_lib.lua's key builders and engine/keys.py name the same keys, on Redis itself."""
    keys = engine.keys("q1")
    expected = {
        "task_key('x')": keys.task("x"),
        "data_key('x')": keys.data("x"),
        "result_key('x')": keys.result("x"),
        "ready_key('x')": keys.ready("x"),
        "wake_key('x')": keys.wake("x"),
        "status_key('pending')": keys.by_status("pending"),
        "deps_key('x')": keys.dependents("x"),
        "idem_key('x')": keys.idempotency("x"),
        "unique_key('x')": keys.unique("x"),
        "events_channel('x')": keys.task_events("x"),
        "expiring_key(7)": keys.expiring(7),
        "SCHEDULED_KEY": keys.scheduled,
        "DEADLINE_KEY": keys.start_deadlines,
        "COUNTS_KEY": keys.counts,
        "TOTALS_KEY": keys.totals,
        "LIVE_KEY": keys.live_count,
        "EXPIRY_KEY": keys.expiry,
        "TIMER_CHANNEL": keys.timer_channel,
        "CANCEL_CHANNEL": keys.cancel_channel,
        "PAUSED_KEY": keys.paused,
        "SEQ_KEY": keys.seq,
        "LIMITS_KEY": keys.limits,
    }
    lib = resources.files("taskqueue_server.engine").joinpath("scripts/_lib.lua").read_text()
    probe = lib + "\nreturn {" + ", ".join(expected) + "}"
    spelled = await engine.redis.eval(probe, 0, keys.base)  # type: ignore[misc]
    assert [s.decode() for s in spelled] == list(expected.values())


def test_scripts_publish_through_the_cluster_aware_name() -> None:
    """On Redis Cluster scripts.py turns _lib.lua's PUBLISH into SPUBLISH; a script that spells
    'PUBLISH' itself would send plain pub/sub there, which sharded subscribers never hear."""
    folder = resources.files("taskqueue_server.engine").joinpath("scripts")
    spelled = [
        f"{name}: {line.strip()}"
        for name in (*SCRIPT_NAMES, "_lib")
        for line in folder.joinpath(f"{name}.lua").read_text().splitlines()
        if re.search(r"redis\.call\(\s*['\"]S?PUBLISH['\"]", line)
    ]
    assert spelled == []
