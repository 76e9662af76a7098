"""Labels on tasks: the documented limits, checked before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .validation import InvalidArgument

MAX_LABELS = 16
MAX_LABEL_VALUE_CHARS = 256
# No ":" in a key: the label index key "<P>l:<key>:<value>" splits at the first one.
LABEL_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_.\-]{0,62}")


def check_labels(labels: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(field, f"{len(labels)} labels; the limit is {MAX_LABELS}")
    for key, value in labels.items():
        if not LABEL_KEY_PATTERN.fullmatch(key):
            raise InvalidArgument(
                field,
                f"key {key[:80]!r} is not a label key "
                "(1-63 of a-z 0-9 _ . -, starting with a letter)",
            )
        if len(value) > MAX_LABEL_VALUE_CHARS:
            raise InvalidArgument(
                f"{field}[{key!r}]",
                f"{len(value)} characters; the limit is {MAX_LABEL_VALUE_CHARS}",
            )
    return dict(labels)


def parse_label_filter(text: str, field: str = "label") -> tuple[str, str] | None:
    """ "key=value" as (key, value); None when empty (no filter)."""
    if not text:
        return None
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidArgument(field, f"{text[:80]!r} is not key=value, e.g. tenant=acme")
    check_labels({key: value}, field)
    return key, value
