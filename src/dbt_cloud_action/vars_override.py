"""`vars`: the job's own commands, each that takes `--vars` given this step's variables.

The API has no per-run variables (nor environment variables): a run can only override its
steps. So the job's `execute_steps` (read first, in the run's life) are sent back as
`steps_override`, with ` --vars '<json>'` appended to each dbt command that takes it.

Quoting, safe however dbt Cloud splits a command: dbt Cloud's docs write `--vars` with POSIX
single quotes (`dbt run --vars '{"key": "value"}'`, docs.getdbt.com, "Project variables"), and
the tools that build steps (dbt-cloud-cli's `--steps-override`) pass such strings verbatim;
the input itself is YAML or JSON (PyYAML's safe loader), as dbt's own `--vars` is;
how dbt Cloud itself splits a step is not documented. The variables are therefore sent as JSON
(which is YAML, what dbt reads `--vars` as) inside single quotes, with every single quote in
the JSON written `\\u0027`: the argument then holds no quote to close, no backslash outside a
JSON string and no line break, so a shell-like split and a plain split on the quotes read the
same text.
"""

from __future__ import annotations

import datetime
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# dbt's commands that take --vars, as the first word (docs: `docs generate`, two words)
VARS_COMMANDS: Final = frozenset({"build", "run", "test", "seed", "snapshot", "compile"})
MAX_VARS_LENGTH: Final = 800  # of the JSON sent, so that a step stays one readable line


class VarsError(ValueError):
    """Why `vars` cannot be used (as it is, or with this job): the input's message."""


@dataclass(frozen=True)
class Vars:
    """The `vars` input: a mapping, and the one argument it becomes."""

    values: Mapping[str, Any]
    argument: str  # `--vars '<json>'`


def parse_vars(text: str) -> Vars:
    """A YAML or JSON mapping (dbt reads --vars as YAML; JSON is YAML too); VarsError when it
    is not one. It is sent as JSON: a YAML date or time is sent as its ISO text."""
    try:  # JSON first: exact as written (YAML reads JSON's \uD83D-style escapes apart)
        values = json.loads(text)
    except (ValueError, RecursionError):
        values = _yaml(text)
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        raise VarsError(
            "must be a mapping of variable names to values, in YAML (start_date: 2024-01-01) "
            f'or JSON ({{"start_date": "2024-01-01"}}); got a {type(values).__name__}.'
        )
    if not values:
        raise VarsError("is an empty mapping: give at least one variable, or leave it unset.")
    try:
        compact = json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=_iso)
    except (TypeError, ValueError) as exc:
        raise VarsError(f"holds a value dbt variables cannot carry ({exc}).") from None
    if len(compact) > MAX_VARS_LENGTH:
        raise VarsError(
            f"is {len(compact)} characters of JSON, more than {MAX_VARS_LENGTH}: a dbt Cloud "
            "step is one line; pass fewer or shorter variables."
        )
    quoted = compact.replace("'", "\\u0027")  # JSON has quotes only inside its strings
    return Vars(values, f"--vars '{quoted}'")


def _yaml(text: str) -> object:
    """The input as YAML (PyYAML's safe loader: no tags that build objects)."""
    import yaml  # noqa: PLC0415 - only `vars` needs it, after the start

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise VarsError(
            f"is not a valid YAML or JSON mapping{where}: write it as start_date: 2024-01-01 "
            'or as {"start_date": "2024-01-01"}.'
        ) from None


def _iso(value: object) -> str:
    """A YAML date or time as JSON: its ISO text."""
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _words(step: str) -> list[str]:
    """The step's words as a shell would split them (a step with an unclosed quote, which a
    shell could not run either, split on whitespace)."""
    try:
        return shlex.split(step)
    except ValueError:
        return step.split()


# dbt's commands: the first of these words is the step's command, whatever global flags (and
# their values, `--log-level debug`) come before it.
DBT_COMMANDS = frozenset(
    {
        *VARS_COMMANDS,
        "docs",
        "deps",
        "clean",
        "debug",
        "parse",
        "list",
        "ls",
        "show",
        "source",
        "run-operation",
        "retry",
        "clone",
        "init",
    }
)


# dbt's global flags that take a value as the next word (`--log-level debug`: not `dbt debug`).
VALUED_GLOBAL_FLAGS = frozenset(
    {
        "--log-level",
        "--log-level-file",
        "--log-format",
        "--log-format-file",
        "--log-path",
        "--target-path",
        "--profiles-dir",
        "--project-dir",
        "--printer-width",
        "--record-timing-info",
        "-r",
    }
)


def _command(words: Sequence[str]) -> tuple[str, ...]:
    """The dbt command's words: the first of DBT_COMMANDS not a global flag's value."""
    skip = False
    for at, word in enumerate(words):
        if skip:
            skip = False
        elif word in VALUED_GLOBAL_FLAGS:
            skip = True
        elif word in DBT_COMMANDS:
            return tuple(words[at : at + 2])
    return ()


def takes_vars(step: str) -> bool:
    """Whether the step runs a dbt command that takes --vars (global flags before it skipped)."""
    command = _command(_words(step)[1:])
    return bool(command) and (command[0] in VARS_COMMANDS or command == ("docs", "generate"))


def passes_vars(step: str) -> bool:
    return any(word == "--vars" or word.startswith("--vars=") for word in _words(step))


def steps_with_vars(
    execute_steps: Sequence[str], given: Vars, job_id: int, *, max_length: int
) -> tuple[str, ...]:
    """The job's steps with the variables added to each that takes them; VarsError when a
    step already passes --vars (two would be ambiguous: dbt reads one) or none takes them (the
    variables would be dropped without a word)."""
    already = [number for number, step in enumerate(execute_steps, 1) if passes_vars(step)]
    if already:
        raise VarsError(
            f"is set, but job {job_id}'s step {already[0]} already passes --vars "
            f"({execute_steps[already[0] - 1][:80]!r}); dbt would read only one of them. Move "
            "those variables into this input and remove --vars from the job, or use "
            "steps-override with the whole commands.",
        )
    if not any(takes_vars(step) for step in execute_steps):
        listed = "; ".join(execute_steps) or "none"
        raise VarsError(
            f"is set, but none of job {job_id}'s commands ({listed[:200]}) takes --vars (only "
            "dbt build, run, test, seed, snapshot, compile and docs generate do). Add such a "
            "command to the job, or leave vars unset.",
        )
    steps = tuple(
        f"{step} {given.argument}" if takes_vars(step) else step for step in execute_steps
    )
    if any(len(step) > max_length for step in steps):
        raise VarsError(
            f"makes one of job {job_id}'s commands longer than {max_length} characters; "
            "pass fewer or shorter variables.",
        )
    return steps
