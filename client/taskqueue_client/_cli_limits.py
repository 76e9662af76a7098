"""`taskqueue limits get|set`: a queue's or task type's rate and concurrency limits."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from . import _cli_output as show
from .client import TaskQueueClient
from .models import QueueLimits

EXIT_OK = 0


def add_limits_commands(limits: argparse.ArgumentParser) -> None:
    actions = limits.add_subparsers(dest="limits_action", required=True, metavar="ACTION")
    for name, text in (
        ("get", "show the limits in force"),
        ("set", "replace the limits; a limit left out is removed"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--queue", default="", help="queue name (default: 'default')")
        action.add_argument("--task-type", default="", help="one task type (default: the queue)")
        if name == "set":
            action.add_argument("--rate", type=float, help="tasks started per second")
            action.add_argument("--burst", type=int, help="tasks that may start at once")
            action.add_argument("--max-running", type=int, help="tasks of the type running at once")
            action.add_argument(
                "--max-running-per-key", type=int, help="of those, sharing one concurrency key"
            )


def run_limits_command(client: TaskQueueClient, args: argparse.Namespace) -> int:
    if args.limits_action == "set":
        limits = client.set_limits(
            QueueLimits(
                queue=args.queue,
                task_type=args.task_type,
                rate_per_second=args.rate,
                burst=args.burst,
                max_running=args.max_running,
                max_running_per_key=args.max_running_per_key,
            )
        )
    else:
        limits = client.get_limits(args.queue, args.task_type)
    fields = asdict(limits)
    if args.json:
        show.dump_json(fields, sys.stdout)
    else:
        for name, value in fields.items():
            print(f"{name}: {'none' if value is None else value}")
    return EXIT_OK
