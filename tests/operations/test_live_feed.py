"""The dashboard's live feed: one reader per process however many pages listen, rates from
successive counts, and a stream end for every page when the server stops."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from taskqueue_server.engine.models import QueueOverview, Total, TypeStats
from taskqueue_server.http import live
from taskqueue_server.http.live import LiveFeed


class CountingEngine:
    """Answers list_queues with a completed total that grows by 5 per read."""

    def __init__(self) -> None:
        self.reads = 0

    async def list_queues(self) -> list[QueueOverview]:
        self.reads += 1
        echo = TypeStats(totals={**dict.fromkeys(Total, 0), Total.COMPLETED: 5 * self.reads})
        return [QueueOverview("default", False, {"echo": echo}, 0)]


async def test_twenty_pages_share_one_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "INTERVAL_SECONDS", 0.05)
    engine = CountingEngine()
    feed = LiveFeed(lambda: engine)  # type: ignore[arg-type, return-value]

    async def page() -> list[dict[str, object]]:
        seen = []
        async with feed.subscribe() as snapshots:
            while len(seen) < 4:
                seen.append(orjson.loads(await snapshots.get()))
        return seen

    pages = await asyncio.wait_for(asyncio.gather(*(page() for _ in range(20))), 10)
    # Each page saw 4 snapshots; 20 pages at 1 read per interval cost ~5 reads, not 80.
    assert engine.reads <= 8
    last = pages[0][-1]["queues"][0]
    assert last["finished_total"] % 5 == 0
    assert all(rate > 0 for rate in last["rates"])  # 5 more finished every interval
    await asyncio.sleep(0.2)
    reads = engine.reads
    await asyncio.sleep(0.2)
    assert engine.reads == reads  # nobody listens: the reader stopped


async def test_stop_ends_every_stream() -> None:
    feed = LiveFeed(lambda: CountingEngine())  # type: ignore[arg-type, return-value]
    async with feed.subscribe() as snapshots:
        assert (await asyncio.wait_for(snapshots.get(), 5)).startswith(b"{")
        await feed.stop()
        assert await asyncio.wait_for(snapshots.get(), 5) == b""
