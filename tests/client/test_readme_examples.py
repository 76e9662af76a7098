"""Every example block of the README's client, CLI, other-language and grpcurl sections, run as
printed against a real server; `localhost:50051` in a block becomes the test server's address."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server_process import DEMO_HANDLERS, ServerFactory, ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
PROTO = (REPO_ROOT / "proto/taskqueue/v1/taskqueue.proto").read_text()
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def section(heading: str) -> str:
    """The README lines from `heading` to the next heading of the same or a higher level
    (a `#` inside a code block is a shell comment, not a heading)."""
    level = len(heading.split(" ")[0])
    lines = README.splitlines(keepends=True)
    start = lines.index(heading + "\n")
    fenced = False
    for end in range(start + 1, len(lines)):
        line = lines[end]
        fenced ^= line.startswith("```")
        hashes = len(line) - len(line.lstrip("#"))
        if not fenced and hashes and line[hashes:].startswith(" ") and hashes <= level:
            return "".join(lines[start:end])
    return "".join(lines[start:])


def blocks(heading: str, language: str) -> list[str]:
    return [code for lang, code in FENCE.findall(section(heading)) if lang == language]


PYTHON_BLOCKS = blocks("## Python client", "python")
CLI_BLOCK, *_ = blocks("## CLI", "bash")
NODE_BLOCK, *_ = blocks("## Other languages", "bash")
GRPCURL_BLOCK, *_ = blocks("### Calling it with grpcurl", "bash")


@pytest.fixture(scope="module")
def readme_server(factory: ServerFactory) -> ServerProcess:
    """Demo and e-mail handlers (console backend: TASKQUEUE_SMTP_HOST is never passed on)."""
    return factory.start(
        handlers=[DEMO_HANDLERS, "taskqueue_server.handlers.email"],
        extra_args=["--shutdown-grace-seconds", "1"],
    )


def as_printed(block: str, server: ServerProcess) -> str:
    return block.replace("localhost:50051", server.target).replace("127.0.0.1:50051", server.target)


def run_bash(block: str, server: ServerProcess, timeout: float = 180) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", as_printed(block, server)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_client_blocks(index: int, readme_server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / f"readme_{index}.py"
    script.write_text(as_printed(PYTHON_BLOCKS[index], readme_server))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    if index == 0:
        assert re.search(r"^Status: (pending|processing|completed)$", done.stdout, re.M)
        assert "'success': True" in done.stdout and "'backend': 'console'" in done.stdout
    else:
        assert "failed: PermanentError" in done.stdout and "completed" in done.stdout


def test_cli_block(readme_server: ServerProcess) -> None:
    out = run_bash(CLI_BLOCK, readme_server)
    assert "] 100%  completed" in out
    assert out.rstrip().endswith("exit code 1")


def test_node_block(readme_server: ServerProcess) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed; the Node example cannot run here")
    out = run_bash(NODE_BLOCK, readme_server, timeout=300)
    assert re.search(r"^enqueued default-[0-9a-f]{32}$", out, re.M)
    assert out.rstrip().endswith('result {"slept":1}')


def test_grpcurl_block_calls_every_rpc(readme_server: ServerProcess) -> None:
    called = set(re.findall(r"TaskQueueService/(\w+)", GRPCURL_BLOCK))
    assert called == set(re.findall(r"^\s*rpc (\w+)\(", PROTO, re.M))
    out = run_bash(GRPCURL_BLOCK, readme_server)
    assert '"status": "TASK_STATUS_COMPLETED"' in out and '"status": "SERVING"' in out
