"""A stand-in for a taskqueue server from before EnqueueStream: it serves Enqueue (a task id
made from the idempotency key, so a repeat gets the same id) and Stats, and nothing else, so
gRPC itself answers EnqueueStream with UNIMPLEMENTED, as on such a server. Stats reports how
many EnqueueStream calls arrived, as the pending count of the type "refused_streams". Run
`python older_server.py`; it prints its address.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

SERVICE = "taskqueue.v1.TaskQueueService"
refused_streams = 0


class CountStreams(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        global refused_streams
        if handler_call_details.method == f"/{SERVICE}/EnqueueStream":
            refused_streams += 1
        return await continuation(handler_call_details)


async def enqueue(request: Any, context: Any) -> Any:
    digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:32]
    return pb.EnqueueResponse(task_id=f"default-{digest}")


async def stats(request: Any, context: Any) -> Any:
    counts = pb.TaskTypeStats(pending=refused_streams)
    return pb.StatsResponse(task_types={"refused_streams": counts})


def method(behavior: Any, request_type: Any, response_type: Any) -> Any:
    return grpc.unary_unary_rpc_method_handler(
        behavior, request_type.FromString, response_type.SerializeToString
    )


async def main() -> None:
    server = grpc.aio.server(interceptors=[CountStreams()])
    handlers = {
        "Enqueue": method(enqueue, pb.EnqueueRequest, pb.EnqueueResponse),
        "Stats": method(stats, pb.StatsRequest, pb.StatsResponse),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"ready on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
