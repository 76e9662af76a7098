"""A bare grpc.aio server answering TaskQueueService.Enqueue with a canned reply: the ceiling
of Python gRPC on this machine for service_bench.py.

It parses the same EnqueueRequest and sends a response of the same size as the real server's
(built once at start from a task like the ones the bench enqueues), but does no work between.

With `--redis-url` it runs on uvloop, and with `--redis-calls N` each answer first waits
for N sequential script calls (`return 1`) through redis.asyncio, as taskqueue-server makes
them: the floor of a gRPC call whose answer needs N round trips to Redis from Python, before
any work of ours (roundtrip_bench.py).

    .venv/bin/python bench/echo_server.py --port 0     # prints "echo ready on 127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import grpc
import uvloop
from redis.asyncio import Redis
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

    def __init__(self, task_type: str, redis: Redis | None = None, redis_calls: int = 0) -> None:
        self._reply = canned_response(task_type)
        self._script = redis.register_script("return 1") if redis is not None else None
        self._redis_calls = redis_calls

    async def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        for _ in range(self._redis_calls):
            assert self._script is not None
            await self._script()  # EVALSHA, as the server's script calls
        return self._reply


async def serve(port: int, task_type: str, redis_url: str | None, redis_calls: int) -> None:
    # socket_timeout as the server sets it (engine/connection.py): redis-py then runs every
    # command under a timeout, which belongs to the floor too.
    redis = Redis.from_url(redis_url, socket_timeout=5) if redis_url else None
    if redis is not None:
        await redis.ping()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_TaskQueueServiceServicer_to_server(Echo(task_type, redis, redis_calls), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"echo ready on 127.0.0.1:{bound}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description="bare grpc.aio Enqueue echo server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--task-type", default="held")
    parser.add_argument("--redis-url", help="with --redis-calls: the Redis to call")
    parser.add_argument("--redis-calls", type=int, default=0, help="round trips before answering")
    args = parser.parse_args()
    if args.redis_calls and not args.redis_url:
        parser.error("--redis-calls needs --redis-url")
    if args.redis_url:  # the floor: uvloop, as taskqueue-server runs
        uvloop.run(serve(args.port, args.task_type, args.redis_url, args.redis_calls))
    else:
        asyncio.run(serve(args.port, args.task_type, None, 0))


if __name__ == "__main__":
    main()
