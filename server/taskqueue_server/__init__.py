"""taskqueue server: the gRPC service, the Redis engine and the worker loop."""

from .worker.context import PermanentError, RetryLater, TaskContext
from .worker.registry import handler, register_handler

__all__ = ["PermanentError", "RetryLater", "TaskContext", "handler", "register_handler"]
