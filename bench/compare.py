"""taskqueue against its peers: one command, one markdown table.

    python bench/compare.py [--n 20000] [--runs 3] [--systems celery,rq,...] [--job realistic]

Installs the peers into bench/.peers/venv (pinned in bench/peers/requirements.txt) and BullMQ
into bench/peers/bullmq/node_modules, starts a private redis-server on a free loopback port
with no persistence, runs bench/peers/runner.py once per job, system and run (the systems
take turns, round after round; the store is flushed between runs), prints one table per job
and writes them to bench/results/compare-<date>.md, the raw figures to compare-<date>.json
and one SVG chart per job (bench/chart.py) beside them.
Only the standard library is used here, so any Python 3.11 can start it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from chart import write_charts
from report import render_report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / "peers"
VENV = BENCH / ".peers" / "venv"
VENV_PY = VENV / "bin" / "python"
ALL_SYSTEMS = ["taskqueue", "bullmq", "huey", "dramatiq", "celery", "rq", "rq-simple", "arq"]
# on request only: taskqueue on asyncio's own event loop (what uvloop gives), with
# `--processes 2` (the issue-16 bar for both cores), and W3 as two calls (enqueue, then wait:
# what Enqueue's wait_seconds gives)
EXTRA_SYSTEMS = ["taskqueue-asyncio", "taskqueue-2p", "taskqueue-twocalls"]


def sh(cmd: list[str], **kwargs: object) -> None:
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def ensure_stamp(name: str, content: bytes, install: list[list[str]], cwd: Path = ROOT) -> None:
    """Run the install commands unless the stamp says this exact content is installed."""
    stamp = VENV / f".stamp-{name}"
    digest = hashlib.sha256(content).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    for cmd in install:
        sh(cmd, cwd=cwd)
    stamp.write_text(digest)


def ensure_peers(systems: list[str]) -> None:
    """Create the peers' virtualenv and install what the chosen systems need."""
    if not VENV_PY.exists():
        sh([sys.executable, "-m", "venv", str(VENV)])
    pip = [str(VENV_PY), "-m", "pip", "install", "-q"]
    requirements = PEERS / "requirements.txt"
    ensure_stamp("peers", requirements.read_bytes(), [[*pip, "-r", str(requirements)]])
    if any(s.startswith("taskqueue") for s in systems):
        # our own packages, editable, so the bench always runs the working tree
        definition = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "setup.py").read_bytes()
        ensure_stamp("taskqueue", definition,
                     [[*pip, "-e", str(ROOT / "client"), "-e", str(ROOT)]])
    if "bullmq" in systems:
        node_dir = PEERS / "bullmq"
        lock = (node_dir / "package-lock.json").read_bytes()
        if not (node_dir / "node_modules").exists():
            (VENV / ".stamp-bullmq").unlink(missing_ok=True)
        ensure_stamp("bullmq", lock, [["npm", "ci", "--no-audit", "--no-fund"]], cwd=node_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_redis(workdir: Path):  # type: ignore[no-untyped-def]
    """A throwaway redis-server on a free loopback port: no RDB, no AOF."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=(workdir / "redis.log").open("wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
            c.sendall(b"PING\r\n")
            if c.recv(16).startswith(b"+PONG"):
                break
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("private redis-server did not start; see its log")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def kill_strays(pidfile: Path, redis_url: str) -> None:
    """Kill worker process groups a runner left behind (only ours: same bench Redis URL)."""
    if not pidfile.exists():
        return
    marker = f"BENCH_REDIS_URL={redis_url}".encode()
    for line in pidfile.read_text().split():
        pid = int(line)
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes():
                os.killpg(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def runs_of(system: str, args: argparse.Namespace) -> int:
    return int(dict(item.split("=", 1) for item in args.runs_for).get(system, args.runs))


def run_rounds(systems: list[str], job: str, args: argparse.Namespace, url: str,
               redis_pid: int, workdir: Path) -> list[dict]:
    """Each system once per round, round after round: a drift of the machine's speed over the
    sitting (single runs here move by a third) then falls on every system alike, where one
    system's runs all together would catch it alone. A system given fewer runs (--runs-for)
    sits out the later rounds."""
    reports: dict[str, dict] = {}
    for round_ in range(max(runs_of(system, args) for system in systems)):
        for system in systems:
            if round_ >= runs_of(system, args):
                continue
            report = run_system(system, job, args, url, redis_pid, workdir)
            if report and report["runs"]:
                reports.setdefault(system, {**report, "runs": []})["runs"] += report["runs"]
    return [reports[system] for system in systems if system in reports]


def run_system(system: str, job: str, args: argparse.Namespace, url: str, redis_pid: int,
               workdir: Path) -> dict | None:
    """One run of `system` (runner.py --runs 1)."""
    out, pidfile = workdir / f"{system}-{job}.json", workdir / "workers.pids"
    out.unlink(missing_ok=True)  # the last round's, which a failed run must not pass for its own
    cmd = [str(VENV_PY), str(PEERS / "runner.py"), "--system", system, "--job", job,
           "--redis-url", url,
           "--redis-pid", str(redis_pid), "--n", str(args.n), "--runs", "1",
           "--trips", str(args.trips), "--trip-budget", str(args.trip_budget),
           "--drain-limit", str(args.drain_limit), "--out", str(out),
           "--pidfile", str(pidfile), "--log", str(workdir / f"{system}-worker.log")]
    # every run is bounded: enqueue phases, the drain limit and the trip budget, plus slack
    limit = args.drain_limit + args.trip_budget + args.n / 100 + 60
    print(f"== {system}, {job} job", file=sys.stderr)
    proc = subprocess.Popen(cmd, cwd=PEERS)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        print(f"!! {system} overran {limit:.0f} s; stopping it", file=sys.stderr)
    finally:
        # also reached on SIGTERM/Ctrl-C: the runner stops its worker on SIGTERM
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        kill_strays(pidfile, url)
    if proc.returncode != 0:
        print(f"!! {system} exited {proc.returncode}; worker log in {workdir}", file=sys.stderr)
    return json.loads(out.read_text()) if out.exists() else None


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2].removeprefix("v=")
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": f"{mem_kb / 2**20:.0f} GiB",
            "redis": redis_version, "python": platform.python_version(),
            "kernel": platform.release()}


def main() -> int:
    parser = argparse.ArgumentParser(description="taskqueue against its peers")
    parser.add_argument("--n", type=int, default=20000, help="jobs per W1/W1b/W2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--job", default="realistic,noop",
                        help="comma-separated jobs, each its own table: realistic (one Redis "
                             "INCR in the handler) and/or noop")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                        help=f"comma-separated subset of {','.join(ALL_SYSTEMS + EXTRA_SYSTEMS)}")
    parser.add_argument("--runs-for", action="append", default=[], metavar="SYSTEM=RUNS",
                        help="fewer runs for a slow system, e.g. rq=1 (repeatable)")
    parser.add_argument("--trips", type=int, default=300, help="W3 round trips per run")
    parser.add_argument("--trip-budget", type=float, default=90.0, help="W3 seconds per run")
    parser.add_argument("--drain-limit", type=float, default=300.0, help="W2 seconds per run")
    parser.add_argument("--out", type=Path, help="markdown file (default bench/results/...)")
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(ALL_SYSTEMS + EXTRA_SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    jobs = [j.strip() for j in args.job.split(",") if j.strip()]
    if not jobs or set(jobs) - {"realistic", "noop"}:
        parser.error("--job takes realistic, noop or both")
    if shutil.which("redis-server") is None:
        parser.error("redis-server is not on PATH (apt-get install redis-server)")

    ensure_peers(systems)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = dt.datetime.now(dt.UTC)
    results: list[dict] = []
    # worker logs, runner JSON and the Redis log of the latest run stay here for a look after
    workdir = BENCH / ".peers" / "last-run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with private_redis(workdir) as (url, redis_pid):
        for job in jobs:
            results += run_rounds(systems, job, args, url, redis_pid, workdir)
    host = machine()
    markdown = "\n".join(render_report([r for r in results if r["job"] == job], host, args,
                                        started, job) for job in jobs)
    out = args.out or BENCH / "results" / f"compare-{started:%Y-%m-%d}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown)
    raw = {"started": f"{started:%Y-%m-%d %H:%M} UTC", "machine": host, "n": args.n,
           "reports": results}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    charts = write_charts(results, out.parent, out.stem, raw["started"])
    print(markdown)
    print(f"written to {out}, {out.with_suffix('.json').name}, "
          f"{', '.join(c.name for c in charts)}", file=sys.stderr)
    return 0 if len(results) == len(systems) * len(jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
