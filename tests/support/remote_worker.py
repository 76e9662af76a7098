"""Remote Python workers for tests: in a thread of the test process, or as a real
`taskqueue worker` process (SIGKILL-able), recording into Redis like the record handlers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from taskqueue_client.worker import Worker

from tests.support.server_process import REDIS_URL

REPO_ROOT = Path(__file__).resolve().parents[2]
REMOTE_HANDLERS = "tests.remote.handlers_remote"


class WorkerThread:
    """Runs `worker.run()` on an event loop of its own thread until `stop()`."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="remote-worker")
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self.worker.run())
        except BaseException as exc:
            self.error = exc
        finally:
            self._loop.close()

    def stop(self, grace: float = 5.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.worker.stop, grace)
        self._thread.join(grace + 30)
        assert not self._thread.is_alive(), "the worker did not stop"


def taskqueue_command() -> list[str]:
    """The `taskqueue` console script of the venv running the tests."""
    script = Path(sys.executable).parent / "taskqueue"
    return [str(script)] if script.exists() else [sys.executable, "-m", "taskqueue_client.cli"]


def worker_process(
    target: str,
    prefix: str,
    who: str,
    *,
    lease_seconds: float = 30.0,
    concurrency: int = 8,
    extra: Iterable[str] = (),
    record_url: str = REDIS_URL,
) -> subprocess.Popen[str]:
    """`taskqueue worker --handlers tests.remote.handlers_remote` as a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1", TQTEST_REDIS_URL=record_url,
        TQTEST_PREFIX=prefix, TQTEST_WORKER=who,
    )  # fmt: skip
    command = [
        *taskqueue_command(),
        "worker", "--target", target, "--handlers", REMOTE_HANDLERS, "--worker-id", who,
        "--lease-seconds", str(lease_seconds), "--concurrency", str(concurrency), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
