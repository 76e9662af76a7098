"""Python client for the taskqueue gRPC service: typed models, sync and asyncio clients.

>>> from taskqueue_client import TaskQueueClient
>>> with TaskQueueClient("localhost:50051") as client:  # doctest: +SKIP
...     task_id = client.enqueue(task_type="echo", task_data={"hello": "world"})
...     print(client.wait(task_id, timeout=30))
"""

from ._channel import RetryPolicy
from ._control_calls import BulkFilter
from .aio import AsyncTaskQueueClient
from .client import TaskQueueClient
from .errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    TaskCancelled,
    TaskFailed,
    TaskOutcomeError,
    TaskQueueError,
    Unauthenticated,
    Unavailable,
    WaitTimeout,
)
from .models import (
    EnqueueOptions,
    QueueInfo,
    QueueLimits,
    Task,
    TaskResult,
    TaskRetryPolicy,
    TaskSpec,
    TaskStatus,
    TaskTypeStats,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "AsyncTaskQueueClient",
    "BulkFilter",
    "DeadlineExceeded",
    "EnqueueOptions",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "QueueInfo",
    "QueueLimits",
    "ResourceExhausted",
    "RetryPolicy",
    "ServiceError",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "TaskOutcomeError",
    "TaskQueueClient",
    "TaskQueueError",
    "TaskResult",
    "TaskRetryPolicy",
    "TaskSpec",
    "TaskStatus",
    "TaskTypeStats",
    "Unauthenticated",
    "Unavailable",
    "WaitTimeout",
]
