"""Where the Redis bytes and microseconds of one finished job go: taskqueue and BullMQ side by side.

    .venv/bin/python bench/anatomy_bench.py [--tasks 20000] [--monitor-tasks 200]

Each system gets its own fresh private redis-server (no persistence) and the peers' realistic
job (one INCR in the handler, a small result, results retained). taskqueue runs as in
memory_bench.py (one server at concurrency 16, the Python client enqueuing in batches of
1,000), its queue paused during the enqueue and resumed to drain; BullMQ as in compare.py
(bench/peers/bullmq: Queue.addBulk in chunks of 1,000, then one Worker at concurrency 10
starts and drains; `npm ci` in that folder first). So both split into enqueue and drain.

For each system, over N jobs: used_memory growth / N; every key in the store grouped by its
name with ids replaced by `<id>` (MEMORY USAGE of every key, entries of
collections, bytes per job), the rest being Redis' own tables; one job hash in detail (key,
encoding, fields and value sizes); INFO commandstats deltas per job (calls and usec, inside
scripts included: a script's usec includes its commands'); Redis CPU per job (INFO cpu, user
+ sys) over enqueue and drain. Then a second, short run (--monitor-tasks jobs after 20 warm-up
jobs, the worker already running) under MONITOR, which slows Redis: every command by the
script it ran in or as a direct call, per job. Prints a markdown report and writes it to
bench/results/anatomy-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import redis
from benchlib import BENCH_DIR, load_average, machine, private_redis, table, write_results
from memory_bench import PREFIX, TASK_TYPE, enqueue, redis_cpu_seconds, taskqueue_server
from taskqueue_client import TaskQueueClient
from taskqueue_server.engine.scripts import SCRIPT_NAMES, script_source

sys.path.insert(0, str(BENCH_DIR / "peers"))
from bullmq_driver import NODE_DIR, BullMQDriver

CHUNK = 1000
WARMUP = 20
QUEUE = "default"  # the queue of memory_bench's task type
DEADLINE_S = 600
ID_RUN = re.compile(r"[0-9a-f]*[0-9][0-9a-f]*")
MONITOR_LINE = re.compile(r'^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?')
SCRIPT_CALLS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro"})
HANDLER_COMMANDS = frozenset({"incr", "incrby"})  # the job's INCR (redis-py sends INCRBY)
# Redis 7.0's MEMORY STATS counts a dictEntry (24 B) and an robj (16 B) per key in the main
# table's overhead; MEMORY USAGE counts them too, so only the rest is the table's slot array.
PER_KEY_IN_MAIN_TABLE = 24 + 16
BULLMQ_SHAS_JS = """
const scripts = require("bullmq/dist/cjs/scripts/index.js");
const { createHash } = require("crypto");
const shas = {};
for (const s of Object.values(scripts)) {
  if (s && s.content) shas[createHash("sha1").update(s.content).digest("hex")] = s.name;
}
console.log(JSON.stringify(shas));
"""


@dataclass
class System:
    """How the bench drives one system; `session` yields (enqueue n, done count) while its
    worker side runs, `job_hash` matches the key of one job's hash."""

    name: str
    session: Callable[[str, redis.Redis], contextlib.AbstractContextManager[Session]]
    job_hash: re.Pattern[str]
    script_names: dict[str, str]
    phases: dict[str, str]


@dataclass
class Session:
    enqueue: Callable[[int], None]
    done: Callable[[], int]
    start_worker: Callable[[], None]


@contextlib.contextmanager
def taskqueue_session(url: str, r: redis.Redis) -> Iterator[Session]:
    with taskqueue_server(url) as target, TaskQueueClient(target) as client:
        client.stats(TASK_TYPE)  # connected, scripts loaded
        # paused while the client enqueues, as BullMQ's worker is not started yet
        client.pause_queue(QUEUE)
        completed = f"{PREFIX}:{{{QUEUE}}}:s:completed"

        def start_worker() -> None:
            client.resume_queue(QUEUE)

        yield Session(lambda n: enqueue(client, n), lambda: int(r.zcard(completed)), start_worker)


@contextlib.contextmanager
def bullmq_session(url: str, r: redis.Redis) -> Iterator[Session]:
    driver = BullMQDriver(url)
    log = Path(tempfile.mkdtemp(prefix="tq-anatomy-")) / "bullmq-worker.log"

    def start_worker() -> None:
        driver.start_worker(log)

    try:
        driver.enqueue_bulk(0)  # the producer's Queue and QueueEvents are connected
        yield Session(
            driver.enqueue_bulk, lambda: int(r.zcard("bull:bench:completed")), start_worker
        )
    finally:
        driver.close()


