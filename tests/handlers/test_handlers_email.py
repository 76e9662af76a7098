"""send_email / send_invitation_email against a real SMTP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_smtp_server import Recorder, SmtpServer, free_port
from taskqueue_server.handlers.email import (
    send_email,
    send_invitation_email,
    validate_send_email,
    validate_send_invitation_email,
)
from taskqueue_server.worker.context import PermanentError, RetryLater
from taskqueue_server.worker.registry import registered

EMAIL = {
    "to_email": "Bob Example <bob@example.org>",
    "subject": "Welcome aboard",
    "html_content": "<h1>Welcome!</h1><p>Glad you are here.</p>",
    "plain_text_content": "Welcome! Glad you are here.",
    "cc": ["carol@example.org"],
    "bcc": "dave@example.org",
    "reply_to": "support@app.example",
}

INVITE = {
    "to_email": "erin@example.org",
    "invitee_name": "Erin <script>alert(1)</script>",
    "team_name": 'R&D "Core"',
    "inviter_name": "Mallory <b>",
    "accept_url": "https://app.example/invite?token=abc&team=7",
    "expires_at": "2030-01-02T03:04:00+01:00",
}


def test_both_types_are_registered_with_validators() -> None:
    types = registered()
    assert types["send_email"].validate is validate_send_email
    assert types["send_invitation_email"].validate is validate_send_invitation_email
    assert types["send_email"].is_async and types["send_invitation_email"].is_async


async def test_send_email_delivers_multipart_alternative(smtp: SmtpServer, make_ctx) -> None:
    ctx = make_ctx(task_id="task-123")
    result = await send_email(dict(EMAIL), ctx)

    [got] = smtp.recorder.accepted
    msg = got.message
    assert result == {"success": True, "to_email": "bob@example.org",
                      "message_id": msg["Message-ID"], "backend": "smtp"}
    assert "task-123" in msg["Message-ID"]
    assert got.mail_from == "noreply@app.example"
    assert sorted(got.rcpt_tos) == ["bob@example.org", "carol@example.org", "dave@example.org"]
    assert msg["From"] == "Team App <noreply@app.example>"
    assert msg["To"] == "Bob Example <bob@example.org>"
    assert msg["Cc"] == "carol@example.org"
    assert msg["Reply-To"] == "support@app.example"
    assert msg["Bcc"] is None  # Bcc goes in the envelope only
    assert msg["Subject"] == "Welcome aboard"
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Welcome! Glad you are here."
    assert msg.get_body(("html",)).get_content().strip() == EMAIL["html_content"]


async def test_html_only_gets_a_derived_text_part(smtp: SmtpServer, make_ctx) -> None:
    data = {"to_email": "bob@example.org", "subject": "Hi",
            "html_content": "<p>Hello <b>Bob</b></p><style>p{}</style><p>Bye</p>"}
    await send_email(data, make_ctx())
    msg = smtp.recorder.accepted[0].message
    assert msg.get_body(("plain",)).get_content().splitlines() == ["Hello Bob", "", "Bye"]
    assert msg.get_body(("html",)).get_content().strip() == data["html_content"]


async def test_invitation_escapes_values_in_html_only(smtp: SmtpServer, make_ctx) -> None:
    result = await send_invitation_email(dict(INVITE), make_ctx("send_invitation_email"))
    msg = smtp.recorder.accepted[0].message
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()

    assert result["to_email"] == "erin@example.org"
    assert msg["Subject"] == 'Mallory <b> invited you to join R&D "Core"'
    assert "<script>" not in html and "Mallory <b>" not in html
    assert "Erin &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "R&amp;D &quot;Core&quot;" in html
    assert 'href="https://app.example/invite?token=abc&amp;team=7"' in html
    assert "2030-01-02 02:04 UTC" in html
    # Plain text is not HTML: the values appear as given.
    assert "Hi Erin <script>alert(1)</script>," in text
    assert "https://app.example/invite?token=abc&team=7" in text
    assert "expires on 2030-01-02 02:04 UTC" in text


async def test_template_dir_overrides_per_file(smtp: SmtpServer, make_ctx, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "invitation_subject.txt").write_text("Join $team_name, from $inviter_name\n")
    monkeypatch.setenv("TASKQUEUE_EMAIL_TEMPLATE_DIR", str(tmp_path))
    await send_invitation_email(dict(INVITE), make_ctx())
    msg = smtp.recorder.accepted[0].message
    assert msg["Subject"] == 'Join R&D "Core", from Mallory <b>'
    assert "Accept the invitation" in msg.get_body(("html",)).get_content()  # default kept


async def test_template_with_unknown_placeholder_fails_permanently(
        smtp: SmtpServer, make_ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "invitation.txt").write_text("Hello $nickname\n")
    monkeypatch.setenv("TASKQUEUE_EMAIL_TEMPLATE_DIR", str(tmp_path))
    with pytest.raises(PermanentError, match=r"invitation.txt: unknown placeholder \$nickname"):
        await send_invitation_email(dict(INVITE), make_ctx())
    assert smtp.recorder.received == []


async def test_4xx_is_retried_then_the_same_message_succeeds(smtp: SmtpServer, make_ctx) -> None:
    smtp.recorder.data_replies.append("451 4.3.0 Mailbox busy, try again later")
    with pytest.raises(Exception) as first:
        await send_email(dict(EMAIL), make_ctx(task_id="t-retry", attempt=1))
    assert not isinstance(first.value, PermanentError | RetryLater)
    assert "451" in str(first.value)

    result = await send_email(dict(EMAIL), make_ctx(task_id="t-retry", attempt=2))
    rejected, accepted = smtp.recorder.received
    assert (rejected.accepted, accepted.accepted) == (False, True)
    # The retry carries the same Message-ID, so a receiver can tell it is one message.
    assert rejected.message["Message-ID"] == accepted.message["Message-ID"] == result["message_id"]


async def test_5xx_for_every_recipient_is_permanent(smtp: SmtpServer, make_ctx) -> None:
    smtp.recorder.rcpt_replies["bob@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(PermanentError, match=r"550 5\.1\.1 No such user"):
        await send_email({**EMAIL, "cc": None, "bcc": None}, make_ctx())
    assert smtp.recorder.received == []


async def test_5xx_data_rejection_is_permanent(smtp: SmtpServer, make_ctx) -> None:
    smtp.recorder.data_replies.append("554 5.7.1 Message rejected as spam")
    with pytest.raises(PermanentError, match="554"):
        await send_email(dict(EMAIL), make_ctx())


async def test_one_refused_cc_is_reported_not_retried(smtp: SmtpServer, make_ctx) -> None:
    smtp.recorder.rcpt_replies["carol@example.org"] = "550 5.1.1 No such user"
    result = await send_email(dict(EMAIL), make_ctx())
    assert result["refused"] == {"carol@example.org": "550 5.1.1 No such user"}
    assert sorted(smtp.recorder.accepted[0].rcpt_tos) == ["bob@example.org", "dave@example.org"]


def _point_at(monkeypatch: pytest.MonkeyPatch, port: int, security: str, **extra: str) -> None:
    monkeypatch.setenv("TASKQUEUE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKQUEUE_SMTP_PORT", str(port))
    monkeypatch.setenv("TASKQUEUE_SMTP_SECURITY", security)
    monkeypatch.setenv("TASKQUEUE_SMTP_FROM", "noreply@app.example")
    monkeypatch.setenv("TASKQUEUE_SMTP_TIMEOUT", "5")
    for name, value in extra.items():
        monkeypatch.setenv(f"TASKQUEUE_SMTP_{name}", value)


async def test_starttls_with_login(start_smtp: Callable[..., SmtpServer], recorder: Recorder,
                                   server_tls, ca_file: str, make_ctx,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    recorder.credentials["mailer"] = "s3cret"
    server = start_smtp(starttls=server_tls, require_auth=True)
    _point_at(monkeypatch, server.port, "starttls", USERNAME="mailer", PASSWORD="s3cret",
              CA_FILE=ca_file)
    await send_email(dict(EMAIL), make_ctx())
    [got] = recorder.accepted
    assert got.tls and got.login == "mailer"


async def test_wrong_password_is_permanent(start_smtp: Callable[..., SmtpServer],
                                           recorder: Recorder, server_tls, ca_file: str,
                                           make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder.credentials["mailer"] = "s3cret"
    server = start_smtp(starttls=server_tls, require_auth=True)
    _point_at(monkeypatch, server.port, "starttls", USERNAME="mailer", PASSWORD="wrong",
              CA_FILE=ca_file)
    with pytest.raises(PermanentError, match="535"):
        await send_email(dict(EMAIL), make_ctx())
    assert recorder.received == []


# aiosmtpd only counts STARTTLS as TLS for AUTH; this listener is TLS from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_login(start_smtp: Callable[..., SmtpServer], recorder: Recorder,
                                       server_tls, ca_file: str, make_ctx,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    recorder.credentials["mailer"] = "s3cret"
    server = start_smtp(implicit_tls=server_tls, require_auth=True)
    _point_at(monkeypatch, server.port, "tls", USERNAME="mailer", PASSWORD="s3cret",
              CA_FILE=ca_file)
    await send_email(dict(EMAIL), make_ctx())
    [got] = recorder.accepted
    assert got.tls and got.login == "mailer"


async def test_untrusted_certificate_is_permanent(start_smtp: Callable[..., SmtpServer],
                                                  recorder: Recorder, server_tls, make_ctx,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_smtp(implicit_tls=server_tls)
    _point_at(monkeypatch, server.port, "tls")  # no CA file: the test CA is not trusted
    with pytest.raises(PermanentError, match="certificate"):
        await send_email(dict(EMAIL), make_ctx())
    assert recorder.received == []


async def test_connection_refused_is_retryable(make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_at(monkeypatch, free_port(), "none")  # nothing listens there any more
    with pytest.raises(Exception, match=r"Connection ?refused|ConnectionRefused") as caught:
        await send_email(dict(EMAIL), make_ctx())
    assert not isinstance(caught.value, PermanentError | RetryLater)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word: the SMTP greeting never comes."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in [listener, *accepted]:
        sock.close()


async def test_timeout_is_retryable(silent_server: int, make_ctx,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _point_at(monkeypatch, silent_server, "none", TIMEOUT="0.3")
    with pytest.raises(Exception, match=r"timed out after 0\.3 s") as caught:
        await send_email(dict(EMAIL), make_ctx())
    assert not isinstance(caught.value, PermanentError | RetryLater)


async def test_console_backend_prints_when_no_host(make_ctx, capsys) -> None:
    result = await send_email(dict(EMAIL), make_ctx(task_id="demo-1"))
    out = capsys.readouterr().out
    assert result["backend"] == "console" and result["success"] is True
    assert "Subject: Welcome aboard" in out and "<taskqueue.demo-1@localhost>" in out
    assert "console backend, not sent" in out


async def test_smtp_without_sender_is_permanent(smtp: SmtpServer, make_ctx,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKQUEUE_SMTP_FROM")
    with pytest.raises(PermanentError, match="TASKQUEUE_SMTP_FROM"):
        await send_email(dict(EMAIL), make_ctx())
    await send_email({**EMAIL, "from_email": "me@app.example"}, make_ctx())
    assert smtp.recorder.accepted[0].mail_from == "me@app.example"
