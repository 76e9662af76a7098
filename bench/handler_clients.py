"""Latency of the built-in handlers' network clients on loopback, timed end to end through the
handler (settings, message building, connect, protocol, close):

- one e-mail to a local aiosmtpd, plain and with STARTTLS;
- a one-page GitHub import from the fake API over plain HTTP (HTTP/1.0, a connection per page),
  and a five-page one over HTTPS with keep-alive, the way api.github.com answers.

    .venv/bin/python bench/handler_clients.py [--runs 200]

Uses the servers the handler tests use (tests/handlers), so nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "handlers"))

from fake_github_server import FakeGitHub, issue
from fake_smtp_server import Recorder, SmtpServer
from taskqueue_server.handlers.email import send_email
from taskqueue_server.handlers.github import github_import_issues
from taskqueue_server.worker.context import TaskContext

EMAIL = {"to_email": "bob@example.org", "subject": "Hi", "plain_text_content": "Hello."}
IMPORT = {"owner": "octo", "repo": "hello"}
ISSUES = "/repos/octo/hello/issues"


def _ctx(task_type: str, n: int) -> TaskContext:
    async def sink(pct: int, message: str) -> None:
        return None

    return TaskContext(f"bench-{n}", task_type, "default", 1, 3, sink, asyncio.get_running_loop())


async def _time(
    name: str, call: Callable[[dict[str, Any], TaskContext], Awaitable[Any]],
    data: dict[str, Any], runs: int,
) -> None:
    for n in range(10):  # warm-up: imports, first connections
        await call(dict(data), _ctx(name, n))
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        await call(dict(data), _ctx(name, n))
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    print(
        f"{name:22} runs={runs} median={statistics.median(samples):.2f} ms "
        f"p90={samples[int(runs * 0.9)]:.2f} ms min={samples[0]:.2f} ms"
    )


def _https(github: FakeGitHub, ca: trustme.CA) -> str:
    """Serve `github` over TLS with HTTP/1.1 keep-alive; returns its https:// URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = github._server
    server.socket = context.wrap_socket(server.socket, server_side=True)
    handler_class: Any = server.RequestHandlerClass
    handler_class.protocol_version = "HTTP/1.1"
    # http.server writes headers and body apart; without this, Nagle and delayed ACKs add
    # 40 ms to every kept-alive response, which no real API server does.
    handler_class.disable_nagle_algorithm = True
    github.link_base = github.url.replace("http://", "https://")
    return github.link_base


async def _run(runs: int, ca: trustme.CA, ca_file: str) -> None:
    starttls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(starttls)
    smtp, smtp_tls = SmtpServer(Recorder()), SmtpServer(Recorder(), starttls=starttls)
    github, github_tls = FakeGitHub(), FakeGitHub()
    github.pages[ISSUES] = [[issue(n) for n in range(1, 31)]]
    github_tls.pages[ISSUES] = [[issue(n) for n in range(i, i + 30)] for i in range(1, 151, 30)]
    env = os.environ
    env.update(TASKQUEUE_SMTP_HOST="127.0.0.1", TASKQUEUE_SMTP_FROM="noreply@app.example")
    try:
        env.update(TASKQUEUE_SMTP_PORT=str(smtp.port), TASKQUEUE_SMTP_SECURITY="none")
        await _time("send_email plain", send_email, EMAIL, runs)
        env.update(TASKQUEUE_SMTP_PORT=str(smtp_tls.port), TASKQUEUE_SMTP_SECURITY="starttls")
        env["TASKQUEUE_SMTP_CA_FILE"] = ca_file
        await _time("send_email starttls", send_email, EMAIL, runs)
        env["TASKQUEUE_GITHUB_API_URL"] = github.url
        await _time("github 1 page http", github_import_issues, IMPORT, runs)
        env["TASKQUEUE_GITHUB_API_URL"] = _https(github_tls, ca)
        await _time("github 5 pages https", github_import_issues, IMPORT, runs)
    finally:
        for server in (smtp, smtp_tls, github, github_tls):
            server.stop()


def main(runs: int) -> None:
    ca = trustme.CA()
    with tempfile.NamedTemporaryFile(suffix=".pem") as ca_file:
        # The system store plus the test CA, through SSL_CERT_FILE (which the stdlib's default
        # context honours): trusting the fake API costs what loading the real store costs.
        system = Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
        ca_file.write(system + b"\n" + ca.cert_pem.bytes())
        ca_file.flush()
        os.environ["SSL_CERT_FILE"] = ca_file.name
        asyncio.run(_run(runs, ca, ca_file.name))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    main(parser.parse_args().runs)
