"""Loads the Lua scripts once and turns their error replies into EngineError."""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from .errors import EngineError, ErrorCode, Reason

SCRIPT_NAMES = (
    "enqueue",
    "claim",
    "renew",
    "finish",
    "release",
    "progress",
    "cancel",
    "retry",
    "due",
    "workers",
    "schedule_save",
    "schedule_pause",
    "schedule_delete",
    "schedule_fire",
    "pause",
    "priority",
    "delete",
    "bulk",
)
REASONS = frozenset(reason.value for reason in Reason)


def script_source(name: str) -> str:
    """The script with the shared library prepended, as Redis runs it."""
    folder = resources.files(__package__).joinpath("scripts")
    lib = folder.joinpath("_lib.lua").read_text()
    return lib + "\n" + folder.joinpath(f"{name}.lua").read_text()


class Scripts:
    """Every script registered on one client; EVALSHA with a NOSCRIPT fallback."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(script_source(name)) for name in SCRIPT_NAMES
        }
        self._redis = redis

    async def load_all(self) -> None:
        """Load every script now: a start-up check that Redis runs them at all."""
        for script in self._scripts.values():
            script.sha = await self._redis.script_load(script.script)

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._scripts[name](keys=keys, args=args)
        except ResponseError as exc:
            raise as_engine_error(exc) from None


def as_engine_error(exc: ResponseError) -> Exception:
    """`TQ<code> <reason> <message>` replies become EngineError; anything else is kept as is
    (a Redis refusal, which the caller maps, or a bug)."""
    text = str(exc)
    start = text.find("TQ")
    if start >= 0:
        code, _, rest = text[start + 2 :].partition(" ")
        reason, _, message = rest.partition(" ")
        if code.isdigit() and int(code) in ErrorCode._value2member_map_ and reason in REASONS:
            # Redis appends script location details after the message on some versions.
            message = message.split(" script:")[0].strip()
            return EngineError(ErrorCode(int(code)), message, Reason(reason))
    return exc
