"""The default store when no Redis URL is given: a private `redis-server`, child of this one.

It keeps its data (append-only file) in a local directory, so tasks survive a restart, and
listens only on a unix socket in that directory (mode 700: no other user, no port). It
stops with the server: on a clean exit the engine's close stops it (SIGTERM, so it flushes
its AOF); if the server is killed, the kernel sends it SIGTERM (PR_SET_PDEATHSIG).

Two servers must not run one data directory: it is locked (flock) for as long as its
redis-server lives (the child inherits the lock), so a restarted server also waits for a
predecessor's redis-server to finish writing before it starts its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .errors import StoreUnavailable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
LOCK_WAIT_SECONDS = 10.0  # a predecessor's redis-server flushing its AOF on the way out
READY_SECONDS = 60.0  # loading a large AOF takes a while
STOP_SECONDS = 30  # writing out a large AOF
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _die_with_parent(parent_pid: int) -> None:
    """In the child before exec: get SIGTERM when the server dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the server died before prctl took effect
        os._exit(1)


class LocalRedis:
    """A running private redis-server; `url` reaches it."""

    def __init__(self, process: subprocess.Popen[bytes], data_dir: Path, socket: Path) -> None:
        self.process = process
        self.data_dir = data_dir
        self.socket = socket
        self.url = f"unix://{socket}"

    @classmethod
    async def start(cls, binary: str, data_dir: str) -> LocalRedis:
        """Start it and wait until it answers; StoreUnavailable (with its log) if it cannot."""
        directory = _prepare(data_dir)
        lock = await _lock(directory)
        socket = directory / "redis.sock"
        if len(bytes(socket)) > MAX_SOCKET_PATH:
            socket = Path(tempfile.mkdtemp(prefix="taskqueue-")) / "redis.sock"
        try:
            # Forked from this (the loop's, the main) thread on purpose: the death signal
            # fires when the forking *thread* ends, so never from a worker thread.
            process = _spawn([binary, *_redis_args(directory, socket)], lock)
        finally:
            os.close(lock)  # the child's copy holds it now, as long as that child lives
        local = cls(process, directory, socket)
        await local._wait_ready()
        return local

    async def _wait_ready(self) -> None:
        client = Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1)
        deadline = time.monotonic() + READY_SECONDS
        try:
            while True:
                if self.process.poll() is not None:
                    raise StoreUnavailable(
                        f"the private redis-server exited with {self.process.returncode}; "
                        f"see {self.data_dir / 'redis.log'}:\n{self.log_tail()}"
                    )
                # Only once it listens: redis-py backs off between failed connects.
                with contextlib.suppress(RedisError, OSError):
                    if self.socket.exists() and await client.ping():  # type: ignore[misc]
                        return
                if time.monotonic() > deadline:
                    await self.stop()
                    raise StoreUnavailable(
                        f"the private redis-server did not answer within {READY_SECONDS:.0f}s"
                    )
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def log_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            text = (self.data_dir / "redis.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        """SIGTERM (it writes out its AOF), then SIGKILL after STOP_SECONDS."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("the private redis-server did not stop in %ds; killing it", STOP_SECONDS)
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        if self.socket.parent != self.data_dir:
            shutil.rmtree(self.socket.parent, ignore_errors=True)


def _prepare(data_dir: str) -> Path:
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def _spawn(args: list[str], lock: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(lock,),  # holds the data directory's lock until this redis-server exits
        preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        start_new_session=True,  # a Ctrl-C at the terminal is the server's to handle
    )


def _redis_args(directory: Path, socket: Path) -> list[str]:
    return [
        "--port", "0",  # no TCP listener: only this user's processes reach the socket
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip


async def _lock(directory: Path) -> int:
    """An fd holding an exclusive flock on the directory's lock file."""
    fd = os.open(directory / "taskqueue.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise StoreUnavailable(
                    f"data directory {directory} is in use by another taskqueue-server; give "
                    "each server its own --data-dir, or share one Redis with --redis-url"
                ) from None
            await asyncio.sleep(0.1)
