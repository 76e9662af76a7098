"""Server settings from flags and environment: a flag wins over TASKQUEUE_*, which wins over
the default. Every flag --some-name has the variable TASKQUEUE_SOME_NAME."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .engine.settings import EngineSettings, RetryPolicy
from .service.security import SecuritySettings, security_from
from .service.validation import InvalidArgument, RequestLimits, check_queue

ENV_PREFIX = "TASKQUEUE_"
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything `taskqueue-server` runs with. `redis_url` None means the embedded store."""

    host: str = "127.0.0.1"
    port: int = 50051
    redis_url: str | None = None
    handlers: tuple[str, ...] = ()
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 16
    limits: RequestLimits = field(default_factory=RequestLimits)
    max_message_bytes: int = 4 * MiB
    max_concurrent_streams: int = 2048
    # One count for every open RPC: WatchTask streams and GetResult waits hold a slot while
    # open, so watchers are capped below it and 256 slots are always left to other calls
    # (the benchmark's 32 unary callers never reach them).
    max_concurrent_rpcs: int = 1280
    max_watch_streams: int = 1024
    shutdown_grace_seconds: float = 25.0
    health_interval_seconds: float = 0.5
    log_level: str = "INFO"
    engine: EngineSettings = field(default_factory=EngineSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    def __post_init__(self) -> None:
        if self.max_watch_streams >= self.max_concurrent_rpcs:
            raise ValueError(
                f"--max-watch-streams ({self.max_watch_streams}) must be below "
                f"--max-concurrent-rpcs ({self.max_concurrent_rpcs}): every open WatchTask "
                "holds one of the server's RPC slots, and watchers must leave some to other "
                "calls; lower --max-watch-streams or raise --max-concurrent-rpcs"
            )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be 0 (any free port) to 65535")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError("must be a finite, non-negative number of seconds")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise ValueError("must be more than 0")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1")
    return value


def _factor(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 100:
        raise ValueError("must be between 1 and 100")
    return value


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return level


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("use true or false")


_D = ServerSettings()
_E = EngineSettings()
_R = RetryPolicy()
# (flag, parser, default, help). Lists (--handlers, --queues) take repeats or commas.
_OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("--host", str, _D.host, "address to listen on; 0.0.0.0 for every interface"),
    ("--port", _port, _D.port, "port to listen on; 0 picks a free one (the ready line shows it)"),
    (
        "--redis-url",
        str,
        None,
        "redis:// or rediss:// URL; unset runs the embedded, non-durable in-memory store",
    ),
    ("--handlers", _names, [], "module that registers handlers (repeatable, or comma separated)"),
    ("--queues", _names, list(_D.queues), "queues this server's workers take tasks from"),
    ("--concurrency", _positive_int, _D.concurrency, "handlers running at once"),
    (
        "--lease-seconds",
        _positive_seconds,
        _E.lease_seconds,
        "lease of a claimed task, renewed while its handler runs",
    ),
    ("--key-prefix", str, _E.key_prefix, "prefix of every Redis key"),
    (
        "--max-task-data-bytes",
        _positive_int,
        RequestLimits().max_task_data_bytes,
        "largest task_data accepted, as JSON",
    ),
    (
        "--max-batch-size",
        _positive_int,
        RequestLimits().max_batch_size,
        "most tasks per EnqueueBatch",
    ),
    ("--max-message-bytes", _positive_int, _D.max_message_bytes, "largest gRPC message"),
    (
        "--max-concurrent-streams",
        _positive_int,
        _D.max_concurrent_streams,
        "concurrent calls per client connection",
    ),
    (
        "--max-concurrent-rpcs",
        _positive_int,
        _D.max_concurrent_rpcs,
        "concurrent RPCs per server, open streams and waits included; past it "
        "RESOURCE_EXHAUSTED at once",
    ),
    (
        "--max-watch-streams",
        _positive_int,
        _D.max_watch_streams,
        "concurrent WatchTask streams per server, below --max-concurrent-rpcs; past it "
        "RESOURCE_EXHAUSTED",
    ),
    (
        "--max-queue-length",
        _non_negative_int,
        _E.max_queue_length,
        "live tasks per queue; 0 means no limit",
    ),
    (
        "--shutdown-grace-seconds",
        _seconds,
        _D.shutdown_grace_seconds,
        "on SIGTERM, how long running handlers may finish before their tasks are handed back",
    ),
    ("--retry-base-seconds", _positive_seconds, _R.base_seconds, "backoff after the first failure"),
    ("--retry-factor", _factor, _R.factor, "backoff growth per failed attempt"),
    ("--retry-cap-seconds", _positive_seconds, _R.cap_seconds, "longest backoff"),
    ("--retry-jitter", _fraction, _R.jitter, "random spread of each backoff, as a fraction"),
    ("--task-ttl-seconds", _positive_int, _E.task_ttl_seconds, "how long finished tasks are kept"),
    ("--result-ttl-seconds", _positive_int, _E.result_ttl_seconds, "how long results are kept"),
    (
        "--redelivery-cap",
        _positive_int,
        _E.redelivery_cap,
        "worker deaths in a row before a task fails as poison",
    ),
    (
        "--accept-unknown-types",
        _flag,
        False,
        "accept task types no handler here is registered for (servers that only take work in)",
    ),
    ("--tls-cert", str, None, "PEM certificate chain; with --tls-key the port serves TLS only"),
    ("--tls-key", str, None, "PEM private key for --tls-cert"),
    (
        "--tls-client-ca",
        str,
        None,
        "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)",
    ),
    (
        "--auth-tokens-file",
        str,
        None,
        "file of '<role> <token>' lines, role producer or admin (also TASKQUEUE_AUTH_TOKENS="
        "'role:token,...'); with neither, auth is off",
    ),
    (
        "--auth-open-health",
        _flag,
        True,
        "health and reflection need no token; false: they need any valid token",
    ),
    ("--log-level", _log_level, _D.log_level, "DEBUG, INFO, WARNING or ERROR"),
]


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskqueue-server",
        description="The taskqueue gRPC server: stores tasks in Redis and runs their handlers.",
        epilog="Every flag can also be set by environment: --lease-seconds is "
        "TASKQUEUE_LEASE_SECONDS. Lists in the environment are comma separated.",
    )
    for flag, _parse, default, text in _OPTIONS:
        hint = f" [env {env_name(flag)}; default {default!r}]"
        if flag == "--accept-unknown-types":
            parser.add_argument(flag, action="store_true", default=None, help=text + hint)
        elif flag in ("--handlers", "--queues"):
            parser.add_argument(flag, action="append", default=None, help=text + hint)
        else:
            parser.add_argument(flag, default=None, help=text + hint)
    return parser


