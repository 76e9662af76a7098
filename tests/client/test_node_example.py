"""The Node.js example against the real server: completed, failed and refused tasks.

Needs node and npm; `npm ci` installs the pinned packages from the committed lockfile when
node_modules is missing or older than the lockfile (node_modules itself is never committed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are not installed; the Node example cannot run here",
)


@pytest.fixture(scope="module")
def node_ready() -> None:
    installed = EXAMPLE / "node_modules" / ".package-lock.json"
    lockfile = EXAMPLE / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


def run_example(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    env["TASKQUEUE_TARGET"] = server.target  # the script's fallback when --target is absent
    return subprocess.run(
        ["node", "enqueue_and_watch.js", *args],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_enqueue_and_watch_to_completion(node_ready: None, server: ServerProcess) -> None:
    done = run_example(server, "--type", "sleep", "--data", '{"seconds": 1}')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    task_id = re.fullmatch(r"enqueued (default-[0-9a-f]{32})", lines[0])
    assert task_id, lines[0]
    progress = [int(m[1]) for m in (re.match(r"processing  (\d+)%", x) for x in lines) if m]
    assert progress == sorted(progress) and progress[-1] == 100 and len(progress) > 1
    assert lines[-2].startswith("completed") and lines[-1] == 'result {"slept":1}'


def test_struct_round_trip(node_ready: None, server: ServerProcess) -> None:
    data = '{"text": "hi", "n": 2.5, "flag": false, "none": null, "list": [1, {"deep": "x"}]}'
    done = run_example(server, "--type", "echo", "--data", data)
    assert done.returncode == 0, done.stderr
    prefix, _, result = done.stdout.splitlines()[-1].partition(" ")
    assert prefix == "result"
    assert json.loads(result) == {"echo": json.loads(data), "attempt": 1}


def test_failed_task_exits_1(node_ready: None, server: ServerProcess) -> None:
    done = run_example(server, "--type", "fail", "--data", '{"permanent": true, "message": "no"}')
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "failed: PermanentError: no"


def test_refused_call_exits_69_with_the_server_message(
    node_ready: None, server: ServerProcess
) -> None:
    done = run_example(server, "--type", "no_such_type")
    assert done.returncode == 69
    assert "gRPC status 3" in done.stderr and "no_such_type" in done.stderr
