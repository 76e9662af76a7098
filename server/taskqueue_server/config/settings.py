"""What `taskqueue-server` runs with, as frozen values; config/__init__.py fills them in."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.settings import EngineSettings, RetryPolicy
from .security import SecuritySettings

MiB = 1024 * 1024
# GetResult's reply around the result: task id, status, error text (2,000 chars at most).
REPLY_ENVELOPE_BYTES = 16 * 1024


def default_max_result_bytes(max_message_bytes: int) -> int:
    """1 MiB, or less when a smaller --max-message-bytes leaves no room for it."""
    return max(1, min(MiB, max_message_bytes - REPLY_ENVELOPE_BYTES))


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Service-side limits on what one request may carry; defaults are the documented ones."""

    max_task_data_bytes: int = 1024 * 1024
    max_batch_size: int = 1000
    accept_unknown_types: bool = False


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything `taskqueue-server` runs with. `redis_url` None means the embedded store."""

    host: str = "127.0.0.1"
    port: int = 50051
    # The HTTP port beside gRPC (/metrics, /healthz, /readyz, REST); 0 turns it off.
    http_port: int = 8080
    redis_url: str | None = None
    handlers: tuple[str, ...] = ()
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 16
    # Server processes sharing the ports (supervisor.py); each runs `concurrency` handlers.
    processes: int = 1
    limits: RequestLimits = field(default_factory=RequestLimits)
    max_message_bytes: int = 4 * MiB
    max_result_bytes: int = MiB
    max_concurrent_streams: int = 2048
    # One count for every open RPC: WatchTask streams and GetResult waits hold a slot while
    # open, so watchers are capped below it and 256 slots are always left to other calls
    # (the benchmark's 32 unary callers never reach them).
    max_concurrent_rpcs: int = 1280
    max_watch_streams: int = 1024
    shutdown_grace_seconds: float = 25.0
    health_interval_seconds: float = 0.5
    log_level: str = "INFO"
    # "auto": uvloop where installed (cheaper per gRPC call and per Redis reply), else asyncio's
    event_loop: str = "auto"
    engine: EngineSettings = field(default_factory=EngineSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    def __post_init__(self) -> None:
        if self.processes > 1 and not self.redis_url:
            raise ValueError(
                f"--processes {self.processes} needs --redis-url: without it each process "
                "would start a default store of its own (one private redis-server per data "
                "directory) and see none of the others' tasks"
            )
        if self.max_result_bytes > self.max_message_bytes - REPLY_ENVELOPE_BYTES:
            raise ValueError(
                f"--max-result-bytes ({self.max_result_bytes}) must stay at least "
                f"{REPLY_ENVELOPE_BYTES} bytes below --max-message-bytes "
                f"({self.max_message_bytes}), room for the rest of GetResult's reply, or a "
                "result could be stored that no client can read; lower --max-result-bytes "
                "or raise --max-message-bytes"
            )
        if self.max_watch_streams >= self.max_concurrent_rpcs:
            raise ValueError(
                f"--max-watch-streams ({self.max_watch_streams}) must be below "
                f"--max-concurrent-rpcs ({self.max_concurrent_rpcs}): every open WatchTask "
                "holds one of the server's RPC slots, and watchers must leave some to other "
                "calls; lower --max-watch-streams or raise --max-concurrent-rpcs"
            )
