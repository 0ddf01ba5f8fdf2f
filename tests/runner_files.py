"""Read what an action leaves for the GitHub runner exactly the way the runner reads it.

Ported from actions/runner: `EnvFileKeyValuePairs` (src/Runner.Worker/FileCommandManager.cs)
for `$GITHUB_OUTPUT`, `$GITHUB_STATE` and `$GITHUB_ENV`, and `ActionCommand.TryParseV2` /
`TryParse` with `ActionCommandManager`'s stop-commands switch for workflow commands on stdout.
Tests use these to prove hostile text can never add or change an output, or run a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class RunnerFileError(Exception):
    """The runner would fail the step with this message."""


def _read_line(text: str, index: int, *, windows: bool) -> tuple[str | None, int, str | None]:
    """(line, next index, the newline that ended it) like the runner's ReadLine."""
    if index >= len(text):
        return None, index, None
    lf = text.find("\n", index)
    if lf < 0:
        return text[index:], len(text), None
    if windows:  # only the Windows runner treats \r\n as one newline
        crlf = text.find("\r\n", index)
        if 0 <= crlf < lf:
            return text[index:crlf], crlf + 2, "\r\n"
    return text[index:lf], lf + 1, "\n"


def file_command_pairs(text: str, *, windows: bool = False) -> list[tuple[str, str]]:
    """The (name, value) pairs the runner reads from a file command's text, in order."""
    pairs: list[tuple[str, str]] = []
    line, index, _ = _read_line(text, 0, windows=windows)
    while line is not None:
        if line:
            equals, heredoc = line.find("="), line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                name, value = line.split("=", 1)
            elif heredoc >= 0 and (equals < 0 or heredoc < equals):
                name, delimiter = line.split("<<", 1)
                if not name or not delimiter:
                    raise RunnerFileError(
                        f"Invalid format '{line}'. "
                        "Name must not be empty and delimiter must not be empty"
                    )
                start = end = index
                value_line, index, newline = _read_line(text, index, windows=windows)
                while value_line != delimiter:
                    if value_line is None:
                        raise RunnerFileError(
                            f"Invalid value. Matching delimiter not found '{delimiter}'"
                        )
                    if newline is None:
                        raise RunnerFileError("Invalid value. EOF marker missing new line.")
                    end = index - len(newline)
                    value_line, index, newline = _read_line(text, index, windows=windows)
                value = text[start:end] if end > start else ""
            else:
                raise RunnerFileError(f"Invalid format '{line}'")
            pairs.append((name, value))
        line, index, _ = _read_line(text, index, windows=windows)
    return pairs


def parse_file_command(text: str, *, windows: bool = False) -> dict[str, str]:
    """The outputs (or state) a step leaves: later values of a name replace earlier ones."""
    return dict(file_command_pairs(text, windows=windows))


def read_file_command(path: Path, *, windows: bool = False) -> dict[str, str]:
    """parse_file_command() of a file, decoded like the runner's File.ReadAllText."""
    return parse_file_command(path.read_bytes().decode("utf-8-sig", "replace"), windows=windows)


# --- workflow commands on stdout ------------------------------------------------------------

# ActionCommandManager's registered commands (case-insensitive), plus the legacy ones.
RUNNER_COMMANDS = frozenset(
    {
        "add-mask",
        "add-matcher",
        "remove-matcher",
        "warning",
        "error",
        "notice",
        "debug",
        "group",
        "endgroup",
        "echo",
        "set-output",
        "save-state",
        "set-env",
        "add-path",
        "stop-commands",
        "internal-set-repo-path",
    }
)
_RUNNER_LINE = re.compile(r"\r\n|\r|\n")  # how the runner splits a process's output


@dataclass(frozen=True)
class WorkflowCommand:
    name: str
    properties: dict[str, str]
    data: str
    line: str


@dataclass
class CommandLog:
    """What the runner made of a step's stdout."""

    commands: list[WorkflowCommand] = field(default_factory=list)  # those it acted on
    visible: list[str] = field(default_factory=list)  # lines it shows, secrets masked
    masks: list[str] = field(default_factory=list)
    stopped_at_end: bool = False  # commands still stopped when the output ended

    def named(self, name: str) -> list[WorkflowCommand]:
        return [c for c in self.commands if c.name.lower() == name]


def _unescape(value: str, *, is_property: bool) -> str:
    value = value.replace("%0D", "\r").replace("%0A", "\n")
    if is_property:
        value = value.replace("%3A", ":").replace("%2C", ",")
    return value.replace("%25", "%")


def _parse_v2(line: str, registered: set[str]) -> WorkflowCommand | None:
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    if space > 0:
        for prop in (p for p in info[space + 1 :].strip().split(",") if p):
            pair = [part for part in prop.split("=", 1) if part]
            if len(pair) == 2:
                properties[pair[0]] = _unescape(pair[1], is_property=True)
    return WorkflowCommand(name, properties, _unescape(message[end + 2 :], is_property=False), line)


def _parse_v1(line: str, registered: set[str]) -> WorkflowCommand | None:
    prefix = line.find("##[")
    if prefix < 0:
        return None
    bracket = line.find("]", prefix)
    if bracket < 0:
        return None
    info = line[prefix + 3 : bracket]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    if space > 0:
        for prop in (p for p in info[space + 1 :].split(";") if p):
            pair = [part for part in prop.split("=", 1) if part]
            if len(pair) == 2:
                properties[pair[0]] = pair[1]
    return WorkflowCommand(name, properties, line[bracket + 1 :], line)


def parse_workflow_commands(stdout: str) -> CommandLog:
    """Run stdout through the runner's command processing, stop-commands included."""
    log = CommandLog()
    registered = {c.lower() for c in RUNNER_COMMANDS}
    stop_token: str | None = None
    for line in _RUNNER_LINE.split(stdout):
        command = _parse_v2(line, registered) or _parse_v1(line, registered)
        if command is not None and stop_token is not None:
            if command.name.lower() == stop_token.lower():
                registered.discard(stop_token.lower())
                stop_token = None
                continue
            command = None
        if command is None:
            log.visible.append(_masked(line, log.masks))
            continue
        log.commands.append(command)
        name = command.name.lower()
        if name == "stop-commands":
            stop_token = command.data
            registered.add(stop_token.lower())
        elif name == "add-mask" and command.data.strip():
            log.masks.append(command.data)
        elif name in {"group", "error", "warning", "notice", "debug"}:
            shown = " ".join([command.properties.get("title", ""), command.data]).strip()
            log.visible.append(_masked(shown, log.masks))
    log.stopped_at_end = stop_token is not None
    return log


def _masked(line: str, masks: list[str]) -> str:
    for secret in sorted(masks, key=len, reverse=True):
        line = line.replace(secret, "***")
    return line
