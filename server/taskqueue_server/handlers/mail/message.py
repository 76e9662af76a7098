"""Building a message: checked addresses, multipart/alternative, a Message-ID from the task."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from html.parser import HTMLParser

# Pragmatic, not RFC 5322 complete: what real relays accept, and nothing that could smuggle
# a header or a second recipient (no spaces, commas, angle brackets, CR or LF).
_ADDR_SPEC = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_NAMED = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]+)>\s*$")


def parse_address(value: object, field_name: str) -> Address:
    """`user@example.org` or `Name <user@example.org>`; ValueError naming the field otherwise."""
    problem = f"{field_name}: must be a valid e-mail address"
    if value is None:
        raise ValueError(f"{field_name}: is required")
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise ValueError(problem)
    named = _NAMED.match(value)
    if named:
        name, addr = named["name"].strip('" '), named["addr"].strip()
    else:
        name, addr = "", value.strip()
    if len(addr) > 254 or not _ADDR_SPEC.match(addr):
        raise ValueError(f"{problem}, got {value!r}")
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:  # the stdlib parser's own objections
        raise ValueError(f"{problem}, got {value!r}") from exc


def parse_address_list(value: object, field_name: str) -> list[Address]:
    """A single address string, a comma-separated string, or a list of address strings."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise ValueError(f"{field_name}: must be an address string or a list of them")
    return [parse_address(item, f"{field_name}[{i}]") for i, item in enumerate(items)]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Everything needed to build and send one message."""

    sender: Address
    to: Address
    subject: str
    text: str | None
    html: str | None
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Envelope recipients: To, Cc and Bcc (Bcc never appears in a header)."""
        return [a.addr_spec for a in (self.to, *self.cc, *self.bcc)]


def message_id_for(task_id: str, sender: Address) -> str:
    """The same Message-ID on every attempt, so a retried send is recognisable as one message."""
    local = re.sub(r"[^A-Za-z0-9.-]", "-", task_id)[:100] or "task"
    return f"<taskqueue.{local}@{sender.domain or 'localhost'}>"


def build_message(envelope: Envelope, message_id: str) -> EmailMessage:
    """multipart/alternative (plain text first, then HTML) or a single part when only one exists."""
    message = EmailMessage()
    message["From"] = envelope.sender
    message["To"] = envelope.to
    if envelope.cc:
        message["Cc"] = envelope.cc
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = envelope.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    text = envelope.text if envelope.text is not None else html_to_text(envelope.html or "")
    message.set_content(text)
    if envelope.html is not None:
        message.add_alternative(envelope.html, subtype="html")
    return message


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text part for callers that sent only HTML (the seed allowed that)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
