"""What the container checks need of GitHub's runner and of a dbt Cloud user's view.

The runner gives a container action every declared input as INPUT_<NAME> (upper-cased, hyphens
kept, default or empty), reads GITHUB_OUTPUT and GITHUB_STATE back as `name=value` lines or
`name<<DELIMITER` heredocs, and hands saved state to the post step as STATE_<name>. The checks
read the outcome of an emulated run over the public API, as a user would.

Usage (values go out NUL-separated so they survive newlines and spaces):
  runner_sim.py inputs ACTION_YML [name=value ...]   INPUT_* assignments for `podman run -e`
  runner_sim.py state FILE                            STATE_* assignments from a GITHUB_STATE file
  runner_sim.py get FILE NAME                         one value of a GITHUB_OUTPUT/STATE file
  runner_sim.py latest-run JOB_ID                     "<run id> <status>" of the job's newest run,
                                                      from EMULATOR_URL, _TOKEN and _ACCOUNT
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests
import yaml

# What `${{ github.token }}` evaluates to in the simulated job: a token-shaped dummy, never sent
# anywhere real (GITHUB_API_URL points at a closed loopback port).
DUMMY_GITHUB_TOKEN = "ghs_containercheck0000000000000000000000"  # noqa: S105


class FileCommandError(ValueError):
    """A file command the runner would reject (it fails the step)."""


def input_environment(action_yml: Path, overrides: dict[str, str]) -> dict[str, str]:
    """Every declared input as the runner sets it: the override, else the default, else empty."""
    declared = yaml.safe_load(action_yml.read_text(encoding="utf-8")).get("inputs") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise SystemExit(f"not inputs of {action_yml}: {', '.join(unknown)}")
    env = {}
    for name, spec in declared.items():
        value = overrides.get(name, str((spec or {}).get("default", "")))
        if value == "${{ github.token }}":
            value = DUMMY_GITHUB_TOKEN
        elif "${{" in value:
            raise SystemExit(f"input {name}: cannot evaluate the default {value!r} here")
        env[f"INPUT_{name.upper()}"] = value
    return env


def parse_file_commands(text: str) -> dict[str, str]:
    """Parse GITHUB_OUTPUT/GITHUB_STATE as the runner does; a later value wins."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index].removesuffix("\r")
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not delimiter:
                raise FileCommandError(f"{name}: empty heredoc delimiter")
            body: list[str] = []
            while index < len(lines) and lines[index].removesuffix("\r") != delimiter:
                body.append(lines[index].removesuffix("\r"))
                index += 1
            if index == len(lines):
                raise FileCommandError(f"{name}: heredoc delimiter {delimiter!r} never closed")
            index += 1
            value = "\n".join(body)
        else:
            raise FileCommandError(f"invalid line {line!r}")
        if not name:
            raise FileCommandError(f"empty name in line {line!r}")
        values[name] = value
    return values


def latest_run(job_id: int) -> str:
    """The job's newest run as "<id> <status>", or "" when it has none."""
    base = os.environ["EMULATOR_URL"].rstrip("/")
    account = os.environ["EMULATOR_ACCOUNT"]
    response = requests.get(
        f"{base}/api/v2/accounts/{account}/runs/",
        params={"job_definition_id": str(job_id), "order_by": "-id", "limit": "1"},
        headers={"Authorization": f"Token {os.environ['EMULATOR_TOKEN']}"},
        timeout=5,
    )
    response.raise_for_status()
    runs = response.json()["data"]
    return f"{runs[0]['id']} {runs[0]['status']}" if runs else ""


def write_assignments(env: dict[str, str]) -> None:
    sys.stdout.write("".join(f"{name}={value}\0" for name, value in env.items()))


def main(argv: list[str]) -> int:
    match argv:
        case ["inputs", action_yml, *pairs]:
            if any("=" not in pair for pair in pairs):
                raise SystemExit("overrides must be name=value")
            write_assignments(
                input_environment(Path(action_yml), dict(p.split("=", 1) for p in pairs))
            )
        case ["state", path]:
            state = parse_file_commands(Path(path).read_text(encoding="utf-8"))
            write_assignments({f"STATE_{name}": value for name, value in state.items()})
        case ["get", path, name]:
            values = parse_file_commands(Path(path).read_text(encoding="utf-8"))
            if name not in values:
                return 1
            sys.stdout.write(values[name])
        case ["latest-run", job_id]:
            sys.stdout.write(latest_run(int(job_id)))
        case _:
            sys.stderr.write(__doc__ or "")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
