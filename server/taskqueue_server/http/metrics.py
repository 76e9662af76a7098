"""Prometheus metrics: what this process counts as it works, and the queues' figures, which
are read from the engine's counters at scrape time (one pipelined round trip per queue,
never a scan)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..engine.api import CallerEngine

# Handlers run from milliseconds (a Redis call) to many minutes (an import).
_HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """One per process; the gRPC interceptor and the worker pool report into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._rpcs = Counter(
            "taskqueue_grpc_requests",
            "gRPC calls answered, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self._rpc_seconds = Histogram(
            "taskqueue_grpc_request_duration_seconds",
            "Time to answer a gRPC call (streams: until they end), by method.",
            ["method"],
            registry=self.registry,
        )
        self._handler_seconds = Histogram(
            "taskqueue_handler_duration_seconds",
            "Time a handler ran, by task type and outcome (completed, failed, stopped).",
            ["task_type", "outcome"],
            buckets=_HANDLER_BUCKETS,
            registry=self.registry,
        )

        # The labelled children, kept: `labels()` hashes and locks on every call, and these
        # are reported once per RPC and per task. Bounded: methods x codes, types x outcomes.
        self._rpc_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._handler_children: dict[tuple[str, str], Any] = {}

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        children = self._rpc_children.get((method, code))
        if children is None:
            children = self._rpcs.labels(method, code), self._rpc_seconds.labels(method)
            self._rpc_children[method, code] = children
        calls, duration = children
        calls.inc()
        duration.observe(seconds)

    def observe_handler(self, task_type: str, outcome: str, seconds: float) -> None:
        child = self._handler_children.get((task_type, outcome))
        if child is None:
            child = self._handler_children[task_type, outcome] = self._handler_seconds.labels(
                task_type, outcome
            )
        child.observe(seconds)

    async def render(self, engine: CallerEngine | None) -> bytes:
        """The exposition text: process metrics, then the queues' (none while disconnected)."""
        families: list[Metric] = []
        if engine is not None:
            families = await queue_families(engine)
        return generate_latest(self.registry) + generate_latest(_Fixed(families))


async def queue_families(engine: CallerEngine) -> list[Metric]:
    """What ListQueues reads (one pipelined round trip for every queue): tasks by queue, type
    and status (live statuses are what is there now, terminal ones what the retention window
    still holds), the totals that never go down (docs/operations.md, "Stats: gauges and
    totals"), each queue's backlog age and pause state; and the live workers."""
    tasks = GaugeMetricFamily(
        "taskqueue_tasks",
        "Tasks by queue, task type and status (terminal: those still retained).",
        labels=["queue", "task_type", "status"],
    )
    events = CounterMetricFamily(
        "taskqueue_task_events",
        "Transitions by queue, task type and event: enqueued, completed, failed, retried, "
        "cancelled, redelivered.",
        labels=["queue", "task_type", "event"],
    )
    oldest = GaugeMetricFamily(
        "taskqueue_oldest_pending_age_seconds",
        "Age of the queue's oldest pending task; 0 when nothing is pending.",
        labels=["queue"],
    )
    paused = GaugeMetricFamily(
        "taskqueue_queue_paused", "1 while the queue is paused, else 0.", labels=["queue"]
    )
    for overview in await engine.list_queues():
        queue = overview.name
        oldest.add_metric([queue], overview.oldest_pending_age_ms / 1000)
        paused.add_metric([queue], 1.0 if overview.paused else 0.0)
        for task_type, type_stats in overview.counts.items():
            for status, count in type_stats.counts.items():
                tasks.add_metric([queue, task_type, status.value], count)
            for total, count in type_stats.totals.items():
                events.add_metric([queue, task_type, total.value], count)
    workers = GaugeMetricFamily(
        "taskqueue_workers", "Live workers: in-process pools and remote workers."
    )
    workers.add_metric([], len(await engine.list_workers()))
    return [tasks, events, oldest, paused, workers]


class _Fixed:
    """A collector of families read once (prometheus_client's collectors are synchronous)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families
