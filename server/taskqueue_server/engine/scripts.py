"""Loads the Lua scripts once and turns their error replies into EngineError."""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

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
    "limits",
    "newest",
)
SHARED = ("_lib.lua", "_claim.lua")  # prepended to every script, in this order
REASONS = frozenset(reason.value for reason in Reason)


PUBLISH_LINE = "local PUBLISH = 'PUBLISH'"


# The script itself runs as a function, so the counter changes it summed are applied after
# whichever `return` ends it (flush_counts in _lib.lua).
MAIN_OPEN = "local function main()"
MAIN_CLOSE = "end\nlocal reply = main()\nflush_counts()\nreturn reply"


def script_source(name: str, sharded: bool = False) -> str:
    """The script with the shared libraries prepended, as Redis runs it; `sharded` (Redis
    Cluster) publishes with SPUBLISH, which the channel's shard alone relays."""
    folder = resources.files(__package__).joinpath("scripts")
    libs = [folder.joinpath(lib).read_text() for lib in SHARED]
    if sharded:
        libs[0] = libs[0].replace(PUBLISH_LINE, "local PUBLISH = 'SPUBLISH'")
    body = folder.joinpath(f"{name}.lua").read_text()
    return "\n".join([*libs, MAIN_OPEN, body, MAIN_CLOSE])


class Scripts:
    """Every script registered on one client; EVALSHA with a NOSCRIPT fallback."""

    def __init__(self, redis: Redis, sharded: bool = False) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(script_source(name, sharded)) for name in SCRIPT_NAMES
        }
        self._redis = redis
        self._sharded = sharded

    async def load_all(self) -> None:
        """Load every script now: a start-up check that Redis runs them at all."""
        for script in self._scripts.values():
            script.sha = await self._redis.script_load(script.script)

    def script(self, name: str) -> AsyncScript:
        return self._scripts[name]

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        try:
            try:
                return await script(keys=keys, args=args)
            except NoScriptError:
                if not self._sharded:
                    raise
                # A replica promoted since start-up lacks our scripts, and the cluster
                # client's own reload went to the primaries it knew before the failover:
                # load it on the node that owns the slot now, then run it again.
                node = self._redis.get_node_from_key(keys[0])  # type: ignore[attr-defined]
                await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "SCRIPT LOAD", script.script, target_nodes=node
                )
                return await script(keys=keys, args=args)
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
