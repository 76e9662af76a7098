"""The `taskqueue` command as a subprocess against the real server: output and exit codes."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess

import pytest

from tests.client.helpers import cli_command, run_cli
from tests.support.server_process import ServerProcess

ID = re.compile(r"^default-[0-9a-f]{32}$")
COMMANDS = ["enqueue", "get", "result", "watch", "stats", "list", "cancel", "retry"]


def enqueue(target: str, *args: str) -> str:
    done = run_cli("enqueue", *args, target=target)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_everywhere(command: list[str]) -> None:
    done = run_cli(*command, "--help")
    assert done.returncode == 0 and "usage: taskqueue" in done.stdout
    assert "--target" in done.stdout and "--json" in done.stdout


def test_enqueue_get_result_round_trip(server: ServerProcess) -> None:
    task_id = enqueue(server.target, "echo", "--data", '{"to_email": "a@b.c"}', "--priority", "3")
    assert ID.match(task_id)
    done = run_cli("result", task_id, "--wait", "15", target=server.target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("status  completed") and '"to_email": "a@b.c"' in done.stdout

    shown = run_cli("get", task_id, target=server.target)
    assert shown.returncode == 0
    assert re.search(r"^status\s+completed$", shown.stdout, re.M)
    assert re.search(r"^priority\s+3$", shown.stdout, re.M)

    as_json = json.loads(run_cli("--json", "get", task_id, target=server.target).stdout)
    assert as_json["id"] == task_id and as_json["status"] == "completed"
    assert as_json["task_data"] == {"to_email": "a@b.c"}


def test_enqueue_options_reach_the_server(server: ServerProcess, tmp_path: object) -> None:
    data_file = tmp_path / "data.json"  # type: ignore[operator]
    data_file.write_text('{"from": "file"}')
    parent = enqueue(server.target, "echo", "--queue", "cliq", "--data", f"@{data_file}")
    done = run_cli(
        "enqueue", "echo", "--json", "--queue", "cliq", "--run-at", "2099-01-01T00:00:00Z",
        "--max-retries", "7", "--task-timeout", "9", "--key", "cli-key", "--depends-on", parent,
        "--data", "@-", input_text='{"from": "stdin"}', target=server.target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id = json.loads(done.stdout)["task_id"]
    task = json.loads(run_cli("get", task_id, "--json", target=server.target).stdout)
    assert task["task_data"] == {"from": "stdin"} and task["queue"] == "cliq"
    assert (task["max_retries"], task["timeout_seconds"], task["depends_on"]) == (7, 9.0, [parent])
    assert task["idempotency_key"] == "cli-key" and task["run_at"].startswith("2099-01-01")
    unkeyed = enqueue(server.target, "echo", "--queue", "cliq", "--no-key")
    assert (
        json.loads(run_cli("get", unkeyed, "--json", target=server.target).stdout)[
            "idempotency_key"
        ]
        == ""
    )


def test_watch_exit_codes(server: ServerProcess) -> None:
    # Long enough that the watch starts while the handler still reports progress.
    completed = enqueue(server.target, "sleep", "--data", '{"seconds": 3}')
    done = run_cli("watch", completed, target=server.target)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "[####################] 100%  completed  attempt 1/4"
    frame = re.compile(r"^\[(#*)-*\]\s+(\d+)%  processing  attempt 1/4  step (\d+) of 10$")
    progress = [m.groups() for m in map(frame.match, lines) if m]
    assert progress, done.stdout
    for bar, percent, step in progress:
        assert int(percent) == 10 * int(step) and len(bar) == 2 * int(step)

    failed = enqueue(server.target, "fail", "--data", '{"permanent": true}', "--max-retries", "0")
    done = run_cli("watch", failed, target=server.target)
    assert done.returncode == 1 and "failed" in done.stdout.splitlines()[-1]

    cancelled = enqueue(server.target, "echo", "--queue", "nobody_serves_this")
    assert run_cli("cancel", cancelled, target=server.target).returncode == 0
    snapshots = run_cli("watch", cancelled, "--json", target=server.target)
    assert snapshots.returncode == 2
    assert [json.loads(line)["status"] for line in snapshots.stdout.splitlines()] == ["cancelled"]


def test_result_exit_codes(server: ServerProcess) -> None:
    pending = enqueue(server.target, "echo", "--queue", "nobody_serves_this")
    done = run_cli("result", pending, "--json", target=server.target)
    assert done.returncode == 3 and json.loads(done.stdout)["status"] == "pending"
    run_cli("cancel", pending, target=server.target)
    assert run_cli("result", pending, target=server.target).returncode == 2
    failed = enqueue(server.target, "fail", "--data", '{"permanent": true}', "--max-retries", "0")
    done = run_cli("result", failed, "--wait", "15", target=server.target)
    assert done.returncode == 1 and "failed on purpose" in done.stdout


def test_cancel_retry_list_stats(server: ServerProcess) -> None:
    queue = "cli_listing"
    ids = [enqueue(server.target, "sleep", "--queue", queue) for _ in range(3)]
    done = run_cli("cancel", ids[0], target=server.target)
    assert done.returncode == 0 and done.stdout.strip() == f"{ids[0]}  cancelled"
    retried = run_cli("retry", ids[0], "--json", target=server.target)
    assert retried.returncode == 0 and json.loads(retried.stdout)["status"] == "pending"

    table = run_cli("list", "--queue", queue, target=server.target)
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "TYPE", "STATUS", "PRIORITY", "ATTEMPTS", "CREATED"]
    assert sorted(row.split()[0] for row in rows) == sorted(ids)
    limited = json.loads(run_cli("list", "--queue", queue, "--limit", "2", "--json",
                                 target=server.target).stdout)  # fmt: skip
    assert len(limited) == 2
    run_cli("cancel", ids[1], target=server.target)
    cancelled = json.loads(run_cli("list", "--queue", queue, "--status", "cancelled", "--json",
                                   target=server.target).stdout)  # fmt: skip
    assert [t["id"] for t in cancelled] == [ids[1]]

    stats = json.loads(run_cli("stats", "--queue", queue, "--json", target=server.target).stdout)
    # Gauges: one task is cancelled now. Totals: two cancellations and a retry, never undone.
    counts = {"pending": 2, "cancelled": 1, "enqueued_total": 3, "retried_total": 1}
    assert stats == {"sleep": {**dict.fromkeys(stats["sleep"], 0), **counts, "cancelled_total": 2}}
    human = run_cli("stats", "--queue", queue, "--task-type", "sleep", target=server.target)
    lines = human.stdout.splitlines()
    assert lines[1].split() == ["sleep", "2", "0", "0", "0", "0", "0", "0", "1"]
    assert lines[3].split() == ["TOTALS", "ENQUEUED", "COMPLETED", "FAILED", "RETRIED",
                                "CANCELLED", "REDELIVERED"]  # fmt: skip
    assert lines[4].split() == ["sleep", "3", "0", "0", "1", "2", "0"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["enqueue", "echo", "--data", "{not json"], 64, "not valid JSON"),
        (["enqueue", "echo", "--data", "[1]"], 64, "JSON object"),
        (["enqueue", "echo", "--run-at", "tomorrow"], 64, "ISO 8601"),
        (["enqueue", "echo", "--key", "k", "--no-key"], 64, "not allowed with"),
        (["get"], 64, "required: ID"),
        (["frobnicate"], 64, "invalid choice"),
        (["enqueue", "no_such_type"], 65, "no_such_type"),
        (["get", "nonsense"], 65, "task_id"),
        (["cancel", "default-" + "0" * 32], 66, "not found"),
    ],
)
def test_errors_are_one_line_with_exit_codes(
    server: ServerProcess, args: list[str], code: int, message: str
) -> None:
    done = run_cli(*args, target=server.target)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and done.stdout == ""
    if code != 64:
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("taskqueue: ")


def test_unreachable_server_exits_69() -> None:
    target = f"127.0.0.1:{free_port()}"
    done = run_cli("--target", target, "stats")
    assert done.returncode == 69
    assert done.stderr.startswith("taskqueue: unavailable: ") and target in done.stderr


def test_flags_after_the_command_win(server: ServerProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    done = run_cli("--target", dead, "stats", "--target", server.target, "--json")
    assert done.returncode == 0 and isinstance(json.loads(done.stdout), dict)


def test_watch_redraws_one_line_on_a_terminal(server: ServerProcess) -> None:
    task_id = enqueue(server.target, "sleep", "--data", '{"seconds": 3}')
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    watcher = subprocess.Popen(
        [*cli_command(), "--target", server.target, "watch", task_id],
        stdout=follower, stderr=subprocess.PIPE, env={**env, "COLUMNS": "100"},
    )  # fmt: skip
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the watcher closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert watcher.wait(30) == 0
    drawn = screen.decode()
    assert drawn.endswith("\r\n") and drawn.count("\n") == 1, "one line, redrawn in place"
    frames = [frame.rstrip() for frame in drawn.strip().split("\r")]
    assert len(frames) > 2 and all(len(frame) <= 99 for frame in frames)
    assert frames[-1] == "[####################] 100%  completed  attempt 1/4"


def test_enqueue_wait_prints_the_outcome_of_one_call(server: ServerProcess) -> None:
    done = run_cli("enqueue", "echo", "--data", '{"n": 4}', "--wait", "15", target=server.target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("status  completed") and '"n": 4' in done.stdout

    failed = run_cli(
        "enqueue", "fail", "--data", '{"permanent": true}', "--max-retries", "0", "--wait", "15",
        target=server.target,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    task_id = failed.stdout.splitlines()[0].split()[1]
    assert ID.match(task_id)
    assert "status  failed" in failed.stdout

    later = run_cli("enqueue", "echo", "--delay", "60", "--wait", "0.3", target=server.target)
    assert later.returncode == 3, later.stderr  # stored, not finished within the wait
    task_id = later.stdout.splitlines()[0].split()[1]
    shown = run_cli("--json", "get", task_id, target=server.target)
    assert json.loads(shown.stdout)["status"] == "scheduled"
