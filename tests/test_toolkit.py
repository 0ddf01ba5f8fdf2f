"""The runner I/O wrapper, checked against parsers that read files and stdout like the runner."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from dbt_cloud_action import toolkit
from tests.hostile import hostile_text
from tests.runner_files import parse_workflow_commands, read_file_command

OUR_OUTPUTS = {"run-id": "4242", "status": "error", "git-branch": "main"}


@pytest.fixture(autouse=True)
def on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about GitHub's runner (tests/test_toolkit_hosts.py: the other hosts)."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITLAB_CI", raising=False)


@pytest.fixture
def runner_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {name: tmp_path / name.lower() for name in ("OUTPUT", "STATE", "STEP_SUMMARY")}
    for name, path in files.items():
        path.touch()
        monkeypatch.setenv(f"GITHUB_{name}", str(path))
    return files


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def test_get_input_keeps_hyphens_and_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_JOB-ID", " 17 ")
    assert toolkit.get_input("job-id") == " 17 "
    assert toolkit.get_input("account-id") == ""


def test_outputs_and_state_round_trip(runner_files: dict[str, Path]) -> None:
    for name, value in OUR_OUTPUTS.items():
        toolkit.set_output(name, value)
    toolkit.save_state("run-id", "4242")
    assert read_file_command(runner_files["OUTPUT"]) == OUR_OUTPUTS
    assert read_file_command(runner_files["STATE"]) == {"run-id": "4242"}
    # A random delimiter, never a guessable one.
    assert "<<ghadelimiter_" in runner_files["OUTPUT"].read_text()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile_text)
def test_no_value_can_add_or_change_another_output(
    runner_files: dict[str, Path], value: str
) -> None:
    for path in runner_files.values():
        path.write_text("")
    toolkit.set_output("run-id", "4242")
    toolkit.set_output("git-branch", value)
    toolkit.set_output("status", "error")
    toolkit.save_state("branch", value)
    assert read_file_command(runner_files["OUTPUT"]) == {
        "run-id": "4242",
        "git-branch": _valid_utf8(value),
        "status": "error",
    }
    assert read_file_command(runner_files["STATE"]) == {"branch": _valid_utf8(value)}


def test_lone_surrogates_are_written_as_valid_utf8(runner_files: dict[str, Path]) -> None:
    toolkit.set_output("git-branch", "a\ud800b")
    toolkit.append_summary("x\udfff")
    assert read_file_command(runner_files["OUTPUT"]) == {"git-branch": "a?b"}
    assert runner_files["STEP_SUMMARY"].read_text(encoding="utf-8") == "x?\n"


def test_bad_output_names_are_refused(runner_files: dict[str, Path]) -> None:
    for name in ("", "a\nb", "a=b", "a<<b", "1st"):
        with pytest.raises(ValueError, match="invalid output or state name"):
            toolkit.set_output(name, "x")
    assert runner_files["OUTPUT"].read_text() == ""


def test_outside_github_outputs_state_and_summary_do_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    toolkit.set_output("status", "success")
    toolkit.save_state("run-id", "1")
    toolkit.append_summary("# hi")
    assert capsys.readouterr().out == ""


def test_get_state_reads_the_post_step_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_run-id", "4242")
    assert toolkit.get_state("run-id") == "4242"
    assert toolkit.get_state("other") == ""


def test_summary_is_appended(runner_files: dict[str, Path]) -> None:
    toolkit.append_summary("# one")
    toolkit.append_summary("two\n")
    assert runner_files["STEP_SUMMARY"].read_text() == "# one\ntwo\n"


def test_mask_is_silent_outside_github(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    toolkit.mask("s3cret-value")
    assert "s3cret-value" not in capsys.readouterr().out


def test_mask_registers_the_secret_and_each_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    toolkit.mask("abc\ndef ")
    toolkit.mask("")
    log = parse_workflow_commands(capsys.readouterr().out)
    assert log.masks == ["abc\ndef ", "abc", "def"]


def test_annotations_without_title_have_no_empty_properties(
    capsys: pytest.CaptureFixture[str],
) -> None:
    toolkit.error("boom")
    toolkit.warning("careful", title="Heads up: a, b")
    toolkit.notice("fyi")
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "::error::boom",
        "::warning title=Heads up%3A a%2C b::careful",
        "::notice::fyi",
    ]


def _emit_everything(message: str, title: str, line: str) -> str:
    """What the action prints around untrusted text: an annotation, a step log, a line."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        toolkit.error(message, title=title)
        with toolkit.group(title), toolkit.stop_commands():
            toolkit.info(line)
            toolkit.info(line)
        toolkit.info(line)
        toolkit.notice(message)
    return buffer.getvalue()


