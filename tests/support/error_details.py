"""Reading the google.rpc.Status details of a refused call, as any gRPC program can."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def error_details(error: grpc.RpcError) -> tuple[Any, list[Any]]:
    """The google.rpc.Status of a failed call (via grpcio-status) and its ErrorInfo/BadRequest."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the refusal carries no google.rpc.Status details"
    found: list[Any] = []
    for detail in status.details:
        for message in (error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()):
            if detail.Unpack(message):
                found.append(message)
    return status, found


def error_reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a failed call."""
    _, details = error_details(error)
    assert details and isinstance(details[0], error_details_pb2.ErrorInfo), details
    assert details[0].domain == "taskqueue.v1"
    return str(details[0].reason)
