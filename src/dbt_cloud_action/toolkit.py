"""The runner's I/O: inputs, outputs, state, masks, annotations, groups and inert log blocks.

The only module that imports `actions_toolkit` or prints a host's log syntax, so the rest of the
package stays pure and a toolkit quirk is fixed in one place. What is printed depends on the host
(`log_for`): workflow commands on GitHub Actions, collapsible sections and plain lines on GitLab
CI, plain lines anywhere else. Outside GitHub Actions (`GITHUB_OUTPUT`, `GITHUB_STATE`,
`GITHUB_STEP_SUMMARY` unset) outputs, state and the summary are skipped, never printed as
deprecated `::set-output` commands.

Everything written is made valid UTF-8 first (a lone surrogate from a JSON payload would
otherwise crash the write), and every workflow command is escaped so untrusted text can never
end its line and start another command. Every stream and file is UTF-8 whatever the locale or
code page: `use_utf8_streams()` for stdout and stderr, and each file opened with
encoding="utf-8" (actions_toolkit's file commands open theirs with encoding="utf8" too).
"""

from __future__ import annotations

import io
import itertools
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from actions_toolkit import command as _command
from actions_toolkit import core as _core
from actions_toolkit import file_command as _file_command

# Output and state names are ours, never user text; refuse anything the runner could misread.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The runner ends a log line at \r, \n or \r\n.
_RUNNER_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# Each run of a step lives in its own thread (run_life.py) and logs as it goes: one lock orders
# their lines, and a group or a stop-commands block holds it whole (re-entrant: its own lines).
_LOG_LOCK = threading.RLock()


def use_utf8_streams() -> None:
    """Make stdout and stderr UTF-8, whatever the locale or code page, at each entrypoint's start.

    The runner reads a step's output as UTF-8 (on Windows it sets its console to code page
    65001 and decodes with it), but Python gives a piped stdout the locale's encoding: on
    Windows the ANSI code page, cp1252, strict, so one `✓` in a dbt log would raise
    UnicodeEncodeError in the middle of a run. Text we print is valid UTF-8 already
    (`_valid_utf8`); stdout replaces anything else, stderr (tracebacks) escapes it."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):  # not None, as under pythonw
            stream.reconfigure(encoding="utf-8", errors=errors)


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
    with _LOG_LOCK:
        log().mask(secret)


# GitHub shows at most 10 error, 10 warning and 10 notice annotations per step and 50 per job
# (actions/toolkit docs/problem-matchers.md, "Limitations"); what this process issued is
# counted so the file annotations keep within the step's share.
ANNOTATIONS_PER_KIND = 10
ANNOTATIONS_PER_JOB = 50
_ISSUED: dict[str, int] = {}


def issued(level: str) -> int:
    """How many annotations of `level` (error, warning, notice) this process printed."""
    with _LOG_LOCK:
        return _ISSUED.get(level, 0)


def error(message: str, title: str | None = None) -> None:
    """An error: an annotation on GitHub (escaped, so it stays one command), else a line."""
    with _LOG_LOCK:
        log().annotate("error", message, title)
        _ISSUED["error"] = _ISSUED.get("error", 0) + 1


def file_error(message: str, title: str, file: str, line: int | None = None) -> None:
    """An error annotation on `file` (relative to the repository), at `line` when known;
    every property escaped as workflow commands require (`%`, CR, LF, `:` and `,`), so a
    hostile node name or path stays one property of one command."""
    with _LOG_LOCK:
        log().annotate_file("error", message, title, file, line)
        _ISSUED["error"] = _ISSUED.get("error", 0) + 1


def warning(message: str, title: str | None = None) -> None:
    """A warning, shown like error()."""
    with _LOG_LOCK:
        log().annotate("warning", message, title)
        _ISSUED["warning"] = _ISSUED.get("warning", 0) + 1


def notice(message: str, title: str | None = None) -> None:
    """A notice, shown like error()."""
    with _LOG_LOCK:
        log().annotate("notice", message, title)
        _ISSUED["notice"] = _ISSUED.get("notice", 0) + 1


@contextmanager
def group(name: str) -> Iterator[None]:
    """A foldable part of the log, always closed; its name is shown as text, never run. Other
    threads' lines wait until it is closed, so they never land in it."""
    with _LOG_LOCK, log().group(name):
        yield


@contextmanager
def stop_commands() -> Iterator[None]:
    """Print untrusted text inertly (on GitHub: the runner ignores commands until our random
    token). Nested use is a no-op: the outer block already stops commands. Other threads' lines
    wait until it ends: a command of theirs printed inside it would not be taken as one, and
    their untrusted text printed after it ends would be."""
    with _LOG_LOCK, log().stop_commands():
        yield


@contextmanager
def together() -> Iterator[None]:
    """Lines that belong together (a run's report: its step logs, annotation and outcome),
    with no other thread's line among them."""
    with _LOG_LOCK:
        yield


def info(text: str) -> None:
    """Print text to the log; lines the host could take for a command are printed inertly."""
    with _LOG_LOCK:
        log().info(text)


class HostLog(Protocol):
    """How one CI host shows annotations, folded groups and untrusted text."""

    def annotate(self, level: str, message: str, title: str | None) -> None: ...
    def annotate_file(
        self, level: str, message: str, title: str, file: str, line: int | None
    ) -> None: ...
    def group(self, name: str) -> AbstractContextManager[None]: ...
    def stop_commands(self) -> AbstractContextManager[None]: ...
    def info(self, text: str) -> None: ...
    def mask(self, secret: str) -> None: ...


