"""One real server for the fuzz tests (auth on, demo handlers), on its own key prefix."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess


@dataclass(frozen=True)
class FuzzServer:
    process: ServerProcess
    producer: str
    admin: str


@pytest.fixture(scope="package")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"the fuzz tests need Redis at {REDIS_URL}: {exc}")
    producer, admin = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    tokens: Path = tmp_path_factory.mktemp("fuzz") / "tokens"
    tokens.write_text(f"producer {producer}\nadmin {admin}\n")
    with ServerFactory() as factory:
        server = factory.start(
            extra_args=["--auth-tokens-file", str(tokens), "--queues", "default,fuzz_a"]
        )
        yield FuzzServer(server, producer, admin)
