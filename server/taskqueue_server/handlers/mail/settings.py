"""SMTP settings, read from the environment each time a message is sent."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ...worker.context import PermanentError


class Security(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS ("SMTPS"), usually port 465


_DEFAULT_PORTS = {Security.NONE: 25, Security.STARTTLS: 587, Security.TLS: 465}

# Used only by the console backend, which delivers nothing: a real relay needs a real sender.
CONSOLE_FROM = "taskqueue@localhost"

_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to deliver. `host` None selects the console backend."""

    host: str | None
    port: int
    security: Security
    username: str | None
    password: str | None = None
    from_email: str | None = None
    timeout_seconds: float = 30.0
    ca_file: str | None = None

    @property
    def console(self) -> bool:
        """True when no SMTP host is configured: messages are printed, not sent."""
        return self.host is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read TASKQUEUE_SMTP_*; a bad value is a deployment mistake, so it fails permanently."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"TASKQUEUE_SMTP_{name}", "").strip()
            return value or None

        raw_security = (get("SECURITY") or "starttls").lower()
        try:
            security = Security(raw_security)
        except ValueError:
            raise PermanentError(
                f"TASKQUEUE_SMTP_SECURITY={raw_security!r}: must be none, starttls or tls"
            ) from None
        return cls(
            host=get("HOST"),
            port=_number(get("PORT"), "PORT", int, _DEFAULT_PORTS[security]),
            security=security,
            username=get("USERNAME"),
            password=env.get("TASKQUEUE_SMTP_PASSWORD") or None,
            from_email=get("FROM"),
            timeout_seconds=_number(get("TIMEOUT"), "TIMEOUT", float, 30.0),
            ca_file=get("CA_FILE"),
        )


def _number(raw: str | None, name: str, kind: type[_N], default: _N) -> _N:
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise PermanentError(f"TASKQUEUE_SMTP_{name}={raw!r}: must be a number") from None
    if value <= 0:
        raise PermanentError(f"TASKQUEUE_SMTP_{name}={raw!r}: must be positive")
    return value
