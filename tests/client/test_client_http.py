"""The client over real HTTP: against the emulator (each scripted fault), and against a tiny
stub for what the emulator does not script (a server echoing the token, a redirect, nothing
listening). Back-off runs on a fake clock unless the test measures real waiting."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from dbt_cloud_action.client import (
    TRIGGER_SETTLE_SECONDS,
    ArtifactNotFound,
    DbtCloudClient,
    DbtCloudError,
)
from dbt_cloud_action.models import Run, RunStatus
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault
from tests.stub_server import serving

# Distinctive, and not shaped like a dbt token, so only the client's exact redaction hides it.
TOKEN = "s3cr3t-Tok-7f2a9c1e"
CI_JOB = 101  # the emulator's default account: a CI job that succeeds ...
FAILING_JOB = 102  # ... one whose tests fail
NO_ARTIFACTS_JOB = 104  # ... and one that saves no artifacts
SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeTime:
    """A monotonic clock only the client's `sleep` moves: back-off costs no real time, yet the
    client's time budget is spent exactly as it would be."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


ClientFactory = Callable[..., DbtCloudClient]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> ClientFactory:
    """A client on fake time with small timeouts; keyword arguments override any option."""

    def make(url: str, account_id: int, token: str = TOKEN, **overrides: Any) -> DbtCloudClient:
        options: dict[str, Any] = {
            "timeout": 2.0,
            "connect_timeout": 2.0,
            "max_retry_seconds": 60.0,
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "jitter": lambda: 0.5,
        }
        options.update(overrides)
        return DbtCloudClient(url, token, account_id, **options)

    return make


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN), time_scale=600.0) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator, make_client: ClientFactory) -> DbtCloudClient:
    return make_client(emu.url, emu.account_id)


def trigger_body(cause: str = "Triggered by test") -> dict[str, Any]:
    return {"cause": cause, "git_sha": SHA}  # dbt Cloud takes git_sha or git_branch, never both


def wait_until_done(client: DbtCloudClient, run_id: int) -> Run:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        run = client.get_run(run_id)
        if run.is_terminal:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish within 10 s (time_scale too small?)")


# ---------------------------------------------------------------------------- happy paths


def test_job_trigger_and_run_round_trip(emu: Emulator, client: DbtCloudClient) -> None:
    job = client.get_job(CI_JOB)
    assert job.id == CI_JOB
    assert job.name
    run = client.trigger_run(CI_JOB, trigger_body())
    assert run.job_id == CI_JOB
    fetched = client.get_run(run.id, ["trigger", "job", "run_steps"], fresh=True)
    assert fetched.id == run.id
    assert fetched.cause == "Triggered by test"
    assert fetched.git_sha == SHA
    assert client.run_url(fetched).startswith(emu.url) or fetched.href
    assert len(emu.created_runs()) == 1


def test_headers_identify_the_action_and_authenticate(
    emu: Emulator, client: DbtCloudClient
) -> None:
    client.get_job(CI_JOB)
    headers = {k.lower(): v for k, v in emu.requests[-1].headers.items()}
    assert headers["user-agent"].startswith("dbt-cloud-action/")
    assert headers["accept"] == "application/json"


def test_list_runs_filters_by_status_in(client: DbtCloudClient) -> None:
    first = client.trigger_run(CI_JOB, trigger_body("first"))
    wait_until_done(client, first.id)
    second = client.trigger_run(CI_JOB, trigger_body("second"))
    finished = client.list_runs(CI_JOB, status_in=[RunStatus.SUCCESS, RunStatus.ERROR])
    assert first.id in [r.id for r in finished]
    assert second.id not in [r.id for r in finished]  # still queued or running
    assert {r.status for r in finished} <= {RunStatus.SUCCESS, RunStatus.ERROR}
    everything = client.list_runs(CI_JOB, order_by="-id", limit=5, include_related=["trigger"])
    assert [r.cause for r in everything][:2] == ["second", "first"]


