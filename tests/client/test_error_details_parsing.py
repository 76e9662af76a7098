"""The client reads google.rpc.Status details from an error's trailers, and survives odd ones."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from taskqueue_client import FieldViolation, InvalidArgument, NotFound, ServiceError
from taskqueue_client.errors import from_rpc_error


class Refused(grpc.RpcError):
    """A failed call as grpc hands it to the client: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, message: str, trailing: Any = ()) -> None:
        self._code, self._message, self._trailing = code, message, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> Any:
        return self._trailing


def packed(*messages: Any) -> bytes:
    details = []
    for message in messages:
        detail = any_pb2.Any()
        detail.Pack(message)
        details.append(detail)
    return status_pb2.Status(code=3, message="m", details=details).SerializeToString()


def test_reason_field_violations_and_metadata_are_read() -> None:
    info = error_details_pb2.ErrorInfo(reason="INVALID_FIELD", domain="taskqueue.v1")
    info.metadata["ref"] = "abc"
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="priority",
                                                                      description="too big")]
    )  # fmt: skip
    # An unknown detail type (a newer server's) is skipped, not an error.
    extra = error_details_pb2.RetryInfo()
    trailing = (("other", "x"), ("grpc-status-details-bin", packed(extra, info, bad)))
    error = from_rpc_error(Refused(grpc.StatusCode.INVALID_ARGUMENT, "m", trailing))
    assert isinstance(error, InvalidArgument)
    assert (error.reason, error.metadata) == ("INVALID_FIELD", {"ref": "abc"})
    assert error.field_violations == (FieldViolation("priority", "too big"),)


def test_no_details_or_unreadable_details_leave_the_plain_error() -> None:
    for trailing in ((), None, (("grpc-status-details-bin", b"\xff\xff not a status"),)):
        error = from_rpc_error(Refused(grpc.StatusCode.NOT_FOUND, "gone", trailing))
        assert isinstance(error, NotFound) and error.message == "gone"
        assert (error.reason, error.field_violations, error.metadata) == ("", (), {})
    assert isinstance(from_rpc_error(Refused(grpc.StatusCode.ABORTED, "")), ServiceError)
