"""Bulk actions by filter: retry every failed, cancel every pending, delete every finished.

Each call looks at one bounded chunk of an index (the status index, or a label's index) and
hands back a signed cursor for the next, so a million matches never block Redis. A dry run
counts the chunk's matches; an action can require that count back (`expected_count`), and
the script refuses the whole chunk, changing nothing, when it differs.
"""

from __future__ import annotations

from typing import Any

from .codec import text
from .errors import EngineError, ErrorCode
from .ids import check_queue, check_task_type
from .keys import QueueKeys
from .models import BulkAction, BulkPage, Status, TaskFilter
from .settings import EngineSettings

# Index entries one call looks at (see control.CHUNK for what a chunk costs Redis).
BULK_CHUNK = 200
# The statuses each action may take, the first being its default.
ALLOWED: dict[BulkAction, tuple[Status, ...]] = {
    BulkAction.RETRY: (Status.FAILED, Status.CANCELLED),
    BulkAction.CANCEL: (Status.PENDING, Status.SCHEDULED, Status.RETRYING, Status.WAITING),
    BulkAction.DELETE: (
        Status.COMPLETED,
        Status.FAILED,
        Status.CANCELLED,
        Status.PENDING,
        Status.SCHEDULED,
    ),
}
_STAMP_DIGITS = 12  # ids are "<queue>-" then the creation ms in 12 hex digits (ids.py)


class BulkMixin:
    settings: EngineSettings

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    async def run(self, name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    def _check_indexed(self, name: str) -> str:
        raise NotImplementedError

    def _seal_cursor(self, scope: list[str], after: str) -> str:
        raise NotImplementedError

    def _open_cursor(self, token: str, scope: list[str]) -> str:
        raise NotImplementedError

    async def bulk(
        self,
        action: BulkAction,
        where: TaskFilter,
        dry_run: bool = False,
        expected_count: int | None = None,
        cursor: str = "",
    ) -> BulkPage:
        status = _status_for(action, where.status)
        queue = check_queue(where.queue)
        label_name, label_value = where.label or ("", "")
        if label_name:
            self._check_indexed(label_name)
        if where.task_type:
            check_task_type(where.task_type)
        scope = [
            "bulk",
            queue,
            status.value,
            where.task_type,
            f"{label_name}={label_value}",
            str(where.created_before_ms),
        ]
        after = self._open_cursor(cursor, scope) if cursor else ""
        high = "+"
        if where.created_before_ms:
            high = f"({queue}-{where.created_before_ms:0{_STAMP_DIGITS}x}"
        args = [
            self.now_ms(),
            self.settings.task_ttl_seconds,
            "count" if dry_run else action.value,
            status.value,
            where.task_type,
            label_name,
            label_value,
            f"({after}" if after else "-",
            high,
            BULK_CHUNK,
            -1 if expected_count is None else expected_count,
        ]
        matched, last = await self.run("bulk", queue, [self.keys(queue).seq], args)
        last = text(last)
        return BulkPage(int(matched), self._seal_cursor(scope, last) if last else "")


def _status_for(action: BulkAction, status: Status | None) -> Status:
    allowed = ALLOWED[action]
    if status is None:
        return allowed[0]
    if status not in allowed:
        names = ", ".join(s.value for s in allowed)
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"status: {action.value} takes tasks that are {names}, not {status.value}",
            field="status",
        )
    return status
