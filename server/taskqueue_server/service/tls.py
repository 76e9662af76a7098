"""The listening port: TLS (optionally mutual) from PEM files, or plaintext."""

from __future__ import annotations

from pathlib import Path

import grpc

from ..config.security import SecuritySettings


def server_credentials(settings: SecuritySettings) -> grpc.ServerCredentials:
    """Credentials from the certificate chain and key; with a client CA, client certs required.

    Raises OSError when a file cannot be read (config.py checked them once at start-up,
    but they may have changed since).
    """
    if settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("TLS needs both a certificate and a key")
    chain = Path(settings.tls_cert).read_bytes()
    key = Path(settings.tls_key).read_bytes()
    if settings.tls_client_ca is None:
        return grpc.ssl_server_credentials([(key, chain)])
    client_ca = Path(settings.tls_client_ca).read_bytes()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=True
    )


def listen(server: grpc.aio.Server, address: str, settings: SecuritySettings) -> int:
    """Add the port to `server` (TLS when configured) and return the bound port number.

    RuntimeError when the address cannot be bound or the certificate does not load.
    """
    if not settings.tls:
        return server.add_insecure_port(address)
    try:
        credentials = server_credentials(settings)
    except OSError as exc:
        raise RuntimeError(f"cannot read TLS files: {exc}") from exc
    return server.add_secure_port(address, credentials)