def taskqueue_system() -> System:
    shas = {hashlib.sha1(script_source(n).encode()).hexdigest(): n for n in SCRIPT_NAMES}
    phases = {"enqueue": "enqueue", "claim": "claim", "finish": "finish (and next claims)"}
    return System("taskqueue", taskqueue_session, re.compile(r".*:t:[^:]+$"), shas, phases)


def bullmq_system() -> System:
    shas = json.loads(
        subprocess.run(
            ["node", "-e", BULLMQ_SHAS_JS], cwd=NODE_DIR, capture_output=True, text=True, check=True
        ).stdout
    )
    phases = {
        "addStandardJob": "enqueue",
        "moveToActive": "claim",
        "moveToFinished": "finish (and next claim)",
    }
    return System("BullMQ", bullmq_session, re.compile(r"^bull:bench:\d+$"), shas, phases)


def wait_done(done: Callable[[], int], n: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while done() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done()} of {n} finished")
        time.sleep(0.05)


def commandstats(r: redis.Redis) -> dict[str, tuple[int, int]]:
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in r.info("commandstats").items()
    }


def entries_of(r: redis.Redis, key: bytes, kind: str) -> int:
    counters = {"zset": r.zcard, "list": r.llen, "stream": r.xlen, "hash": r.hlen, "set": r.scard}
    return int(counters[kind](key)) if kind in counters else 0


def key_kinds(r: redis.Redis, n: int) -> tuple[list[list[str]], float]:
    """Rows per key kind (ids in names replaced by <id>), every key measured, and the bytes
    per job they add up to."""
    groups: dict[str, list[bytes]] = {}
    for key in r.scan_iter(count=CHUNK):
        groups.setdefault(ID_RUN.sub("<id>", key.decode()), []).append(key)
    rows: list[tuple[float, list[str]]] = []
    total = 0.0
    for kind, keys in groups.items():
        kind_type = r.type(keys[0]).decode()
        encoding = r.object("encoding", keys[0]).decode()
        usage, entries = 0, 0
        for start in range(0, len(keys), CHUNK):
            pipe = r.pipeline(transaction=False)
            for key in keys[start : start + CHUNK]:
                pipe.memory_usage(key, samples=0)
            usage += sum(int(u or 0) for u in pipe.execute())
            entries += sum(entries_of(r, k, kind_type) for k in keys[start : start + CHUNK])
        total += usage / n
        rows.append(
            (
                usage / n,
                [
                    f"`{kind}`",
                    f"{kind_type} ({encoding})",
                    f"{len(keys):,}",
                    f"{entries:,}" if entries else "-",
                    f"{usage / len(keys):,.0f}",
                    f"{usage / entries:.0f}" if entries else "-",
                    f"{usage / n:.1f}",
                ],
            )
        )
    return [row for _, row in sorted(rows, key=lambda pair: -pair[0])], total


def overheads(r: redis.Redis) -> dict[str, int]:
    """What used_memory holds besides the keys' own MEMORY USAGE (MEMORY STATS)."""
    stats = r.memory_stats()
    db = stats.get("db.0", {})
    return {
        "main table slots": int(db.get("overhead.hashtable.main", 0))
        - int(r.dbsize()) * PER_KEY_IN_MAIN_TABLE,
        "expiry table": int(db.get("overhead.hashtable.expires", 0)),
        "cached scripts": int(stats["lua.caches"]),
        "clients": int(stats["clients.normal"]),
    }


def job_hash_detail(r: redis.Redis, pattern: re.Pattern[str]) -> list[str]:
    key = next(k for k in r.scan_iter(count=1000) if pattern.match(k.decode()))
    fields = r.hgetall(key)
    listed = ", ".join(f"`{f.decode()}` {len(v)}" for f, v in fields.items())
    return [
        f"One job hash: key `{key.decode()}` ({len(key)} bytes), MEMORY USAGE "
        f"{r.memory_usage(key, samples=0)} B, OBJECT ENCODING "
        f"`{r.object('encoding', key).decode()}`, {len(fields)} fields, "
        f"{sum(len(f) for f in fields)} bytes of field names and "
        f"{sum(len(v) for v in fields.values())} of values. Fields with their value's "
        f"length: {listed}.",
    ]


