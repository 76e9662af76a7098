"""The client installs on its own: a fresh venv, `pip install ./client`, no redis, no server,
and the seed's usage works from there against a real server."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"

SEED_USAGE = textwrap.dedent(
    """
    import sys
    from taskqueue_client import TaskQueueClient
    from taskqueue.v1 import taskqueue_pb2, taskqueue_pb2_grpc  # the stubs ship too

    with TaskQueueClient(sys.argv[1]) as client:
        task_id = client.enqueue(task_type="echo", task_data={"to_email": "user@example.com"},
                                 priority=0, max_retries=3, delay_seconds=0)
        task = client.get_task(task_id)
        client.wait(task_id, timeout=15)
        print(client.get_result(task_id).result["echo"]["to_email"])
    """
)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("standalone")
    # A copy, so the build leaves no build/ or egg-info behind in the checkout.
    source = base / "client"
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_only_grpcio_and_protobuf_come_along(client_venv: Path) -> None:
    listed = run(client_venv, "-m", "pip", "list", "--format=freeze").stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert {"taskqueue-client", "grpcio", "protobuf"} <= names
    assert not names & {"redis", "taskqueue-server", "hiredis", "fakeredis", "orjson"}
    for module in ("redis", "taskqueue_server"):
        missing = run(client_venv, "-c", f"import {module}")
        assert missing.returncode != 0 and "ModuleNotFoundError" in missing.stderr


def test_seed_usage_from_the_fresh_venv(client_venv: Path, server: ServerProcess) -> None:
    done = run(client_venv, "-c", SEED_USAGE, server.target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "user@example.com"


def test_cli_and_type_stubs_are_installed(client_venv: Path) -> None:
    script = client_venv.parent / "taskqueue"
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "usage: taskqueue" in helped.stdout
    probe = (
        "import pathlib, taskqueue.v1, taskqueue_client\n"
        "stubs = pathlib.Path(taskqueue.v1.__file__).parent\n"
        "print(*sorted(p.name for p in stubs.iterdir() if p.suffix == '.pyi'))\n"
        "print((pathlib.Path(taskqueue_client.__file__).parent / 'py.typed').exists())\n"
    )
    stubs = run(client_venv, "-c", probe)
    assert stubs.stdout.split() == [
        "schedule_pb2.pyi",
        "schedule_pb2_grpc.pyi",
        "taskqueue_pb2.pyi",
        "taskqueue_pb2_grpc.pyi",
        "worker_pb2.pyi",
        "worker_pb2_grpc.pyi",
        "True",
    ]


def test_the_worker_sdk_needs_neither_redis_nor_the_server(client_venv: Path) -> None:
    done = run(client_venv, "-c", "from taskqueue_client.worker import Worker; print(Worker)")
    assert done.returncode == 0 and "Worker" in done.stdout, done.stderr
