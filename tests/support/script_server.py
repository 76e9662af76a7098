"""A stand-in gRPC server run from a script of its own (older_server.py, newer_server.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def script_server(script: Path, *args: str) -> Iterator[str]:
    """Runs `script`, which prints "ready on <host:port>" once serving; yields that address."""
    process = subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready on "), f"{script.name} did not start: {line!r}"
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(10)
