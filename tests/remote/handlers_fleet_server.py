"""The mixed fleet's shared type inside the servers: records each run like the remote side."""

from __future__ import annotations

import os
import time
from typing import Any

from taskqueue_server import TaskContext, handler

from tests.remote.handlers_remote import _client, key


@handler("fleet")
def fleet(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    time.sleep(float(task_data.get("ms", 0)) / 1000)
    _client.hincrby(key("fleet_runs"), ctx.task_id, 1)
    _client.hincrby(key("fleet_by"), "server", 1)
    return {"by": f"server:{os.getpid()}", "n": task_data.get("n")}