def test_artifacts_listed_and_fetched_and_missing_one_is_typed(client: DbtCloudClient) -> None:
    run = wait_until_done(client, client.trigger_run(CI_JOB, trigger_body()).id)
    assert run.status is RunStatus.SUCCESS
    paths = client.list_artifacts(run.id)
    assert "run_results.json" in paths
    into = io.BytesIO()
    size = client.download_artifact(run.id, "run_results.json", into, max_bytes=1 << 20)
    assert size == len(into.getvalue())
    assert json.loads(into.getvalue())["results"]
    with pytest.raises(ArtifactNotFound) as caught:
        client.download_artifact(run.id, "no_such_artifact.json", io.BytesIO(), max_bytes=1 << 20)
    assert caught.value.http_status == 404
    assert "poll again" in caught.value.hint


def test_a_null_artifact_list_is_no_artifacts_at_once(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime
) -> None:
    """`{"data": null}` (a run that produced none, dbt-labs/dbt-mcp#791) is an empty list after
    one request, not an unusable answer retried for the whole budget."""
    run = wait_until_done(client, client.trigger_run(NO_ARTIFACTS_JOB, trigger_body()).id)
    assert client.list_artifacts(run.id) == []
    assert [r.endpoint for r in emu.requests].count("list_artifacts") == 1
    assert fake_time.sleeps == []


def test_cancel_retry_details_retry_and_rerun(emu: Emulator, client: DbtCloudClient) -> None:
    running = client.trigger_run(CI_JOB, trigger_body())
    cancelled = client.cancel_run(running.id)
    assert cancelled.id == running.id
    failed = wait_until_done(client, client.trigger_run(FAILING_JOB, trigger_body()).id)
    assert failed.status is RunStatus.ERROR
    details = client.get_retry_details(failed.id)
    assert details.failed_step
    retried = client.retry_run(failed)
    assert retried.id != failed.id
    rerun = client.rerun_job(CI_JOB)
    assert rerun.job_id == CI_JOB
    assert len(emu.created_runs()) == 4


# ---------------------------------------------------------------------------- idempotent retries


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_burst_is_retried_until_it_passes(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime, status: int
) -> None:
    run = client.trigger_run(CI_JOB, trigger_body())
    emu.faults.add(Fault(endpoint="get_run", calls=(1, 2, 3), status=status))
    assert client.get_run(run.id).id == run.id
    assert emu.calls("get_run") == 4
    assert len(fake_time.sleeps) == 3


def test_429_without_retry_after_backs_off_exponentially(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime
) -> None:
    emu.faults.add(Fault(endpoint="get_job", calls=(1, 2, 3), status=429))
    client.get_job(CI_JOB)
    assert emu.calls("get_job") == 4
    # jitter fixed at 0.5: half of 1, 2 and 4 seconds.
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_in_real_time(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu.url, emu.account_id, sleep=time.sleep, clock=time.monotonic)
    emu.faults.add(Fault(endpoint="get_job", calls=(1,), status=429, retry_after=1))
    started = time.monotonic()
    client.get_job(CI_JOB)
    elapsed = time.monotonic() - started
    assert emu.calls("get_job") == 2
    assert 0.9 <= elapsed < 5.0


def test_retry_after_on_503_is_used_instead_of_back_off(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime
) -> None:
    emu.faults.add(Fault(endpoint="get_job", calls=(1, 2), status=503, retry_after=7))
    client.get_job(CI_JOB)
    assert fake_time.sleeps == [7.0, 7.0]


def test_retry_after_as_http_date_is_honoured(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime
) -> None:
    in_20s = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    emu.faults.add(Fault(endpoint="get_job", calls=(1,), status=503, retry_after=in_20s))
    client.get_job(CI_JOB)
    (waited,) = fake_time.sleeps
    assert 17.0 <= waited <= 20.0  # whole-second dates, and a little real time passes


def test_persistent_outage_gives_up_within_budget_with_next_step(
    emu: Emulator, make_client: ClientFactory, fake_time: FakeTime
) -> None:
    client = make_client(emu.url, emu.account_id, max_retry_seconds=30.0)
    emu.faults.add(Fault(endpoint="get_job", calls=tuple(range(1, 200)), status=503))
    with pytest.raises(DbtCloudError) as caught:
        client.get_job(CI_JOB)
    error = caught.value
    assert error.http_status == 503
    assert "retry later" in str(error)
    assert sum(fake_time.sleeps) <= 30.0
    assert emu.calls("get_job") == len(fake_time.sleeps) + 1 >= 3


