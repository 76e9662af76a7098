"""Turns the runners' per-run figures into the markdown report (median, min and max)."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
from typing import Any

# (key, column heading, digits after the point)
COLUMNS = [
    ("w1", "W1 enqueue/s", 0),
    ("w1b", "W1b bulk/s", 0),
    ("w2", "W2 drain/s", 0),
    ("w3_p50_ms", "W3 p50 ms", 2),
    ("w3_p90_ms", "W3 p90 ms", 2),
    ("w3_p99_ms", "W3 p99 ms", 2),
    ("rss_mb", "worker peak RSS MB", 0),
    ("redis_mb", "Redis MB after N", 1),
    ("worker_cpu_ms_per_1k", "worker CPU ms/1k jobs", 0),
    ("redis_cpu_ms_per_1k", "Redis CPU ms/1k jobs", 0),
]


def fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def cell(runs: list[dict[str, Any]], key: str, digits: int) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return "no bulk API" if key == "w1b" else "n/a"
    text = fmt(statistics.median(values), digits)
    if len(values) > 1:
        text += f" ({fmt(min(values), digits)}-{fmt(max(values), digits)})"
    if key == "w2" and any(r.get("w2_partial") for r in runs):
        text += " partial"
    return text


def system_row(report: dict[str, Any]) -> str:
    runs = report["runs"]
    cells = [cell(runs, key, digits) for key, _, digits in COLUMNS]
    return f"| {report['system']} | " + " | ".join(cells) + " |"


def trips_note(report: dict[str, Any], wanted: int) -> str | None:
    counts = [r.get("trips", 0) for r in report["runs"]]
    if min(counts, default=0) >= wanted:
        return None
    if max(counts) == 0:
        return f"{report['system']}: no W3 (its drain hit the limit with jobs still queued)"
    return f"{report['system']}: W3 over {min(counts)}-{max(counts)} trips (time budget reached)"


JOBS = {
    "realistic": "the realistic job: one Redis INCR through the system's usual client, "
                 "its value returned and stored with the result",
    "noop": "the no-op job: the handler returns its input, the queue's own overhead alone",
}


def render_report(results: list[dict[str, Any]], machine: dict[str, str],
                  args: argparse.Namespace, started: dt.datetime, job: str) -> str:
    """One job's markdown document: context, the table, how each system ran, versions."""
    lines = [
        f"# taskqueue against its peers, {job} job, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"The job: {JOBS[job]}.",
        "",
        f"Machine: {machine['nproc']} cores, {machine['cpu']}, {machine['ram']} RAM, "
        f"Linux {machine['kernel']}; Redis {machine['redis']} (private, no persistence), "
        f"Python {machine['python']}. N = {args.n:,}; W3 = {args.trips} trips; "
        "each cell is the median of the runs (min-max); runs per system below.",
        "",
        "| System | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
        *(system_row(r) for r in results),
        "",
        "How each system ran:",
        "",
    ]
    for r in results:
        versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        runs = len(r["runs"])
        loads = [run["load1"] for run in r["runs"] if "load1" in run]
        load = f"; load average {min(loads):.1f}-{max(loads):.1f} at run starts" if loads else ""
        lines.append(
            f"- {r['system']}: {r['note']} ({versions}; {runs} run{'s' * (runs > 1)}{load})"
        )
    notes = [n for r in results if (n := trips_note(r, args.trips))]
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"
