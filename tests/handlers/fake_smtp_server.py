"""A real SMTP server on loopback (aiosmtpd) that records what it receives and can refuse on cue."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One DATA transaction: what the client sent and whether we accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    accepted: bool
    tls: bool
    login: str | None


@dataclass
class Recorder:
    """aiosmtpd handler. Queue replies in `rcpt_replies` / `data_replies` to refuse on cue."""

    credentials: dict[str, str] = field(default_factory=dict)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply, every time
    data_replies: list[str] = field(default_factory=list)  # consumed one per DATA
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            reply = self.data_replies.pop(0) if self.data_replies else "250 Message accepted"
            parsed = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            login = session.auth_data.login.decode() if session.authenticated else None
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed,
                                          reply.startswith("250"), session.ssl is not None
                                          or server.transport.get_extra_info("sslcontext")
                                          is not None, login))
        return reply

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.credentials.get(auth_data.login.decode()) == auth_data.password.decode())
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.accepted]


class SmtpServer:
    """A started aiosmtpd controller; `stop()` when done."""

    def __init__(self, recorder: Recorder, *, implicit_tls: ssl.SSLContext | None = None,
                 starttls: ssl.SSLContext | None = None, require_auth: bool = False) -> None:
        self.recorder = recorder
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if recorder.credentials:
            kwargs.update(authenticator=recorder.authenticate, auth_required=require_auth)
            # aiosmtpd only counts STARTTLS as TLS; with implicit TLS the socket already is.
            kwargs["auth_require_tls"] = implicit_tls is None
        self.controller = Controller(recorder, hostname="127.0.0.1", port=self.port,
                                     ssl_context=implicit_tls, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
