"""The runner's I/O: inputs, outputs, state, masks, annotations, groups and inert log blocks.

The only module that imports `actions_toolkit`, so the rest of the package stays pure and a
toolkit quirk is fixed in one place. Outside GitHub Actions (`GITHUB_OUTPUT`, `GITHUB_STATE`,
`GITHUB_STEP_SUMMARY` unset) outputs, state and the summary are skipped, never printed as
deprecated `::set-output` commands.

Everything written is made valid UTF-8 first (a lone surrogate from a JSON payload would
otherwise crash the write), and every workflow command is escaped so untrusted text can never
end its line and start another command.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from actions_toolkit import command as _command
from actions_toolkit import core as _core
from actions_toolkit import file_command as _file_command

# Output and state names are ours, never user text; refuse anything the runner could misread.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The runner ends a log line at \r, \n or \r\n.
_RUNNER_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_commands_stopped = False


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid output or state name {name!r}: use letters, digits, - and _")
    return name


def get_input(name: str) -> str:
    """The raw value of input `name` (`INPUT_JOB-ID` for `job-id`), untrimmed; '' when unset."""
    return str(_core.get_input(name, trim_whitespace=False))


def set_output(name: str, value: str) -> None:
    """Write a step output with a random heredoc delimiter; nothing outside GitHub Actions."""
    if os.environ.get("GITHUB_OUTPUT"):
        message = _file_command.prepare_key_value_message(_checked_name(name), _valid_utf8(value))
        _file_command.issue_file_command("OUTPUT", message)


def save_state(name: str, value: str) -> None:
    """Save state for the post step (read back as STATE_<name>); nothing outside GitHub Actions."""
    if os.environ.get("GITHUB_STATE"):
        message = _file_command.prepare_key_value_message(_checked_name(name), _valid_utf8(value))
        _file_command.issue_file_command("STATE", message)


def get_state(name: str) -> str:
    """State saved by the main step, '' when none."""
    return str(_core.get_state(_checked_name(name)))


def mask(secret: str) -> None:
    """Ask the runner to mask `secret` (and each of its lines) in every later log line.

    Only on GitHub's runner: anywhere else (GitLab, a laptop) `::add-mask::` is just a log line
    that would print the secret itself."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    values = [secret, *(line.strip() for line in _RUNNER_LINE_BREAK.split(secret))]
    for value in dict.fromkeys(v for v in values if v.strip()):
        _issue("add-mask", value)


def _issue(name: str, message: str, title: str | None = None) -> None:
    # actions_toolkit's to_command_properties would emit `file=,line=,...` for unset properties;
    # the runner trims the properties, so we do too and the title shown is the title given.
    title = _valid_utf8(title or "").strip()
    properties = {"title": title} if title else {}
    _command.issue_command(name, properties, _valid_utf8(message))
    sys.stdout.flush()


def error(message: str, title: str | None = None) -> None:
    """An error annotation; `message` and `title` are escaped, so they stay one command."""
    _issue("error", message, title)


def warning(message: str, title: str | None = None) -> None:
    """A warning annotation; escaped like error()."""
    _issue("warning", message, title)


def notice(message: str, title: str | None = None) -> None:
    """A notice annotation; escaped like error()."""
    _issue("notice", message, title)


@contextmanager
def group(name: str) -> Iterator[None]:
    """A foldable log group; the name is escaped and always closed."""
    _issue("group", name)
    try:
        yield
    finally:
        _issue("endgroup", "")


@contextmanager
def stop_commands() -> Iterator[None]:
    """Print untrusted text inertly: the runner ignores commands until our random token.

    Nested use is a no-op: the outer block already stops commands.
    """
    global _commands_stopped  # noqa: PLW0603 - one stdout, one switch
    if _commands_stopped:
        yield
        return
    token = secrets.token_hex(16)
    _issue("stop-commands", token)
    _commands_stopped = True
    try:
        yield
    finally:
        _commands_stopped = False
        _issue(token, "")


def _looks_like_command(line: str) -> bool:
    # The runner's two parsers: `::name ...::` after leading whitespace, `##[name]` anywhere.
    return line.lstrip().startswith("::") or "##[" in line


def info(text: str) -> None:
    """Print text to the log; lines the runner could take for a command are printed inertly."""
    text = _valid_utf8(text)
    if not _commands_stopped and any(map(_looks_like_command, _RUNNER_LINE_BREAK.split(text))):
        with stop_commands():
            _write_line(text)
    else:
        _write_line(text)


def _write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def append_summary(markdown: str) -> None:
    """Append markdown to the job summary; nothing outside GitHub Actions."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = _valid_utf8(markdown)
    with open(path, "a", encoding="utf-8", newline="") as summary:
        summary.write(text if text.endswith("\n") else text + "\n")
