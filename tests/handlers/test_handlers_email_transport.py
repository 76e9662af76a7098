"""How the e-mail handler drives aiosmtplib: TLS only when asked, and capability mismatches."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_smtp_server import Recorder, SmtpServer
from taskqueue_server.handlers.email import send_email
from taskqueue_server.worker.context import PermanentError, RetryLater
from test_handlers_email import _point_at

EMAIL = {"to_email": "bob@example.org", "subject": "Hi", "plain_text_content": "Hello."}


async def test_security_none_never_upgrades(start_smtp: Callable[..., SmtpServer],
                                            recorder: Recorder, server_tls, make_ctx,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The server offers (and requires) STARTTLS; "none" must not take it up on its own.
    server = start_smtp(starttls=server_tls)
    _point_at(monkeypatch, server.port, "none")
    with pytest.raises(PermanentError, match="530"):
        await send_email(dict(EMAIL), make_ctx())
    assert recorder.received == []


async def test_starttls_not_offered_is_permanent(smtp: SmtpServer, make_ctx,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQUEUE_SMTP_SECURITY", "starttls")
    with pytest.raises(PermanentError, match=r"STARTTLS.*TASKQUEUE_SMTP_SECURITY"):
        await send_email(dict(EMAIL), make_ctx())
    assert smtp.recorder.received == []


async def test_login_without_auth_offered_is_permanent(smtp: SmtpServer, make_ctx,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQUEUE_SMTP_USERNAME", "mailer")
    monkeypatch.setenv("TASKQUEUE_SMTP_PASSWORD", "s3cret")
    with pytest.raises(PermanentError, match=r"AUTH.*credentials"):
        await send_email(dict(EMAIL), make_ctx())
    assert smtp.recorder.received == []


async def test_every_recipient_deferred_is_retried(smtp: SmtpServer, make_ctx) -> None:
    smtp.recorder.rcpt_replies["bob@example.org"] = "450 4.2.0 Mailbox busy"
    with pytest.raises(Exception, match=r"refused every recipient .*450 4\.2\.0") as caught:
        await send_email(dict(EMAIL), make_ctx())
    assert not isinstance(caught.value, PermanentError | RetryLater)


async def test_the_trust_store_is_loaded_once_not_per_message(
        start_smtp: Callable[..., SmtpServer], recorder: Recorder, server_tls, ca_file: str,
        make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading a CA store costs tens of ms of CPU: once per file, not once per e-mail.
    loads: list[str | None] = []
    real = ssl.create_default_context

    def counting(*args: Any, cafile: str | None = None, **kwargs: Any) -> ssl.SSLContext:
        loads.append(cafile)
        return real(*args, cafile=cafile, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    server = start_smtp(starttls=server_tls)
    _point_at(monkeypatch, server.port, "starttls", CA_FILE=ca_file)
    for _ in range(3):
        await send_email(dict(EMAIL), make_ctx())
    assert len(recorder.accepted) == 3 and all(got.tls for got in recorder.accepted)
    assert loads == [ca_file]


def _smtp_that_stalls_after_data(message_sent: asyncio.Event) -> Callable[..., Any]:
    """Answers like a relay up to the end of DATA, then never replies again (QUIT included)."""
    replies = {b"EHLO": b"250 stall.example\r\n", b"MAIL": b"250 OK\r\n", b"RCPT": b"250 OK\r\n",
               b"DATA": b"354 go ahead\r\n"}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 stall.example ESMTP\r\n")
        while line := await reader.readline():
            if line == b".\r\n":
                message_sent.set()
            elif (reply := replies.get(line[:4].upper())) is not None:
                writer.write(reply)
        writer.close()

    return serve


async def test_a_cancelled_send_does_not_wait_for_quit(make_ctx,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    message_sent = asyncio.Event()
    server = await asyncio.start_server(_smtp_that_stalls_after_data(message_sent),
                                        "127.0.0.1", 0)
    async with server:
        _point_at(monkeypatch, server.sockets[0].getsockname()[1], "none", TIMEOUT="30")
        sending = asyncio.create_task(send_email(dict(EMAIL), make_ctx()))
        await asyncio.wait_for(message_sent.wait(), timeout=10)  # now awaiting DATA's reply
        started = time.monotonic()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(sending, timeout=10)
        assert time.monotonic() - started < 5  # a QUIT would wait out the 30 s timeout
