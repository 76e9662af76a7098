"""The `taskqueue` command line: flags, commands, exit codes (see cli.py for the table)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from ._cli_limits import add_limits_commands
from ._cli_retry_policy import add_retry_policy_commands
from ._cli_worker import add_worker_command
from ._schedule_cli import add_schedule_commands
from .models import KNOWN_STATUSES

DEFAULT_TARGET = "localhost:50051"

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED, EXIT_NOT_FINISHED = 0, 1, 2, 3
EXIT_USAGE, EXIT_DATAERR, EXIT_NOT_FOUND, EXIT_UNAVAILABLE = 64, 65, 66, 69
EXIT_SOFTWARE, EXIT_TEMPFAIL, EXIT_NOPERM, EXIT_INTERRUPTED = 70, 75, 77, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _connection_flags(suppress: bool) -> _Parser:
    """Flags accepted before and after the command; after it they win (SUPPRESS keeps the
    top-level value when a command does not repeat the flag)."""
    flags = _Parser(add_help=False)

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    env = os.environ
    flags.add_argument(
        "--target",
        default=default(env.get("TASKQUEUE_TARGET", DEFAULT_TARGET)),
        help=f"server host:port (env TASKQUEUE_TARGET, else {DEFAULT_TARGET})",
    )
    flags.add_argument(
        "--token",
        default=default(env.get("TASKQUEUE_TOKEN")),
        help="auth token, sent as 'authorization: Bearer <token>' (env TASKQUEUE_TOKEN)",
    )
    flags.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="connect with TLS (system roots unless --ca-file)",
    )
    flags.add_argument(
        "--ca-file",
        type=Path,
        default=default(None),
        help="PEM file of the CA that signed the server's certificate",
    )
    flags.add_argument(
        "--timeout",
        type=float,
        default=default(30.0),
        help="deadline per call in seconds; 0 for none (default 30)",
    )
    flags.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON instead of tables"
    )
    return flags


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every command has --help."""
    parser = _Parser(
        prog="taskqueue",
        description="Talk to a taskqueue server.",
        parents=[_connection_flags(suppress=False)],
        epilog="Exit codes: 0 ok/completed, 1 failed, 2 cancelled, 3 not finished, "
        "64 usage, 65 refused, 66 not found, 69 unreachable, 70 server error, "
        "75 try later, 77 not allowed.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    flags = _connection_flags(suppress=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[flags])

    _add_enqueue_arguments(command("enqueue", "store a task and print its id"))

    for name, text in (
        ("get", "show a task"),
        ("cancel", "cancel a task"),
    ):
        command(name, text).add_argument("task_id", metavar="ID")
    result = command("result", "show a task's result (exit code: see --help of taskqueue)")
    result.add_argument("task_id", metavar="ID")
    result.add_argument(
        "--wait", type=float, default=0.0, help="seconds the server may wait for the task to finish"
    )
    watch = command("watch", "follow a task until it ends; exit 0 completed, 1 failed, 2 cancelled")
    watch.add_argument("task_id", metavar="ID")

    stats = command("stats", "tasks per type in each status now, then totals that never go down")
    stats.add_argument("--task-type", help="only this task type")
    stats.add_argument("--queue", help="only this queue")
    add_limits_commands(command("limits", "show or replace rate and concurrency limits (admin)"))
    add_retry_policy_commands(
        command("retry-policy", "show, set or clear a queue's default retry policy (admin)")
    )
    listing = command("list", "list a queue's tasks, newest first")
    listing.add_argument("--queue", help="queue name (default: 'default')")
    listing.add_argument("--status", choices=[s.value for s in KNOWN_STATUSES])
    listing.add_argument("--task-type", help="only this task type")
    listing.add_argument("--limit", type=int, default=50, help="at most this many; 0 for all")
    add_worker_command(command("worker", "run handlers as a remote worker until SIGTERM/SIGINT"))
    add_schedule_commands(commands, flags)
    from ._cli_control import add_control_commands  # here: it imports this module's codes

    add_control_commands(command)
    return parser


def _add_enqueue_arguments(enqueue: argparse.ArgumentParser) -> None:
    enqueue.add_argument("task_type", metavar="TYPE", help="handler name, e.g. send_email")
    enqueue.add_argument(
        "--data", default="{}", help="task data: a JSON object, @file, or @- for stdin (default {})"
    )
    enqueue.add_argument("--priority", type=int, default=0, help="higher runs first, -1000..1000")
    enqueue.add_argument("--max-retries", type=int, default=3, help="retries after a failure")
    enqueue.add_argument("--delay", type=float, default=0.0, help="seconds before it may run")
    enqueue.add_argument(
        "--run-at",
        help="ISO 8601 time before which it does not run (without an offset: local time)",
    )
    keys = enqueue.add_mutually_exclusive_group()
    keys.add_argument("--key", help="idempotency key; repeating it returns the first task")
    keys.add_argument(
        "--no-key",
        action="store_true",
        help="send no idempotency key (default: a fresh one, so retries are safe)",
    )
    enqueue.add_argument("--queue", help="queue name (default: the server's 'default')")
    enqueue.add_argument(
        "--concurrency-key", help="tasks sharing it take turns with other keys (docs/limits.md)"
    )
    enqueue.add_argument("--task-timeout", type=float, help="handler time limit per attempt, s")
    enqueue.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS for the task in the same call and print its outcome as "
        "`result` does (exit codes too) instead of its id",
    )
    enqueue.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="ID",
        help="a task that must complete first (repeatable)",
    )
