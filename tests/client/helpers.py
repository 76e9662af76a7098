"""Helpers for the client tests: the asyncio client driven from sync tests, the CLI runner."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from taskqueue_client import AsyncTaskQueueClient


class LoopThread:
    """An event loop in a thread, so sync test code can drive the asyncio client for real."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class AsyncAsSync:
    """`AsyncTaskQueueClient` behind the sync client's interface: coroutines are awaited and
    async iterators stepped one item at a time on the loop thread (so laziness is kept)."""

    def __init__(self, runner: LoopThread, target: str) -> None:
        self._runner = runner

        async def make() -> AsyncTaskQueueClient:
            return AsyncTaskQueueClient(target, timeout=20)

        self.aio: AsyncTaskQueueClient = runner.run(make())

    def _iterate(self, agen: Any) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield self._runner.run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(agen.aclose())

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.aio, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isasyncgen(result):
                return self._iterate(result)
            return self._runner.run(result)

        return call


def cli_command() -> list[str]:
    """The installed `taskqueue` script of the venv running the tests."""
    script = Path(sys.executable).parent / "taskqueue"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "taskqueue_client.cli"]


def run_cli(
    *args: str, target: str | None = None, input_text: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `taskqueue ARGS` as a subprocess; the target goes in through TASKQUEUE_TARGET."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    if target is not None:
        env["TASKQUEUE_TARGET"] = target
    return subprocess.run(
        [*cli_command(), *args],
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
