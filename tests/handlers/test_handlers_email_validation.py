"""Enqueue-time validation of the e-mail task types: every bad field is named."""

from __future__ import annotations

from typing import Any

import pytest
from taskqueue_server.handlers.email import (
    send_email,
    validate_send_email,
    validate_send_invitation_email,
)
from taskqueue_server.worker.context import PermanentError

GOOD_EMAIL: dict[str, Any] = {"to_email": "bob@example.org", "subject": "Hi",
                              "plain_text_content": "Hello"}
GOOD_INVITE: dict[str, Any] = {"to_email": "bob@example.org", "team_name": "Core",
                               "inviter_name": "Alice", "accept_url": "https://app.example/i/1"}


def test_good_payloads_pass() -> None:
    validate_send_email(GOOD_EMAIL)
    validate_send_email({**GOOD_EMAIL, "plain_text_content": None, "html_content": "<p>x</p>",
                         "cc": "a@example.org, b@example.org", "bcc": ["c@example.org"],
                         "from_email": "Me <me@example.org>"})
    validate_send_invitation_email(GOOD_INVITE)
    validate_send_invitation_email({**GOOD_INVITE, "invitee_name": "Bob",
                                    "expires_at": "2030-01-01T00:00:00Z"})


@pytest.mark.parametrize(("change", "message"), [
    ({"to_email": None}, "task_data.to_email: is required"),
    ({"to_email": "not-an-address"}, "task_data.to_email: must be a valid e-mail address"),
    ({"to_email": "a@example.org, b@example.org"}, "task_data.to_email: must be a valid"),
    ({"to_email": "a@example.org\r\nBcc: x@evil.example"}, "task_data.to_email: must be a valid"),
    ({"to_email": 42}, "task_data.to_email: must be a valid e-mail address"),
    ({"subject": None}, "task_data.subject: is required"),
    ({"subject": ""}, "task_data.subject: must not be empty"),
    ({"subject": "a\nBcc: x@evil.example"}, "task_data.subject: must be a single line"),
    ({"subject": ["x"]}, "task_data.subject: must be a string, got list"),
    ({"plain_text_content": None}, "html_content or plain_text_content is required"),
    ({"html_content": 5}, "task_data.html_content: must be a string"),
    ({"from_email": "nobody"}, "task_data.from_email: must be a valid e-mail address"),
    ({"cc": ["ok@example.org", "bad"]}, r"task_data.cc\[1\]: must be a valid e-mail address"),
    ({"bcc": 7}, "task_data.bcc: must be an address string or a list of them"),
    ({"reply_to": "x@"}, r"task_data.reply_to\[0\]: must be a valid e-mail address"),
])
def test_send_email_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    data = {key: value for key, value in {**GOOD_EMAIL, **change}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        validate_send_email(data)


def test_task_data_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="task_data: must be a JSON object"):
        validate_send_email(["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "message"), [
    ({"team_name": None}, "task_data.team_name: is required"),
    ({"inviter_name": "  "}, "task_data.inviter_name: must not be empty"),
    ({"invitee_name": 3}, "task_data.invitee_name: must be a string"),
    ({"accept_url": None}, "task_data.accept_url: is required"),
    ({"accept_url": "javascript:alert(1)"}, "task_data.accept_url: must be an absolute http"),
    ({"accept_url": "/relative/path"}, "task_data.accept_url: must be an absolute http"),
    ({"expires_at": "next tuesday"}, "task_data.expires_at: must be an ISO 8601 date-time"),
    ({"expires_at": 1700000000}, "task_data.expires_at: must be an ISO 8601 date-time"),
    ({"to_email": "x"}, "task_data.to_email: must be a valid e-mail address"),
])
def test_invitation_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    data = {key: value for key, value in {**GOOD_INVITE, **change}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        validate_send_invitation_email(data)


async def test_handler_fails_permanently_on_bad_data(make_ctx) -> None:
    # A task that skipped enqueue-time validation must not burn its retries.
    with pytest.raises(PermanentError, match=r"task_data\.to_email"):
        await send_email({"subject": "x", "plain_text_content": "y"}, make_ctx())
