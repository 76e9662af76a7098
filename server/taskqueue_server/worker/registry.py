"""The handler registry: the one piece of global mutable state, filled by handler modules."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .context import TaskContext

JsonObject = dict[str, Any]
SyncHandler = Callable[[JsonObject, TaskContext], JsonObject | None]
AsyncHandler = Callable[[JsonObject, TaskContext], Awaitable[JsonObject | None]]
Handler = SyncHandler | AsyncHandler
# Raises ValueError with a message naming the bad field; runs at enqueue time.
Validator = Callable[[JsonObject], None]
# The concurrency key of a task enqueued without one (docs/limits.md); runs at enqueue
# time, after the validator.
KeyOf = Callable[[JsonObject], str]


@dataclass(frozen=True, slots=True)
class Registration:
    """One task type: its handler, whether it is a coroutine, its task_data check and its
    default concurrency key."""

    task_type: str
    fn: Handler
    is_async: bool
    validate: Validator | None = None
    concurrency_key: KeyOf | None = None


_registry: dict[str, Registration] = {}


def register_handler(
    task_type: str,
    fn: Handler,
    *,
    validate: Validator | None = None,
    concurrency_key: KeyOf | None = None,
) -> None:
    """Register `fn` for `task_type` (the seed's explicit form). Re-registering replaces."""
    if not task_type or not task_type.strip():
        raise ValueError("task_type must be a non-empty name")
    _registry[task_type] = Registration(
        task_type, fn, inspect.iscoroutinefunction(fn), validate, concurrency_key
    )


def handler(
    task_type: str, *, validate: Validator | None = None, concurrency_key: KeyOf | None = None
) -> Callable[[Handler], Handler]:
    """Decorator form: `@handler("send_email")` on `def f(task_data, ctx) -> dict`."""

    def decorate(fn: Handler) -> Handler:
        register_handler(task_type, fn, validate=validate, concurrency_key=concurrency_key)
        return fn

    return decorate


def registered() -> dict[str, Registration]:
    """A copy of the registry."""
    return dict(_registry)


def load_handler_modules(modules: list[str]) -> None:
    """Import the modules named on the command line; their decorators register handlers."""
    for name in modules:
        importlib.import_module(name)
