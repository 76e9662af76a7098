"""Security settings (TLS files, auth tokens) and their checks at start-up.

Stdlib only: config imports this before anything heavy, so `--help` stays cheap.
Tokens are accepted from a file or the environment, never as a flag, because a flag's
value shows in `ps` output to every user of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("viewer", "producer", "worker", "admin")
TOKENS_ENV = "TASKQUEUE_AUTH_TOKENS"


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """TLS and bearer-token settings; all unset means a plaintext, open server."""

    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    auth_tokens_file: str | None = None
    # The raw TASKQUEUE_AUTH_TOKENS value; repr=False keeps it out of any settings dump.
    auth_tokens_env: str = field(default="", repr=False)
    auth_open_health: bool = True

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def auth(self) -> bool:
        return bool(self.auth_tokens_file or self.auth_tokens_env)


class TokenFileError(ValueError):
    """A token source that cannot be used; the message never contains a token."""


def parse_token_lines(text: str, source: str) -> list[tuple[str, str]]:
    """`<role> <token>` per line; blank lines and lines starting with # are skipped."""
    pairs: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TokenFileError(f"{source} line {number}: expected '<role> <token>'")
        pairs.append(_checked(parts[0], parts[1], f"{source} line {number}"))
    return pairs


def parse_token_env(text: str) -> list[tuple[str, str]]:
    """`role:token,role:token` as in TASKQUEUE_AUTH_TOKENS."""
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        role, sep, token = item.partition(":")
        if not sep:
            raise TokenFileError(f"{TOKENS_ENV} item {index + 1}: expected 'role:token'")
        pairs.append(_checked(role.strip(), token.strip(), f"{TOKENS_ENV} item {index + 1}"))
    return pairs


def _checked(role: str, token: str, where: str) -> tuple[str, str]:
    if role not in ROLES:
        raise TokenFileError(f"{where}: unknown role {role[:20]!r}; use one of {', '.join(ROLES)}")
    # Short tokens can be guessed; 16 characters is the floor, 32+ random is the advice.
    if len(token) < 16:
        raise TokenFileError(f"{where}: token shorter than 16 characters")
    return role, token


def load_tokens(settings: SecuritySettings) -> list[tuple[str, str]]:
    """Every configured (role, token), from the file and the environment together."""
    pairs: list[tuple[str, str]] = []
    if settings.auth_tokens_file:
        path = Path(settings.auth_tokens_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenFileError(f"cannot read auth tokens file {path}: {exc}") from None
        pairs += parse_token_lines(text, str(path))
    if settings.auth_tokens_env:
        pairs += parse_token_env(settings.auth_tokens_env)
    if settings.auth and not pairs:
        raise TokenFileError("auth is configured but no token was found")
    return pairs


def security_from(values: Mapping[str, Any], env: Mapping[str, str]) -> SecuritySettings:
    """Build and check the settings; ValueError names the flag at fault."""
    settings = SecuritySettings(
        tls_cert=values.get("tls_cert") or None,
        tls_key=values.get("tls_key") or None,
        tls_client_ca=values.get("tls_client_ca") or None,
        auth_tokens_file=values.get("auth_tokens_file") or None,
        auth_tokens_env=env.get(TOKENS_ENV, ""),
        auth_open_health=bool(values.get("auth_open_health", True)),
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ValueError("--tls-cert and --tls-key go together; set both or neither")
    if settings.tls_client_ca and not settings.tls_cert:
        raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    for flag, path in (
        ("--tls-cert", settings.tls_cert),
        ("--tls-key", settings.tls_key),
        ("--tls-client-ca", settings.tls_client_ca),
    ):
        if path and not os.access(path, os.R_OK):
            raise ValueError(f"{flag}: cannot read {path}")
    load_tokens(settings)  # refuse to start on a bad token source rather than serve open
    return settings
