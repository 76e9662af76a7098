"""github_import_issues / github_import_milestones against a fake GitHub API on loopback."""

from __future__ import annotations

import logging
import time

import pytest
from fake_github_server import FakeGitHub, Reply, issue, milestone
from taskqueue_server.handlers.github import github_import_issues, github_import_milestones
from taskqueue_server.handlers.github.api import GitHubUnavailable
from taskqueue_server.worker.context import PermanentError, RetryLater
from taskqueue_server.worker.registry import registered

ISSUES = "/repos/octo/hello/issues"
MILESTONES = "/repos/octo/hello/milestones"
TOKEN = "ghp_test_secret_token_123"


def test_both_types_are_registered_with_validators() -> None:
    types = registered()
    assert types["github_import_issues"].validate is not None
    assert types["github_import_milestones"].validate is not None


async def test_issues_follow_pages_skip_prs_and_report_progress(
        github: FakeGitHub, make_ctx, progress: list[tuple[int, str]]) -> None:
    github.pages[ISSUES] = [
        [issue(1), issue(2, pr=True), issue(3)],
        [issue(4, pr=True), issue(5)],
        [issue(6), issue(7, pr=True)],
    ]
    result = await github_import_issues(
        {"owner": "octo", "repo": "hello", "state": "all", "labels": ["bug", "ui"],
         "since": "2024-01-01T01:00:00+01:00", "token": TOKEN},
        make_ctx("github_import_issues"))

    assert [item["number"] for item in result["items"]] == [1, 3, 5, 6]
    assert (result["count"], result["pages"], result["skipped_pull_requests"]) == (4, 3, 3)
    assert result["success"] is True
    assert [pct for pct, _ in progress] == [33, 66, 100]
    assert progress[0][1] == "page 1: 2 issues so far"

    assert [seen.path for seen in github.seen] == [ISSUES] * 3
    assert [seen.query.get("page") for seen in github.seen] == [None, "2", "3"]
    for seen in github.seen:
        assert seen.query["state"] == "all" and seen.query["per_page"] == "100"
        assert seen.query["labels"] == "bug,ui"
        assert seen.query["since"] == "2024-01-01T00:00:00Z"
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["Accept"] == "application/vnd.github+json"


async def test_issue_is_normalised(github: FakeGitHub, make_ctx) -> None:
    github.pages[ISSUES] = [[issue(9, state="closed", closed_at="2024-02-02T00:00:00Z",
                                   labels=[{"name": "bug"}, {"name": "p1"}], milestone=None,
                                   assignees=[{"login": "a"}, {"login": "b"}])]]
    result = await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())
    assert result["items"] == [{
        "number": 9, "title": "Issue 9", "state": "closed", "labels": ["bug", "p1"],
        "assignees": ["a", "b"], "milestone": None, "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z", "closed_at": "2024-02-02T00:00:00Z",
        "url": "https://github.com/octo/hello/issues/9",
    }]
    assert github.seen[0].query["state"] == "open"  # GitHub's own default


async def test_server_side_token_and_no_token(github: FakeGitHub, make_ctx,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    github.pages[ISSUES] = [[issue(1)]]
    await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())
    assert "Authorization" not in github.seen[-1].headers
    monkeypatch.setenv("TASKQUEUE_GITHUB_TOKEN", "server-token")
    await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())
    assert github.seen[-1].headers["Authorization"] == "Bearer server-token"
    await github_import_issues({"owner": "octo", "repo": "hello", "token": TOKEN}, make_ctx())
    assert github.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_milestones_pages_since_and_shape(github: FakeGitHub, make_ctx,
                                                progress: list[tuple[int, str]]) -> None:
    github.pages[MILESTONES] = [
        [milestone(1, "2023-12-31T23:59:59Z"), milestone(2)],
        [milestone(3)],
    ]
    result = await github_import_milestones(
        {"owner": "octo", "repo": "hello", "state": "closed", "since": "2024-01-01T00:00:00Z"},
        make_ctx("github_import_milestones"))
    assert [item["number"] for item in result["items"]] == [2, 3]
    assert result["items"][0] == {
        "number": 2, "title": "v2.0", "state": "open", "description": "Milestone 2",
        "due_on": "2024-06-30T07:00:00Z", "open_issues": 2, "closed_issues": 8,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-03-01T00:00:00Z",
        "closed_at": None, "url": "https://github.com/octo/hello/milestone/2",
    }
    assert "skipped_pull_requests" not in result
    assert [(s.path, s.query["state"]) for s in github.seen] == [(MILESTONES, "closed")] * 2
    assert [pct for pct, _ in progress] == [50, 100]