def stats_rows(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], n: int
) -> tuple[list[list[str]], float, float]:
    deltas = {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
    }
    deltas = {name: d for name, d in deltas.items() if d[0] > 0 and name != "info"}
    rows = [
        [f"`{name}`", f"{calls / n:.2f}", f"{usec / n:.1f}", f"{usec / calls:.2f}"]
        for name, (calls, usec) in sorted(deltas.items(), key=lambda item: -item[1][1])
    ]
    calls_all = sum(c for c, _ in deltas.values()) / n
    scripts_usec = sum(u for name, (_, u) in deltas.items() if name in SCRIPT_CALLS)
    commands_usec = sum(u for name, (_, u) in deltas.items() if name not in SCRIPT_CALLS)
    return rows, calls_all, scripts_usec / n, commands_usec / n


def full_run(system: System, n: int) -> tuple[list[str], dict[str, float]]:
    """N jobs: memory by key kind, commandstats and CPU per job."""
    with private_redis() as url:
        r = redis.Redis.from_url(url)
        with system.session(url, r) as session:
            memory0, cpu0 = int(r.info("memory")["used_memory"]), redis_cpu_seconds(r)
            parts0 = overheads(r)
            stats0 = commandstats(r)
            session.enqueue(n)
            cpu_enqueued, stats_enqueued = redis_cpu_seconds(r), commandstats(r)
            session.start_worker()
            wait_done(session.done, n)
            cpu1, stats1 = redis_cpu_seconds(r), commandstats(r)
            memory1 = int(r.info("memory")["used_memory"])
            parts1 = overheads(r)
            rows, kinds_total = key_kinds(r, n)
            detail = job_hash_detail(r, system.job_hash)
        r.close()
    growth = (memory1 - memory0) / n
    parts = {name: (parts1[name] - parts0[name]) / n for name in parts0}
    known = ", ".join(f"{name} {value:.1f} B" for name, value in parts.items())
    stat_rows, calls, script_usec, command_usec = stats_rows(stats0, stats1, n)
    calls_enqueue = stats_rows(stats0, stats_enqueued, n)[1]
    figures = {
        "memory": growth,
        "cpu": (cpu1 - cpu0) / n * 1e6,
        "cpu_enqueue": (cpu_enqueued - cpu0) / n * 1e6,
        "cpu_drain": (cpu1 - cpu_enqueued) / n * 1e6,
        "calls": calls,
        "calls_enqueue": calls_enqueue,
        "script_usec": script_usec,
        "command_usec": command_usec,
    }
    lines = [
        f"### {system.name}: memory, N = {n:,}",
        "",
        f"used_memory growth / N: **{growth:,.0f} B** ({memory1 - memory0:,} B in all). "
        f"The keys below add up to {kinds_total:,.1f} B per job (MEMORY USAGE of every key: "
        "its value, name, robj and main-dictionary entry); the other "
        f"{growth - kinds_total:,.1f} B are Redis' own, per job (MEMORY STATS): {known}; "
        f"{growth - kinds_total - sum(parts.values()):,.1f} B unaccounted.",
        "",
        table(
            [
                "key kind",
                "type (encoding)",
                "keys",
                "entries",
                "bytes per key",
                "bytes per entry",
                "bytes per job",
            ],
            rows,
        ),
        "",
        *detail,
        "",
        f"### {system.name}: Redis CPU and commands per job, N = {n:,}",
        "",
        f"Redis CPU (user + sys) per job: **{figures['cpu']:.0f} us** over enqueue and drain: "
        f"{figures['cpu_enqueue']:.0f} us while jobs were enqueued with no worker taking them, "
        f"{figures['cpu_drain']:.0f} us in the drain. INFO commandstats: {calls:.1f} commands "
        f"per job, scripts' own included ({calls_enqueue:.1f} of them in the enqueue); "
        f"{script_usec:.0f} us per job inside scripts (their usec, which includes the usec of "
        "the commands they run; those are counted again in their own rows); "
        f"{command_usec:.0f} us per job in every other command (those run inside scripts and "
        "the direct ones).",
        "",
        table(["command", "calls per job", "usec per job", "usec per call"], stat_rows[:15]),
        "",
    ]
    return lines, figures


@contextlib.contextmanager
def monitored(url: str, path: Path) -> Iterator[None]:
    """redis-cli MONITOR writing every command to `path` while the block runs."""
    with path.open("w") as out:
        proc = subprocess.Popen(
            ["redis-cli", "-p", str(urlparse(url).port), "monitor"], stdout=out, text=True
        )
        time.sleep(0.3)  # attached before the first job
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(10)


