"""Fixtures for the security tests: certificates made at test time, tokens, real servers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme


@dataclass(frozen=True)
class Tokens:
    """Fresh random tokens for this test, and the file that configures two of them."""

    producer: str
    admin: str
    file: Path


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    producer = "p-" + secrets.token_urlsafe(24)
    admin = "a-" + secrets.token_urlsafe(24)
    path = tmp_path / "tokens"
    path.write_text(f"# role token\nproducer {producer}\n\nadmin {admin}\n")
    return Tokens(producer, admin, path)


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as files."""

    ca: trustme.CA
    ca_pem: bytes
    server_cert: Path
    server_key: Path
    client_ca: Path
    client_chain: bytes
    client_key: bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.test")
    server.private_key_pem.write_to_path(str(base / "server.key"))
    (base / "server.pem").write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    return Pki(
        ca=ca,
        ca_pem=ca.cert_pem.bytes(),
        server_cert=base / "server.pem",
        server_key=base / "server.key",
        client_ca=base / "ca.pem",
        client_chain=b"".join(blob.bytes() for blob in client.cert_chain_pems),
        client_key=client.private_key_pem.bytes(),
    )


def health_ok(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> bool:
    """True when the server answers the health check SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5, metadata=metadata
    )
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
