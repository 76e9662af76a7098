"""--redis-url's forms (stdlib only: the flag check uses it before anything heavy is imported).

    redis://host:port/db, rediss://...              one Redis (redis-py parses it)
    redis+cluster://[user:pw@]host:port,host:port   Redis Cluster, seeded by any of its nodes
    redis+sentinel://[user:pw@]host:port,.../name[/db]  the primary Sentinel calls `name`
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class RedisTarget:
    """A parsed --redis-url."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    service: str = ""  # Sentinel's name of the primary
    db: int = 0
    username: str | None = None
    password: str | None = None
    url: str = ""


def parse_redis_url(url: str) -> RedisTarget:
    """Split a --redis-url; ValueError names what is wrong with it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in (CLUSTER_SCHEME, SENTINEL_SCHEME):
        return RedisTarget(scheme, (), url=url)
    netloc = parts.netloc.rpartition("@")[2]
    hosts = tuple(_host_port(item) for item in netloc.split(",") if item)
    if not hosts:
        raise ValueError(f"{scheme}:// needs at least one host:port")
    path = [p for p in parts.path.split("/") if p]
    service, db = "", 0
    if scheme == SENTINEL_SCHEME:
        if not path:
            raise ValueError("redis+sentinel:// needs the primary's name: .../mastername[/db]")
        service = path[0]
        db = _db(path[1]) if len(path) > 1 else 0
    elif path:
        raise ValueError("redis+cluster:// takes no path: a cluster has database 0 only")
    options = dict(parse_qsl(parts.query))
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return RedisTarget(
        scheme,
        hosts,
        service,
        db,
        unquote(user) or options.get("username"),
        unquote(password) or options.get("password"),
        url,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{item!r} is not host:port")
    return host.strip("[]"), int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"database {text!r} is not a number")
    return int(text)
