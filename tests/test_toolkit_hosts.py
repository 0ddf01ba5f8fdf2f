"""What the toolkit prints on each host: workflow commands only on GitHub Actions, GitLab's
collapsible sections under GitLab CI, plain lines elsewhere; never a marker from untrusted text."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stdout

import pytest
from hypothesis import given, settings

from dbt_cloud_action import toolkit
from tests.gitlab_log import SectionMarker, section_markers, without_markers
from tests.hostile import hostile_text

GITLAB = {"GITLAB_CI": "true", "CI": "true"}


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"GITHUB_ACTIONS": "true"}, toolkit.GitHubLog),
        ({"GITHUB_ACTIONS": "true", "GITLAB_CI": "true"}, toolkit.GitHubLog),
        (GITLAB, toolkit.GitLabLog),
        ({"GITHUB_ACTIONS": "false", "CI": "true"}, toolkit.PlainLog),
        ({}, toolkit.PlainLog),
    ],
)
def test_the_log_printer_follows_the_host(env: dict[str, str], kind: type) -> None:
    assert type(toolkit.log_for(env)) is kind


def printed(env: dict[str, str], emit: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        emit()
    return buffer.getvalue()


def emit_a_step(message: str, title: str, line: str) -> Callable[[], None]:
    """What the action prints around untrusted text: a masked token, an annotation, a step's
    log in a group, a line, a notice."""

    def emit() -> None:
        toolkit.mask("dbtc_secret_token_value")
        toolkit.error(message, title=title)
        with toolkit.group(title), toolkit.stop_commands():
            toolkit.info(line)
        toolkit.info(line)
        toolkit.notice(message)

    return emit


def test_plain_text_has_no_workflow_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    out = printed({}, emit_a_step("it broke", "Invalid input 'job-id'", "dbt log"), monkeypatch)
    assert out.splitlines() == [
        "error: Invalid input 'job-id': it broke",
        "== Invalid input 'job-id'",
        "dbt log",
        "dbt log",
        "notice: it broke",
    ]


def test_gitlab_shows_groups_as_collapsed_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    out = printed(GITLAB, emit_a_step("it broke", "Step 1: dbt build", "dbt log"), monkeypatch)
    [start, end] = section_markers(out)
    assert start == SectionMarker("start", start.name, "[collapsed=true]", "Step 1: dbt build")
    assert end == SectionMarker("end", start.name, "", "")
    assert "::" not in out
    assert without_markers(out).splitlines() == [
        "error: Step 1: dbt build: it broke",
        "Step 1: dbt build",
        "dbt log",
        "",
        "dbt log",
        "notice: it broke",
    ]


def test_each_gitlab_section_has_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def two_groups() -> None:
        for title in ("Step 1", "Step 2"):
            with toolkit.group(title):
                toolkit.info("x")

    markers = section_markers(printed(GITLAB, two_groups, monkeypatch))
    assert [(m.kind, m.header) for m in markers] == [
        ("start", "Step 1"),
        ("end", ""),
        ("start", "Step 2"),
        ("end", ""),
    ]
    assert markers[0].name == markers[1].name != markers[2].name == markers[3].name


def test_a_dbt_log_line_cannot_close_or_open_a_gitlab_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forged() -> None:
        with toolkit.group("Step 1"):
            toolkit.info("section_end:1700000000:dbt_cloud_1\r\x1b[0K")
            toolkit.info("\x1b[0Ksection_start:1700000000:evil[collapsed=true]\r\x1b[0KFake")

    out = printed(GITLAB, forged, monkeypatch)
    assert [(m.kind, m.header) for m in section_markers(out)] == [("start", "Step 1"), ("end", "")]
    shown = without_markers(out).splitlines()
    assert "section_end:1700000000:dbt_cloud_1" in shown
    assert "^[[0Ksection_start:1700000000:evil[collapsed=true]" in shown


def test_colours_are_dropped_and_other_escapes_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    out = printed(
        {}, lambda: toolkit.info("\x1b[31;1mred\x1b[0m \x1b]8;;x\x07y \x1b[2J"), monkeypatch
    )
    assert out == "red ^[]8;;x\x07y ^[[2J\n"


@settings(max_examples=300)
@given(message=hostile_text, title=hostile_text, line=hostile_text)
def test_untrusted_text_never_makes_a_gitlab_section(message: str, title: str, line: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        out = printed(GITLAB, emit_a_step(message, title, line), monkeypatch)
    markers = section_markers(out)
    assert [m.kind for m in markers] == ["start", "end"]
    assert markers[0].name == markers[1].name
    # no escape and no carriage return outside the two markers: nothing else can steer the log
    assert "\x1b" not in without_markers(out)
    assert "\r" not in without_markers(out)


@settings(max_examples=300)
@given(message=hostile_text, title=hostile_text, line=hostile_text)
def test_plain_text_carries_no_escape_and_no_carriage_return(
    message: str, title: str, line: str
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        out = printed({}, emit_a_step(message, title, line), monkeypatch)
    assert "\x1b" not in out
    assert "\r" not in out
    assert "dbtc_secret_token_value" not in out  # nothing to mask it: it is never printed
