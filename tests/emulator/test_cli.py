"""`python -m dbt_cloud_emulator serve`: the emulator on its own, as the README describes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

SRC = Path(__file__).resolve().parents[2] / "src"
CONFIG = {
    "account_id": 42,
    "token": "cli-token",
    "jobs": [
        {
            "id": 7,
            "name": "From a file",
            "queue_seconds": 1,
            "job_type": "scheduled",
            "history": [30, 32],
            "steps": [
                {"name": "Clone git repository", "duration": 1},
                {
                    "name": "Invoke dbt with `dbt build`",
                    "command": "dbt build",
                    "duration": 3,
                    "results": [{"unique_id": "model.shop.orders", "status": "success"}],
                },
            ],
        }
    ],
}


def serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-m", "dbt_cloud_emulator", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_serve_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "emulator.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    process = serve("--port", "0", "--config", str(config))
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("dbt Cloud emulator listening on http://127.0.0.1:"), first
        url = first.split(" on ", 1)[1].strip()
        assert "7 (From a file)" in process.stdout.readline()
        reply = requests.get(
            f"{url}/api/v2/accounts/42/runs/",
            params={"job_definition_id": 7},
            headers={"Authorization": "Token cli-token"},
            timeout=5,
        )
        assert reply.status_code == 200
        assert [run["run_duration"] for run in reply.json()["data"]] == ["00:00:30", "00:00:32"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "dbt Cloud emulator stopped" in out


def test_a_bad_config_file_is_named_in_the_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"jobs": [{"id": "seven", "name": "x", "steps": []}]}))
    process = serve("--port", "0", "--config", str(config))
    _, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "config.jobs[0].id: must be int, got 'seven'" in err


def test_serve_with_tls_prints_the_ca_to_trust() -> None:
    process = serve("--port", "0", "--tls")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].strip()
        assert url.startswith("https://127.0.0.1:")
        process.stdout.readline()  # the account line
        ca = process.stdout.readline().split(": ", 1)[1].split(" ", 1)[0]
        reply = requests.get(
            f"{url}/api/v2/accounts/1/jobs/101",  # no trailing slash: 308, then the job
            headers={"Authorization": "Token emulator-token"},
            verify=ca,
            timeout=5,
        )
        assert (reply.status_code, reply.json()["data"]["id"]) == (200, 101)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert not Path(ca).exists()
