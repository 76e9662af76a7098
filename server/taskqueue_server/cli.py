"""`taskqueue-server`: parse settings, set up logging, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from .config import load_settings


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for "uvloop", and for "auto" where it is installed; None: asyncio's own.

    uvloop cuts the loop's share of every gRPC call and Redis reply (docs/performance.md);
    grpc.aio runs on any asyncio loop, and the test suite runs the server on both.
    """
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point; exits 0 after a clean shutdown, 1 when serving failed, 2 on bad settings."""
    settings = load_settings(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("taskqueue_server.ready").setLevel(logging.INFO)
    # Imported late so `taskqueue-server --help` works before the engine is importable.
    from .app import serve
    from .supervisor import Supervisor, supervised

    run = serve(settings)
    if settings.processes > 1 and not supervised():
        run.close()
        run = Supervisor(settings, sys.argv[1:] if argv is None else argv).run()
    try:
        factory = loop_factory(settings.event_loop)
    except ImportError:
        run.close()
        logging.getLogger("taskqueue_server").error(
            "--event-loop uvloop: uvloop is not installed; pip install uvloop, or use "
            "--event-loop asyncio"
        )
        sys.exit(2)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            code = runner.run(run)
    except ImportError as exc:
        logging.getLogger("taskqueue_server").error("cannot import a handler module: %s", exc)
        code = 2
    except KeyboardInterrupt:  # a signal before the handlers were installed
        code = 130
    from .worker.execute import handler_threads_alive

    if handler_threads_alive():
        # A second signal skipped waiting for a sync handler. Its lease is no longer renewed,
        # so its thread must end with the process now: Python would join it at exit, and the
        # task could be retried elsewhere while it still ran here.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # how the supervisor starts its children
    main()
