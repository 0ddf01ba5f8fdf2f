"""The engine's last line of defence, tested in-process."""

from __future__ import annotations

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
