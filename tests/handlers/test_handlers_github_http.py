"""What the GitHub handler gets from httpx, checked against the fake API: redirects and bodies."""

from __future__ import annotations

import pytest
from fake_github_server import FakeGitHub, Reply, issue
from taskqueue_server.handlers.github import github_import_issues
from taskqueue_server.handlers.github.api import GitHubUnavailable
from taskqueue_server.worker.context import PermanentError

ISSUES = "/repos/octo/hello/issues"
MOVED = "/repositories/42/issues"
TOKEN = "ghp_test_secret_token_123"
TASK = {"owner": "octo", "repo": "hello", "token": TOKEN}


async def test_redirect_within_the_origin_keeps_the_token(github: FakeGitHub, make_ctx) -> None:
    # A renamed repository answers 301 to its new path on the same host; the token must follow.
    github.pages[MOVED] = [[issue(1)]]
    github.queue(ISSUES, Reply(301, None, {"Location": f"{github.url}{MOVED}"}))
    result = await github_import_issues(dict(TASK), make_ctx())
    assert result["count"] == 1
    assert [seen.path for seen in github.seen] == [ISSUES, MOVED]
    assert all(seen.headers["Authorization"] == f"Bearer {TOKEN}" for seen in github.seen)


async def test_redirect_loop_is_permanent(github: FakeGitHub, make_ctx) -> None:
    github.queue(ISSUES, *[Reply(302, None, {"Location": f"{github.url}{ISSUES}"})] * 30)
    with pytest.raises(PermanentError, match="redirect"):
        await github_import_issues(dict(TASK), make_ctx())


async def test_redirect_without_location_is_permanent(github: FakeGitHub, make_ctx) -> None:
    github.queue(ISSUES, Reply(302, {"message": "Found"}))
    with pytest.raises(PermanentError, match="GitHub answered 302"):
        await github_import_issues(dict(TASK), make_ctx())


@pytest.mark.parametrize(("body", "expected"), [
    ({"message": "not a list"}, "a dict, expected a list"),
    (None, "not JSON"),  # an empty body
])
async def test_a_body_that_is_not_a_page_is_retried(github: FakeGitHub, make_ctx, body: object,
                                                    expected: str) -> None:
    github.queue(ISSUES, Reply(200, body))
    with pytest.raises(GitHubUnavailable, match=expected):
        await github_import_issues(dict(TASK), make_ctx())
