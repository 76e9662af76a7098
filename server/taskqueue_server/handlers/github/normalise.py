"""GitHub's large JSON objects reduced to the compact form a task result stores."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]


def is_pull_request(item: JsonObject) -> bool:
    """The issues endpoint lists pull requests too; they carry a `pull_request` key."""
    return "pull_request" in item


def issue(item: JsonObject) -> JsonObject:
    """number, title, state, labels, assignees, milestone, times and the web URL."""
    milestone = item.get("milestone")
    return {
        "number": item.get("number"),
        "title": item.get("title"),
        "state": item.get("state"),
        "labels": [_label(label) for label in item.get("labels") or []],
        "assignees": [_login(user) for user in item.get("assignees") or []],
        "milestone": milestone.get("title") if isinstance(milestone, dict) else None,
        "created_at": item.get("created_at"),
        "updated_at": item.get("updated_at"),
        "closed_at": item.get("closed_at"),
        "url": item.get("html_url"),
    }


def milestone(item: JsonObject) -> JsonObject:
    """number, title, state, description, due date, issue counts, times and the web URL."""
    return {
        "number": item.get("number"),
        "title": item.get("title"),
        "state": item.get("state"),
        "description": item.get("description"),
        "due_on": item.get("due_on"),
        "open_issues": item.get("open_issues"),
        "closed_issues": item.get("closed_issues"),
        "created_at": item.get("created_at"),
        "updated_at": item.get("updated_at"),
        "closed_at": item.get("closed_at"),
        "url": item.get("html_url"),
    }


def _label(label: Any) -> Any:
    # Labels arrive as objects; old API versions (and some Enterprise proxies) send plain names.
    return label.get("name") if isinstance(label, dict) else label


def _login(user: Any) -> Any:
    return user.get("login") if isinstance(user, dict) else user
