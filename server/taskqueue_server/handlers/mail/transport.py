"""Delivering a built message: SMTP with aiosmtplib, or the console backend."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import threading
from email.message import EmailMessage

import aiosmtplib

from ...worker.context import PermanentError
from ..client_tls import client_context
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
        return await _send_smtp(settings, message, sender, recipients)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise classify(exc, settings) from exc


async def _send_smtp(
    settings: SmtpSettings, message: EmailMessage, sender: str, recipients: list[str]
) -> Refused:
    assert settings.host is not None
    plain = settings.security is Security.NONE
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout_seconds,
        use_tls=settings.security is Security.TLS,
        # Explicit either way: aiosmtplib's default (None) upgrades whenever the server offers
        # STARTTLS, and "none" must mean none.
        start_tls=settings.security is Security.STARTTLS,
        tls_context=None if plain else await client_context(settings.ca_file),
    )
    await client.connect()
    try:
        if settings.username:
            await client.login(settings.username, settings.password or "")
        refused, _ = await client.send_message(message, sender=sender, recipients=recipients)
    except asyncio.CancelledError:
        client.close()  # cancelled or stopping: no QUIT round trip to wait for
        raise
    finally:
        if client.is_connected:
            await _close_quietly(client)
    return {rcpt: (reply.code, reply.message) for rcpt, reply in refused.items()}


async def _close_quietly(client: aiosmtplib.SMTP) -> None:
    # After DATA was accepted the message is sent; a failing QUIT must not turn that into a
    # retry (and a duplicate message).
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def classify(exc: BaseException, settings: SmtpSettings) -> Exception:
    """Map an aiosmtplib / socket failure to PermanentError or TransientSmtpError."""
    where = f"SMTP {settings.host}:{settings.port}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        listed = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        detail = f"{where} refused every recipient ({listed})"
        if exc.recipients and all(r.code >= 500 for r in exc.recipients):
            return PermanentError(detail)
        return TransientSmtpError(detail)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"{where} replied {exc.code} {exc.message}"
        return PermanentError(detail) if exc.code >= 500 else TransientSmtpError(detail)
    cause = exc.__cause__ or exc  # aiosmtplib wraps the socket's own error
    if isinstance(cause, ssl.SSLCertVerificationError):
        return PermanentError(
            f"{where}: TLS certificate not trusted ({cause.verify_message}); "
            "set TASKQUEUE_SMTP_CA_FILE for a private CA"
        )
    if isinstance(exc, TimeoutError):
        return TransientSmtpError(f"{where}: timed out after {settings.timeout_seconds:g} s")
    if isinstance(exc, OSError):  # aiosmtplib's connect and disconnect errors are OSErrors
        return TransientSmtpError(f"{where}: {type(cause).__name__}: {cause}")
    # What is left is the server lacking what the settings ask for (STARTTLS, AUTH): a
    # retry meets the same server.
    return PermanentError(f"{where}: {exc} (check TASKQUEUE_SMTP_SECURITY and credentials)")


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
