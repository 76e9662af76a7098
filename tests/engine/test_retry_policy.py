"""A task's own retry policy: stored with the task, handed to the worker with the claim, and
applied over the worker's default backoff."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.models import ClaimedTask, Lease, NewTask
from taskqueue_server.engine.settings import RetryOverride, RetryPolicy
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.context import PermanentError
from taskqueue_server.worker.execute import failure

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


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 5), (2, 15), (3, 45), (4, 60)])
def test_the_task_policy_sets_the_backoff_over_the_servers(attempt: int, seconds: float) -> None:
    outcome = failure(claimed(attempt, OWN), RuntimeError("boom"), SERVER)
    assert (outcome.permanent, outcome.retry_delay_ms) == (False, seconds * 1000)


def test_without_a_task_policy_the_servers_applies() -> None:
    outcome = failure(claimed(2, None), RuntimeError("boom"), SERVER)
    assert outcome.retry_delay_ms == 2000


@pytest.mark.parametrize(
    ("error", "permanent"),
    [(LookupError("x"), True), (KeyError("x"), True), (ValueError("x"), False)],
)
def test_errors_named_permanent_fail_at_once_subclasses_included(
    error: Exception, permanent: bool
) -> None:
    outcome = failure(claimed(1, OWN), error, SERVER)
    assert outcome.permanent is permanent
    assert failure(claimed(1, None), error, SERVER).permanent is False
    assert failure(claimed(1, None), PermanentError("x"), SERVER).permanent is True
