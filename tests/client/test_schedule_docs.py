"""docs/schedules.md shows every ScheduleService RPC with grpcurl and every `taskqueue
schedule` action; tests/client/test_readme_examples.py runs those blocks."""

from __future__ import annotations

import re

from tests.support.server_process import REPO_ROOT

PAGE = (REPO_ROOT / "docs/schedules.md").read_text()
PROTO = (REPO_ROOT / "proto/taskqueue/v1/schedule.proto").read_text()
ACTIONS = {"create", "get", "list", "update", "delete", "pause", "resume"}


def test_the_grpcurl_examples_call_every_schedule_rpc() -> None:
    called = set(re.findall(r"ScheduleService/(\w+)", PAGE))
    assert called == set(re.findall(r"^\s*rpc (\w+)\(", PROTO, re.M))


def test_the_cli_examples_use_every_schedule_action() -> None:
    assert set(re.findall(r"taskqueue .*schedule (\w+)", PAGE)) == ACTIONS
