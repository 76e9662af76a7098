"""The dashboard in a real headless Chromium against a real server and Redis: what an
operator sees and does. Every wait is one of Playwright's auto-waiting expectations."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from taskqueue_client import TaskQueueClient, TaskStatus

from tests.browser.conftest import ADMIN, VIEWER, Dashboard, open_page

WAIT_MS = 20_000


@pytest.fixture
def client(dashboard: Dashboard) -> Iterator[TaskQueueClient]:
    with TaskQueueClient(dashboard.grpc_target, token=ADMIN) as admin:
        yield admin


def queue_cell(page: Page, queue: str, status: str) -> Locator:
    return page.locator(f'tr[data-queue="{queue}"] td[data-status="{status}"]')


def task_rows(page: Page) -> Locator:
    return page.locator("#tasks tbody tr")


def wait_for_snapshots(page: Page, queue: str, count: int) -> None:
    """Until `count` more live snapshots arrived: each adds a point to the queue's sparkline."""
    line = page.locator(f'tr[data-queue="{queue}"] polyline')
    points = len((line.get_attribute("points") or "").split())
    more = re.compile(r"^\S+(?: \S+){" + str(points + count - 1) + ",}$")
    expect(line).to_have_attribute("points", more, timeout=WAIT_MS)


def test_an_enqueued_task_appears_without_a_reload(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    page = open_page(browser, dashboard, ADMIN)
    task_id = client.enqueue("echo", {"hello": "dashboard"})
    expect(queue_cell(page, "default", "completed")).to_have_text("1", timeout=WAIT_MS)
    page.get_by_role("link", name="default", exact=True).click()
    row = page.locator(f'tr[data-task-id="{task_id}"]')
    expect(row.locator("td.status")).to_have_text("completed")
    row.get_by_role("link", name=task_id).click()
    expect(page.locator("#timeline li").last).to_contain_text("completed")
    expect(page.locator("#result")).to_contain_text('"hello": "dashboard"')


def test_changing_a_priority_moves_the_task_in_the_run_order(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    client.pause_queue("default")
    first, second, third = (client.enqueue("echo", {"n": n}) for n in range(3))
    page = open_page(browser, dashboard, ADMIN, "#/queue/default?status=pending&type=")
    expect(task_rows(page)).to_have_count(3)
    expect(task_rows(page).first).to_have_attribute("data-task-id", first)
    row = page.locator(f'tr[data-task-id="{third}"]')
    row.get_by_label("priority").fill("10")
    row.get_by_role("button", name="Set").click()
    expect(task_rows(page).first).to_have_attribute("data-task-id", third)
    expect(task_rows(page).nth(1)).to_have_attribute("data-task-id", first)
    expect(task_rows(page).nth(2)).to_have_attribute("data-task-id", second)
    assert client.get_task(third).priority == 10


def test_a_paused_queue_keeps_tasks_pending_until_resumed(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    client.wait(client.enqueue("echo", {}), timeout=20)  # the queue exists, one completed
    page = open_page(browser, dashboard, ADMIN)
    queue = page.locator('tr[data-queue="default"]')
    queue.get_by_role("button", name="Pause").click()
    expect(queue.locator(".badge.paused")).to_be_visible()
    held = [client.enqueue("echo", {"n": n}) for n in range(2)]
    expect(queue_cell(page, "default", "pending")).to_have_text("2", timeout=WAIT_MS)
    # Two live updates later, still pending: nothing ran while paused.
    wait_for_snapshots(page, "default", 2)
    expect(queue_cell(page, "default", "pending")).to_have_text("2")
    expect(queue_cell(page, "default", "processing")).to_have_text("0")
    assert {client.get_task(task_id).status for task_id in held} == {TaskStatus.PENDING}
    queue.get_by_role("button", name="Resume").click()
    expect(queue_cell(page, "default", "completed")).to_have_text("3", timeout=WAIT_MS)
    expect(queue_cell(page, "default", "pending")).to_have_text("0")


def test_cancel_a_running_task(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    task_id = client.enqueue("sleep", {"seconds": 60})
    page = open_page(browser, dashboard, ADMIN, f"#/task/{task_id}")
    status = page.locator('dd[data-field="status"]')
    expect(status).to_have_text("processing", timeout=WAIT_MS)
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("cancelled", timeout=WAIT_MS)
    assert client.get_task(task_id).status == TaskStatus.CANCELLED


def test_retry_every_failed_task_after_seeing_the_count(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    failed = [client.enqueue("fail", {"permanent": True}) for _ in range(2)]
    for task_id in failed:
        client.get_result(task_id, wait=20)
    page = open_page(browser, dashboard, ADMIN, "#/queue/default?status=failed&type=")
    expect(task_rows(page)).to_have_count(2)
    asked: list[str] = []
    page.on("dialog", lambda dialog: asked.append(dialog.message))
    page.get_by_label("bulk action").select_option("retry")
    page.get_by_role("button", name="Apply to all matches…").click()
    expect(page.locator("#message")).to_have_text("retry: 2 tasks of queue default.")
    assert asked == ["retry 2 tasks of queue default (failed)?"]
    # Retried with a fresh budget, they fail again: the failed list fills up once more.
    expect(task_rows(page)).to_have_count(2, timeout=WAIT_MS)
    assert all(client.get_task(task_id).attempts == 1 for task_id in failed)


def test_a_viewer_sees_everything_and_can_click_no_action(
    browser: Browser, dashboard: Dashboard, client: TaskQueueClient
) -> None:
    parked = client.enqueue("echo", {}, delay_seconds=3600)
    page = open_page(browser, dashboard, VIEWER)
    expect(page.locator("#role")).to_have_text("viewer: read only")
    expect(queue_cell(page, "default", "scheduled")).to_have_text("1", timeout=WAIT_MS)
    # Pause and Purge; bulk, Set priority, Cancel, Retry, Delete; Cancel, Retry, Delete.
    pages = {
        "#/": ("Queues", 2),
        "#/queue/default": ("Queue default", 5),
        f"#/task/{parked}": ("Task", 3),
    }
    for route, (heading, count) in pages.items():
        page.goto(dashboard.url + route)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        actions = page.locator("button.act")
        expect(actions).to_have_count(count)
        for button in actions.all():
            expect(button).to_be_disabled()
    expect(page.locator('dd[data-field="status"]')).to_have_text("scheduled")
    assert client.get_task(parked).status == TaskStatus.SCHEDULED
