"""A bare grpc.aio server answering TaskQueueService.Enqueue with a canned reply: the ceiling
of Python gRPC on this machine for service_bench.py.

It parses the same EnqueueRequest and sends a response of the same size as the real server's
(built once at start from a task like the ones the bench enqueues), but does no work between.

    .venv/bin/python bench/echo_server.py --port 0     # prints "echo ready on 127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc
from taskqueue_server.engine.models import Status, TaskRecord
from taskqueue_server.service.convert import task_to_proto

PAYLOAD = {"payload": "x" * 86}


def canned_response(task_type: str) -> pb.EnqueueResponse:
    now = int(time.time() * 1000)
    record = TaskRecord(
        id="default-" + "0" * 32, queue="default", task_type=task_type, task_data=PAYLOAD,
        status=Status.PENDING, priority=0, attempts=0, max_retries=3, created_at_ms=now,
        updated_at_ms=now, run_at_ms=now, version=1,
    )
    return pb.EnqueueResponse(task_id=record.id, task=task_to_proto(record))


class Echo(pb_grpc.TaskQueueServiceServicer):
    """Only Enqueue; every other method stays UNIMPLEMENTED."""

    def __init__(self, task_type: str) -> None:
        self._reply = canned_response(task_type)

    async def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        return self._reply


async def serve(port: int, task_type: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_TaskQueueServiceServicer_to_server(Echo(task_type), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"echo ready on 127.0.0.1:{bound}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description="bare grpc.aio Enqueue echo server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--task-type", default="held")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.task_type))


if __name__ == "__main__":
    main()
