"""Retry delays: exponential backoff with a cap and jitter."""

from __future__ import annotations

import random

from ..engine.settings import RetryPolicy


def retry_delay_seconds(
    policy: RetryPolicy, attempt: int, rng: random.Random | None = None
) -> float:
    """Delay before retrying after failed attempt number `attempt` (1-based): 1, 2, 4, 8 s..."""
    delay = min(policy.cap_seconds, policy.base_seconds * policy.factor ** max(0, attempt - 1))
    if policy.jitter > 0:
        spread = delay * policy.jitter
        delay += (rng or random).uniform(-spread, spread)
    return max(0.0, delay)
