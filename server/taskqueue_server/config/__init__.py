"""Settings from flags and the environment (every flag has a TASKQUEUE_* variable).

Stdlib and settings only: `--help` stays cheap, and nothing here imports the service.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..engine.errors import EngineError
from ..engine.ids import check_queue
from ..engine.redis_url import parse_redis_url
from ..engine.settings import EngineSettings, RetryPolicy
from .options import OPTIONS, names
from .security import security_from
from .settings import RequestLimits, ServerSettings, default_max_result_bytes

__all__ = ["RequestLimits", "ServerSettings", "env_name", "load_settings", "redact_url"]

ENV_PREFIX = "TASKQUEUE_"


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskqueue-server",
        description="The taskqueue gRPC server: stores tasks in Redis and runs their handlers.",
        epilog="Every flag can also be set by environment: --lease-seconds is "
        "TASKQUEUE_LEASE_SECONDS. Lists in the environment are comma separated.",
    )
    for flag, _parse, default, text in OPTIONS:
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
    for flag, parse, default, _text in OPTIONS:
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
                values[key] = [name for item in given for name in names(item)]
            elif isinstance(given, bool):
                values[key] = given
            else:
                values[key] = parse(given)
        except ValueError as exc:
            parser.error(f"{source}={given!r}: {exc}")
    if values["redis_url"]:
        try:
            parse_redis_url(values["redis_url"])
        except ValueError as exc:
            parser.error(f"--redis-url: {exc}")
    try:
        queues = tuple(check_queue(q) for q in values["queues"]) or ("default",)
    except EngineError as exc:
        parser.error(f"--queues: {exc.message}")
    try:
        return _settings_from(values, queues, env)
    except ValueError as exc:  # settings that cannot work together (here, service/security.py)
        parser.error(str(exc))


def _settings_from(
    values: dict[str, Any], queues: tuple[str, ...], env: Mapping[str, str]
) -> ServerSettings:
    engine_extra: dict[str, Any] = {}
    if env.get("TASKQUEUE_PAGE_TOKEN_SECRET"):
        # Unset, the engine uses the deployment's random secret kept in Redis. When set,
        # every server sharing the Redis needs the same value, or their tokens differ.
        engine_extra["page_token_secret"] = env["TASKQUEUE_PAGE_TOKEN_SECRET"].encode()
    return ServerSettings(
        host=values["host"],
        port=values["port"],
        http_port=values["http_port"],
        redis_url=values["redis_url"] or None,
        handlers=tuple(dict.fromkeys(values["handlers"])),
        queues=tuple(dict.fromkeys(queues)),
        concurrency=values["concurrency"],
        processes=values["processes"],
        limits=RequestLimits(
            max_task_data_bytes=values["max_task_data_bytes"],
            max_batch_size=values["max_batch_size"],
            accept_unknown_types=values["accept_unknown_types"],
        ),
        max_message_bytes=values["max_message_bytes"],
        max_result_bytes=values["max_result_bytes"]
        or default_max_result_bytes(values["max_message_bytes"]),
        max_concurrent_streams=values["max_concurrent_streams"],
        max_concurrent_rpcs=values["max_concurrent_rpcs"],
        max_watch_streams=values["max_watch_streams"],
        shutdown_grace_seconds=values["shutdown_grace_seconds"],
        log_level=values["log_level"],
        event_loop=values["event_loop"],
        engine=EngineSettings(
            key_prefix=values["key_prefix"],
            lease_seconds=values["lease_seconds"],
            redelivery_cap=values["redelivery_cap"],
            task_ttl_seconds=values["task_ttl_seconds"],
            result_ttl_seconds=values["result_ttl_seconds"],
            max_queue_length=values["max_queue_length"],
            indexed_labels=tuple(values["indexed_labels"]),
            data_dir=values["data_dir"],
            wait_replicas=values["redis_wait_replicas"],
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
        if "," not in parts.netloc:  # redis+cluster/sentinel list several host:port
            parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return "<unparseable redis url>"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
