"""Every example block of README.md, client/README.md and docs/*.md, run as printed against a
real server.

Which blocks run is decided by the fence's info string alone:

- ```python and ```bash blocks run; any other language (text, console, json, none) never runs.
- `norun` after the language (```bash norun) marks a block that must not run here: it starts
  a long-lived server, needs Docker or the network, or takes minutes.
- A python block titled with a file path (```python title="myapp/tasks.py") is a handler
  module: it is written to that path and the test server loads it (`--handlers myapp.tasks`),
  so the examples after it can enqueue its task types.
- Other python blocks run as scripts with the test venv's Python; bash blocks run with
  `bash -euo pipefail` from the repository root, `.venv/bin` first on PATH.

`localhost:50051` and `127.0.0.1:50051` in a block become the test server's address, and
`localhost:8080` its HTTP port's. The server
runs the demo and e-mail handlers (console mail backend: TASKQUEUE_SMTP_HOST is never passed on)
plus the handler modules above. A block passes when it exits 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server_process import DEMO_HANDLERS, REPO_ROOT, ServerFactory, ServerProcess
from tests.support.waiting import free_port

PAGES = [
    REPO_ROOT / "README.md",
    REPO_ROOT / "client/README.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
]
PROTO = (REPO_ROOT / "proto/taskqueue/v1/taskqueue.proto").read_text()
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.M | re.S)
TITLE = re.compile(r'title="([^"]+\.py)"')
RUNNABLE = {"python", "bash"}


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str
    module_path: str | None  # set for handler modules, loaded by the server

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def examples() -> list[Example]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            info = match["info"].split()
            if match["lang"] not in RUNNABLE or "norun" in info:
                continue
            title = TITLE.search(match["info"])
            found.append(
                Example(
                    page=str(page.relative_to(REPO_ROOT)),
                    line=text.count("\n", 0, match.start()) + 1,
                    language=match["lang"],
                    code=match["code"],
                    module_path=title[1] if title and match["lang"] == "python" else None,
                )
            )
    return found


EXAMPLES = examples()
MODULES = [e for e in EXAMPLES if e.module_path]
RUN = [e for e in EXAMPLES if not e.module_path]


@pytest.fixture(scope="module")
def docs_server(factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """The server every example talks to, with the handler modules the docs define."""
    modules_dir = tmp_path_factory.mktemp("doc_handlers")
    names = []
    for example in MODULES:
        assert example.module_path is not None
        path = modules_dir / example.module_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example.code)
        names.append(example.module_path.removesuffix(".py").replace("/", "."))
    return factory.start(
        handlers=[DEMO_HANDLERS, "taskqueue_server.handlers.email", *names],
        extra_args=["--shutdown-grace-seconds", "1", "--indexed-labels", "tenant"],
        env={
            "PYTHONPATH": os.pathsep.join([str(modules_dir), str(REPO_ROOT)]),
            "TASKQUEUE_HTTP_PORT": str(free_port()),
        },
    )


def as_printed(block: str, server: ServerProcess) -> str:
    for address in ("localhost:50051", "127.0.0.1:50051"):
        block = block.replace(address, server.target)
    return block.replace("localhost:8080", server.http_target)


def run_example(example: Example, server: ServerProcess, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    code = as_printed(example.code, server)
    if example.language == "python":
        script = tmp_path / "example.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, (
        f"{example.name} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done.stdout


def test_examples_were_found() -> None:
    """The README's own examples and the handler module they use are among them."""
    pages = {e.page for e in RUN}
    assert "README.md" in pages and "docs/client.md" in pages and "docs/handlers.md" in pages
    assert any(e.page == "README.md" for e in MODULES)


@pytest.mark.parametrize("example", RUN, ids=[e.name for e in RUN])
def test_example_runs(example: Example, docs_server: ServerProcess, tmp_path: Path) -> None:
    if "npm " in example.code and (shutil.which("node") is None or shutil.which("npm") is None):
        pytest.skip("node and npm are not installed; the Node example cannot run here")
    run_example(example, docs_server, tmp_path)


def test_grpcurl_examples_call_every_rpc() -> None:
    called = {rpc for e in RUN for rpc in re.findall(r"TaskQueueService/(\w+)", e.code)}
    assert called == set(re.findall(r"^\s*rpc (\w+)\(", PROTO, re.M))
