"""How both clients reach the server: channel options, the retry service config, auth metadata."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

SERVICE = "taskqueue.v1.TaskQueueService"
# Safe to send twice: reads, and changes that end in the same state when repeated (a
# cancelled task answers CancelTask with itself). RetryTask is not: repeated after the
# task failed again, it would run it once more; it is never retried (docs/client.md).
IDEMPOTENT_METHODS = ("GetTask", "GetResult", "WatchTask", "ListTasks", "Stats", "CancelTask")
# Safe to send twice only with an idempotency key; without one they go on a channel
# that never retries (see ClientSettings.open).
KEYED_METHODS = ("Enqueue", "EnqueueBatch")
USER_AGENT = "taskqueue-client/0.1"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

ChannelT = TypeVar("ChannelT")
ChannelOption = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of UNAVAILABLE calls, done by gRPC itself from the service config.

    gRPC waits a random time up to initial_backoff * multiplier**(n-1), capped at
    max_backoff, before retry n; it allows at most 5 attempts in all.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.25
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def service_config(self) -> str:
        """The JSON service config that attaches this policy to every retry-safe method."""
        names = [{"service": SERVICE, "method": m} for m in (*IDEMPOTENT_METHODS, *KEYED_METHODS)]
        policy = {
            "maxAttempts": max(2, min(self.max_attempts, 5)),
            "initialBackoff": f"{self.initial_backoff:.3f}s",
            "maxBackoff": f"{self.max_backoff:.3f}s",
            "backoffMultiplier": self.multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
        return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything about the connection; shared by the sync and the async client."""

    target: str = "localhost:50051"
    credentials: grpc.ChannelCredentials | None = None
    token: str | None = None
    timeout: float | None = 30.0
    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    options: Sequence[ChannelOption] = ()

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Per-call metadata: the bearer token, when one is set."""
        if not self.token:
            return ()
        return (("authorization", f"Bearer {self.token}"),)

    def channel_options(self, retries: bool) -> list[ChannelOption]:
        options: list[ChannelOption] = [
            ("grpc.primary_user_agent", USER_AGENT),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # After a server restart, reconnect within seconds rather than gRPC's 2 minutes.
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        if retries and self.retry is not None:
            options.append(("grpc.service_config", self.retry.service_config()))
            options.append(("grpc.enable_retries", 1))
        else:
            options.append(("grpc.enable_retries", 0))
        return options + list(self.options)

    def open(
        self,
        insecure: Callable[..., ChannelT],
        secure: Callable[..., ChannelT],
        retries: bool,
    ) -> ChannelT:
        """A channel from the given factory pair (grpc or grpc.aio), with or without retries."""
        options = self.channel_options(retries)
        if self.credentials is None:
            return insecure(self.target, options=options)
        return secure(self.target, self.credentials, options=options)

    def deadline(self, extra_wait: float = 0.0) -> float | None:
        """The call's timeout: the default deadline plus any time the server is asked to wait."""
        if self.timeout is None:
            return None
        return self.timeout + extra_wait


def make_credentials(
    tls: bool,
    credentials: grpc.ChannelCredentials | None,
    root_certificates: bytes | None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials when asked for (system roots unless a CA bundle is given)."""
    if credentials is not None:
        return credentials
    if tls or root_certificates is not None:
        return grpc.ssl_channel_credentials(root_certificates=root_certificates)
    return None
