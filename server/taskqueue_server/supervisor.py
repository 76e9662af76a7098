"""`taskqueue-server --processes N`: N server processes share the gRPC and HTTP ports
(SO_REUSEPORT: the kernel spreads connections over them) so one server uses every core.

This parent only supervises: it starts the children with the same settings, prints the one
ready line once every child is ready, restarts a child that dies with a growing backoff, and
forwards SIGTERM/SIGINT so each child drains within the grace period. Each child answers
health for itself; one that cannot reach Redis says NOT_SERVING on the connections it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from .config import ServerSettings

log = logging.getLogger("taskqueue_server.supervisor")
ready_log = logging.getLogger("taskqueue_server.ready")

READY_FD_ENV = "TASKQUEUE_READY_FD"  # set for children: where to report readiness
FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long restarts without backoff
_KILL_MARGIN_SECONDS = 10.0


def free_port(host: str) -> int:
    """A port every child can bind with SO_REUSEPORT (the children cannot each pick one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Supervisor:
    """Keeps `settings.processes` children running until a signal."""

    def __init__(self, settings: ServerSettings, argv: Sequence[str]) -> None:
        self.settings = settings
        port = settings.port or free_port(settings.host)
        # Later flags win in argparse: the children all take the port chosen here.
        self.argv = [*argv, "--port", str(port)]
        self.port = port
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.stopping = asyncio.Event()
        self.failed_start: int | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._forward, signum)
        firsts = [loop.create_future() for _ in range(self.settings.processes)]
        slots = [
            asyncio.create_task(self._keep_running(index, first))
            for index, first in enumerate(firsts)
        ]
        all_ready: asyncio.Future[object] = asyncio.ensure_future(asyncio.gather(*firsts))
        stop: asyncio.Future[object] = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([all_ready, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        return await self._finish(slots, firsts)

    async def _finish(
        self, slots: list[asyncio.Task[None]], firsts: list[asyncio.Future[bool]]
    ) -> int:
        if all(f.done() and f.result() for f in firsts) and not self.stopping.is_set():
            ready_log.info(
                "taskqueue-server ready on %s:%d (processes: %d, sharing the port)",
                self.settings.host,
                self.port,
                self.settings.processes,
            )
            await self.stopping.wait()
        else:
            self._forward(signal.SIGTERM)
        grace = self.settings.shutdown_grace_seconds + _KILL_MARGIN_SECONDS
        _, late = await asyncio.wait(slots, timeout=grace)
        for process in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if late:
            await asyncio.wait(late, timeout=5)
        return self.failed_start if self.failed_start is not None else 0

    def _forward(self, signum: int) -> None:
        if self.stopping.is_set() and signum != signal.SIGTERM:
            return
        log.info("%s: stopping %d process(es)", signal.Signals(signum).name, len(self.children))
        self.stopping.set()
        for process in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    async def _keep_running(self, index: int, first: asyncio.Future[bool]) -> None:
        delay = FIRST_RESTART_DELAY
        while not self.stopping.is_set():
            loop = asyncio.get_running_loop()
            started = loop.time()
            code = await self._run_child(index, first)
            if self.stopping.is_set():
                return
            if not first.done() or not first.result():
                # It never became ready: settings or handlers are wrong; restarting won't help.
                self.failed_start = code or 1
                if not first.done():
                    first.set_result(False)
                self.stopping.set()
                return
            if loop.time() - started > STABLE_SECONDS:
                delay = FIRST_RESTART_DELAY
            log.warning("process %d exited with %s; restarting in %.1f s", index, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(MAX_RESTART_DELAY, delay * 2)

    async def _run_child(self, index: int, first: asyncio.Future[bool]) -> int:
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "taskqueue_server.cli", *self.argv,
                env={**os.environ, READY_FD_ENV: str(write_fd)},
                pass_fds=(write_fd,),
            )  # fmt: skip
        finally:
            os.close(write_fd)
        self.children[index] = process
        ready = asyncio.create_task(_read_ready(read_fd))
        exited = asyncio.create_task(process.wait())
        try:
            await asyncio.wait([ready, exited], return_when=asyncio.FIRST_COMPLETED)
            if ready.done() and ready.result() and not first.done():
                first.set_result(True)
            return await exited
        finally:
            self.children.pop(index, None)
            # The child is gone, so its end of the pipe is closed and the read ends at once.
            with contextlib.suppress(Exception):
                await ready


async def _read_ready(fd: int) -> bool:
    """True once the child wrote its ready byte; False if it closed the pipe without."""
    loop = asyncio.get_running_loop()
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        return bool(await loop.run_in_executor(None, pipe.read, 1))


def report_ready() -> None:
    """In a child: tell the supervisor this process serves (no-op when unsupervised)."""
    fd = os.environ.pop(READY_FD_ENV, "")
    if fd.isdigit():
        with contextlib.suppress(OSError):
            os.write(int(fd), b"1")
            os.close(int(fd))


def supervised() -> bool:
    return READY_FD_ENV in os.environ
