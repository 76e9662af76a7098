"""A real headless Chromium (Debian's, driven by Playwright) against a real server and Redis.

The browser is the system's `chromium` (scripts/env.sh installs it), never one Playwright
downloads; `--no-sandbox` because CI runs as root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import free_port

ADMIN = "admin-token-for-the-dashboard-tests"
VIEWER = "viewer-token-for-the-dashboard-tests"
PRODUCER = "producer-token-for-the-dashboard-tests"
CHROMIUM = os.environ.get("TASKQUEUE_CHROMIUM", "/usr/bin/chromium")


# Package scope, not session: sync Playwright keeps its event loop running in this thread
# while it is open, and every async test collected after this folder would fail to start.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `source scripts/env.sh && ensure_chromium`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Dashboard:
    """A server with its HTTP port on and an admin, a viewer and a producer token."""

    server: ServerProcess

    @property
    def url(self) -> str:
        return f"http://{self.server.http_target}/"

    @property
    def grpc_target(self) -> str:
        return self.server.target


def start_dashboard_server(servers: ServerFactory, *extra_args: str) -> Dashboard:
    env = {
        "TASKQUEUE_HTTP_PORT": str(free_port()),
        "TASKQUEUE_AUTH_TOKENS": f"admin:{ADMIN},viewer:{VIEWER},producer:{PRODUCER}",
    }
    return Dashboard(servers.start(env=env, extra_args=list(extra_args)))


@pytest.fixture
def dashboard(servers: ServerFactory) -> Dashboard:
    return start_dashboard_server(servers)


def open_page(browser: Browser, dashboard: Dashboard, token: str, route: str = "") -> Page:
    """A fresh page signed in with `token` (kept in sessionStorage, as a user's would be)."""
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(dashboard.url)
    page.get_by_label("bearer token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#live")).to_have_text("live")
    if route:
        page.goto(dashboard.url + route)
    return page
