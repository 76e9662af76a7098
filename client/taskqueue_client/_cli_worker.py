"""`taskqueue worker --handlers MODULE`: run a module's handlers as a remote worker."""

from __future__ import annotations

import argparse
import importlib
import logging

from .worker import Worker


class HandlerModuleError(ValueError):
    """A --handlers module that cannot be imported or registers nothing."""


def add_worker_command(worker: argparse.ArgumentParser) -> None:
    worker.add_argument(
        "--handlers",
        action="append",
        required=True,
        metavar="MODULE",
        help="module whose @taskqueue_client.worker.handler functions to run (repeatable)",
    )
    worker.add_argument(
        "--queue", action="append", default=[], help="queue to lease from (repeatable; default)"
    )
    worker.add_argument("--concurrency", type=int, default=8, help="handlers at once (default 8)")
    worker.add_argument(
        "--prefetch", type=int, help="tasks leased ahead of free slots (default: 4 x concurrency)"
    )
    worker.add_argument("--worker-id", help="unique worker name (default <host>:<pid>)")
    worker.add_argument("--lease-seconds", type=float, default=30.0, help="lease length, s")
    worker.add_argument("--grace", type=float, default=30.0, help="seconds to finish at stop")


def run_worker(args: argparse.Namespace, ca: bytes | None, timeout: float | None) -> int:
    """Serve until SIGTERM/SIGINT; returns 0 after a graceful stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    worker = Worker(
        args.target,
        queues=args.queue or ["default"],
        concurrency=args.concurrency,
        prefetch=args.prefetch,
        worker_id=args.worker_id,
        lease_seconds=args.lease_seconds,
        token=args.token,
        tls=args.tls,
        root_certificates=ca,
        timeout=timeout,
    )
    for name in args.handlers:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise HandlerModuleError(f"cannot import --handlers {name}: {exc}") from None
    worker.register_defaults()
    if not worker.handlers:
        raise HandlerModuleError("the --handlers modules registered no handler")
    logging.getLogger("taskqueue_client.worker").info(
        "worker %s serving %s on %s", worker.worker_id, ", ".join(sorted(worker.handlers)),
        args.target,
    )  # fmt: skip
    worker.run_until_signal(args.grace)
    return 0
