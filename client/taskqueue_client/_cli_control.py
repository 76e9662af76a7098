"""The operators' commands of `taskqueue`: queues, queue pause|resume|purge, priority, delete,
and `top`, a live view of every queue (all need an admin token when auth is on)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import TextIO

from . import _cli_output as show
from ._cli_parser import EXIT_OK
from ._control_calls import BulkFilter
from .client import TaskQueueClient
from .models import QueueInfo

Command = Callable[[TaskQueueClient, argparse.Namespace], int]
# The live statuses top and `queues` show, then the running totals rates come from.
_LIVE = ("pending", "scheduled", "waiting", "processing", "retrying")
_TOTALS = ("completed", "failed")
_CLEAR = "\x1b[H\x1b[2J"


def add_control_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register the commands with the parser's `command(name, help)` factory."""
    command("queues", "every queue: counts by status, paused or not, oldest pending age")
    queue = command("queue", "pause, resume or purge a queue (purge: pending and scheduled)")
    queue.add_argument("action", choices=["pause", "resume", "purge"])
    queue.add_argument("name", metavar="NAME", help="the queue")
    queue.add_argument("--task-type", help="purge: only tasks of this type")
    priority = command("priority", "change the priority of a task that has not started")
    priority.add_argument("task_id", metavar="ID")
    priority.add_argument("priority", metavar="N", type=int, help="-1000..1000, higher first")
    command("delete", "delete a task that is not running").add_argument("task_id", metavar="ID")
    retry = command("retry", "run a failed or cancelled task again, or with --all-failed many")
    retry.add_argument("task_id", metavar="ID", nargs="?")
    retry.add_argument("--all-failed", action="store_true", help="every failed task of --queue")
    retry.add_argument("--queue", default="default", help="with --all-failed (default 'default')")
    retry.add_argument("--task-type", help="with --all-failed: only this task type")
    retry.add_argument("--yes", action="store_true", help="act; without it, only count")
    top = command("top", "a live view of every queue and its rates; q or Ctrl-C quits")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    top.add_argument("--iterations", type=int, default=0, help="stop after N frames (0: never)")


def _queues(client: TaskQueueClient, args: argparse.Namespace) -> int:
    queues = client.list_queues()
    if args.json:
        show.dump_json([asdict(queue) for queue in queues], sys.stdout)
    else:
        _queue_table(queues, {}, sys.stdout)
    return EXIT_OK


def _queue(client: TaskQueueClient, args: argparse.Namespace) -> int:
    if args.action == "purge":
        purged = client.purge_queue(args.name, args.task_type)
        print(f"{args.name}  purged {purged} task(s)")
        return EXIT_OK
    act = client.pause_queue if args.action == "pause" else client.resume_queue
    queue = act(args.name)
    print(f"{queue.name}  {'paused' if queue.paused else 'running'}")
    return EXIT_OK


def _priority(client: TaskQueueClient, args: argparse.Namespace) -> int:
    task = client.change_priority(args.task_id, args.priority)
    print(f"{task.id}  priority {task.priority}  {task.status.value}")
    return EXIT_OK


def _delete(client: TaskQueueClient, args: argparse.Namespace) -> int:
    previous = client.delete_task(args.task_id)
    print(f"{args.task_id}  deleted (was {previous.value})")
    return EXIT_OK


def _retry(client: TaskQueueClient, args: argparse.Namespace) -> int:
    if bool(args.task_id) == bool(args.all_failed):
        raise ValueError("give a task ID or --all-failed, not both or neither")
    if args.task_id:
        task = client.retry(args.task_id)
        if args.json:
            show.dump_json(show.to_json(task), sys.stdout)
        else:
            print(f"{task.id}  {task.status.value}")
        return EXIT_OK
    where = BulkFilter(args.queue, task_type=args.task_type)
    # Count every chunk first; acting, each chunk must still match its count (the server
    # refuses a chunk that changed in between, and changes nothing of it).
    chunks: list[tuple[str, int]] = []
    token = ""
    while True:
        matched, following = client.bulk_tasks("retry", where, dry_run=True, page_token=token)
        chunks.append((token, matched))
        token = following
        if not token:
            break
    total = sum(count for _, count in chunks)
    if not args.yes:
        print(f"{total} failed task(s) in {args.queue} would be retried; add --yes to retry them")
        return EXIT_OK
    for token, count in chunks:
        if count:
            client.bulk_tasks("retry", where, expected_count=count, page_token=token)
    print(f"retried {total} failed task(s) in {args.queue}")
    return EXIT_OK


def _totals(queue: QueueInfo) -> dict[str, int]:
    return {
        name: sum(getattr(counts, name) for counts in queue.task_types.values())
        for name in (*_LIVE, *_TOTALS)
    }


def _queue_table(queues: list[QueueInfo], rates: dict[str, str], out: TextIO) -> None:
    rows = []
    for queue in queues:
        totals = _totals(queue)
        rows.append(
            [
                queue.name,
                "paused" if queue.paused else "running",
                *(totals[name] for name in _LIVE),
                f"{queue.oldest_pending_seconds:.1f}s",
                *([rates.get(queue.name, "-")] if rates else []),
            ]
        )
    headers = ["QUEUE", "STATE", *(n.upper() for n in _LIVE), "OLDEST"]
    show.table([*headers, *(["DONE/S"] if rates else [])], rows, out)


def _top(client: TaskQueueClient, args: argparse.Namespace) -> int:
    previous: dict[str, tuple[float, int]] = {}
    frames = 0
    with _keys_pressed() as pressed:
        while True:
            queues = client.list_queues()
            now = time.monotonic()
            rates = {}
            for queue in queues:
                done = sum(_totals(queue)[name] for name in _TOTALS)
                if queue.name in previous:
                    then, before = previous[queue.name]
                    rates[queue.name] = f"{(done - before) / max(now - then, 1e-6):.1f}"
                previous[queue.name] = (now, done)
            sys.stdout.write(_CLEAR + f"taskqueue top  {time.strftime('%H:%M:%S')}  (q quits)\n\n")
            _queue_table(queues, rates or {q.name: "-" for q in queues}, sys.stdout)
            sys.stdout.flush()
            frames += 1
            if frames == args.iterations or "q" in pressed(args.interval):
                return EXIT_OK


@contextlib.contextmanager
def _keys_pressed() -> Iterator[Callable[[float], str]]:
    """`wait(seconds)`: the keys typed meanwhile. On a terminal it reads keys unbuffered
    (restored on exit); otherwise it only sleeps."""
    stdin = sys.stdin
    if not stdin.isatty():

        def sleep(seconds: float) -> str:
            time.sleep(seconds)
            return ""

        yield sleep
        return
    import select
    import termios
    import tty

    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def wait(seconds: float) -> str:
        ready, _, _ = select.select([fd], [], [], seconds)
        return stdin.read(1) if ready else ""

    try:
        yield wait
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


CONTROL_COMMANDS: dict[str, Command] = {
    "queues": _queues,
    "queue": _queue,
    "priority": _priority,
    "delete": _delete,
    "retry": _retry,
    "top": _top,
}
