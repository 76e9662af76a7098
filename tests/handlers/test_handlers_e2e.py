"""The built-in task types through a real server process: enqueue, run, retry, fail, validate."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fake_github_server import FakeGitHub, Reply, issue
from fake_smtp_server import Recorder, SmtpServer
from taskqueue_client import TaskQueueClient
from taskqueue_client.errors import InvalidArgument, TaskFailed

from tests.support.server_process import ServerFactory

HANDLERS = ["taskqueue_server.handlers.email", "taskqueue_server.handlers.github"]
FAST_RETRY = ["--retry-base-seconds", "0.2", "--retry-factor", "2", "--retry-jitter", "0"]


@pytest.fixture
def e2e_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Recorder())
    yield server
    server.stop()


@pytest.fixture
def e2e_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.stop()


@pytest.fixture
def client(e2e_smtp: SmtpServer, e2e_github: FakeGitHub) -> Iterator[TaskQueueClient]:
    env = {
        "TASKQUEUE_SMTP_HOST": "127.0.0.1",
        "TASKQUEUE_SMTP_PORT": str(e2e_smtp.port),
        "TASKQUEUE_SMTP_SECURITY": "none",
        "TASKQUEUE_SMTP_FROM": "noreply@app.example",
        "TASKQUEUE_GITHUB_API_URL": e2e_github.url,
    }
    with ServerFactory() as servers:
        server = servers.start(handlers=HANDLERS, env=env, extra_args=FAST_RETRY)
        with TaskQueueClient(server.target) as tq:
            yield tq


def test_send_email_retries_a_4xx_and_delivers_once(client: TaskQueueClient,
                                                    e2e_smtp: SmtpServer) -> None:
    e2e_smtp.recorder.data_replies.append("451 4.3.0 Try again later")
    task_id = client.enqueue("send_email", {"to_email": "bob@example.org", "subject": "Hi",
                                            "html_content": "<p>Hello</p>"}, max_retries=3)
    result = client.wait(task_id, timeout=30)
    assert result["success"] is True and result["to_email"] == "bob@example.org"
    assert client.get_task(task_id).attempts == 2
    [delivered] = e2e_smtp.recorder.accepted
    assert delivered.message["Message-ID"] == result["message_id"]
    assert re.sub(r"[^A-Za-z0-9.-]", "-", task_id) in result["message_id"]


def test_invitation_to_a_refused_address_fails_without_retry(client: TaskQueueClient,
                                                             e2e_smtp: SmtpServer) -> None:
    e2e_smtp.recorder.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    task_id = client.enqueue("send_invitation_email", {
        "to_email": "gone@example.org", "team_name": "Core", "inviter_name": "Alice",
        "accept_url": "https://app.example/i/1"}, max_retries=5)
    with pytest.raises(TaskFailed, match="550"):
        client.wait(task_id, timeout=30)
    assert client.get_task(task_id).attempts == 1


def test_github_import_waits_out_a_rate_limit(client: TaskQueueClient,
                                              e2e_github: FakeGitHub) -> None:
    path = "/repos/octo/hello/issues"
    e2e_github.pages[path] = [[issue(1), issue(2, pr=True)], [issue(3)]]
    e2e_github.queue(path, Reply(429, {"message": "slow down"}, {"Retry-After": "1"}))
    task_id = client.enqueue("github_import_issues", {"owner": "octo", "repo": "hello"},
                             max_retries=3)
    result = client.wait(task_id, timeout=30)
    assert [item["number"] for item in result["items"]] == [1, 3]
    task = client.get_task(task_id)
    assert task.attempts == 2 and task.progress == 100
    first, second = (s for s in e2e_github.seen if s.query.get("page") is None)
    assert first.path == second.path == path


@pytest.mark.parametrize(("task_type", "data", "field"), [
    ("send_email", {"to_email": "nope", "subject": "x", "html_content": "y"},
     "task_data.to_email"),
    ("send_invitation_email", {"to_email": "a@example.org", "team_name": "T",
                               "inviter_name": "I", "accept_url": "javascript:x"},
     "task_data.accept_url"),
    ("github_import_issues", {"owner": "octo"}, "task_data.repo"),
    ("github_import_milestones", {"owner": "octo", "repo": "r", "state": "merged"},
     "task_data.state"),
])
def test_bad_task_data_is_refused_at_enqueue(client: TaskQueueClient, task_type: str,
                                             data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        client.enqueue(task_type, data)
