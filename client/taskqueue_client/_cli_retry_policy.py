"""`taskqueue retry-policy get|set|clear`: a queue's default retry policy (admin)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import _cli_output as show
from .client import TaskQueueClient
from .models import TaskRetryPolicy

EXIT_OK = 0
# (flag, key, type, help) of `set`; a flag left out leaves the key out of the policy.
_NUMBERS = (
    ("--base-seconds", "base_seconds", "delay before the first retry, 0 to 86400"),
    ("--factor", "factor", "each further delay this many times longer, 1 to 100"),
    ("--cap-seconds", "cap_seconds", "the longest delay, not below --base-seconds"),
    ("--jitter", "jitter", "random spread of each delay, a fraction from 0 to 1"),
)


def add_retry_policy_commands(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="retry_policy_action", required=True, metavar="ACTION")
    for name, text in (
        ("get", "show the queue's default retry policy"),
        ("set", "replace the queue's default; a field left out keeps the server's flag"),
        ("clear", "remove the queue's default: the server's flags apply again"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--queue", default="", help="queue name (default: 'default')")
        if name == "set":
            for flag, _, help_text in _NUMBERS:
                action.add_argument(flag, type=float, help=help_text)
            action.add_argument(
                "--permanent-error",
                action="append",
                default=[],
                metavar="NAME",
                help="an exception class name that fails the task at once (repeatable)",
            )


def run_retry_policy_command(client: TaskQueueClient, args: argparse.Namespace) -> int:
    if args.retry_policy_action == "get":
        policy = client.get_queue_retry_policy(args.queue)
    else:
        wanted = _policy_of(args) if args.retry_policy_action == "set" else None
        policy = client.set_queue_retry_policy(args.queue, wanted)
    fields: dict[str, Any] = dict(policy or {})
    if args.json:
        show.dump_json(fields, sys.stdout)
    elif not fields:
        print("none (the server's flags apply)")
    else:
        for name, value in fields.items():
            print(f"{name}: {', '.join(value) if name == 'permanent_errors' else value}")
    return EXIT_OK


def _policy_of(args: argparse.Namespace) -> TaskRetryPolicy:
    policy: dict[str, Any] = {
        key: getattr(args, key) for _, key, _ in _NUMBERS if getattr(args, key) is not None
    }
    if args.permanent_error:
        policy["permanent_errors"] = args.permanent_error
    return policy  # type: ignore[return-value]
