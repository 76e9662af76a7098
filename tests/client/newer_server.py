"""A stand-in for a newer taskqueue server: its contract has a task status (ARCHIVED) and
fields this client was not built with. test_forward_compat.py generates that contract and
runs `python newer_server.py <folder of the generated modules>`; it prints its address.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

sys.path.insert(0, sys.argv[1])
from newer_contract import taskqueue_pb2 as pb
from newer_contract import taskqueue_pb2_grpc as pb_grpc

TASK_ID = "default-" + "ab" * 16
# The states WatchTask streams: (version, status).
HISTORY = ((1, pb.TASK_STATUS_PENDING), (2, pb.TASK_STATUS_ARCHIVED))


def task(version: int, status: Any) -> Any:
    return pb.Task(
        id=TASK_ID,
        queue="default",
        task_type="echo",
        status=status,
        version=version,
        archive_note="moved to cold storage",
    )


class NewerServicer(pb_grpc.TaskQueueServiceServicer):  # type: ignore[misc]
    async def GetTask(self, request: Any, context: Any) -> Any:
        return pb.GetTaskResponse(task=task(*HISTORY[-1]))

    async def WatchTask(self, request: Any, context: Any) -> Any:
        for version, status in HISTORY:
            if version > request.after_version:
                yield pb.WatchTaskResponse(task=task(version, status))

    async def GetResult(self, request: Any, context: Any) -> Any:
        return pb.GetResultResponse(task_id=TASK_ID, status=pb.TASK_STATUS_ARCHIVED)

    async def ListTasks(self, request: Any, context: Any) -> Any:
        return pb.ListTasksResponse(tasks=[task(*HISTORY[-1])])

    async def Stats(self, request: Any, context: Any) -> Any:
        counts = pb.TaskTypeStats(pending=1, archived=5)
        return pb.StatsResponse(task_types={"echo": counts})


async def main() -> None:
    server = grpc.aio.server()
    pb_grpc.add_TaskQueueServiceServicer_to_server(NewerServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"ready on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
