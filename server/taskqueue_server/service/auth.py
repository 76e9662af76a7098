"""Bearer-token authentication and roles, as a grpc.aio server interceptor.

A call carries "authorization: Bearer <token>". The token is compared against every
configured token in constant time, so neither timing nor the order of the table tells a
caller how close a guess was. `producer` may enqueue and read tasks by id; `worker` may do
that too and lease, renew and report tasks (WorkerService), but not cancel, retry, list or
list workers; `viewer` may read everything (tasks, lists, stats, queues) and change nothing;
`admin` may do everything. Health and reflection are open unless `auth_open_health` is off,
in which case any valid token opens them. Nothing here logs a token or the header that
carried it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from typing import Any

import grpc

from ..config.security import SecuritySettings, load_tokens
from .interceptor_types import Continuation, Handler, Interceptor
from .status import Refusal, ServiceReason, refuse

log = logging.getLogger("taskqueue_server.auth")

_SERVICE = "/taskqueue.v1.TaskQueueService/"
PRODUCER_METHODS = frozenset(
    _SERVICE + name
    for name in ("Enqueue", "EnqueueBatch", "EnqueueStream", "GetTask", "GetResult", "WatchTask")
)
_WORKER_SERVICE = "/taskqueue.v1.WorkerService/"
WORKER_METHODS = frozenset(
    _WORKER_SERVICE + name
    for name in (
        "LeaseTasks",
        "RenewLeases",
        "CompleteTask",
        "FailTask",
        "FinishTasks",
        "ReleaseTask",
        "ReportProgress",
    )
)
# What a read-only token (the dashboard's viewers) may call: reads only, never a change.
VIEWER_METHODS = frozenset(
    _SERVICE + name
    for name in ("GetTask", "GetResult", "WatchTask", "ListTasks", "Stats", "ListQueues")
)
# Health and reflection: what load balancers and grpcurl need before they hold any token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Each role may do what the ones below it may (a worker's handlers enqueue follow-up work).
# A viewer ranks lowest only when one token is listed under several roles; what it may call
# is VIEWER_METHODS, not a rank (it may list, which a producer may not).
_ROLE_RANK = {"viewer": 0, "producer": 1, "worker": 2, "admin": 3}


def required_role(method: str, open_health: bool) -> str | None:
    """The weakest role that may call `method`; None when it is open to anyone.

    "" means any valid token (health and reflection with open_health off).
    """
    if method.startswith(OPEN_PREFIXES):
        return None if open_health else ""
    if method in PRODUCER_METHODS:
        return "producer"
    if method in WORKER_METHODS:
        return "worker"
    return "admin"  # every other RPC, including ones added later, until listed above


def permits(role: str, method: str, needed: str | None) -> bool:
    """Whether a token of `role` may call `method`, which needs `needed` (see required_role)."""
    if not needed:
        return True
    if role == "viewer":
        return method in VIEWER_METHODS
    return _ROLE_RANK[role] >= _ROLE_RANK[needed]


def may_call(role: str, rpc: str) -> bool:
    """`permits` for an RPC of TaskQueueService named alone, as the HTTP API mirrors them."""
    method = _SERVICE + rpc
    return permits(role, method, required_role(method, open_health=True))


class TokenTable:
    """The configured tokens, held as SHA-256 digests so comparisons are length-independent."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._entries = [(role, _digest(token)) for role, token in pairs]

    def __len__(self) -> int:
        return len(self._entries)

    def role_of(self, token: str) -> str | None:
        """The strongest role the token grants; every entry is compared, match or not."""
        offered = _digest(token)
        best: str | None = None
        for role, digest in self._entries:
            if hmac.compare_digest(offered, digest) and (
                best is None or _ROLE_RANK[role] > _ROLE_RANK[best]
            ):
                best = role
        return best


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the first "authorization: Bearer ..." entry, if any."""
    for key, value in metadata or ():
        if key.lower() != "authorization":
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return None


class AuthInterceptor(Interceptor):
    """Refuses calls without a valid token (UNAUTHENTICATED) or with too weak a role
    (PERMISSION_DENIED) before the servicer sees the request."""

    def __init__(self, tokens: TokenTable, open_health: bool) -> None:
        self.tokens = tokens
        self.open_health = open_health

    def replace(self, tokens: TokenTable) -> None:
        """Swap in a new token table (SIGHUP reload); calls already running are unaffected."""
        self.tokens = tokens

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        needed = required_role(method, self.open_health)
        handler = await continuation(handler_call_details)
        if needed is None or handler is None:
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        role = self.tokens.role_of(token) if token is not None else None
        if role is None:
            log.info("refused %s: %s", method, "no bearer token" if token is None else "bad token")
            return _refusal(
                handler,
                Refusal(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or invalid bearer token; send 'authorization: Bearer <token>'",
                    ServiceReason.TOKEN_INVALID,
                ),
            )
        if not permits(role, method, needed):
            log.info("refused %s: role %s, needs %s", method, role, needed)
            return _refusal(
                handler,
                Refusal(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method.rsplit('/', 1)[-1]} needs the {needed} role; this token is {role}",
                    ServiceReason.ROLE_TOO_WEAK,
                ),
            )
        return handler


def _refusal(handler: Handler, refusal: Refusal) -> Handler:
    """A handler of the same shape as `handler` that only aborts (request left unparsed)."""

    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await refuse(context, refusal)

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await refuse(context, refusal)
        yield  # pragma: no cover - makes this an async generator, as streaming handlers are

    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort_stream, None, serializer)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort, None, serializer)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort_stream, None, serializer)
    return grpc.unary_unary_rpc_method_handler(abort, None, serializer)


def build_auth(settings: SecuritySettings) -> AuthInterceptor | None:
    """The interceptor for these settings, or None when auth is off (with a warning)."""
    if not settings.auth:
        log.warning(
            "AUTH IS OFF: any caller that reaches this port may enqueue, cancel and list tasks. "
            "Set --auth-tokens-file or TASKQUEUE_AUTH_TOKENS for anything beyond a trusted network."
        )
        return None
    table = TokenTable(load_tokens(settings))
    log.info("auth on: %d token(s) loaded", len(table))
    return AuthInterceptor(table, settings.auth_open_health)


def reload_tokens(interceptor: AuthInterceptor, settings: SecuritySettings) -> None:
    """Re-read the token sources; on any error keep the tokens already loaded."""
    try:
        table = TokenTable(load_tokens(settings))
    except ValueError as exc:
        log.error("token reload failed, keeping the previous tokens: %s", exc)
        return
    interceptor.replace(table)
    log.info("auth tokens reloaded: %d token(s)", len(table))
