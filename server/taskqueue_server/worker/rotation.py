"""Which queue the pool claims from next: round-robin over the queues that may have work.

A queue is "hinted" while it may hold ready tasks: at start, after a wake-up names it, and
while its claims come back full. A claim that comes back short un-hints it until its next
wake-up: an idle pool waits for one in Redis, a busy one looks for them every so often.
Every claim moves the queues it served to the back of the order, so a queue with a large
backlog gets its turn like any other and cannot starve the rest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class Rotation:
    def __init__(self, queues: Iterable[str]) -> None:
        self._order = deque(dict.fromkeys(queues))
        self._hinted = set(self._order)

    def plan(self, free: int) -> list[tuple[str, int]]:
        """Split `free` slots over the next hinted queues, at least one slot each."""
        candidates = [q for q in self._order if q in self._hinted][:free]
        if not candidates:
            return []
        share, extra = divmod(free, len(candidates))
        served = set(candidates)
        self._order = deque([q for q in self._order if q not in served] + candidates)
        return [(q, share + (1 if i < extra else 0)) for i, q in enumerate(candidates)]

    def claimed(self, queue: str, got: int, asked: int) -> None:
        if got < asked:
            self._hinted.discard(queue)

    def unhinted(self) -> list[str]:
        return [q for q in self._order if q not in self._hinted]

    def hint(self, queue: str) -> None:
        self._hinted.add(queue)

    def hint_all(self) -> None:
        self._hinted.update(self._order)