def count_monitor(
    path: Path, own_addr: str, scripts: dict[str, str]
) -> tuple[Counter[str], Counter[tuple[str, str]], Counter[str], Counter[str]]:
    """Script calls, (script, command) inside them, direct commands, all commands."""
    calls: Counter[str] = Counter()
    inside: Counter[tuple[str, str]] = Counter()
    direct: Counter[str] = Counter()
    every: Counter[str] = Counter()
    current = "?"
    for line in path.read_text(errors="replace").splitlines():
        match = MONITOR_LINE.match(line)
        if not match:
            continue
        client, command, first_arg = match.group(1), match.group(2).lower(), match.group(3)
        if client == own_addr or command == "monitor":
            continue
        every[command] += 1
        if client == "lua":
            inside[current, command] += 1
        elif command in SCRIPT_CALLS:
            current = scripts.get(first_arg or "", "script text (EVAL)")
            calls[current] += 1
        else:
            direct[command] += 1
    return calls, inside, direct, every


def monitor_run(system: System, m: int) -> list[str]:
    """M jobs after WARMUP, under MONITOR: commands per job by script and direct."""
    trace = Path(tempfile.mkdtemp(prefix="tq-anatomy-")) / "monitor.txt"
    with private_redis() as url:
        r = redis.Redis.from_url(url)
        own_addr = str(r.client_info()["addr"])
        with system.session(url, r) as session:
            session.enqueue(WARMUP)
            session.start_worker()
            wait_done(session.done, WARMUP)
            with monitored(url, trace):
                session.enqueue(m)
                wait_done(session.done, WARMUP + m)
        r.close()
    calls, inside, direct, every = count_monitor(trace, own_addr, system.script_names)
    rows = []
    for name, count in calls.most_common():
        within = Counter({command: k for (script, command), k in inside.items() if script == name})
        rows.append(
            [
                f"script `{name}`",
                system.phases.get(name, "other"),
                f"{count / m:.2f}",
                f"{within.total() / m:.1f}: "
                + ", ".join(f"`{command}` {k / m:.1f}" for command, k in within.most_common()),
                f"{(count + within.total()) / m:.1f}",
            ]
        )
    rows += [
        [
            f"direct `{command}`",
            "the handler" if command in HANDLER_COMMANDS else "direct",
            f"{c / m:.2f}",
            "",
            f"{c / m:.2f}",
        ]
        for command, c in direct.most_common()
    ]
    total = sum(every.values())
    top = ", ".join(f"`{c}` {k / m:.1f}" for c, k in every.most_common(10))
    return [
        f"### {system.name}: every command under MONITOR, {m} jobs",
        "",
        f"{total / m:.1f} commands per job: {sum(calls.values()) / m:.2f} script calls running "
        f"{sum(inside.values()) / m:.1f} commands inside them, and "
        f"{sum(direct.values()) / m:.2f} direct commands. Top 10 by count per job: {top}.",
        "",
        table(
            ["issued as", "phase", "calls per job", "commands inside, per job", "all per job"], rows
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--monitor-tasks", type=int, default=200)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = load_average()
    sections: list[str] = []
    summary: list[list[str]] = []
    for system in (taskqueue_system(), bullmq_system()):
        lines, figures = full_run(system, args.tasks)
        sections += lines
        sections += monitor_run(system, args.monitor_tasks)
        summary.append(
            [
                system.name,
                f"{figures['memory']:,.0f} B",
                f"{figures['cpu_enqueue']:.0f} + {figures['cpu_drain']:.0f} = "
                f"{figures['cpu']:.0f} us",
                f"{figures['calls_enqueue']:.1f} + "
                f"{figures['calls'] - figures['calls_enqueue']:.1f} = {figures['calls']:.1f}",
                f"{figures['script_usec']:.0f} us ({figures['command_usec']:.0f} us)",
            ]
        )
    with private_redis() as url:
        host = machine(url)
    text = "\n".join(
        [
            f"# Anatomy of a finished job in Redis: taskqueue and BullMQ, N = {args.tasks:,}",
            "",
            f"{started}; {host}; load average {load_before} before, {load_average()} after",
            "",
            table(
                [
                    "system",
                    "used_memory growth / N",
                    "Redis CPU per job: enqueue + drain",
                    "commands per job: enqueue + drain",
                    "usec per job in scripts (in their commands and direct ones)",
                ],
                summary,
            ),
            "",
            *sections,
        ]
    )
    write_results("anatomy", text)


if __name__ == "__main__":
    main()