def test_dropped_connection_is_retried(emu: Emulator, client: DbtCloudClient) -> None:
    emu.faults.add(Fault(endpoint="get_job", calls=(1, 2), kind="drop"))
    assert client.get_job(CI_JOB).id == CI_JOB
    assert emu.calls("get_job") == 3


def test_read_timeout_is_retried(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu.url, emu.account_id, timeout=0.3)
    emu.faults.add(Fault(endpoint="get_job", calls=(1,), kind="delay", delay=1.5))
    assert client.get_job(CI_JOB).id == CI_JOB
    assert emu.calls("get_job") == 2


@pytest.mark.parametrize("status", [200, 502])
def test_html_body_instead_of_json_is_retried(
    emu: Emulator, client: DbtCloudClient, status: int
) -> None:
    emu.faults.add(Fault(endpoint="get_job", calls=(1,), kind="html", status=status))
    assert client.get_job(CI_JOB).id == CI_JOB
    assert emu.calls("get_job") == 2


def test_cancel_is_safe_to_repeat_so_it_is_retried(emu: Emulator, client: DbtCloudClient) -> None:
    run = client.trigger_run(CI_JOB, trigger_body())
    emu.faults.add(Fault(endpoint="cancel", calls=(1,), status=502))
    assert client.cancel_run(run.id).id == run.id
    assert emu.calls("cancel") == 2


def test_fresh_run_404_is_waited_out_but_a_plain_404_is_not(
    emu: Emulator, client: DbtCloudClient
) -> None:
    run = client.trigger_run(CI_JOB, trigger_body())
    emu.faults.add(Fault(endpoint="get_run", calls=(1, 2), kind="not_found_after_trigger"))
    assert client.get_run(run.id, fresh=True).id == run.id
    assert emu.calls("get_run") == 3
    with pytest.raises(DbtCloudError) as caught:
        client.get_run(999_999)
    assert caught.value.http_status == 404
    assert emu.calls("get_run") == 4


# ---------------------------------------------------------------------------- the trigger


def test_lost_trigger_response_is_reconciled_with_exactly_one_run(
    emu: Emulator, client: DbtCloudClient, fake_time: FakeTime
) -> None:
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="lose_response"))
    run = client.trigger_run(CI_JOB, trigger_body("lost answer"))
    assert len(emu.created_runs()) == 1
    assert emu.calls("trigger") == 1
    assert emu.calls("list_runs") == 1
    # It gave the server a moment to commit the run before looking for it.
    assert fake_time.sleeps[0] >= TRIGGER_SETTLE_SECONDS
    assert run.id == emu.created_runs()[0]["id"]
    assert run.cause == "lost answer"


def test_trigger_5xx_that_created_nothing_is_triggered_again_once(
    emu: Emulator, client: DbtCloudClient
) -> None:
    emu.faults.add(Fault(endpoint="trigger", calls=(1, 2), status=503))
    run = client.trigger_run(CI_JOB, trigger_body())
    assert emu.calls("trigger") == 3
    assert emu.calls("list_runs") == 2  # it looked before each new attempt
    assert [r["id"] for r in emu.created_runs()] == [run.id]


def test_trigger_dropped_connection_then_lost_answer_still_one_run(
    emu: Emulator, client: DbtCloudClient
) -> None:
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="drop"))
    emu.faults.add(Fault(endpoint="trigger", calls=(2,), kind="lose_response"))
    run = client.trigger_run(CI_JOB, trigger_body())
    assert [r["id"] for r in emu.created_runs()] == [run.id]


def test_trigger_html_answer_is_reconciled(emu: Emulator, client: DbtCloudClient) -> None:
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="html", status=502))
    run = client.trigger_run(CI_JOB, trigger_body())
    assert emu.calls("list_runs") == 1  # it looked before triggering again
    assert emu.calls("trigger") == 2
    assert [r["id"] for r in emu.created_runs()] == [run.id]


def test_trigger_read_timeout_is_reconciled_not_repeated(
    emu: Emulator, make_client: ClientFactory
) -> None:
    """The server creates the run but answers after the client's read timeout."""
    client = make_client(emu.url, emu.account_id, timeout=0.3)
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="delay", delay=1.0))
    run = client.trigger_run(CI_JOB, trigger_body("slow"))
    assert emu.calls("trigger") == 1
    assert [r["id"] for r in emu.created_runs()] == [run.id]