@settings(max_examples=300)
@given(message=hostile_text, title=hostile_text, line=hostile_text)
def test_untrusted_text_never_becomes_a_live_command(message: str, title: str, line: str) -> None:
    log = parse_workflow_commands(_emit_everything(message, title, line))
    names = [c.name for c in log.commands if c.name != "stop-commands"]
    assert names == ["error", "group", "endgroup", "notice"]
    assert not log.stopped_at_end
    error = log.named("error")[0]
    assert error.data == _valid_utf8(message)
    shown_title = _valid_utf8(title).strip()
    assert error.properties == ({"title": shown_title} if shown_title else {})
    assert log.named("group")[0].data == _valid_utf8(title)
    assert log.named("notice")[0].data == _valid_utf8(message)


def test_stop_commands_uses_a_fresh_random_token_and_always_resumes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError), toolkit.stop_commands():
        toolkit.info("::set-output name=status::success")
        raise RuntimeError
    with toolkit.stop_commands(), toolkit.stop_commands():  # nested: one block
        toolkit.info("::error::inert")
    toolkit.error("live")
    out = capsys.readouterr().out
    log = parse_workflow_commands(out)
    tokens = [c.data for c in log.named("stop-commands")]
    assert len(tokens) == 2
    assert len(set(tokens)) == 2
    assert all(len(token) == 32 for token in tokens)
    assert [c.name for c in log.commands if c.name != "stop-commands"] == ["error"]
    assert log.named("error")[0].data == "live"


def test_another_threads_lines_never_land_inside_a_stop_commands_block(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each run logs from its own thread: a warning of one run while another prints dbt's log
    inertly must still be a warning, and the untrusted text must stay inert."""
    inside = threading.Event()

    def other_run() -> None:
        inside.wait(5)
        toolkit.warning("live from another run")

    other = threading.Thread(target=other_run)
    other.start()
    with toolkit.group("Step 1"), toolkit.stop_commands():
        inside.set()
        for _ in range(20):
            toolkit.info("::error::untrusted dbt output")
            time.sleep(0.005)
    other.join(5)
    log = parse_workflow_commands(capsys.readouterr().out)
    assert [c.name for c in log.commands if c.name not in ("stop-commands", "group")] == [
        "endgroup",
        "warning",
    ]
    assert log.named("warning")[0].data == "live from another run"


def test_info_prints_plain_lines_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    toolkit.info("Run 4242 started: https://x.test/runs/4242")
    assert capsys.readouterr().out == "Run 4242 started: https://x.test/runs/4242\n"


def test_info_makes_command_like_lines_inert(capsys: pytest.CaptureFixture[str]) -> None:
    toolkit.info("first\n  ::add-mask::oops\r::set-output name=a::b")
    log = parse_workflow_commands(capsys.readouterr().out)
    assert [c.name for c in log.commands] == ["stop-commands"]
    assert "  ::add-mask::oops" in log.visible


def test_group_closes_on_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), toolkit.group("Step 1"):
        raise KeyError
    assert [c.name for c in parse_workflow_commands(capsys.readouterr().out).commands] == [
        "group",
        "endgroup",
    ]


def test_importing_the_toolkit_does_not_import_pygithub() -> None:
    code = (
        "import sys, dbt_cloud_action.toolkit, dbt_cloud_action.reporting;"
        "print(any(m == 'github' or m.startswith(('github.', 'actions_toolkit.github'))"
        " for m in sys.modules))"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
