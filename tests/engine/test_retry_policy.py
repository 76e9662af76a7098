"""A task's own retry policy: stored with the task, handed to the worker with the claim, and
applied over its queue's default and the worker's flags. A queue's default: kept in Redis,
read by every worker through RetryPolicies (worker/retry_policies.py)."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.models import ClaimedTask, Lease, NewTask
from taskqueue_server.engine.settings import RetryOverride, RetryPolicy
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.context import PermanentError
from taskqueue_server.worker.execute import failure
from taskqueue_server.worker.retry_policies import CACHE_SECONDS, RetryPolicies

OWN = RetryOverride(base_seconds=5, factor=3, jitter=0, permanent_errors=("LookupError",))
SERVER = RetryPolicy(base_seconds=1, factor=2, cap_seconds=60, jitter=0)


async def test_the_policy_is_stored_and_comes_with_the_claim(engine: RedisEngine) -> None:
    [outcome] = await engine.enqueue([NewTask("t", {}, retry_policy=OWN)])
    assert outcome.task.retry_policy == OWN
    assert (await engine.get_task(outcome.task.id)).retry_policy == OWN
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    assert claimed.retry_policy == OWN


async def test_a_task_without_a_policy_claims_none(engine: RedisEngine) -> None:
    await engine.enqueue([NewTask("t", {})])
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    assert claimed.retry_policy is None


def claimed(attempt: int, policy: RetryOverride | None) -> ClaimedTask:
    return ClaimedTask(Lease("default-x", 1), "default", "t", {}, attempt, 5, 0.0, {}, policy)


async def policy_for(engine: RedisEngine, own: RetryOverride | None) -> RetryPolicy:
    return await RetryPolicies(lambda: engine, SERVER).for_task("default", own)


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 5), (2, 15), (3, 45), (4, 60)])
async def test_the_task_policy_sets_the_backoff_over_the_servers(
    engine: RedisEngine, attempt: int, seconds: float
) -> None:
    outcome = failure(claimed(attempt, OWN), RuntimeError("boom"), await policy_for(engine, OWN))
    assert (outcome.permanent, outcome.retry_delay_ms) == (False, seconds * 1000)


async def test_without_a_task_policy_the_servers_applies(engine: RedisEngine) -> None:
    outcome = failure(claimed(2, None), RuntimeError("boom"), await policy_for(engine, None))
    assert outcome.retry_delay_ms == 2000


@pytest.mark.parametrize(
    ("error", "permanent"),
    [(LookupError("x"), True), (KeyError("x"), True), (ValueError("x"), False)],
)
async def test_errors_named_permanent_fail_at_once_subclasses_included(
    engine: RedisEngine, error: Exception, permanent: bool
) -> None:
    own, flags = await policy_for(engine, OWN), await policy_for(engine, None)
    assert failure(claimed(1, OWN), error, own).permanent is permanent
    assert failure(claimed(1, None), error, flags).permanent is False
    assert failure(claimed(1, None), PermanentError("x"), flags).permanent is True


QUEUE = RetryOverride(base_seconds=7, cap_seconds=20, permanent_errors=("ValueError",))


async def test_a_queue_default_is_stored_read_and_cleared(engine: RedisEngine) -> None:
    assert await engine.queue_retry_policy("default") is None
    await engine.set_queue_retry_policy("default", QUEUE)
    assert await engine.queue_retry_policy("default") == QUEUE
    assert await engine.queue_retry_policy("other") is None
    await engine.set_queue_retry_policy("default", RetryOverride())  # sets nothing: clears
    assert await engine.queue_retry_policy("default") is None


async def test_the_queue_default_sits_between_the_task_and_the_flags(
    engine: RedisEngine,
) -> None:
    await engine.set_queue_retry_policy("default", QUEUE)
    policies = RetryPolicies(lambda: engine, SERVER)
    # Unset in the default: the flags' factor and jitter; set: the default's.
    assert await policies.for_task("default", None) == RetryPolicy(
        base_seconds=7, factor=2, cap_seconds=20, jitter=0, permanent_errors=("ValueError",)
    )
    # The task's own fields win, permanent_errors as a whole list.
    assert await policies.for_task("default", OWN) == RetryPolicy(
        base_seconds=5, factor=3, cap_seconds=20, jitter=0, permanent_errors=("LookupError",)
    )
    assert await policies.for_task("other", None) == SERVER


async def test_a_read_default_is_kept_briefly_and_forgotten_on_change(
    engine: RedisEngine,
) -> None:
    now = [0.0]
    policies = RetryPolicies(lambda: engine, SERVER, clock=lambda: now[0])
    await engine.set_queue_retry_policy("default", QUEUE)
    assert (await policies.for_task("default", None)).base_seconds == 7
    await engine.set_queue_retry_policy("default", None)  # through another server
    assert (await policies.for_task("default", None)).base_seconds == 7
    now[0] += CACHE_SECONDS
    assert await policies.for_task("default", None) == SERVER
    await engine.set_queue_retry_policy("default", QUEUE)  # through this server
    policies.forget("default")
    assert (await policies.for_task("default", None)).base_seconds == 7
