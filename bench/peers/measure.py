"""Resource readings for one worker process tree and for redis-server (psutil)."""

from __future__ import annotations

import threading

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its live descendants (prefork children, work horses, threads' host)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """User+system CPU of the tree, including children it has already reaped."""
    total = 0.0
    for proc in process_tree(pid) if tree else [psutil.Process(pid)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss(pid: int) -> int:
    """Summed RSS of the tree in bytes (pages shared after fork count once per process)."""
    total = 0
    for proc in process_tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakRSS:
    """Samples a process tree's RSS every `interval_s` in a thread and keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
