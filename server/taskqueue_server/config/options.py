"""The flag table of `taskqueue-server`: each flag's parser, default and help text."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from ..engine.settings import EngineSettings, RetryPolicy
from .settings import RequestLimits, ServerSettings


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


def _processes(text: str) -> int:
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    return _positive_int(text)


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return level


def _event_loop(text: str) -> str:
    name = text.strip().lower()
    if name not in ("auto", "uvloop", "asyncio"):
        raise ValueError("use auto, uvloop or asyncio")
    return name


def names(text: str) -> list[str]:
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
OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("--host", str, _D.host, "address to listen on; 0.0.0.0 for every interface"),
    ("--port", _port, _D.port, "port to listen on; 0 picks a free one (the ready line shows it)"),
    (
        "--http-port",
        _port,
        _D.http_port,
        "HTTP port for /metrics, /healthz, /readyz and the REST endpoints; 0 turns it off",
    ),
    (
        "--redis-url",
        str,
        None,
        "redis:// or rediss:// URL, redis+cluster://host:port,host:port for Redis Cluster, "
        "redis+sentinel://host:port,host:port/mastername[/db] for Sentinel; unset runs a "
        "private redis-server (data in --data-dir), or without redis-server on PATH the "
        "non-durable in-memory store",
    ),
    (
        "--redis-wait-replicas",
        _non_negative_int,
        _E.wait_replicas,
        "acknowledge an enqueue only once this many Redis replicas have it (WAIT, up to 2 s; "
        "else UNAVAILABLE); 0 = asynchronous replication, which a failover can lose",
    ),
    ("--data-dir", str, _E.data_dir, "without --redis-url: the private redis-server's data"),
    ("--handlers", names, [], "module that registers handlers (repeatable, or comma separated)"),
    ("--queues", names, list(_D.queues), "queues this server's workers take tasks from"),
    (
        "--indexed-labels",
        names,
        list(_E.indexed_labels),
        "label keys ListTasks can filter by (one Redis index each; comma separated)",
    ),
    ("--concurrency", _positive_int, _D.concurrency, "handlers running at once, per process"),
    (
        "--processes",
        _processes,
        _D.processes,
        "server processes sharing the ports, 'auto' for one per core; above 1 needs --redis-url",
    ),
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
        "--max-result-bytes",
        _positive_int,
        None,
        "largest handler result stored, as JSON (or as protobuf, if larger); a larger one "
        "fails its task for good; unset: 1 MiB, or less to fit --max-message-bytes",
    ),
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
        "accept task types no server sharing the store has a handler for (the tasks wait "
        "for a worker that has one)",
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
        "file of '<role> <token>' lines, role producer, worker or admin "
        "(also TASKQUEUE_AUTH_TOKENS='role:token,...'); with neither, auth is off",
    ),
    (
        "--auth-open-health",
        _flag,
        True,
        "health and reflection need no token; false: they need any valid token",
    ),
    ("--log-level", _log_level, _D.log_level, "DEBUG, INFO, WARNING or ERROR"),
    (
        "--event-loop",
        _event_loop,
        _D.event_loop,
        "uvloop, asyncio, or auto: uvloop where it is installed, else asyncio's own loop",
    ),
]
