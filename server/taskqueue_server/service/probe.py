"""`python -m taskqueue_server.service.probe`: exit 0 when the local server reports SERVING.

The container HEALTHCHECK runs it, so the image needs no grpcurl. It asks the standard
grpc.health.v1 service over plaintext on 127.0.0.1:$TASKQUEUE_PORT (default 50051).
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main() -> int:
    target = os.environ.get("TASKQUEUE_PROBE_TARGET") or (
        f"127.0.0.1:{os.environ.get('TASKQUEUE_PORT') or '50051'}"
    )
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="taskqueue.v1.TaskQueueService"), timeout=3
            )
    except grpc.RpcError as exc:
        print(f"{target}: {exc.code().name}", file=sys.stderr)
        return 1
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    print(f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
