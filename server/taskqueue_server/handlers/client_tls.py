"""TLS contexts for the built-in handlers' outgoing connections, built once per trust store."""

from __future__ import annotations

import asyncio
import functools
import ssl


async def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The system trust store, or `ca_file` alone when given; one shared context per file.

    Loading a CA store takes tens of milliseconds of CPU, so it is done once per process and
    off the event loop (a worker's other tasks keep running meanwhile). A context is safe to
    share between connections. A file changed in place is read again only after a restart.
    """
    return await asyncio.to_thread(_load, ca_file)


@functools.lru_cache(maxsize=8)
def _load(ca_file: str | None) -> ssl.SSLContext:
    # The stdlib default (honours SSL_CERT_FILE / SSL_CERT_DIR), not certifi's bundle, which
    # httpx would pick: a CA installed on the host keeps working, as it did with urllib.
    return ssl.create_default_context(cafile=ca_file)
