"""The client's two code tables: gRPC status -> exception, and exception -> CLI exit code,
checked against every status gRPC defines and against the exit-code table in docs/client.md."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import grpc.aio
import pytest
from taskqueue_client import errors
from taskqueue_client._cli_parser import (
    EXIT_INTERRUPTED,
    EXIT_NOT_FINISHED,
    EXIT_SOFTWARE,
    EXIT_USAGE,
)
from taskqueue_client.cli import _EXIT_BY_CODE, _EXIT_BY_STATUS

CLIENT_DOCS = (Path(__file__).resolve().parents[2] / "docs/client.md").read_text()
FAILURES = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]


@pytest.mark.parametrize("code", FAILURES, ids=lambda code: code.name)
def test_every_status_becomes_a_service_error_keeping_the_message(code: grpc.StatusCode) -> None:
    rpc_error = grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=f"server says {code.name}"
    )
    error = errors.from_rpc_error(rpc_error)
    assert isinstance(error, errors.ServiceError) and error.code is code
    assert error.message == f"server says {code.name}"
    named = getattr(errors, code.name.title().replace("_", ""), None)
    if named is not None:
        assert type(error) is named


def test_documented_exit_table_matches_the_cli() -> None:
    cli_section = CLIENT_DOCS[
        CLIENT_DOCS.index("\n## CLI\n") : CLIENT_DOCS.index("\n## Other languages\n")
    ]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", cli_section, re.M)}
    used = {*_EXIT_BY_CODE.values(), *_EXIT_BY_STATUS.values(), EXIT_USAGE, EXIT_NOT_FINISHED}
    used |= {EXIT_SOFTWARE, EXIT_INTERRUPTED}
    assert documented == used
