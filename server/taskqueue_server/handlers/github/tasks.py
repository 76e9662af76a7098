"""The two GitHub import handlers: page through the API, report progress, return compact items."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...worker.context import PermanentError, TaskContext
from ...worker.registry import handler
from ..client_tls import client_context
from . import normalise
from .api import GitHubSettings, fetch_page, open_client, same_origin
from .request import ImportRequest, parse_import

log = logging.getLogger(__name__)
JsonObject = dict[str, Any]


def validate_import_issues(task_data: JsonObject) -> None:
    """Enqueue-time check of github_import_issues' task_data; ValueError names the field."""
    parse_import(task_data, labels_allowed=True)


def validate_import_milestones(task_data: JsonObject) -> None:
    """Enqueue-time check of github_import_milestones' task_data; ValueError names the field."""
    parse_import(task_data, labels_allowed=False)


def repository_key(task_data: JsonObject) -> str:
    """Imports of one repository share a concurrency key: they take turns with other
    repositories' imports and a per-key limit caps them (docs/limits.md)."""
    request = parse_import(task_data, labels_allowed=True)
    return f"github:{request.owner}/{request.repo}"


@handler(
    "github_import_issues", validate=validate_import_issues, concurrency_key=repository_key
)
async def github_import_issues(task_data: JsonObject, ctx: TaskContext) -> JsonObject:
    """Import a repository's issues (pull requests skipped), following pagination."""
    request = _checked(task_data, labels_allowed=True)

    def keep(item: JsonObject) -> bool:
        return not normalise.is_pull_request(item)

    return await _import(request, request.issues_path(), "issues", keep, normalise.issue, ctx)


@handler(
    "github_import_milestones",
    validate=validate_import_milestones,
    concurrency_key=repository_key,
)
async def github_import_milestones(task_data: JsonObject, ctx: TaskContext) -> JsonObject:
    """Import a repository's milestones; `since` keeps those updated at or after it."""
    request = _checked(task_data, labels_allowed=False)
    since = request.since

    def keep(item: JsonObject) -> bool:
        return since is None or _updated_since(item, since)

    return await _import(
        request, request.milestones_path(), "milestones", keep, normalise.milestone, ctx
    )


def _checked(task_data: JsonObject, *, labels_allowed: bool) -> ImportRequest:
    # Enqueue already validated; a task that skipped it must not burn retries on bad input.
    try:
        return parse_import(task_data, labels_allowed=labels_allowed)
    except ValueError as exc:
        raise PermanentError(str(exc)) from None


async def _import(
    request: ImportRequest,
    path: str,
    kind: str,
    keep: Callable[[JsonObject], bool],
    compact: Callable[[JsonObject], JsonObject],
    ctx: TaskContext,
) -> JsonObject:
    settings = GitHubSettings.from_env()
    url: str | None = settings.api_url + path
    items: dict[Any, JsonObject] = {}  # by number: a page boundary shift cannot duplicate
    skipped = pages = 0
    tls = await client_context()
    async with open_client(settings, request.token or settings.token, tls) as client:
        while url is not None and not _full(items, request):
            page = await fetch_page(client, url)
            pages += 1
            for raw in page.items:
                if not isinstance(raw, dict):
                    continue
                if keep(raw):
                    items.setdefault(raw.get("number"), compact(raw))
                else:
                    skipped += 1
            url = page.next_url
            if url is not None and not same_origin(url, settings.api_url):
                # Following it would send the token to another host.
                raise PermanentError(
                    "GitHub pagination pointed at another host; refusing to follow"
                )
            await ctx.report_progress(
                _percent(pages, page.last_page, done=url is None),
                f"page {pages}: {len(items)} {kind} so far",
            )
    log.info(
        "imported %d %s from %s/%s in %d pages",
        len(items),
        kind,
        request.owner,
        request.repo,
        pages,
    )
    result_items = list(items.values())[: request.max_items]
    result: JsonObject = {
        "success": True,
        "owner": request.owner,
        "repo": request.repo,
        "count": len(result_items),
        "pages": pages,
        "items": result_items,
    }
    if kind == "issues":
        result["skipped_pull_requests"] = skipped
    if url is not None:
        result["truncated"] = True  # stopped at max_items with more pages left
    return result


def _full(items: dict[Any, JsonObject], request: ImportRequest) -> bool:
    return request.max_items is not None and len(items) >= request.max_items


def _percent(pages: int, last_page: int | None, *, done: bool) -> int:
    if done:
        return 100
    if last_page:
        return min(99, pages * 100 // max(last_page, pages))
    return min(90, pages * 10)  # no rel="last": show movement without claiming to know the end


def _updated_since(item: JsonObject, since: datetime) -> bool:
    updated = item.get("updated_at")
    try:
        return isinstance(updated, str) and datetime.fromisoformat(updated) >= since
    except ValueError:
        return True  # an unparseable time is GitHub's oddity, not a reason to drop the item
