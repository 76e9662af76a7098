"""The server's version and its pin on the client, from the client's `__version__`.

One version for both packages: `client/taskqueue_client/__init__.py` holds it (the client's
pyproject reads it with `attr:`), and this reads the same line without importing the client.
Everything else about the package is in pyproject.toml.
"""

import re
from pathlib import Path

from setuptools import setup

CLIENT_INIT = Path(__file__).parent / "client" / "taskqueue_client" / "__init__.py"
VERSION = re.search(r'^__version__ = "([^"]+)"$', CLIENT_INIT.read_text(), re.M)
if VERSION is None:
    raise SystemExit(f"no __version__ = \"...\" line in {CLIENT_INIT}")

setup(
    version=VERSION[1],
    install_requires=[
        f"taskqueue-client=={VERSION[1]}",
        "grpcio>=1.85.1",
        "grpcio-health-checking>=1.85.1",
        "grpcio-reflection>=1.85.1",
        # Refusals carry google.rpc.Status details (ErrorInfo, BadRequest); see docs/client.md.
        "grpcio-status>=1.85.1",
        "protobuf>=7.35.1,<8",
        # Not 8.x: redis-py 8.0 and 8.1 swallow a task cancellation that lands while a command
        # is in flight (asyncio.timeout around a command never fires), which leaks watchers.
        "redis[hiredis]>=7.1,<8",
        # Schedules: 5-field cron expressions (iterated on wall-clock times, see engine/ticks.py).
        "croniter>=7,<8",
        "tzdata",  # IANA time zones where the OS has none (zoneinfo falls back to it)
        "fakeredis[lua]>=2.26",
        "orjson>=3.10",
        # The server's event loop where it installs (--event-loop auto); asyncio's otherwise.
        'uvloop>=0.21; sys_platform != "win32" and platform_python_implementation == "CPython"',
        # The HTTP port beside gRPC: metrics, health, REST (same event loop as grpc.aio).
        "aiohttp>=3.14",
        "prometheus-client>=0.26",
        # Clients of the built-in handlers (GitHub import, e-mail).
        "httpx>=0.28.1,<1",
        "aiosmtplib>=5.1.3,<6",
        # httpcore imports sniffio on every request and, with anyio>=4.11 no longer pulling it
        # in, pays a failed import (a sys.path scan) each time; installed, the import is cached.
        "sniffio>=1.3.1",
    ],
)
