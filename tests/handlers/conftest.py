"""Fixtures for the built-in handler tests: task contexts, loopback SMTP servers, TLS material."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from fake_github_server import FakeGitHub
from fake_smtp_server import Recorder, SmtpServer
from taskqueue_server.worker.context import TaskContext

ContextFactory = Callable[..., TaskContext]


@pytest.fixture
def progress() -> list[tuple[int, str]]:
    """Every progress report the handler made, in order."""
    return []


@pytest.fixture
def make_ctx(progress: list[tuple[int, str]]) -> ContextFactory:
    """Build the TaskContext the worker would pass; same task_id across attempts if given."""

    def make(task_type: str = "send_email", *, attempt: int = 1,
             task_id: str | None = None) -> TaskContext:
        async def sink(pct: int, message: str) -> None:
            progress.append((pct, message))

        return TaskContext(task_id=task_id or uuid.uuid4().hex, task_type=task_type,
                           queue="default", attempt=attempt, max_retries=3,
                           _progress_sink=sink, _loop=asyncio.get_running_loop())

    return make


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's TASKQUEUE_SMTP_* / GITHUB_* settings leak into a test."""
    import os

    for name in list(os.environ):
        if name.startswith(("TASKQUEUE_SMTP_", "TASKQUEUE_GITHUB_", "TASKQUEUE_EMAIL_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def smtp(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A plain SMTP server, and the environment pointing the handlers at it."""
    server = SmtpServer(recorder)
    monkeypatch.setenv("TASKQUEUE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKQUEUE_SMTP_PORT", str(server.port))
    monkeypatch.setenv("TASKQUEUE_SMTP_SECURITY", "none")
    monkeypatch.setenv("TASKQUEUE_SMTP_FROM", "Team App <noreply@app.example>")
    monkeypatch.setenv("TASKQUEUE_SMTP_TIMEOUT", "5")
    yield server
    server.stop()


@pytest.fixture
def start_smtp(recorder: Recorder) -> Iterator[Callable[..., SmtpServer]]:
    """Start SMTP servers with TLS / auth options; all stopped at teardown."""
    started: list[SmtpServer] = []

    def start(**kwargs: object) -> SmtpServer:
        server = SmtpServer(recorder, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A fake GitHub API on loopback, and TASKQUEUE_GITHUB_API_URL pointing at it."""
    fake = FakeGitHub()
    monkeypatch.setenv("TASKQUEUE_GITHUB_API_URL", fake.url)
    monkeypatch.setenv("TASKQUEUE_GITHUB_TIMEOUT", "5")
    yield fake
    fake.stop()
