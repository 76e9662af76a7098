"""What the sync and the async client share: settings, channels, and picking a channel per call."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Generic, cast

import grpc
from taskqueue.v1 import taskqueue_pb2_grpc

from ._calls import Call
from ._channel import ChannelOption, ChannelT, ClientSettings, RetryPolicy, make_credentials

DEFAULT_TARGET = "localhost:50051"


class ClientBase(Generic[ChannelT]):
    """Connection handling common to `TaskQueueClient` and `AsyncTaskQueueClient`.

    Args:
        target: "host:port" of a taskqueue server.
        token: sent as "authorization: Bearer <token>" metadata on every call.
        tls: use TLS with the system's root certificates (or `root_certificates`).
        root_certificates: PEM bundle of the CA that signed the server's certificate.
        credentials: ready-made channel credentials; wins over `tls`.
        timeout: default deadline in seconds for each call (None: no deadline). Calls that ask
            the server to wait (`get_result(wait=...)`, `wait()`) add that wait on top.
        retry: backoff for retrying UNAVAILABLE on retry-safe calls; None disables retries.
        auto_idempotency_key: give each enqueued task a fresh idempotency key (time-ordered,
            the shape of a task id's suffix) unless the caller passes one, so that retrying an
            enqueue cannot store it twice.
        options: extra gRPC channel options.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, safe to share
        auto_idempotency_key: bool = True,
        options: Sequence[ChannelOption] = (),
    ) -> None:
        self._settings = ClientSettings(
            target=target,
            credentials=make_credentials(tls, credentials, root_certificates),
            token=token,
            timeout=timeout,
            retry=retry,
            options=tuple(options),
        )
        self._auto_key = auto_idempotency_key
        self._channel = self._open(retries=True)
        self._stub: Any = taskqueue_pb2_grpc.TaskQueueServiceStub(cast(Any, self._channel))
        # Opened on first use: only enqueues without an idempotency key need it.
        self._unretried_channel: ChannelT | None = None
        self._unretried_stub: Any = None
        self._opening = threading.Lock()  # a sync client may be shared between threads

    @property
    def target(self) -> str:
        """The server address this client talks to."""
        return self._settings.target

    def _open(self, retries: bool) -> ChannelT:
        raise NotImplementedError

    def _method(self, call: Call[Any]) -> Any:
        """The stub method for `call`, on a channel that retries only when that is safe."""
        if call.retry_safe or self._settings.retry is None:
            return getattr(self._stub, call.method)
        with self._opening:
            if self._unretried_stub is None:
                self._unretried_channel = self._open(retries=False)
                self._unretried_stub = taskqueue_pb2_grpc.TaskQueueServiceStub(
                    cast(Any, self._unretried_channel)
                )
        return getattr(self._unretried_stub, call.method)

    def _call_options(self, call: Call[Any], spent: float = 0.0) -> dict[str, Any]:
        """Deadline and metadata; `spent` seconds of the deadline are gone already."""
        deadline = self._settings.deadline(call.server_wait)
        return {
            "timeout": None if deadline is None else max(0.0, deadline - spent),
            "metadata": self._settings.metadata,
        }

    def _channels(self) -> list[ChannelT]:
        if self._unretried_channel is None:
            return [self._channel]
        return [self._channel, self._unretried_channel]
