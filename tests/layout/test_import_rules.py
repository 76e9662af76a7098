"""The layout's rules, checked on the source: each layer imports only what it may.

- engine/: the only code that imports redis; knows nothing of gRPC, the service, the worker.
- service/: gRPC adapters; never imports redis (it reaches Redis only through the engine).
- worker/: runs handlers; neither gRPC nor redis.
- config/: settings only; never the service.
Wiring (app.py) sits at the top and may import everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "taskqueue_server"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine": ("grpc", "taskqueue.v1", "taskqueue_server.service", "taskqueue_server.worker",
               "taskqueue_server.app", "taskqueue_server.config", "taskqueue_server.handlers"),
    "service": ("redis", "fakeredis", "taskqueue_server.app", "taskqueue_server.engine.store",
                "taskqueue_server.worker.loop"),
    "worker": ("grpc", "redis", "fakeredis", "taskqueue.v1", "taskqueue_server.service",
               "taskqueue_server.app"),
    "config": ("grpc", "redis", "taskqueue_server.service", "taskqueue_server.worker",
               "taskqueue_server.app"),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def breaks(name: str, rule: str) -> bool:
    return name == rule or name.startswith(rule + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no sources under {layer}/"
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(imported_modules(path))
        for rule in FORBIDDEN[layer]
        if breaks(name, rule)
    ]
    assert offences == []


def test_the_rule_checker_sees_a_relative_import() -> None:
    # The checker itself must resolve `from ..service import x` inside engine/ to a break.
    worker_loop = PACKAGE / "worker" / "loop.py"
    assert "taskqueue_server.engine.api.WorkerEngine" in imported_modules(worker_loop)
    app = imported_modules(PACKAGE / "app.py")
    assert any(breaks(name, "taskqueue_server.service") for name in app)
