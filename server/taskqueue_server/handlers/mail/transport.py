"""Delivering a built message: SMTP in a worker thread, or the console backend.

Stdlib smtplib in a thread keeps the server's dependencies small; one message per task
makes the thread hop cheap next to the network round trips.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import sys
import threading
from email.message import EmailMessage

from ...worker.context import PermanentError
from .settings import Security, SmtpSettings

log = logging.getLogger(__name__)
_console_lock = threading.Lock()

Refused = dict[str, tuple[int, str]]


class TransientSmtpError(Exception):
    """A failure worth retrying with backoff: 4xx replies, lost connections, timeouts."""


async def deliver(
    settings: SmtpSettings, message: EmailMessage, sender: str, recipients: list[str]
) -> Refused:
    """Send `message`; return the recipients the server refused while accepting others.

    Raises PermanentError for what a retry cannot fix and TransientSmtpError otherwise.
    """
    if settings.console:
        print_to_console(message, recipients)
        return {}
    try:
        return await asyncio.to_thread(_send_smtp, settings, message, sender, recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise classify(exc, settings) from exc


def _send_smtp(
    settings: SmtpSettings, message: EmailMessage, sender: str, recipients: list[str]
) -> Refused:
    assert settings.host is not None
    tls = ssl.create_default_context(cafile=settings.ca_file)
    client: smtplib.SMTP
    if settings.security is Security.TLS:
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_seconds, context=tls
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    try:
        client.ehlo()
        if settings.security is Security.STARTTLS:
            client.starttls(context=tls)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
        refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    finally:
        _close_quietly(client)
    return {rcpt: (code, _text(reply)) for rcpt, (code, reply) in refused.items()}


def _close_quietly(client: smtplib.SMTP) -> None:
    # After DATA was accepted the message is sent; a failing QUIT must not turn that into a
    # retry (and a duplicate message).
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def classify(exc: BaseException, settings: SmtpSettings) -> Exception:
    """Map an smtplib / socket failure to PermanentError or TransientSmtpError."""
    where = f"SMTP {settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        listed = "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
        detail = f"{where} refused every recipient ({listed})"
        if codes and all(code >= 500 for code in codes):
            return PermanentError(detail)
        return TransientSmtpError(detail)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"{where}: {exc} (check TASKQUEUE_SMTP_SECURITY and credentials)")
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{where} replied {exc.smtp_code} {_text(exc.smtp_error)}"
        return PermanentError(detail) if exc.smtp_code >= 500 else TransientSmtpError(detail)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(
            f"{where}: TLS certificate not trusted ({exc.verify_message}); "
            "set TASKQUEUE_SMTP_CA_FILE for a private CA"
        )
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        # smtplib reports a read timeout as SMTPServerDisconnected; the cause is the timeout.
        return TransientSmtpError(f"{where}: timed out after {settings.timeout_seconds:g} s")
    return TransientSmtpError(f"{where}: {type(exc).__name__}: {exc}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def print_to_console(message: EmailMessage, recipients: list[str]) -> None:
    """The console backend: print the whole message so a demo shows what would be sent."""
    log.info("console e-mail backend (no TASKQUEUE_SMTP_HOST): printing %s", message["Message-ID"])
    rule = "-" * 72
    with _console_lock:
        sys.stdout.write(
            f"{rule}\nE-mail (console backend, not sent) to {', '.join(recipients)}\n{rule}\n"
            f"{message.as_string()}\n{rule}\n"
        )
        sys.stdout.flush()
