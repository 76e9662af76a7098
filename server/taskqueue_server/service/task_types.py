"""Which task types Enqueue accepts: the same answer from every server sharing a store.

Every server registers its handlers' types in the store at start; Enqueue accepts a type
that any of them registered, not only the ones this server runs. The set is cached for a
few seconds, and a type missing from the cache is looked up again before it is refused, so
a type registered a moment ago by another server is accepted at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from ..engine.api import CallerEngine
from ..engine.errors import Reason
from .validation import InvalidArgument

CACHE_SECONDS = 5.0


class KnownTaskTypes:
    """The shared set of task types, as this server last read it."""

    def __init__(
        self,
        local: Iterable[str],
        accept_unknown: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._local = frozenset(local)  # known even before the store answers
        self._accept_unknown = accept_unknown
        self._clock = clock
        self._known = self._local
        self._read_at = -CACHE_SECONDS

    async def require(self, engine: CallerEngine, types_by_field: Mapping[str, str]) -> None:
        """Refuse the first field whose task type no server registered (INVALID_ARGUMENT)."""
        if self._accept_unknown:
            return
        wanted = set(types_by_field.values())
        if wanted <= self._local:
            # This server's own handlers need no read: an Enqueue of them keeps working
            # while the registry's Redis (on a cluster, one shard) does not answer.
            return
        fresh = self._clock() - self._read_at < CACHE_SECONDS
        if fresh and wanted <= self._known:
            return
        self._known = self._local | await engine.known_task_types()
        self._read_at = self._clock()
        for field, task_type in types_by_field.items():
            if task_type not in self._known:
                raise InvalidArgument(field, self._unknown(task_type), Reason.UNKNOWN_TASK_TYPE)

    def _unknown(self, task_type: str) -> str:
        if not self._known:
            return (
                f"no handler is registered for {task_type!r}: no server sharing this store "
                "has handlers (start one with --handlers MODULE, or this one with "
                "--accept-unknown-types)"
            )
        known = ", ".join(sorted(self._known))
        return f"no handler is registered for {task_type!r}; known task types: {known}"
