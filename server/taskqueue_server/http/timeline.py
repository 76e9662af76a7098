"""A task's timeline, rebuilt from the times its record already stores.

The engine keeps no per-transition history: a list of transitions per task would cost Redis
memory on every task for a view operators open on a few (memory per task is a product
feature). The record's stamps (created, run_at, started, finished, updated) with its attempt
count, last error and progress say what happened and when, except the times of earlier
attempts, which the timeline reports as a count.
"""

from __future__ import annotations

from ..engine.models import Status, TaskRecord


def timeline(task: TaskRecord) -> list[tuple[int, str]]:
    """(epoch ms, what happened) in time order."""
    events = [(task.created_at_ms, f"created in queue {task.queue}, priority {task.priority}")]
    if task.run_at_ms > task.created_at_ms:
        events.append((task.run_at_ms, _due(task)))
    if task.started_at_ms:
        events.append((task.started_at_ms, _started(task)))
    if task.status is Status.PROCESSING and task.progress:
        events.append((task.updated_at_ms, _progress(task)))
    if task.finished_at_ms:
        events.append((task.finished_at_ms, _finished(task)))
    elif task.status in (Status.RETRYING, Status.CANCELLED) and task.last_error:
        events.append((task.updated_at_ms, f"{task.status.value}: {task.last_error}"))
    return sorted(events, key=lambda event: event[0])


def _due(task: TaskRecord) -> str:
    if task.status is Status.RETRYING:
        return f"retry due (attempt {task.attempts + 1} of {task.max_retries + 1})"
    return "due to run"


def _started(task: TaskRecord) -> str:
    earlier = task.attempts - 1
    text = f"attempt {task.attempts} started"
    if earlier > 0:
        text += f" ({earlier} earlier attempt{'s' if earlier > 1 else ''} failed)"
    if task.redeliveries:
        text += f"; redelivered {task.redeliveries}x after lost leases"
    return text


def _progress(task: TaskRecord) -> str:
    message = f": {task.progress_message}" if task.progress_message else ""
    return f"progress {task.progress}%{message}"


def _finished(task: TaskRecord) -> str:
    if task.status is Status.COMPLETED:
        return "completed"
    if task.last_error:
        return f"{task.status.value}: {task.last_error}"
    return task.status.value
