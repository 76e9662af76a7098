"""Redis connection trouble becomes StoreUnavailable, which callers see as UNAVAILABLE."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from .errors import StoreUnavailable


@contextlib.contextmanager
def unavailable_on_redis_errors() -> Iterator[None]:
    try:
        yield
    except (ConnectionError, TimeoutError, BusyLoadingError, OSError) as exc:
        raise StoreUnavailable(type(exc).__name__) from exc
