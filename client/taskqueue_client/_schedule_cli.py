"""`taskqueue schedule create|get|list|update|delete|pause|resume`: ScheduleService from a shell.

Output: one line per schedule (id, queue, trigger, next run, last run, fired, missed), or
the Schedule message as JSON with --json. Exit codes as for the other commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format
from taskqueue.v1 import schedule_pb2 as spb
from taskqueue.v1 import schedule_pb2_grpc as spb_grpc

from .client import TaskQueueClient
from .errors import from_rpc_error

_POLICIES = {
    "skip": spb.MISSED_RUN_POLICY_SKIP,
    "catch-up-once": spb.MISSED_RUN_POLICY_CATCH_UP_ONCE,
}


def add_schedule_commands(commands: Any, flags: argparse.ArgumentParser) -> None:
    """The `schedule` command and its subcommands, each with the connection flags."""
    text = "create, show, change, pause, resume and delete schedules"
    schedule = commands.add_parser("schedule", help=text, description=text, parents=[flags])
    actions = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=help_text, parents=[flags]
        )
        if name != "list":
            sub.add_argument("schedule_id", metavar="ID")
        sub.add_argument("--queue", default="", help="the schedule's queue (default: 'default')")
        return sub

    for name, help_text in (
        ("create", "create a schedule"),
        ("update", "replace a schedule's whole definition (its history stays)"),
    ):
        _definition_arguments(action(name, help_text))
    for name, help_text in (
        ("get", "show a schedule"),
        ("delete", "delete a schedule (its tasks stay)"),
        ("pause", "stop a schedule firing"),
        ("resume", "fire again from the first tick after now"),
    ):
        action(name, help_text)
    action("list", "list a queue's schedules").add_argument(
        "--limit", type=int, default=100, help="at most this many (1-1000)"
    )


def _definition_arguments(sub: argparse.ArgumentParser) -> None:
    trigger = sub.add_mutually_exclusive_group(required=True)
    trigger.add_argument("--cron", help="5-field cron expression, e.g. '30 2 * * *'")
    trigger.add_argument("--every", type=float, metavar="SECONDS", help="a fixed interval")
    sub.add_argument("--time-zone", default="", help="IANA zone for --cron (default UTC)")
    sub.add_argument("--task-type", required=True, help="handler name of the task to enqueue")
    sub.add_argument("--data", default="{}", help="task data: a JSON object (default {})")
    sub.add_argument("--priority", type=int, default=0, help="higher runs first, -1000..1000")
    sub.add_argument("--max-retries", type=int, help="retries after a failure (default 3)")
    sub.add_argument("--task-timeout", type=float, default=0.0, help="handler time limit, s")
    sub.add_argument(
        "--missed", choices=sorted(_POLICIES), default="skip", help="what missed ticks do"
    )


def _definition(args: argparse.Namespace) -> spb.Schedule:
    data = json.loads(args.data)
    if not isinstance(data, dict):
        raise ValueError("--data must be a JSON object")
    task = spb.TaskTemplate(
        task_type=args.task_type, priority=args.priority, timeout_seconds=args.task_timeout
    )
    task.task_data.update(data)
    if args.max_retries is not None:
        task.max_retries = args.max_retries
    schedule = spb.Schedule(
        schedule_id=args.schedule_id,
        queue=args.queue,
        time_zone=args.time_zone,
        task=task,
        missed_run_policy=_POLICIES[args.missed],
    )
    if args.cron is not None:
        schedule.cron = args.cron
    else:
        schedule.interval_seconds = args.every
    return schedule


def _name(args: argparse.Namespace) -> dict[str, str]:
    return {"queue": args.queue, "schedule_id": args.schedule_id}


def _list_request(args: argparse.Namespace) -> spb.ListSchedulesRequest:
    return spb.ListSchedulesRequest(queue=args.queue, page_size=args.limit)


# Each action: the ScheduleService method and how to build its request from the flags.
_ACTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], Any]]] = {
    "create": ("CreateSchedule", lambda a: spb.CreateScheduleRequest(schedule=_definition(a))),
    "update": ("UpdateSchedule", lambda a: spb.UpdateScheduleRequest(schedule=_definition(a))),
    "get": ("GetSchedule", lambda a: spb.GetScheduleRequest(**_name(a))),
    "delete": ("DeleteSchedule", lambda a: spb.DeleteScheduleRequest(**_name(a))),
    "pause": ("PauseSchedule", lambda a: spb.PauseScheduleRequest(**_name(a))),
    "resume": ("ResumeSchedule", lambda a: spb.ResumeScheduleRequest(**_name(a))),
    "list": ("ListSchedules", _list_request),
}


def run_schedule(client: TaskQueueClient, args: argparse.Namespace) -> int:
    """One ScheduleService call on the client's channel and settings; prints the answer."""
    method, build = _ACTIONS[args.action]
    call = getattr(spb_grpc.ScheduleServiceStub(client._channel), method)
    settings = client._settings
    try:
        response = call(build(args), timeout=settings.deadline(), metadata=settings.metadata)
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from exc
    if args.action == "delete":
        print(f"deleted {args.schedule_id}")
        return 0
    schedules = list(response.schedules) if args.action == "list" else [response.schedule]
    if args.json:
        found = [json_format.MessageToDict(s) for s in schedules]
        json.dump(found if args.action == "list" else found[0], sys.stdout, indent=2)
        print()
    else:
        for schedule in schedules:
            print(_line(schedule))
    return 0


def _line(s: spb.Schedule) -> str:
    if s.HasField("cron"):
        trigger = f"cron '{s.cron}' {s.time_zone}"
    else:
        trigger = f"every {s.interval_seconds:g}s"
    state = "paused" if s.paused else f"next {_when(s.next_run_at, s.HasField('next_run_at'))}"
    return (
        f"{s.schedule_id}  queue={s.queue}  {trigger}  {state}  "
        f"last {_when(s.last_run_at, s.HasField('last_run_at'))}  "
        f"fired={s.fired_runs} missed={s.missed_runs}  task={s.task.task_type}"
    )


def _when(stamp: Any, present: bool) -> str:
    return stamp.ToDatetime().isoformat(timespec="seconds") + "Z" if present else "-"
