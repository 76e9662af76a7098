"""task_data of the GitHub import types: checked at enqueue time, then turned into a URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

JsonObject = dict[str, Any]
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_STATES = ("open", "closed", "all")
_MAX_ITEMS_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """A checked import request."""

    owner: str
    repo: str
    state: str
    since: datetime | None
    labels: tuple[str, ...]
    token: str | None
    max_items: int | None

    def issues_path(self) -> str:
        """Oldest first, so issues opened while we page land at the end, not shift pages."""
        query: dict[str, str | int] = {
            "state": self.state,
            "sort": "created",
            "direction": "asc",
            "per_page": 100,
        }
        if self.since is not None:
            query["since"] = self.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.labels:
            query["labels"] = ",".join(self.labels)
        return f"{self._repo_path()}/issues?{urlencode(query)}"

    def milestones_path(self) -> str:
        """The milestones endpoint filters by state only; `since` is applied to updated_at."""
        return f"{self._repo_path()}/milestones?{urlencode({'state': self.state, 'per_page': 100})}"

    def _repo_path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"


def parse_import(task_data: object, *, labels_allowed: bool) -> ImportRequest:
    """ValueError naming the field for anything missing or ill-typed."""
    if not isinstance(task_data, dict):
        raise ValueError("task_data: must be a JSON object")
    owner = _name(task_data.get("owner"), "owner", _OWNER)
    repo = _name(task_data.get("repo"), "repo", _REPO)
    if repo in (".", ".."):
        raise ValueError("task_data.repo: must be a repository name")
    state = task_data.get("state", "open")
    if state not in _STATES:
        raise ValueError(f"task_data.state: must be one of open, closed, all, got {state!r}")
    labels = _labels(task_data.get("labels"))
    if labels and not labels_allowed:
        raise ValueError("task_data.labels: milestones cannot be filtered by label")
    return ImportRequest(
        owner,
        repo,
        state,
        _since(task_data.get("since")),
        labels,
        _token(task_data.get("token")),
        _max_items(task_data.get("max_items")),
    )


def _name(value: object, field: str, pattern: re.Pattern[str]) -> str:
    if value is None:
        raise ValueError(f"task_data.{field}: is required")
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"task_data.{field}: must be a GitHub {field} name, got {value!r}")
    return value


def _since(value: object) -> datetime | None:
    if value is None:
        return None
    problem = "task_data.since: must be an ISO 8601 date-time like 2024-01-31T00:00:00Z"
    if not isinstance(value, str):
        raise ValueError(problem)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{problem}, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _labels(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("task_data.labels: must be a list of strings or a comma-separated string")
    for i, item in enumerate(value):
        if not item.strip() or "," in item:
            raise ValueError(f"task_data.labels[{i}]: must be a non-empty name without commas")
    return tuple(item.strip() for item in value)


def _token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        # Never echo the value: it is a credential.
        raise ValueError("task_data.token: must be a non-empty string without whitespace")
    return value


def _max_items(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("task_data.max_items: must be a whole number")
    if not 1 <= value <= _MAX_ITEMS_LIMIT:
        raise ValueError(f"task_data.max_items: must be between 1 and {_MAX_ITEMS_LIMIT}")
    return int(value)
