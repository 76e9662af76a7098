"""A stand-in for a taskqueue server from before EnqueueStream: it answers Enqueue (a task id
made from the idempotency key, so a repeat gets the same id) and refuses EnqueueStream with
UNIMPLEMENTED, as such a server does; Stats reports how many streams were refused, as the
pending count of the type "refused_streams". Run `python older_server.py`; it prints its
address.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc


class OlderServicer(pb_grpc.TaskQueueServiceServicer):
    def __init__(self) -> None:
        self.refused_streams = 0

    async def Enqueue(self, request: Any, context: Any) -> Any:
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:32]
        return pb.EnqueueResponse(task_id=f"default-{digest}")

    async def EnqueueStream(self, requests: Any, context: Any) -> Any:
        self.refused_streams += 1
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")

    async def Stats(self, request: Any, context: Any) -> Any:
        counts = pb.TaskTypeStats(pending=self.refused_streams)
        return pb.StatsResponse(task_types={"refused_streams": counts})


async def main() -> None:
    server = grpc.aio.server()
    pb_grpc.add_TaskQueueServiceServicer_to_server(OlderServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"ready on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
