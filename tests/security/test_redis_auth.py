"""Redis ACL users and Redis over TLS, both taken from the --redis-url as redis-py parses it."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.support.error_details import error_reason
from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess


@dataclass(frozen=True)
class AclUser:
    name: str
    password: str
    prefix: str

    def url(self, password: str | None = None) -> str:
        return f"redis://{self.name}:{password or self.password}@127.0.0.1:6379/0"


@pytest.fixture
def acl_user(redis_available: None) -> Iterator[AclUser]:
    """A user that may touch only keys and channels under its own prefix, no admin commands."""
    user = AclUser(
        name=f"tqtest-{secrets.token_hex(6)}",
        password=secrets.token_urlsafe(24),
        prefix=f"tqtest-acl-{secrets.token_hex(6)}",
    )
    admin = redis.Redis.from_url(REDIS_URL)
    admin.acl_setuser(
        user.name,
        enabled=True,
        passwords=[f"+{user.password}"],
        keys=[f"{user.prefix}*"],
        channels=[f"{user.prefix}*"],
        commands=["+@all", "-@dangerous"],
    )
    try:
        yield user
    finally:
        admin.acl_deluser(user.name)
        admin.close()


def run_echo(server: ServerProcess) -> int:
    """Enqueue an echo task, wait for its result; the TaskStatus it ended in."""
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        task_id = stub.Enqueue(pb.EnqueueRequest(task_type="echo"), timeout=5).task_id
        result = stub.GetResult(pb.GetResultRequest(task_id=task_id, wait_seconds=10), 15)
        stub.ListTasks(pb.ListTasksRequest(), timeout=5)
        stub.Stats(pb.StatsRequest(), timeout=5)
        return int(result.status)


def enqueue_refusal(server: ServerProcess) -> tuple[str, str]:
    """The status code and the ErrorInfo reason an Enqueue to `server` is refused with."""
    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.TaskQueueServiceStub(channel).Enqueue(pb.EnqueueRequest(task_type="echo"), 5)
    return err.value.code().name, error_reason(err.value)


def serving_status(server: ServerProcess) -> int:
    with grpc.insecure_channel(server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), 5)
        return int(reply.status)


def test_acl_user_from_the_url(acl_user: AclUser) -> None:
    with ServerFactory(key_prefix=acl_user.prefix) as servers:
        server = servers.start(redis_url=acl_user.url())
        assert run_echo(server) == pb.TASK_STATUS_COMPLETED
        assert server.stop() == 0
        assert acl_user.password not in server.output()
        assert f"{acl_user.name}:***@" in server.ready_line


def test_acl_user_outside_its_keys_is_refused(acl_user: AclUser) -> None:
    """The same user with another prefix: Redis refuses, the server should say NOT_SERVING."""
    with ServerFactory(key_prefix=f"elsewhere-{acl_user.prefix}") as servers:
        server = servers.start(redis_url=acl_user.url())
        assert serving_status(server) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert enqueue_refusal(server) == ("UNAVAILABLE", "STORE_ACCESS_DENIED")


def test_wrong_password_means_not_serving(acl_user: AclUser) -> None:
    """A wrong password does not stop the process (the operator may fix the ACL while it
    waits); it listens, answers health NOT_SERVING and RPCs UNAVAILABLE, and logs why."""
    wrong = "wrong-" + secrets.token_hex(8)
    with ServerFactory(key_prefix=acl_user.prefix) as servers:
        server = servers.start(redis_url=acl_user.url(wrong))
        assert serving_status(server) == health_pb2.HealthCheckResponse.NOT_SERVING
        # It never connected, so callers hear "not connected yet"; the log says why.
        assert enqueue_refusal(server) == ("UNAVAILABLE", "STORE_UNAVAILABLE")
        assert server.stop() == 0
        assert "must fix the server's Redis user, password or ACL" in server.output()
        assert wrong not in server.output()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TlsRedis:
    port: int
    ca_file: Path


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    """A throwaway redis-server speaking only TLS, with a certificate made here."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--save", "", "--appendonly", "no",
         "--tls-cert-file", str(tmp_path / "cert.pem"), "--tls-key-file", str(tmp_path / "key.pem"),
         "--tls-ca-cert-file", str(tmp_path / "ca.pem"), "--tls-auth-clients", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            break
        except redis.exceptions.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out = process.communicate()[0]
                pytest.fail(f"redis-server with TLS did not start: {out[-2000:]}")
            time.sleep(0.05)
    try:
        yield TlsRedis(port, tmp_path / "ca.pem")
    finally:
        process.terminate()
        process.wait(10)


def test_redis_over_tls(tls_redis: TlsRedis) -> None:
    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={tls_redis.ca_file}"
    with ServerFactory(redis_url=url) as servers:
        assert run_echo(servers.start()) == pb.TASK_STATUS_COMPLETED


def test_redis_tls_checks_the_certificate(tls_redis: TlsRedis) -> None:
    """Without our CA the server's certificate is not trusted: no connection, NOT_SERVING.
    Plain redis:// to the TLS port fails the same way."""
    for url in (
        f"rediss://127.0.0.1:{tls_redis.port}/0",
        f"redis://127.0.0.1:{tls_redis.port}/0",
    ):
        with ServerFactory(redis_url=url) as servers:
            server = servers.start()
            assert serving_status(server) == health_pb2.HealthCheckResponse.NOT_SERVING, url