@pytest.mark.parametrize(("unique_cause", "runs"), [(True, 1), (False, 2)])
def test_a_unique_cause_is_matched_whatever_the_clocks_say(
    emu: Emulator, make_client: ClientFactory, unique_cause: bool, runs: int
) -> None:
    """The runner's clock is ten minutes fast: a shared cause's time window misses the run the
    lost trigger created (and triggers again), while a unique cause (the automatic one, which
    names the workflow run, attempt, job and a random key) is found by its exact text."""
    fast = make_client(
        emu.url, emu.account_id, wall_clock=lambda: datetime.now(UTC) + timedelta(minutes=10)
    )
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="lose_response"))
    run = fast.trigger_run(
        CI_JOB, trigger_body("x [run 1/1 job dbt key abc123]"), unique_cause=unique_cause
    )
    created = [r["id"] for r in emu.created_runs()]
    assert len(created) == runs
    assert run.id == created[-1]  # the one found, or the one triggered again


def test_lost_retry_answer_is_reconciled_not_repeated(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client(emu.url, emu.account_id, timeout=0.3)
    other = client.trigger_run(CI_JOB, trigger_body())  # a newer run of another job is no match
    failed = wait_until_done(client, client.trigger_run(FAILING_JOB, trigger_body()).id)
    emu.faults.add(Fault(endpoint="retry_post", calls=(1,), kind="delay", delay=1.0))
    retried = client.retry_run(failed)
    [created] = [r for r in emu.created_runs() if r["id"] not in (other.id, failed.id)]
    assert retried.id == created["id"]
    assert retried.retrying_run_id == failed.id
    assert emu.calls("list_runs") == 1
    time.sleep(1.0)  # the late answer is logged once it is sent
    assert emu.calls("retry_post") == 1


def test_reconciliation_ignores_other_causes_and_shas(
    emu: Emulator, client: DbtCloudClient
) -> None:
    other = client.trigger_run(CI_JOB, {"cause": "someone else", "git_sha": SHA})
    same_cause_other_sha = client.trigger_run(CI_JOB, {"cause": "mine", "git_sha": "f" * 40})
    emu.faults.add(Fault(endpoint="trigger", calls=(3,), status=500))
    mine = client.trigger_run(CI_JOB, {"cause": "mine", "git_sha": SHA})
    assert mine.id not in (other.id, same_cause_other_sha.id)
    assert len(emu.created_runs()) == 3


def test_trigger_400_fails_at_once_naming_the_field(emu: Emulator, client: DbtCloudClient) -> None:
    with pytest.raises(DbtCloudError) as caught:
        client.trigger_run(CI_JOB, {"cause": "x", "threads_override": "many"})
    error = caught.value
    assert error.http_status == 400
    assert "threads_override" in error.field_errors
    assert "threads_override" in str(error)
    assert emu.calls("trigger") == 1
    assert emu.created_runs() == []


def test_trigger_unknown_job_is_404_with_ids_hint(emu: Emulator, client: DbtCloudClient) -> None:
    with pytest.raises(DbtCloudError) as caught:
        client.trigger_run(4242, trigger_body())
    assert caught.value.http_status == 404
    assert "job-id" in caught.value.hint
    assert emu.calls("trigger") == 1


def test_retry_post_with_unknown_outcome_is_not_repeated(
    emu: Emulator, client: DbtCloudClient
) -> None:
    failed = wait_until_done(client, client.trigger_run(FAILING_JOB, trigger_body()).id)
    emu.faults.add(Fault(endpoint="retry_post", calls=(1,), status=502))
    with pytest.raises(DbtCloudError) as caught:
        client.retry_run(failed)
    assert "may or may not" in str(caught.value)
    assert "run history" in caught.value.hint
    assert emu.calls("retry_post") == 1


def test_rerun_refused_with_429_is_safe_to_repeat(emu: Emulator, client: DbtCloudClient) -> None:
    emu.faults.add(Fault(endpoint="rerun", calls=(1,), status=429))
    client.rerun_job(CI_JOB)
    assert emu.calls("rerun") == 2
    assert len(emu.created_runs()) == 1


# ---------------------------------------------------------------------------- errors and secrets


def test_wrong_token_is_401_and_neither_token_leaks(
    emu: Emulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wr0ng-Tok-5d4c3b2a1"
    with pytest.raises(DbtCloudError) as caught:
        make_client(emu.url, emu.account_id, token=wrong).get_job(CI_JOB)
    error = caught.value
    assert error.http_status == 401
    assert "api-token" in error.hint
    assert "access-url" in error.hint
    for secret in (wrong, TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in caplog.text


def test_other_account_is_refused_with_the_matching_hint(
    emu: Emulator, make_client: ClientFactory
) -> None:
    with pytest.raises(DbtCloudError) as caught:
        make_client(emu.url, emu.account_id + 1000).get_job(CI_JOB)
    error = caught.value
    assert error.http_status in (403, 404)
    expected = "Job Runner" if error.http_status == 403 else "account-id"
    assert expected in error.hint


def test_faulty_session_logs_attempts_without_secrets(
    emu: Emulator, client: DbtCloudClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="lose_response"))
    emu.faults.add(Fault(endpoint="get_run", calls=(1,), status=503))
    run = client.trigger_run(CI_JOB, trigger_body())
    client.get_run(run.id)
    client_lines = [r.getMessage() for r in caplog.records if r.name == "dbt_cloud_action.client"]
    assert any("attempt 2" in line for line in client_lines)
    assert any("retrying in" in line for line in client_lines)
    assert TOKEN not in caplog.text
    assert "Authorization" not in caplog.text


# ---------------------------------------------------------------------------- stub server


class EchoingHandler(BaseHTTPRequestHandler):
    """Answers 401 echoing the Authorization header, as a careless proxy or API might;
    job 301 answers with a redirect."""

    def do_GET(self) -> None:
        if "/jobs/301/" in self.path:
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/api/v2/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        auth = self.headers.get("Authorization", "")
        body = json.dumps(
            {
                "status": {
                    "code": 401,
                    "is_success": False,
                    "user_message": f"Invalid token: {auth}",
                    "developer_message": f"received {auth!r} for {self.path}",
                },
                "data": {"token": [auth.removeprefix("Token ")]},
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the output that matters is the client's."""


@pytest.fixture
def stub_url() -> Iterator[str]:
    with serving(EchoingHandler) as url:
        yield url


def test_echoed_token_is_redacted_everywhere(
    stub_url: str, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DbtCloudError) as caught:
        make_client(stub_url, 1).get_job(5)
    error = caught.value
    assert error.http_status == 401
    assert "Invalid token: Token ***" in str(error)  # the scheme survives, the secret does not
    for text in (str(error), repr(error), error.developer_message, repr(error.field_errors)):
        assert TOKEN not in text
    assert TOKEN not in caplog.text
    assert "GET /jobs/5/" in caplog.text  # the attempt was logged


def test_redirect_is_not_followed_and_says_where_it_goes(
    stub_url: str, make_client: ClientFactory
) -> None:
    with pytest.raises(DbtCloudError) as caught:
        make_client(stub_url, 1).get_job(301)
    assert caught.value.http_status == 301
    assert "https://elsewhere.example/api/v2/" in caught.value.hint


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_nothing_listening_retries_within_budget_then_points_at_access_url(
    make_client: ClientFactory, fake_time: FakeTime
) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}", 1, max_retry_seconds=20.0)
    with pytest.raises(DbtCloudError) as caught:
        client.get_run(1)
    error = caught.value
    assert error.http_status is None
    assert "refused" in str(error)
    assert "access-url" in error.hint
    assert len(fake_time.sleeps) >= 2
    assert sum(fake_time.sleeps) <= 20.0


def test_trigger_that_never_left_is_retried_without_looking_for_a_run(
    make_client: ClientFactory, fake_time: FakeTime
) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}", 1, max_retry_seconds=5.0)
    with pytest.raises(DbtCloudError) as caught:
        client.trigger_run(1, {"cause": "test"})
    assert "may or may not" not in str(caught.value)  # never sent: surely nothing created
    assert "access-url" in caught.value.hint
    assert len(fake_time.sleeps) >= 2
