"""`taskqueue`: enqueue, inspect, watch, cancel and retry tasks, and keep schedules, from a shell.

Exit codes (sysexits.h where one fits):
    0   success; for `watch` and `result`: the task completed
    1   the task failed                      (watch, result)
    2   the task was cancelled               (watch, result)
    3   the task has not finished yet        (result), or it is in a status this
        client does not know                 (watch, result)
    64  usage error: bad flags, JSON or time (EX_USAGE)
    65  the server refused the request as invalid or not allowed now (EX_DATAERR)
    66  no such task                         (EX_NOINPUT)
    69  the server cannot be reached         (EX_UNAVAILABLE)
    70  the server failed                    (EX_SOFTWARE)
    75  deadline exceeded or a limit reached; try again later (EX_TEMPFAIL)
    77  authentication or permission refused (EX_NOPERM)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import grpc

from . import _cli_output as show
from ._cli_control import CONTROL_COMMANDS
from ._cli_limits import run_limits_command
from ._cli_parser import (
    EXIT_CANCELLED,
    EXIT_DATAERR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOPERM,
    EXIT_NOT_FINISHED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOFTWARE,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    build_parser,
)
from ._cli_retry_policy import run_retry_policy_command
from ._cli_worker import run_worker
from ._schedule_cli import run_schedule
from .client import TaskQueueClient
from .errors import ServiceError, TaskOutcomeError
from .models import EnqueueOptions, Task, TaskResult, TaskStatus

_EXIT_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_DATAERR,
    grpc.StatusCode.OUT_OF_RANGE: EXIT_DATAERR,
    grpc.StatusCode.FAILED_PRECONDITION: EXIT_DATAERR,
    grpc.StatusCode.ALREADY_EXISTS: EXIT_DATAERR,
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_TEMPFAIL,
    grpc.StatusCode.RESOURCE_EXHAUSTED: EXIT_TEMPFAIL,
    grpc.StatusCode.UNAUTHENTICATED: EXIT_NOPERM,
    grpc.StatusCode.PERMISSION_DENIED: EXIT_NOPERM,
}
_EXIT_BY_STATUS = {
    TaskStatus.COMPLETED: EXIT_OK,
    TaskStatus.FAILED: EXIT_FAILED,
    TaskStatus.CANCELLED: EXIT_CANCELLED,
}


class UsageError(Exception):
    """A bad argument found after parsing (JSON, time); exits 64."""


def _read_data(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        source = text[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --data file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--data is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError('--data must be a JSON object, e.g. \'{"to_email": "a@b.c"}\'')
    return data


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--run-at {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.astimezone()


def _enqueue(client: TaskQueueClient, args: argparse.Namespace) -> int:
    options: EnqueueOptions = {
        "priority": args.priority,
        "max_retries": args.max_retries,
        "delay_seconds": args.delay,
        "queue": args.queue,
        "timeout_seconds": args.task_timeout,
        "depends_on": args.depends_on,
        "idempotency_key": "" if args.no_key else args.key,
        "concurrency_key": args.concurrency_key or "",
    }
    if args.run_at:
        options["run_at"] = _parse_time(args.run_at)
    if args.wait is not None:
        return _run(client, args, options)
    task_id = client.enqueue(args.task_type, _read_data(args.data), **options)
    if args.json:
        show.dump_json({"task_id": task_id}, sys.stdout)
    else:
        print(task_id)
    return EXIT_OK


def _run(client: TaskQueueClient, args: argparse.Namespace, options: EnqueueOptions) -> int:
    """`enqueue --wait`: one call that stores the task and waits for it (`client.run`)."""
    try:
        value = client.run(args.task_type, _read_data(args.data), timeout=args.wait, **options)
        result = TaskResult("", TaskStatus.COMPLETED, value, "")
    except TaskOutcomeError as ended:  # failed, cancelled, or not finished within the wait
        result = TaskResult(ended.task_id, ended.status, None, ended.error)
    if args.json:
        show.dump_json(show.to_json(result), sys.stdout)
    else:
        if result.task_id:  # to follow up on with `result`, `watch` or `cancel`
            print(f"task    {result.task_id}")
        show.show_result(result, sys.stdout)
    return _EXIT_BY_STATUS.get(result.status, EXIT_NOT_FINISHED)


def _get(client: TaskQueueClient, args: argparse.Namespace) -> int:
    task = client.get_task(args.task_id)
    if args.json:
        show.dump_json(show.to_json(task), sys.stdout)
    else:
        show.show_task(task, sys.stdout)
    return EXIT_OK


def _change(
    action: Callable[[TaskQueueClient], Callable[[str], Task]],
) -> Callable[[TaskQueueClient, argparse.Namespace], int]:
    """cancel: act, then print the task's new status (or the task as JSON)."""

    def run(client: TaskQueueClient, args: argparse.Namespace) -> int:
        task = action(client)(args.task_id)
        if args.json:
            show.dump_json(show.to_json(task), sys.stdout)
        else:
            print(f"{task.id}  {task.status.value}")
        return EXIT_OK

    return run


