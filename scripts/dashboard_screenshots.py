"""Screenshots of the dashboard's main pages for docs/dashboard.md, from a real server.

    .venv/bin/python scripts/dashboard_screenshots.py    # needs Redis and /usr/bin/chromium

Starts a server on a fresh key prefix, gives it a little of everything (finished, failed,
running, scheduled, a paused queue), lets the live feed gather a sparkline, then saves
docs/img/dashboard-{overview,tasks,task}.png.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from taskqueue_client import TaskQueueClient  # noqa: E402

from tests.browser.conftest import ADMIN, CHROMIUM, open_page, start_dashboard_server  # noqa: E402
from tests.support.server_process import ServerFactory  # noqa: E402

IMAGES = REPO / "docs" / "img"
SPARK_POINTS = 12


def populate(client: TaskQueueClient) -> str:
    """Some history in `default`, a backlog in the paused `reports`; returns a task to show."""
    client.pause_queue("reports")
    for n in range(40):
        client.enqueue("sleep", {"seconds": 0.2}, priority=n % 3, queue="reports")
    shown = client.enqueue("sleep", {"seconds": 30}, priority=5)
    # A throughput that rises and falls over the next half minute, for the sparkline.
    for second in range(30):
        for n in range(1 + round(4 + 4 * math.sin(second / 3))):
            client.enqueue("echo", {"second": second}, delay_seconds=second + n / 10)
    client.enqueue("fail", {"permanent": True})
    client.enqueue("echo", {"report": "monthly"}, delay_seconds=3600)
    return shown


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with ServerFactory() as servers, sync_playwright() as playwright:
        dashboard = start_dashboard_server(servers)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        with TaskQueueClient(dashboard.grpc_target, token=ADMIN) as client:
            shown = populate(client)
            page = open_page(browser, dashboard, ADMIN)
            points = page.locator('tr[data-queue="default"] polyline')
            expect(points).to_have_attribute(
                "points", _at_least(SPARK_POINTS), timeout=(SPARK_POINTS + 10) * 1000
            )
            expect(page.locator('tr[data-queue="default"] td.num').last).not_to_have_text(
                re.compile(r"^0/s")
            )
            page.screenshot(path=IMAGES / "dashboard-overview.png")
            page.goto(dashboard.url + "#/queue/reports?status=pending&type=")
            expect(page.locator("#tasks tbody tr").first).to_be_visible()
            page.screenshot(path=IMAGES / "dashboard-tasks.png")
            page.goto(dashboard.url + f"#/task/{shown}")
            expect(page.locator('dd[data-field="progress"]')).not_to_have_text("0% ")
            page.screenshot(path=IMAGES / "dashboard-task.png")
            client.cancel(shown)
        browser.close()
    print(f"saved {', '.join(sorted(p.name for p in IMAGES.glob('dashboard-*.png')))}")


def _at_least(count: int) -> re.Pattern[str]:
    return re.compile(r"^(\S+ ){" + str(count - 1) + r",}\S+$")


if __name__ == "__main__":
    main()
