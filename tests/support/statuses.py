"""TaskStatus values and the lowercase names Stats and the client use, from the proto itself."""

from __future__ import annotations

from taskqueue.v1 import taskqueue_pb2 as pb

STATUS_NAMES: dict[int, str] = {
    value: pb.TaskStatus.Name(value).removeprefix("TASK_STATUS_").lower()
    for value in pb.TaskStatus.values()
    if value != pb.TASK_STATUS_UNSPECIFIED
}
