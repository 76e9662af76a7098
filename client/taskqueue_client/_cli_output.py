"""How the `taskqueue` command shows things: JSON for machines, aligned tables for people."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from .models import KNOWN_STATUSES, Task, TaskResult, TaskStatus, TaskTypeStats

BAR_WIDTH = 20


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TaskStatus):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def to_json(value: Task | TaskResult | TaskTypeStats) -> dict[str, Any]:
    """A model as a JSON-ready dict: times in ISO 8601, statuses as their lowercase names."""
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def dump_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO) -> None:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(row[i].lstrip("-").isdigit() for row in cells[1:]) for i in range(len(headers))]
    for row in cells:
        parts = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        out.write("  ".join(parts).rstrip() + "\n")


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def show_task(task: Task, out: TextIO) -> None:
    """Every field of one task, one per line."""
    rows: list[tuple[str, Any]] = [
        ("id", task.id),
        ("queue", task.queue),
        ("type", task.task_type),
        ("status", task.status.value),
        ("priority", task.priority),
        ("attempts", f"{task.attempts} of {task.max_retries + 1}"),
        ("progress", f"{task.progress}%  {task.progress_message}".rstrip()),
        ("created", _when(task.created_at)),
        ("updated", _when(task.updated_at)),
        ("run at", _when(task.run_at)),
        ("started", _when(task.started_at)),
        ("finished", _when(task.finished_at)),
        ("last error", task.last_error or "-"),
        ("depends on", ", ".join(task.depends_on) or "-"),
        ("idempotency key", task.idempotency_key or "-"),
        ("timeout", f"{task.timeout_seconds:g}s" if task.timeout_seconds else "none"),
        ("redeliveries", task.redeliveries),
        ("data", json.dumps(task.task_data, ensure_ascii=False)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(f"{name.ljust(width)}  {value}\n")


def show_result(result: TaskResult, out: TextIO) -> None:
    out.write(f"status  {result.status.value}\n")
    if result.error:
        out.write(f"error   {result.error}\n")
    if result.result is not None:
        out.write(json.dumps(result.result, indent=2, ensure_ascii=False) + "\n")


def show_tasks(tasks: Iterable[Task], out: TextIO) -> int:
    """A table of tasks; returns how many rows it printed."""
    rows = [
        (t.id, t.task_type, t.status.value, t.priority, t.attempts, _when(t.created_at))
        for t in tasks
    ]
    table(("ID", "TYPE", "STATUS", "PRIORITY", "ATTEMPTS", "CREATED"), rows, out)
    return len(rows)


def show_stats(stats: dict[str, TaskTypeStats], out: TextIO) -> None:
    """Two tables: tasks in each status now, then the totals that never go down."""
    columns = [status.value for status in KNOWN_STATUSES]
    headers = ["TYPE", *(c.upper() for c in columns)]
    rows = [[name, *(getattr(counts, c) for c in columns)] for name, counts in stats.items()]
    table(headers, rows, out)
    if not stats:
        return
    totals = [f.name for f in dataclasses.fields(TaskTypeStats) if f.name.endswith("_total")]
    out.write("\n")
    headers = ["TOTALS", *(t.removesuffix("_total").upper() for t in totals)]
    table(headers, [[name, *(getattr(c, t) for t in totals)] for name, c in stats.items()], out)


def progress_line(task: Task) -> str:
    """One status line: a bar, the percentage, the status, the attempt, the handler's message."""
    done = 100 if task.status is TaskStatus.COMPLETED else max(0, min(100, task.progress))
    filled = done * BAR_WIDTH // 100
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    parts = [f"[{bar}] {done:3d}%", task.status.value]
    if task.attempts:
        parts.append(f"attempt {task.attempts}/{task.max_retries + 1}")
    detail = task.last_error if task.status.is_terminal else task.progress_message
    if detail:
        parts.append(detail)
    return "  ".join(parts)


class StatusLine:
    """Rewrites one terminal line in place; on a pipe, prints a line per change instead."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._live = out.isatty()
        self._last = ""

    def update(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self._live:
            width = shutil.get_terminal_size().columns - 1
            self._out.write("\r" + text[:width].ljust(width))
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def finish(self) -> None:
        if self._live and self._last:
            self._out.write("\n")
            self._out.flush()
