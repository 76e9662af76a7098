"""Bearer tokens and roles against a real server process: who may call what."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.security.conftest import Tokens, health_ok
from tests.support.error_details import error_reason
from tests.support.server_process import ServerFactory, ServerProcess

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRODUCER_RPCS = ("Enqueue", "EnqueueBatch", "EnqueueStream", "GetTask", "GetResult", "WatchTask")
ADMIN_RPCS = (
    "CancelTask",
    "RetryTask",
    "ListTasks",
    "Stats",
    "SetQueueLimits",
    "GetQueueLimits",
    "SetQueueRetryPolicy",
    "GetQueueRetryPolicy",
)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def every_rpc(stub: pb_grpc.TaskQueueServiceStub, task_id: str) -> dict[str, Callable[..., Any]]:
    """One well-formed call per RPC; each takes the metadata to send."""
    echo = pb.EnqueueRequest(task_type="echo")
    return {
        "Enqueue": lambda md: stub.Enqueue(echo, timeout=5, metadata=md),
        "EnqueueBatch": lambda md: stub.EnqueueBatch(
            pb.EnqueueBatchRequest(tasks=[echo]), timeout=5, metadata=md
        ),
        "EnqueueStream": lambda md: next(
            stub.EnqueueStream(
                iter([pb.EnqueueStreamRequest(tasks=[echo])]), timeout=5, metadata=md
            )
        ),
        "GetTask": lambda md: stub.GetTask(pb.GetTaskRequest(task_id=task_id), 5, metadata=md),
        "GetResult": lambda md: stub.GetResult(
            pb.GetResultRequest(task_id=task_id), timeout=5, metadata=md
        ),
        "WatchTask": lambda md: next(
            stub.WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=5, metadata=md)
        ),
        "CancelTask": lambda md: stub.CancelTask(
            pb.CancelTaskRequest(task_id=task_id), timeout=5, metadata=md
        ),
        "RetryTask": lambda md: stub.RetryTask(
            pb.RetryTaskRequest(task_id=task_id), timeout=5, metadata=md
        ),
        "ListTasks": lambda md: stub.ListTasks(pb.ListTasksRequest(), timeout=5, metadata=md),
        "Stats": lambda md: stub.Stats(pb.StatsRequest(), timeout=5, metadata=md),
        # Limits on a queue no task uses, so setting them changes nothing else here.
        "SetQueueLimits": lambda md: stub.SetQueueLimits(
            pb.SetQueueLimitsRequest(limits=pb.QueueLimits(queue="auth_probe")),
            timeout=5,
            metadata=md,
        ),
        "GetQueueLimits": lambda md: stub.GetQueueLimits(
            pb.GetQueueLimitsRequest(queue="auth_probe"), timeout=5, metadata=md
        ),
        # A queue default on that queue too: set (and so kept) only when the role may.
        "SetQueueRetryPolicy": lambda md: stub.SetQueueRetryPolicy(
            pb.SetQueueRetryPolicyRequest(
                queue="auth_probe", retry_policy=pb.RetryPolicy(base_seconds=2)
            ),
            timeout=5,
            metadata=md,
        ),
        "GetQueueRetryPolicy": lambda md: stub.GetQueueRetryPolicy(
            pb.GetQueueRetryPolicyRequest(queue="auth_probe"), timeout=5, metadata=md
        ),
    }


def code_of(call: Callable[..., Any], metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    try:
        call(metadata)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return OK


def start_with_tokens(servers: ServerFactory, tokens: Tokens, *extra: str) -> ServerProcess:
    return servers.start(
        extra_args=["--auth-tokens-file", str(tokens.file), "--log-level", "DEBUG", *extra]
    )


def test_roles_decide_every_rpc(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        # Scheduled an hour out, so CancelTask and then RetryTask both find it in a state
        # they accept: only auth decides the outcome below.
        parked = pb.EnqueueRequest(task_type="echo", delay_seconds=3600)
        task_id = stub.Enqueue(parked, timeout=5, metadata=bearer(tokens.admin)).task_id
        calls = every_rpc(stub, task_id)
        for name, call in calls.items():
            assert code_of(call, ()) == UNAUTHENTICATED, name
            assert code_of(call, bearer("p-" + "x" * 32)) == UNAUTHENTICATED, name
            assert code_of(call, (("authorization", tokens.admin),)) == UNAUTHENTICATED, name
        for name in PRODUCER_RPCS:
            assert code_of(calls[name], bearer(tokens.producer)) == OK, name
        for name in ADMIN_RPCS:
            assert code_of(calls[name], bearer(tokens.producer)) == DENIED, name
        for name in (*PRODUCER_RPCS, *ADMIN_RPCS):
            assert code_of(calls[name], bearer(tokens.admin)) == OK, name
        # Health stays open by default: a load balancer holds no token.
        assert health_ok(channel)


def test_a_producer_cannot_set_a_queues_retry_policy(
    servers: ServerFactory, tokens: Tokens
) -> None:
    server = start_with_tokens(servers, tokens)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        request = pb.SetQueueRetryPolicyRequest(
            queue="auth_retry", retry_policy=pb.RetryPolicy(base_seconds=60)
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.SetQueueRetryPolicy(request, timeout=5, metadata=bearer(tokens.producer))
        assert refused.value.code() == DENIED
        read = pb.GetQueueRetryPolicyRequest(queue="auth_retry")
        stored = stub.GetQueueRetryPolicy(read, timeout=5, metadata=bearer(tokens.admin))
        assert not stored.HasField("retry_policy")


def test_refusals_say_what_to_do(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.Stats(pb.StatsRequest(), timeout=5)
        assert "Bearer" in (missing.value.details() or "")
        assert error_reason(missing.value) == "TOKEN_INVALID"
        with pytest.raises(grpc.RpcError) as weak:
            stub.Stats(pb.StatsRequest(), timeout=5, metadata=bearer(tokens.producer))
        assert "admin role" in (weak.value.details() or "")
        assert error_reason(weak.value) == "ROLE_TOO_WEAK"


def test_closed_health_and_reflection_need_a_token(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens, "--auth-open-health", "false")
    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            health_ok(channel)
        assert refused.value.code() == UNAUTHENTICATED
        assert health_ok(channel, bearer(tokens.producer))
        reflect = reflection_call(channel)
        assert code_of(reflect, ()) == UNAUTHENTICATED
        assert code_of(reflect, bearer(tokens.producer)) == OK


def reflection_call(channel: grpc.Channel) -> Callable[..., Any]:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    return lambda md: next(iter(stub.ServerReflectionInfo(iter([request]), 5, metadata=md)))


def test_tokens_from_the_environment(servers: ServerFactory) -> None:
    producer, admin = "env-producer-0123456789abcdef", "env-admin-0123456789abcdef"
    server = servers.start(env={"TASKQUEUE_AUTH_TOKENS": f"producer:{producer}, admin:{admin}"})
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        assert code_of(every_rpc(stub, "")["Stats"], bearer(producer)) == DENIED
        assert code_of(every_rpc(stub, "")["Stats"], bearer(admin)) == OK
        assert code_of(every_rpc(stub, "")["Stats"], ()) == UNAUTHENTICATED


def test_tokens_never_reach_the_log(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens)
    wrong = "w-" + "9" * 30
    with grpc.insecure_channel(server.target) as channel:
        calls = every_rpc(pb_grpc.TaskQueueServiceStub(channel), "default-" + "0" * 32)
        for call in calls.values():
            for token in (tokens.producer, tokens.admin, wrong):
                code_of(call, bearer(token))
    assert server.stop() == 0
    log = server.output()
    assert "refused" in log  # the denials were logged at DEBUG/INFO, so there was a chance
    for secret in (tokens.producer, tokens.admin, wrong, tokens.producer[:12]):
        assert secret not in log


def test_no_auth_configured_warns(servers: ServerFactory) -> None:
    server = servers.start()
    assert "AUTH IS OFF" in server.output()
    with grpc.insecure_channel(server.target) as channel:
        assert code_of(every_rpc(pb_grpc.TaskQueueServiceStub(channel), "")["Stats"], ()) == OK


def test_sighup_rotates_tokens(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens)
    rotated = "a-rotated-" + "7" * 24
    tokens.file.write_text(f"admin {rotated}\n")
    server.process.send_signal(signal.SIGHUP)
    with grpc.insecure_channel(server.target) as channel:
        stats = every_rpc(pb_grpc.TaskQueueServiceStub(channel), "")["Stats"]
        deadline = time.monotonic() + 10
        while code_of(stats, bearer(rotated)) != OK:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        assert code_of(stats, bearer(tokens.admin)) == UNAUTHENTICATED
        # A broken file on the next reload keeps the tokens already loaded.
        tokens.file.write_text("admin short\n")
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "token reload failed" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        assert code_of(stats, bearer(rotated)) == OK


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("producer tooshort\n", "shorter than 16"),
        ("root 0123456789abcdef0123\n", "unknown role"),
        ("admin\n", "expected '<role> <token>'"),
        ("# nothing but a comment\n", "no token"),
    ],
)
def test_bad_token_file_stops_start_up(tmp_path: Path, content: str, complaint: str) -> None:
    from tests.support.server_process import start_server

    path = tmp_path / "tokens"
    path.write_text(content)
    with pytest.raises(RuntimeError) as failed:
        start_server(extra_args=["--auth-tokens-file", str(path)], ready_timeout=20)
    message = str(failed.value)
    assert "exited with 2" in message and complaint in message
    assert "0123456789abcdef0123" not in message and "tooshort" not in message


def test_health_check_shape(servers: ServerFactory, tokens: Tokens) -> None:
    """Watch on health (a server-streaming RPC) is refused cleanly too when closed."""
    server = start_with_tokens(servers, tokens, "--auth-open-health", "false")
    with grpc.insecure_channel(server.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        with pytest.raises(grpc.RpcError) as refused:
            next(watch)
        assert refused.value.code() == UNAUTHENTICATED
