"""The test oracle itself: it must read files and stdout the way the GitHub runner does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner_files import (
    RunnerFileError,
    file_command_pairs,
    parse_file_command,
    parse_workflow_commands,
    read_file_command,
)


def test_name_value_lines_and_heredocs() -> None:
    text = "a=1\nb=x=y\n\nc<<EOF\nline 1\n\nline 3\nEOF\nd<<EOF\nEOF\n"
    assert file_command_pairs(text) == [
        ("a", "1"),
        ("b", "x=y"),
        ("c", "line 1\n\nline 3"),
        ("d", ""),
    ]


def test_equals_before_heredoc_marker_is_a_plain_value() -> None:
    assert file_command_pairs("a=b<<EOF\n") == [("a", "b<<EOF")]
    assert file_command_pairs("a<<=\nx\n=\n") == [("a", "x")]


def test_missing_delimiter_is_an_error() -> None:
    with pytest.raises(RunnerFileError, match="Matching delimiter not found 'EOF'"):
        file_command_pairs("a<<EOF\nvalue\n")


def test_delimiter_without_final_newline_is_accepted_but_not_after_value() -> None:
    assert file_command_pairs("a<<EOF\nv\nEOF") == [("a", "v")]
    with pytest.raises(RunnerFileError, match="EOF marker missing new line"):
        file_command_pairs("a<<EOF\nv")


def test_empty_name_or_delimiter_and_garbage_are_errors() -> None:
    for text in ("<<EOF\nx\nEOF\n", "a<<\nx\n", "just text\n"):
        with pytest.raises(RunnerFileError):
            file_command_pairs(text)


def test_crlf_is_one_newline_only_on_windows() -> None:
    text = "a<<EOF\r\nx\r\nEOF\r\nb=1\r\n"
    assert file_command_pairs(text, windows=True) == [("a", "x"), ("b", "1")]
    # On Linux the \r stays part of each line: of the delimiter and of the values.
    assert file_command_pairs(text) == [("a", "x\r"), ("b", "1\r")]


def test_later_values_replace_earlier_ones(tmp_path: Path) -> None:
    assert parse_file_command("a=1\nb<<X\n2\nX\na=3\n") == {"a": "3", "b": "2"}
    path = tmp_path / "out"
    path.write_bytes(b"\xef\xbb\xbfa=1\na=2\n")
    assert read_file_command(path) == {"a": "2"}


def test_commands_and_visible_lines() -> None:
    log = parse_workflow_commands(
        "hello\n::add-mask::s3cret\n::group::Step 1\nthe s3cret is out\n::endgroup::\n"
        "  ::warning title=T%3A x::msg%0Aline 2\nnot ::a command::\n::unknown::x\n"
    )
    assert [c.name for c in log.commands] == ["add-mask", "group", "endgroup", "warning"]
    warning = log.named("warning")[0]
    assert warning.properties == {"title": "T: x"}
    assert warning.data == "msg\nline 2"
    assert "the *** is out" in log.visible
    assert "not ::a command::" in log.visible
    assert "::unknown::x" in log.visible


def test_stop_commands_makes_everything_inert_until_the_token() -> None:
    log = parse_workflow_commands(
        "::stop-commands::tok\n::set-output name=a::1\n##[add-mask]x\n::TOK::\n::error::live\n"
    )
    assert [c.name for c in log.commands] == ["stop-commands", "error"]
    assert "::set-output name=a::1" in log.visible
    assert not log.stopped_at_end


def test_resume_token_in_a_legacy_command_also_resumes() -> None:
    log = parse_workflow_commands("::stop-commands::tok\nx ##[tok] y\n::error::live\n")
    assert [c.name for c in log.commands] == ["stop-commands", "error"]


def test_unterminated_stop_is_reported() -> None:
    assert parse_workflow_commands("::stop-commands::tok\n::error::x\n").stopped_at_end


def test_legacy_command_anywhere_in_a_line_and_cr_splits_lines() -> None:
    log = parse_workflow_commands("prefix ##[set-output name=a;]1\rsecond\r::error::x")
    assert [c.name for c in log.commands] == ["set-output", "error"]
    assert log.named("set-output")[0].properties == {"name": "a"}
    assert "second" in log.visible
