"""A client meeting a newer server keeps working: a task status it does not know reads as
`TaskStatus.UNKNOWN` ("unknown"), fields it does not know are ignored, in the sync and the
asyncio client and in every CLI output.

The newer server's contract is this repository's with one more status and more fields,
generated at test time with grpc_tools' protoc; it runs in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taskqueue_client import TaskQueueClient, TaskStatus, TaskTypeStats, WaitTimeout

from tests.client.helpers import AsyncAsSync, LoopThread, run_cli
from tests.support.script_server import script_server
from tests.support.server_process import REPO_ROOT

CONTRACT = REPO_ROOT / "proto" / "taskqueue" / "v1" / "taskqueue.proto"
# What a newer contract adds: (after this line, insert this one).
ADDITIONS = (
    ("  TASK_STATUS_CANCELLED = 8;\n", "  TASK_STATUS_ARCHIVED = 9;\n"),
    ("  int64 version = 21;\n", "  string archive_note = 1000;\n"),
    ("  int64 cancelled = 8;\n", "  int64 archived = 1000;\n"),
)


def generate_newer_contract(folder: Path) -> Path:
    """The modules of the extended contract, as package `newer_contract` under `folder`."""
    text = CONTRACT.read_text()
    for anchor, addition in ADDITIONS:
        assert text.count(anchor) == 1, f"the contract changed; update {anchor.strip()!r}"
        text = text.replace(anchor, anchor + addition)
    package = folder / "newer_contract"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "taskqueue.proto").write_text(text)
    protoc = [sys.executable, "-m", "grpc_tools.protoc", f"-I{folder}"]
    protoc += [f"--python_out={folder}", f"--grpc_python_out={folder}"]
    subprocess.run([*protoc, str(package / "taskqueue.proto")], check=True)
    return folder


@pytest.fixture(scope="module")
def newer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a server speaking the extended contract."""
    modules = generate_newer_contract(tmp_path_factory.mktemp("newer"))
    with script_server(Path(__file__).with_name("newer_server.py"), str(modules)) as address:
        yield address


@pytest.fixture(params=["sync", "async"])
def newer_client(request: pytest.FixtureRequest, newer_server: str) -> Iterator[Any]:
    if request.param == "sync":
        with TaskQueueClient(newer_server, timeout=10) as tq:
            yield tq
        return
    runner = LoopThread()
    wrapped = AsyncAsSync(runner, newer_server)
    try:
        yield wrapped
    finally:
        runner.run(wrapped.aio.close())
        runner.close()


def test_unknown_status_and_fields_are_read(newer_client: Any) -> None:
    # Every task carries a field this client does not know; protobuf skips it.
    [listed] = list(newer_client.list_tasks())
    assert listed.status is TaskStatus.UNKNOWN and not listed.status.is_terminal
    task = newer_client.get_task(listed.id)
    assert (task.status, task.version, task.task_type) == (TaskStatus.UNKNOWN, 2, "echo")
    states = [(t.version, t.status) for t in newer_client.watch(listed.id, timeout=10)]
    assert states == [(1, TaskStatus.PENDING), (2, TaskStatus.UNKNOWN)]
    assert newer_client.get_result(listed.id).status is TaskStatus.UNKNOWN
    with pytest.raises(WaitTimeout) as waited:
        newer_client.wait(listed.id, timeout=0.2)
    assert waited.value.status is TaskStatus.UNKNOWN
    assert newer_client.stats() == {"echo": TaskTypeStats(pending=1)}


def test_cli_shows_unknown_status(newer_server: str) -> None:
    task_id = "default-" + "ab" * 16
    shown = run_cli("get", task_id, target=newer_server)
    assert shown.returncode == 0, shown.stderr
    assert any(line.split() == ["status", "unknown"] for line in shown.stdout.splitlines())
    as_json = run_cli("get", "--json", task_id, target=newer_server)
    assert json.loads(as_json.stdout)["status"] == "unknown"

    # The stream ends after a status the CLI does not know: exit 3, not an error.
    watched = run_cli("watch", "--json", task_id, target=newer_server)
    assert watched.returncode == 3, watched.stderr
    assert [json.loads(line)["status"] for line in watched.stdout.splitlines()] == [
        "pending",
        "unknown",
    ]
    assert run_cli("watch", task_id, target=newer_server).stdout.split()[-1] == "unknown"

    listed = run_cli("list", target=newer_server)
    assert listed.returncode == 0 and "unknown" in listed.stdout.splitlines()[1].split()
    result = run_cli("result", "--json", task_id, target=newer_server)
    assert (result.returncode, json.loads(result.stdout)["status"]) == (3, "unknown")
    stats = run_cli("stats", "--json", target=newer_server)
    assert json.loads(stats.stdout)["echo"]["pending"] == 1
    assert "Traceback" not in shown.stderr + watched.stderr + listed.stderr + stats.stderr
