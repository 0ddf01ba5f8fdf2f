"""The engine's last line of defence, tested in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dbt_cloud_action import action

TOKEN = "dbtc_unitSecretToken_0123456789abcdef"


def test_unexpected_error_is_one_redacted_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_API-TOKEN", TOKEN)
    monkeypatch.delenv("RUNNER_DEBUG", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    def broken() -> int:
        raise RuntimeError(f"boom with {TOKEN} inside")

    assert action._without_traceback(broken) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error title=dbt Cloud action")
    assert "RuntimeError" in out and "report it" in out
    assert TOKEN not in out
    assert "Traceback" not in out


def test_the_entrypoint_imports_only_what_the_first_request_needs() -> None:
    """Watching, results, reporting and PyGithub load after the first dbt Cloud request
    (bench/startup.py measures the time; this only guards the import graph)."""
    code = "import sys, dbt_cloud_action.action, dbt_cloud_action.cli; print(*sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "requests" in loaded  # the test sees what it claims to see
    deferred = {
        "github",
        "dbt_cloud_action.github_reporting",
        "dbt_cloud_action.reporting",
        "dbt_cloud_action.results",
        "dbt_cloud_action.watcher",
        "statistics",
        "html",
    }
    assert sorted(deferred & set(loaded)) == []
