"""Invitation templates: packaged defaults, overridable per file by TASKQUEUE_EMAIL_TEMPLATE_DIR.

Templates use `string.Template` placeholders (`$team_name`): no logic in templates, so an
override cannot run code, and every value is HTML-escaped before it reaches the HTML part.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ...worker.context import PermanentError

TEMPLATE_DIR_ENV = "TASKQUEUE_EMAIL_TEMPLATE_DIR"
SUBJECT_FILE = "invitation_subject.txt"
TEXT_FILE = "invitation.txt"
HTML_FILE = "invitation.html"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered invitation."""

    subject: str
    text: str
    html: str


def render_invitation(values: dict[str, str], template_dir: str | None = None) -> Rendered:
    """Render subject, text and HTML; `values` are plain text and escaped here for HTML."""
    override = template_dir if template_dir is not None else os.environ.get(TEMPLATE_DIR_ENV)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    subject = _render(SUBJECT_FILE, values, override)
    return Rendered(
        subject=" ".join(subject.split()),  # one header line whatever the template holds
        text=_render(TEXT_FILE, values, override),
        html=_render(HTML_FILE, escaped, override),
    )


def _render(name: str, values: dict[str, str], override: str | None) -> str:
    source = _load(name, override)
    try:
        return Template(source).substitute(values)
    except KeyError as exc:
        known = ", ".join(f"${key}" for key in sorted(values))
        raise PermanentError(
            f"e-mail template {name}: unknown placeholder ${exc.args[0]} (known: {known})"
        ) from None
    except ValueError as exc:
        raise PermanentError(
            f"e-mail template {name}: {exc} (write $$ for a literal dollar sign)"
        ) from None


def _load(name: str, override: str | None) -> str:
    if override:
        candidate = Path(override) / name
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return (resources.files("taskqueue_server.handlers") / "templates" / name).read_text(
        encoding="utf-8"
    )
