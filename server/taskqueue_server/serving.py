"""What ends a server and how it listens: the shutdown signal, the gRPC server's options."""

from __future__ import annotations

import asyncio
import logging
import signal

from .config import ServerSettings
from .supervisor import supervised

log = logging.getLogger("taskqueue_server")


def grpc_options(settings: ServerSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # Two servers must never share a port silently (gRPC enables SO_REUSEPORT by default),
        # except the processes of one `--processes N` server, which share it on purpose.
        ("grpc.so_reuseport", 1 if supervised() else 0),
    ]


def display_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Shutdown:
    """The signal that ends `serve`; a second signal skips the grace period."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()

    def __call__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.warning("second %s: stopping without waiting for handlers", name)
            self.hurry.set()
        else:
            log.info("%s received: shutting down", name)
            self.requested.set()