def load_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> ServerSettings:
    """Parse flags and environment; a bad value exits with status 2 and names its source."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    args = vars(parser.parse_args(list(argv)))
    values: dict[str, Any] = {}
    for flag, parse, default, _text in _OPTIONS:
        key = flag.lstrip("-").replace("-", "_")
        given = args[key]
        source = flag
        if given is None and env.get(env_name(flag), "") != "":
            given, source = env[env_name(flag)], env_name(flag)
        if given is None:
            values[key] = default
            continue
        try:
            if isinstance(given, list):  # repeated --handlers/--queues, each maybe a,b
                values[key] = [name for item in given for name in _names(item)]
            elif isinstance(given, bool):
                values[key] = given
            else:
                values[key] = parse(given)
        except ValueError as exc:
            parser.error(f"{source}={given!r}: {exc}")
    try:
        queues = tuple(check_queue(q, "--queues") for q in values["queues"]) or ("default",)
    except InvalidArgument as exc:
        parser.error(exc.message)
    try:
        return _settings_from(values, queues, env)
    except ValueError as exc:  # settings that cannot work together (here, service/security.py)
        parser.error(str(exc))


def _settings_from(
    values: dict[str, Any], queues: tuple[str, ...], env: Mapping[str, str]
) -> ServerSettings:
    engine_extra: dict[str, Any] = {}
    if env.get("TASKQUEUE_PAGE_TOKEN_SECRET"):
        # Servers sharing a Redis must share it, or a page token from one fails on another.
        engine_extra["page_token_secret"] = env["TASKQUEUE_PAGE_TOKEN_SECRET"].encode()
    return ServerSettings(
        host=values["host"],
        port=values["port"],
        redis_url=values["redis_url"] or None,
        handlers=tuple(dict.fromkeys(values["handlers"])),
        queues=tuple(dict.fromkeys(queues)),
        concurrency=values["concurrency"],
        limits=RequestLimits(
            max_task_data_bytes=values["max_task_data_bytes"],
            max_batch_size=values["max_batch_size"],
            accept_unknown_types=values["accept_unknown_types"],
        ),
        max_message_bytes=values["max_message_bytes"],
        max_concurrent_streams=values["max_concurrent_streams"],
        max_concurrent_rpcs=values["max_concurrent_rpcs"],
        max_watch_streams=values["max_watch_streams"],
        shutdown_grace_seconds=values["shutdown_grace_seconds"],
        log_level=values["log_level"],
        engine=EngineSettings(
            key_prefix=values["key_prefix"],
            lease_seconds=values["lease_seconds"],
            redelivery_cap=values["redelivery_cap"],
            task_ttl_seconds=values["task_ttl_seconds"],
            result_ttl_seconds=values["result_ttl_seconds"],
            max_queue_length=values["max_queue_length"],
            **engine_extra,
        ),
        retry=RetryPolicy(
            base_seconds=values["retry_base_seconds"],
            factor=values["retry_factor"],
            cap_seconds=values["retry_cap_seconds"],
            jitter=values["retry_jitter"],
        ),
        security=security_from(values, env),
    )


def redact_url(url: str | None) -> str:
    """The URL with any password (in the userinfo or a password= parameter) masked."""
    if not url:
        return "embedded in-memory store (not durable)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable redis url>"
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
