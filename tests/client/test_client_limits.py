"""The client's bounds over real HTTP: artifacts streamed to a file within a cap, a download
that breaks off started again, JSON answers refused past their cap, each step's log end kept.
Against the emulator (a job whose artifacts are padded, one whose step log is long) and, for a
body without Content-Length, a tiny stub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from dbt_cloud_action.client import (
    AnswerTooLarge,
    ArtifactTooLarge,
    DbtCloudClient,
    byte_size,
)
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, StepScript
from tests.stub_server import serving

TOKEN = "limits-Tok-5b8e2d4f"
PADDING = 300_000
BIG_ARTIFACTS, LONG_LOG = 1, 2
LOG_LINES = [f"{i:05d} of 3000 OK created sql table model analytics.m{i}" for i in range(3000)]
JOBS = (
    JobScript(
        BIG_ARTIFACTS,
        "Big project",
        (StepScript("Invoke dbt with `dbt build`", "dbt build", duration=1.0),),
        queue_seconds=0.0,
        artifact_padding=PADDING,
    ),
    JobScript(
        LONG_LOG,
        "Chatty",
        (StepScript("Invoke dbt with `dbt run`", "dbt run", 1.0, logs="\n".join(LOG_LINES)),),
        queue_seconds=0.0,
    ),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=600.0) as emulator:
        yield emulator


def client_for(url: str, account_id: int, **options: Any) -> DbtCloudClient:
    sleeps: list[float] = []
    return DbtCloudClient(url, TOKEN, account_id, timeout=5.0, sleep=sleeps.append, **options)


def ended_run(emu: Emulator, client: DbtCloudClient, job_id: int) -> int:
    run = client.trigger_run(job_id, {"cause": "limits"})
    for _ in range(500):
        if client.get_run(run.id).is_terminal:
            return run.id
        time.sleep(0.01)
    raise AssertionError(f"run {run.id} did not end")


def downloads(emu: Emulator) -> list[tuple[int, int]]:
    return [(r.status, r.response_bytes) for r in emu.requests if r.endpoint == "get_artifact"]


def test_an_artifact_is_streamed_whole_into_the_file(emu: Emulator, tmp_path: Path) -> None:
    client = client_for(emu.url, emu.account_id)
    run_id = ended_run(emu, client, BIG_ARTIFACTS)
    target = tmp_path / "manifest.json"
    with target.open("wb") as into:
        size = client.download_artifact(run_id, "manifest.json", into, max_bytes=1 << 20)

    assert downloads(emu) == [(200, size)]
    assert target.stat().st_size == size > PADDING
    assert json.loads(target.read_bytes())["metadata"]["dbt_schema_version"].endswith("v12.json")


def test_an_artifact_past_the_cap_is_refused_and_not_retried(emu: Emulator, tmp_path: Path) -> None:
    client = client_for(emu.url, emu.account_id)
    run_id = ended_run(emu, client, BIG_ARTIFACTS)
    with (tmp_path / "manifest.json").open("wb") as into, pytest.raises(ArtifactTooLarge) as caught:
        client.download_artifact(run_id, "manifest.json", into, max_bytes=PADDING)

    assert f"artifact 'manifest.json' of run {run_id} is larger than 293 KiB" in str(caught.value)
    assert "raise the cap" in caught.value.hint
    assert len(downloads(emu)) == 1


def test_a_download_that_breaks_off_is_started_again_from_the_start(
    emu: Emulator, tmp_path: Path
) -> None:
    client = client_for(emu.url, emu.account_id)
    run_id = ended_run(emu, client, BIG_ARTIFACTS)
    emu.faults.add(Fault("get_artifact", calls=(1,), kind="cut"))
    target = tmp_path / "manifest.json"
    with target.open("wb") as into:
        size = client.download_artifact(run_id, "manifest.json", into, max_bytes=1 << 20)

    assert [status for status, _ in downloads(emu)] == [200, 200]  # the first one cut halfway
    assert target.stat().st_size == size > PADDING
    assert json.loads(target.read_bytes())["metadata"]["dbt_schema_version"].endswith("v12.json")


def test_a_json_answer_past_the_cap_is_refused_and_not_retried(emu: Emulator) -> None:
    client = client_for(emu.url, emu.account_id, max_answer_bytes=64 << 10)
    run_id = ended_run(emu, client, LONG_LOG)
    before = len(emu.requests)
    with pytest.raises(AnswerTooLarge) as caught:
        client.get_run(run_id, ["run_steps"])

    assert f"runs/{run_id}/ is larger than 64 KiB, the most this action reads" in str(caught.value)
    assert len(emu.requests) == before + 1
    assert client.get_run(run_id).is_terminal  # the run alone still fits


def test_a_json_answer_that_breaks_off_is_retried(emu: Emulator) -> None:
    client = client_for(emu.url, emu.account_id)
    run_id = ended_run(emu, client, LONG_LOG)
    polls = sum(r.endpoint == "get_run" for r in emu.requests)
    emu.faults.add(Fault("get_run", kind="cut", calls=(polls + 1,)))
    run = client.get_run(run_id, ["run_steps"])

    assert run.steps[-1].logs.endswith(LOG_LINES[-1])
    assert [r.status for r in emu.requests[-2:]] == [200, 200]


def test_each_step_keeps_the_end_of_its_log(emu: Emulator) -> None:
    client = client_for(emu.url, emu.account_id, step_log_chars=1000)
    run_id = ended_run(emu, client, LONG_LOG)
    [step] = [s for s in client.get_run(run_id, ["run_steps"]).steps if "dbt run" in s.name]

    assert len(step.logs) <= 1000
    assert step.logs.endswith(LOG_LINES[-1])
    assert step.logs.split("\n")[0].endswith(LOG_LINES[-len(step.logs.split("\n"))])
    assert step.logs_cut > 100_000


class UnsizedHandler(BaseHTTPRequestHandler):
    """Answers an artifact of `SIZE` bytes with no Content-Length (HTTP/1.0: the body ends when
    the connection closes), so only counting what arrives can stop it."""

    SIZE = 200_000

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}" + b" " * (self.SIZE - 2))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def unsized_url() -> Iterator[str]:
    with serving(UnsizedHandler) as url:
        yield url


def test_a_body_without_a_length_is_counted_as_it_arrives(unsized_url: str, tmp_path: Path) -> None:
    client = client_for(unsized_url, 1)
    target = tmp_path / "catalog.json"
    with target.open("wb") as into, pytest.raises(ArtifactTooLarge):
        client.download_artifact(7, "catalog.json", into, max_bytes=100_000)
    assert target.stat().st_size <= 100_000  # never more than the cap was handed on
    with target.open("wb") as into:
        assert client.download_artifact(7, "catalog.json", into, max_bytes=200_000) == 200_000
    with pytest.raises(AnswerTooLarge):
        client_for(unsized_url, 1, max_answer_bytes=100_000).get_job(5)


@pytest.mark.parametrize(
    ("count", "text"),
    [(900, "900 bytes"), (64 << 10, "64 KiB"), (1536 << 10, "1.5 MiB"), (1 << 30, "1 GiB")],
)
def test_byte_size(count: int, text: str) -> None:
    assert byte_size(count) == text
