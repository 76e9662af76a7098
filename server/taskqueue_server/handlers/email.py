"""Built-in e-mail task types: `send_email` and `send_invitation_email`.

Enable with `--handlers taskqueue_server.handlers.email` (or TASKQUEUE_HANDLERS). SMTP comes
from TASKQUEUE_SMTP_* (see mail/settings.py); with no TASKQUEUE_SMTP_HOST messages are printed
to stdout instead, so a demo works on a fresh machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..worker.context import PermanentError, TaskContext
from ..worker.registry import handler
from .mail.message import Envelope, build_message, message_id_for, parse_address, parse_address_list
from .mail.settings import CONSOLE_FROM, SmtpSettings
from .mail.templates import render_invitation
from .mail.transport import deliver

JsonObject = dict[str, Any]
_MAX_NAME = 200
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Addressing:
    to: Address
    sender: Address | None
    cc: list[Address]
    bcc: list[Address]
    reply_to: list[Address]


def _addressing(data: JsonObject) -> _Addressing:
    from_email = data.get("from_email")
    return _Addressing(
        to=parse_address(data.get("to_email"), "task_data.to_email"),
        sender=None if from_email is None else parse_address(from_email, "task_data.from_email"),
        cc=parse_address_list(data.get("cc"), "task_data.cc"),
        bcc=parse_address_list(data.get("bcc"), "task_data.bcc"),
        reply_to=parse_address_list(data.get("reply_to"), "task_data.reply_to"),
    )


def _text(data: JsonObject, key: str, *, required: bool, one_line: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ValueError(f"task_data.{key}: is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"task_data.{key}: must be a string, got {type(value).__name__}")
    if one_line:
        if not value.strip():
            raise ValueError(f"task_data.{key}: must not be empty")
        if "\r" in value or "\n" in value:
            raise ValueError(f"task_data.{key}: must be a single line")
        if len(value) > _MAX_NAME * 5:
            raise ValueError(f"task_data.{key}: longer than {_MAX_NAME * 5} characters")
    return value


def _object(task_data: object) -> JsonObject:
    if not isinstance(task_data, dict):
        raise ValueError("task_data: must be a JSON object")
    return task_data


# --- send_email ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Email:
    addressing: _Addressing
    subject: str
    text: str | None
    html: str | None


def _parse_email(task_data: object) -> _Email:
    data = _object(task_data)
    addressing = _addressing(data)
    subject = _text(data, "subject", required=True, one_line=True)
    html = _text(data, "html_content", required=False)
    text = _text(data, "plain_text_content", required=False)
    if not html and not text:
        raise ValueError("task_data.html_content: html_content or plain_text_content is required")
    assert subject is not None
    return _Email(addressing, subject, text, html)


def validate_send_email(task_data: JsonObject) -> None:
    """Enqueue-time check of send_email's task_data; ValueError names the bad field."""
    _parse_email(task_data)


@handler("send_email", validate=validate_send_email)
async def send_email(task_data: JsonObject, ctx: TaskContext) -> JsonObject:
    """Send one multipart/alternative message (plain text derived from HTML when absent)."""
    email = _permanent_if_invalid(_parse_email, task_data)
    return await _send(email, ctx)


# --- send_invitation_email -------------------------------------------------------------------


def _parse_invitation(task_data: object) -> tuple[_Addressing, dict[str, str]]:
    data = _object(task_data)
    addressing = _addressing(data)
    team = _text(data, "team_name", required=True, one_line=True)
    inviter = _text(data, "inviter_name", required=True, one_line=True)
    invitee = _text(data, "invitee_name", required=False, one_line=True)
    accept_url = _text(data, "accept_url", required=True, one_line=True)
    assert team is not None and inviter is not None and accept_url is not None
    parts = urlsplit(accept_url)
    # Only web links: a javascript: or data: URL in an e-mail button is an attack, not a link.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("task_data.accept_url: must be an absolute http(s) URL")
    expires = _expiry(data.get("expires_at"))
    values = {
        "to_email": addressing.to.addr_spec,
        "invitee_name": invitee or addressing.to.display_name or addressing.to.addr_spec,
        "team_name": team,
        "inviter_name": inviter,
        "accept_url": accept_url,
        "expires_at": expires,
        "expiry_note": f"This invitation expires on {expires}." if expires else "",
    }
    return addressing, values


def _expiry(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("task_data.expires_at: must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"task_data.expires_at: must be an ISO 8601 date-time, got {value!r}"
        ) from None
    if moment.tzinfo is None:  # a bare time is read as UTC, the only zone we can assume
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def validate_send_invitation_email(task_data: JsonObject) -> None:
    """Enqueue-time check of send_invitation_email's task_data; ValueError names the field."""
    _parse_invitation(task_data)


@handler("send_invitation_email", validate=validate_send_invitation_email)
async def send_invitation_email(task_data: JsonObject, ctx: TaskContext) -> JsonObject:
    """Render the invitation templates (values HTML-escaped) and send like send_email."""
    addressing, values = _permanent_if_invalid(_parse_invitation, task_data)
    rendered = render_invitation(values)
    email = _Email(addressing, rendered.subject, rendered.text, rendered.html)
    return await _send(email, ctx)


# --- shared ----------------------------------------------------------------------------------


def _permanent_if_invalid(parse: Callable[[object], _T], task_data: JsonObject) -> _T:
    # The service validates at enqueue; this catches tasks that skipped it (enqueued before an
    # upgrade, or straight into Redis). Bad input never improves with a retry.
    try:
        return parse(task_data)
    except ValueError as exc:
        raise PermanentError(str(exc)) from None


async def _send(email: _Email, ctx: TaskContext) -> JsonObject:
    settings = SmtpSettings.from_env()
    sender = email.addressing.sender or _default_sender(settings)
    envelope = Envelope(
        sender=sender,
        to=email.addressing.to,
        subject=email.subject,
        text=email.text,
        html=email.html,
        cc=email.addressing.cc,
        bcc=email.addressing.bcc,
        reply_to=email.addressing.reply_to,
    )
    message_id = message_id_for(ctx.task_id, sender)
    message = build_message(envelope, message_id)
    refused = await deliver(settings, message, sender.addr_spec, envelope.recipients)
    result: JsonObject = {
        "success": True,
        "to_email": envelope.to.addr_spec,
        "message_id": message_id,
        "backend": "console" if settings.console else "smtp",
    }
    if refused:
        result["refused"] = {rcpt: f"{code} {reply}" for rcpt, (code, reply) in refused.items()}
    return result


def _default_sender(settings: SmtpSettings) -> Address:
    if settings.from_email is None:
        if settings.console:
            return parse_address(CONSOLE_FROM, "sender")
        raise PermanentError("no sender: set TASKQUEUE_SMTP_FROM or task_data.from_email")
    try:
        return parse_address(settings.from_email, "TASKQUEUE_SMTP_FROM")
    except ValueError as exc:
        raise PermanentError(str(exc)) from None
