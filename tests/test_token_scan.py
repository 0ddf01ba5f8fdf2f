"""The token scanner finds a leak wherever a step leaves one, and allows only the mask line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.token_scan import Capture, TokenScan, find_leaks

TOKEN = "dbtc_scannerUnitToken_0123456789"


def capture(**texts: str) -> Capture:
    return Capture("step", dict(texts), frozenset({TOKEN}))


@pytest.mark.parametrize(
    "texts",
    [
        {"stdout": f"Triggered with {TOKEN}\n"},
        {"stdout": f"::add-mask::{TOKEN} and more\n"},  # only the exact mask line is allowed
        {"stdout": f"  ::add-mask::{TOKEN}\n"},
        {"stderr": f"Traceback ... Token {TOKEN}\n"},
        {"output_1": f"run-url<<ghadelimiter_1\nhttps://x/?t={TOKEN}\nghadelimiter_1\n"},
        {"step_summary_1": f"| cause | {TOKEN} |\n"},
        {"state_1": f"run_id={TOKEN}\n"},
        {"stderr": f"a\u2028{TOKEN}"},
        {"stderr": f"{TOKEN.upper()}{TOKEN}"},
    ],
)
def test_a_token_anywhere_is_a_leak(texts: dict[str, str]) -> None:
    leaks = find_leaks(capture(**texts), {TOKEN})
    assert len(leaks) == 1
    assert leaks[0].where == next(iter(texts))


def test_the_add_mask_line_alone_is_allowed() -> None:
    clean = capture(stdout=f"::add-mask::{TOKEN}\nTriggered run 1\n", stderr="", output_1="")
    assert find_leaks(clean, {TOKEN}) == []


def test_session_scan_reads_every_file_and_uses_every_token(tmp_path: Path) -> None:
    scan = TokenScan()
    (tmp_path / "workspace" / "target").mkdir(parents=True)
    (tmp_path / "workspace" / "target" / "run_results.json").write_text(f'{{"t": "{TOKEN}"}}')
    other = "dbtc_anotherTestsToken_abcdef012345"
    scan.add_token(other)
    scan.record("one", {"INPUT_API-TOKEN": TOKEN}, f"::add-mask::{TOKEN}\n", other, tmp_path)
    leaks = scan.leaks(scan.captures)
    assert {(leak.where, leak.line) for leak in leaks} == {
        ("stderr", other),
        ("workspace/target/run_results.json", f'{{"t": "{TOKEN}"}}'),
    }


def test_short_placeholders_are_not_tokens(tmp_path: Path) -> None:
    scan = TokenScan()
    scan.record("one", {"INPUT_API-TOKEN": "x"}, "x marks the spot\n", "", tmp_path)
    scan.add_token("short")
    assert scan.tokens == set()
    assert scan.leaks(scan.captures) == []


LEAKY_TESTS = """
from tests.token_scan import SESSION

TOKEN = "dbtc_leakyInnerToken_0123456789"


def test_leaky_step(tmp_path):
    SESSION.record("leaky", {"INPUT_API-TOKEN": TOKEN}, f"cause: {TOKEN}", "", tmp_path)


def test_clean_step(tmp_path):
    SESSION.record("clean", {"INPUT_API-TOKEN": TOKEN}, f"::add-mask::{TOKEN}", "", tmp_path)
"""


def test_a_leak_fails_the_test_and_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real conftest hooks, in a separate session: the leaky test errors, the run fails."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    pytester.makeconftest(
        "from tests.conftest import no_token_in_step_output, pytest_sessionfinish"
    )
    pytester.makepyfile(test_inner=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["API token leaked:", "leaky: token in stdout: *"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