def log() -> HostLog:
    """The log printer for the host this process runs on (read from the environment each time,
    so one process, or test, can change it)."""
    return log_for(os.environ)


def log_for(env: Mapping[str, str]) -> HostLog:
    if env.get("GITHUB_ACTIONS") == "true":
        return _GITHUB
    if env.get("GITLAB_CI") == "true":
        return _GITLAB
    return _PLAIN


class GitHubLog:
    """Workflow commands, read by GitHub's runner from stdout."""

    def __init__(self) -> None:
        self._commands_stopped = False  # one stdout, one switch

    def annotate(self, level: str, message: str, title: str | None) -> None:
        _issue(level, message, title)

    def annotate_file(
        self, level: str, message: str, title: str, file: str, line: int | None
    ) -> None:
        _issue(level, message, title, file=file, line=line)

    @contextmanager
    def group(self, name: str) -> Iterator[None]:
        _issue("group", name)
        try:
            yield
        finally:
            _issue("endgroup", "")

    @contextmanager
    def stop_commands(self) -> Iterator[None]:
        if self._commands_stopped:
            yield
            return
        token = os.urandom(16).hex()  # what secrets.token_hex(16) does, without its imports
        _issue("stop-commands", token)
        self._commands_stopped = True
        try:
            yield
        finally:
            self._commands_stopped = False
            _issue(token, "")

    def info(self, text: str) -> None:
        text = _valid_utf8(text)
        lines = _RUNNER_LINE_BREAK.split(text)
        if not self._commands_stopped and any(map(_looks_like_command, lines)):
            with self.stop_commands():
                _write_line(text)
        else:
            _write_line(text)

    def mask(self, secret: str) -> None:
        values = [secret, *(line.strip() for line in _RUNNER_LINE_BREAK.split(secret))]
        for value in dict.fromkeys(v for v in values if v.strip()):
            _issue("add-mask", value)


def _issue(
    name: str,
    message: str,
    title: str | None = None,
    *,
    file: str = "",
    line: int | None = None,
) -> None:
    # actions_toolkit's to_command_properties would emit `file=,line=,...` for unset properties;
    # the runner trims the properties, so we do too and the title shown is the title given.
    # Its Command escapes each property's %, CR, LF, `:` and `,` (escape_property).
    title = _valid_utf8(title or "").strip()
    properties = {"title": title} if title else {}
    if file:
        properties["file"] = _valid_utf8(file)
        if line is not None:
            properties["line"] = str(line)
    _command.issue_command(name, properties, _valid_utf8(message))
    sys.stdout.flush()


def _looks_like_command(line: str) -> bool:
    # The runner's two parsers: `::name ...::` after leading whitespace, `##[name]` anywhere.
    return line.lstrip().startswith("::") or "##[" in line


class PlainLog:
    """Plain text for any other host (Jenkins, a laptop): `error: ...` lines, groups as a
    heading line, and every escape sequence and carriage return of the text made inert (a
    terminal or a log viewer must not be steered by a dbt log line)."""

    def annotate(self, level: str, message: str, title: str | None) -> None:
        title = _one_line(title or "").strip()
        _write_line(f"{level}: " + _inert(f"{title}: {message}" if title else message))

    def annotate_file(
        self, level: str, message: str, title: str, file: str, line: int | None
    ) -> None:
        where = f"{file}:{line}" if line is not None else file
        self.annotate(level, message, f"{_one_line(where)}: {title}")

    @contextmanager
    def group(self, name: str) -> Iterator[None]:
        _write_line(f"== {_one_line(name)}")
        yield

    @contextmanager
    def stop_commands(self) -> Iterator[None]:
        # no host reads commands from this log; info() makes every line inert anyway
        yield

    def info(self, text: str) -> None:
        _write_line(_inert(text))

    def mask(self, secret: str) -> None:
        pass  # no runner masks anything here: the token is never printed at all


class GitLabLog(PlainLog):
    """Plain text, with groups as GitLab's collapsible sections. GitLab opens or closes a
    section only at `section_start|end:<time>:<name>` followed by a carriage return and
    `ESC[0K` (lib/gitlab/regex.rb, build_trace_section_regex), so text with neither (what
    _inert leaves) can never open or close one."""

    def __init__(self) -> None:
        self._sections = itertools.count(1)

    @contextmanager
    def group(self, name: str) -> Iterator[None]:
        section = f"dbt_cloud_{next(self._sections)}"
        start = f"section_start:{int(time.time())}:{section}[collapsed=true]"
        _write_line(f"{_ERASE_LINE}{start}\r{_ERASE_LINE}{_one_line(name)}")
        try:
            yield
        finally:
            _write_line(f"{_ERASE_LINE}section_end:{int(time.time())}:{section}\r{_ERASE_LINE}")


_ERASE_LINE = "\x1b[0K"
# Colours (SGR sequences) are dropped; any other escape is shown as ^[ instead of being run.
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _inert(text: str) -> str:
    text = _SGR.sub("", _valid_utf8(text)).replace("\x1b", "^[")
    return _RUNNER_LINE_BREAK.sub("\n", text)


def _one_line(text: str) -> str:
    return _inert(text).replace("\n", " ")


_GITHUB = GitHubLog()
_GITLAB = GitLabLog()
_PLAIN = PlainLog()


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
