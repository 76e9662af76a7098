"""Turning an enqueue call into what enqueue.lua stores: batch dependencies and policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import orjson

from .errors import EngineError, ErrorCode
from .models import NewTask

EnqueueGroup = list[tuple[NewTask, str]]  # each task with its id


def with_batch_dependencies(tasks: Sequence[NewTask], ids: list[str]) -> EnqueueGroup:
    """Each task with its id, `depends_on_index` turned into the ids of those earlier tasks.

    Only earlier positions may be named, so a batch cannot hold a cycle; enqueue.lua then
    treats them like any dependency stored in the same group.
    """
    group: EnqueueGroup = []
    for position, (task, task_id) in enumerate(zip(tasks, ids, strict=True)):
        if any(not 0 <= index < position for index in task.depends_on_index):
            raise EngineError(
                ErrorCode.INVALID_ARGUMENT,
                "depends_on_index must name earlier tasks of the batch",
                field=f"tasks[{position}].depends_on_index",
            )
        if task.depends_on_index:
            earlier = tuple(ids[index] for index in task.depends_on_index)
            task = replace(task, depends_on=task.depends_on + earlier, depends_on_index=())
        group.append((task, task_id))
    return group


def encoded_policy(task: NewTask) -> str:
    """The task's retry policy as stored with it: JSON text, '' for none."""
    return orjson.dumps(task.retry_policy.as_dict()).decode() if task.retry_policy else ""
