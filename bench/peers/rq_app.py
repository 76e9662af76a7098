"""The RQ bench job (bench/peers/job.py); RQ imports it by dotted path in the work horse."""

from typing import Any

from job import run_sync


def job(data: dict[str, Any]) -> dict[str, Any]:
    return run_sync(data)