async def test_max_items_stops_paging_early(github: FakeGitHub, make_ctx) -> None:
    github.pages[ISSUES] = [[issue(n) for n in range(i, i + 3)] for i in (1, 4, 7, 10)]
    result = await github_import_issues({"owner": "octo", "repo": "hello", "max_items": 5.0},
                                        make_ctx())
    assert [item["number"] for item in result["items"]] == [1, 2, 3, 4, 5]
    assert result["truncated"] is True and len(github.seen) == 2


async def test_rate_limit_reset_becomes_retry_later(github: FakeGitHub, make_ctx) -> None:
    reset = int(time.time()) + 120
    github.pages[ISSUES] = [[issue(1)], [issue(2)]]
    github.queue(ISSUES, Reply(200, [issue(1)], {"Link": f'<{github.url}{ISSUES}?page=2>; '
                                                 'rel="next"'}))
    github.queue(ISSUES, Reply(403, {"message": "API rate limit exceeded for user ID 1."},
                               {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))
    with pytest.raises(RetryLater, match="rate limit") as caught:
        await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())
    assert 115 <= caught.value.delay_seconds <= 122


@pytest.mark.parametrize(("status", "headers", "message", "delay"), [
    (429, {"Retry-After": "30"}, "Too many requests", 30.0),
    (403, {"Retry-After": "7"}, "You have exceeded a secondary rate limit", 7.0),
    (403, {}, "You have exceeded a secondary rate limit", 60.0),
    (429, {}, "slow down", 60.0),
])
async def test_retry_after_and_secondary_limits(github: FakeGitHub, make_ctx, status: int,
                                                headers: dict[str, str], message: str,
                                                delay: float) -> None:
    github.queue(ISSUES, Reply(status, {"message": message}, headers))
    with pytest.raises(RetryLater) as caught:
        await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())
    assert caught.value.delay_seconds == delay


@pytest.mark.parametrize(("status", "message", "expected"), [
    (401, "Bad credentials", "rejected the credentials .*TASKQUEUE_GITHUB_TOKEN"),
    (403, "Resource not accessible by integration", r"refused access \(403 Resource not"),
    (404, "Not Found", "repository not found"),
    (422, "Validation Failed", "GitHub answered 422: Validation Failed"),
])
async def test_client_errors_are_permanent_and_never_show_the_token(
        github: FakeGitHub, make_ctx, caplog: pytest.LogCaptureFixture, status: int,
        message: str, expected: str) -> None:
    caplog.set_level(logging.DEBUG)
    github.queue(ISSUES, Reply(status, {"message": message}))
    with pytest.raises(PermanentError, match=expected) as caught:
        await github_import_issues({"owner": "octo", "repo": "hello", "token": TOKEN},
                                   make_ctx())
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text


async def test_unknown_repository_is_permanent(github: FakeGitHub, make_ctx) -> None:
    with pytest.raises(PermanentError, match="not found"):
        await github_import_milestones({"owner": "octo", "repo": "nope"}, make_ctx())


async def test_5xx_is_retried_then_succeeds(github: FakeGitHub, make_ctx) -> None:
    github.pages[ISSUES] = [[issue(1)]]
    github.queue(ISSUES, Reply(502, {"message": "Server Error"}))
    with pytest.raises(GitHubUnavailable, match="502") as caught:
        await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx(attempt=1))
    assert not isinstance(caught.value, PermanentError | RetryLater)
    result = await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx(attempt=2))
    assert result["count"] == 1


async def test_network_error_is_retryable(make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_smtp_server import free_port

    monkeypatch.setenv("TASKQUEUE_GITHUB_API_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(GitHubUnavailable, match="unreachable"):
        await github_import_issues({"owner": "octo", "repo": "hello"}, make_ctx())


async def test_pagination_to_another_host_is_refused(github: FakeGitHub, make_ctx) -> None:
    other = FakeGitHub()
    try:
        github.link_base = other.url
        github.pages[ISSUES] = [[issue(1)], [issue(2)]]
        with pytest.raises(PermanentError, match="another host"):
            await github_import_issues({"owner": "octo", "repo": "hello", "token": TOKEN},
                                       make_ctx())
        assert other.seen == []
    finally:
        other.stop()


async def test_redirect_to_another_host_drops_the_token(github: FakeGitHub, make_ctx) -> None:
    other = FakeGitHub()
    try:
        other.pages[ISSUES] = [[issue(1)]]
        github.queue(ISSUES, Reply(301, None, {"Location": f"{other.url}{ISSUES}"}))
        # The final page's Link points nowhere, so only the token's journey matters here.
        result = await github_import_issues({"owner": "octo", "repo": "hello", "token": TOKEN},
                                            make_ctx())
        assert result["count"] == 1
        assert github.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
        assert "Authorization" not in other.seen[0].headers
    finally:
        other.stop()
