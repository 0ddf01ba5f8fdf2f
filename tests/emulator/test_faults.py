"""Scripted faults, per endpoint and call number, as a client sees them over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from dbt_cloud_emulator import Emulator, Fault
from tests.emulator.conftest import Api


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_status_fault_replies_with_an_error_envelope(
    emulator: Emulator, api: Api, status: int
) -> None:
    emulator.faults.add(Fault("get_job", calls=(1,), status=status))
    failed = api.call("GET", "jobs/101/")
    assert failed.status_code == status
    assert failed.json()["status"]["is_success"] is False
    assert failed.json()["status"]["user_message"]
    assert "Retry-After" not in failed.headers
    assert api.call("GET", "jobs/101/").status_code == 200  # only call 1 was scripted
    assert emulator.calls("get_job") == 2


HTTP_DATE = "Wed, 21 Oct 2026 07:28:00 GMT"


@pytest.mark.parametrize(
    ("retry_after", "header"), [(3, "3"), (1.5, "1.5"), (HTTP_DATE, HTTP_DATE)]
)
def test_status_fault_can_send_retry_after(
    emulator: Emulator, api: Api, retry_after: float | str, header: str
) -> None:
    emulator.faults.add(Fault("list_runs", status=429, retry_after=retry_after))
    response = api.call("GET", "runs/")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == header


def test_status_fault_on_trigger_creates_no_run(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("trigger", calls=(1,), status=503))
    assert api.call("POST", "jobs/101/run/", body={"cause": "x"}).status_code == 503
    assert emulator.created_runs() == []
    api.trigger(101)
    assert len(emulator.created_runs()) == 1


def test_cut_fault_sends_half_the_body_and_closes(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("get_job", calls=(1,), kind="cut"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.call("GET", "jobs/101/")  # Content-Length promised the whole body
    assert api.call("GET", "jobs/101/").json()["data"]["id"] == 101
    assert [r.status for r in emulator.requests] == [200, 200]


def test_html_fault_sends_a_page_instead_of_json(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("get_run", calls=(1,), status=502, kind="html"))
    emulator.faults.add(Fault("get_run", calls=(2,), status=200, kind="html"))
    bad_gateway = api.call("GET", "runs/10001/")
    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["Content-Type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in bad_gateway.text
    looks_fine = api.call("GET", "runs/10001/")
    assert looks_fine.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        looks_fine.json()


def test_drop_fault_closes_the_connection_without_a_reply(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("list_jobs", calls=(1,), kind="drop"))
    with pytest.raises(requests.ConnectionError):
        api.call("GET", "jobs/")
    assert api.call("GET", "jobs/").status_code == 200
    assert [r.status for r in emulator.requests] == [0, 200]


def test_delay_fault_answers_late(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("get_job", calls=(1,), kind="delay", delay=0.3))
    started = time.monotonic()
    assert api.call("GET", "jobs/101/").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.ReadTimeout):
        emulator.faults.add(Fault("trigger", kind="delay", delay=0.5))
        api.session.post(f"{api.base}jobs/101/run/", json={"cause": "slow"}, timeout=0.1)
    # the reply was slow, but the run was created as the request arrived
    assert [r["trigger"]["cause"] for r in emulator.created_runs()] == ["slow"]


def test_lose_response_creates_the_run_but_never_replies(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("trigger", calls=(1,), kind="lose_response"))
    with pytest.raises(requests.ConnectionError):
        api.call("POST", "jobs/101/run/", body={"cause": "lost reply"})
    runs = emulator.created_runs()
    assert [r["trigger"]["cause"] for r in runs] == ["lost reply"]
    listed = api.data("GET", "runs/", params={"job_definition_id": 101, "order_by": "-id"})
    assert listed[0]["id"] == runs[0]["id"]
    assert emulator.requests[0].status == 0


def test_not_found_after_trigger(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("get_run", calls=(1, 2), kind="not_found_after_trigger"))
    run_id = api.trigger(101)["id"]
    for _ in range(2):
        missing = api.call("GET", f"runs/{run_id}/")
        assert missing.status_code == 404
        assert str(run_id) in missing.json()["status"]["developer_message"]
    assert api.call("GET", f"runs/{run_id}/").status_code == 200


def test_wildcard_fault_counts_calls_per_endpoint(emulator: Emulator, api: Api) -> None:
    emulator.faults.add(Fault("*", calls=(2,), status=500))
    assert api.call("GET", "jobs/").status_code == 200
    assert api.call("GET", "runs/").status_code == 200  # call 1 of list_runs
    assert api.call("GET", "jobs/").status_code == 500  # call 2 of list_jobs
    assert api.call("GET", "runs/").status_code == 500
    emulator.faults.clear()
    assert api.call("GET", "runs/").status_code == 200
    assert (emulator.calls("list_jobs"), emulator.calls("list_runs")) == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "get_runs"}, "endpoint"),
        ({"endpoint": "get_run", "kind": "explode"}, "kind"),
        ({"endpoint": "get_run", "kind": "lose_response"}, "trigger"),
        ({"endpoint": "trigger", "kind": "not_found_after_trigger"}, "get_run"),
        ({"endpoint": "get_run", "status": 42}, "status"),
        ({"endpoint": "get_run", "kind": "delay", "delay": -1}, "delay"),
    ],
)
def test_bad_faults_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)  # type: ignore[arg-type]
