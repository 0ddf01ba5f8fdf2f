"""What .ci/container-check needs of GitHub's runner, and a user's view of an emulated run.

The runner gives a container action every declared input as INPUT_<NAME> (upper-cased, hyphens
kept, default or empty), reads GITHUB_OUTPUT and GITHUB_STATE back, and hands saved state to the
post step as STATE_<name>. The checks read the outcome of a run over the public API.

Usage (values go out NUL-separated so they survive newlines and spaces):
  runner_sim.py inputs [name=value ...]               INPUT_* assignments for `podman run -e`
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

# The tests' simulated runner already reads action.yml and file commands exactly as the runner
# does; run with the repository root on PYTHONPATH.
from tests.runner_files import read_file_command
from tests.simulated_runner import declared_inputs


def input_environment(overrides: dict[str, str]) -> dict[str, str]:
    """Every declared input as the runner sets it: the override, else the default, else empty."""
    declared = declared_inputs()
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise SystemExit(f"not inputs of action.yml: {', '.join(unknown)}")
    return {f"INPUT_{name.upper()}": overrides.get(name, value) for name, value in declared.items()}


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
        case ["inputs", *pairs]:
            if any("=" not in pair for pair in pairs):
                raise SystemExit("overrides must be name=value")
            write_assignments(input_environment(dict(p.split("=", 1) for p in pairs)))
        case ["state", path]:
            state = read_file_command(Path(path))
            write_assignments({f"STATE_{name}": value for name, value in state.items()})
        case ["get", path, name]:
            values = read_file_command(Path(path))
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
