"""Draws compare.py's figures as one SVG per job: a panel per workload, a bar per system.

    python bench/chart.py bench/results/compare-<date>.json --out-dir docs/img

Plain Python writing SVG text, so the bench needs no plotting library. Bars show the median
of the runs, a thin line the min-max range; each panel says whether more or less is better.
"""

from __future__ import annotations

import argparse
import json
import statistics
from html import escape
from pathlib import Path
from typing import Any

# (key, panel title, higher is better)
PANELS = [
    ("w1", "W1 enqueue, one per call, jobs/s", True),
    ("w1b", "W1b bulk enqueue, jobs/s", True),
    ("w2", "W2 drain by one worker, jobs/s", True),
    ("w3_p50_ms", "W3 idle round trip p50, ms", False),
    ("worker_cpu_ms_per_1k", "worker CPU, ms per 1,000 jobs", False),
    ("redis_cpu_ms_per_1k", "Redis CPU, ms per 1,000 jobs", False),
    ("redis_mb", "Redis MB after N finished jobs", False),
]
COLUMNS = 2
PANEL_W, LABEL_W, BAR_H, GAP = 440, 130, 16, 4
OURS, PEER = "#1f6feb", "#8c959f"


def figures(report: dict[str, Any], key: str) -> list[float]:
    return [run[key] for run in report["runs"] if run.get(key) is not None]


def panel(reports: list[dict[str, Any]], key: str, title: str, higher: bool) -> list[str]:
    """SVG elements of one panel, drawn from (0, 0); its height is panel_height()."""
    better = "higher is better" if higher else "lower is better"
    out = [f'<text x="0" y="14" class="t">{escape(title)} ({better})</text>']
    top = max((max(f) for r in reports if (f := figures(r, key))), default=1.0) or 1.0
    scale = (PANEL_W - LABEL_W - 70) / top
    for row, report in enumerate(reports):
        y = 24 + row * (BAR_H + GAP)
        name = escape(report["system"])
        out.append(f'<text x="{LABEL_W - 6}" y="{y + 12}" class="l">{name}</text>')
        values = figures(report, key)
        if not values:
            out.append(f'<text x="{LABEL_W}" y="{y + 12}" class="v">n/a</text>')
            continue
        median = statistics.median(values)
        colour = OURS if report["system"] == "taskqueue" else PEER
        width = max(1.0, median * scale)
        out.append(f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" '
                   f'fill="{colour}"/>')
        if len(values) > 1:
            lo, hi = LABEL_W + min(values) * scale, LABEL_W + max(values) * scale
            mid = y + BAR_H / 2
            out.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" class="r"/>')
        digits = 2 if median < 10 else 0
        out.append(f'<text x="{LABEL_W + width + 4:.1f}" y="{y + 12}" class="v">'
                   f'{median:,.{digits}f}</text>')
    return out


def panel_height(reports: list[dict[str, Any]]) -> int:
    return 24 + len(reports) * (BAR_H + GAP) + 16


def render_svg(reports: list[dict[str, Any]], caption: str) -> str:
    """The whole chart for one job's reports (compare.py's per-system JSON)."""
    height = panel_height(reports)
    rows = (len(PANELS) + COLUMNS - 1) // COLUMNS
    total_w, total_h = COLUMNS * PANEL_W + 20, rows * height + 40
    body = []
    for index, (key, title, higher) in enumerate(PANELS):
        x, y = 10 + (index % COLUMNS) * PANEL_W, 30 + (index // COLUMNS) * height
        body.append(f'<g transform="translate({x},{y})">')
        body += panel(reports, key, title, higher)
        body.append("</g>")
    style = ("text{font-family:sans-serif;font-size:11px;fill:#24292f}"
             ".t{font-weight:bold}.l{text-anchor:end}.v{fill:#57606a}"
             ".r{stroke:#24292f;stroke-width:1}")
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}">',
        f"<style>{style}</style>",
        f'<rect width="{total_w}" height="{total_h}" fill="white"/>',
        f'<text x="10" y="18" class="t">{escape(caption)}</text>',
        *body,
        "</svg>",
    ]) + "\n"


def write_charts(reports: list[dict[str, Any]], out_dir: Path, stem: str, when: str) -> list[Path]:
    """One SVG per job found in the reports; returns the paths written."""
    written = []
    for job in dict.fromkeys(r.get("job", "noop") for r in reports):
        mine = [r for r in reports if r.get("job", "noop") == job]
        path = out_dir / f"{stem}-{job}.svg"
        path.write_text(render_svg(mine, f"taskqueue and its peers, {job} job, {when}"))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="SVG charts of a compare.py JSON file")
    parser.add_argument("results", type=Path, help="bench/results/compare-<date>.json")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/img"))
    parser.add_argument("--stem", default="compare")
    args = parser.parse_args()
    document = json.loads(args.results.read_text())
    for path in write_charts(document["reports"], args.out_dir, args.stem, document["started"]):
        print(path)


if __name__ == "__main__":
    main()