def _result(client: TaskQueueClient, args: argparse.Namespace) -> int:
    result = client.get_result(args.task_id, wait=args.wait)
    if args.json:
        show.dump_json(show.to_json(result), sys.stdout)
    else:
        show.show_result(result, sys.stdout)
    return _EXIT_BY_STATUS.get(result.status, EXIT_NOT_FINISHED)


def _watch(client: TaskQueueClient, args: argparse.Namespace) -> int:
    line = show.StatusLine(sys.stdout)
    last = None
    try:
        for task in client.watch(args.task_id):
            last = task
            if args.json:
                print(json.dumps(show.to_json(task), ensure_ascii=False), flush=True)
            else:
                line.update(show.progress_line(task))
    finally:
        line.finish()
    if last is None:
        raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the watch ended before the task did")
    # The watch ends after a terminal state, or after one this CLI does not know (exit 3).
    return _EXIT_BY_STATUS.get(last.status, EXIT_NOT_FINISHED)


def _stats(client: TaskQueueClient, args: argparse.Namespace) -> int:
    stats = client.stats(task_type=args.task_type, queue=args.queue)
    if args.json:
        show.dump_json({name: show.to_json(c) for name, c in stats.items()}, sys.stdout)
    else:
        show.show_stats(stats, sys.stdout)
    return EXIT_OK


def _list(client: TaskQueueClient, args: argparse.Namespace) -> int:
    tasks = client.list_tasks(
        args.queue,
        status=args.status,
        task_type=args.task_type,
        page_size=min(args.limit, 1000) if args.limit > 0 else 1000,
    )
    if args.limit > 0:
        tasks = islice(tasks, args.limit)
    if args.json:
        show.dump_json([show.to_json(task) for task in tasks], sys.stdout)
    else:
        show.show_tasks(tasks, sys.stdout)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[TaskQueueClient, argparse.Namespace], int]] = {
    "enqueue": _enqueue,
    "get": _get,
    "result": _result,
    "watch": _watch,
    "stats": _stats,
    "list": _list,
    "limits": run_limits_command,
    "retry-policy": run_retry_policy_command,
    "cancel": _change(lambda client: client.cancel),
    "schedule": run_schedule,
    **CONTROL_COMMANDS,
}


def _ca_file(args: argparse.Namespace) -> bytes | None:
    try:
        return args.ca_file.read_bytes() if args.ca_file else None
    except OSError as exc:
        raise UsageError(f"cannot read --ca-file: {exc}") from None


def _client(args: argparse.Namespace) -> TaskQueueClient:
    timeout = args.timeout if args.timeout > 0 else None
    return TaskQueueClient(
        args.target, token=args.token, tls=args.tls, root_certificates=_ca_file(args),
        timeout=timeout,
    )  # fmt: skip


def _fail(code: int, message: str) -> int:
    print(f"taskqueue: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `taskqueue` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "worker":
            return run_worker(args, _ca_file(args), args.timeout if args.timeout > 0 else None)
        with _client(args) as client:
            return _COMMANDS[args.command](client, args)
    except UsageError as exc:
        return _fail(EXIT_USAGE, f"error: {exc}")
    except ServiceError as exc:
        code = _EXIT_BY_CODE.get(exc.code, EXIT_SOFTWARE)
        where = f" ({args.target})" if code == EXIT_UNAVAILABLE else ""
        return _fail(code, f"{exc}{where}")
    except (TypeError, ValueError) as exc:
        return _fail(EXIT_USAGE, f"error: {exc}")
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")


if __name__ == "__main__":
    sys.exit(main())
