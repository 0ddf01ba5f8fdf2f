"""Run the real entrypoint as a subprocess the way the GitHub runner runs a container action.

Every input declared in action.yml is set, as `INPUT_<NAME>` with hyphens kept, to the given value
or its default (expressions such as `${{ github.token }}` are resolved like the runner does); the
file commands (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_STATE`) are real files read back
with a parser that behaves like the runner's; the event payload is a real webhook payload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.runner_files import parse_file_command
from tests.token_scan import SESSION as TOKEN_SCAN

if TYPE_CHECKING:
    from dbt_cloud_emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "fixtures" / "events"
GITHUB_TOKEN = "ghs_simulatedRunnerToken0123456789"


def declared_inputs() -> dict[str, str]:
    """action.yml's inputs and their defaults, with the runner's expressions resolved."""
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    defaults: dict[str, str] = {}
    for name, meta in spec["inputs"].items():
        default = str(meta.get("default", ""))
        defaults[name] = default.replace("${{ github.token }}", GITHUB_TOKEN)
    return defaults


def emulator_inputs(emu: Emulator, job_id: int, **extra: str) -> dict[str, str]:
    """The required inputs for a job of `emu`, plus `extra` (named as in action.yml)."""
    return {
        "access-url": emu.url,
        "api-token": emu.token,
        "account-id": str(emu.account_id),
        "job-id": str(job_id),
        **extra,
    }


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@dataclass(frozen=True)
class StepResult:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    state: dict[str, str]
    elapsed: float

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


class SimulatedRunner:
    """One job's worth of runner files in `workdir`; each `run` is one step."""

    def __init__(
        self,
        workdir: Path,
        *,
        event_name: str = "pull_request",
        event: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.workspace = workdir / "workspace"
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.event_path = workdir / "event.json"
        self.event_path.write_text(json.dumps(event if event is not None else {}))
        self.event_name = event_name
        self.extra_env = dict(env or {})
        self._steps = 0

    def environment(
        self, inputs: Mapping[str, str], state: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        self._steps += 1
        files = {}
        for kind in ("output", "step_summary", "state", "env", "path"):
            path = self.workdir / f"{kind}_{self._steps}"
            path.write_text("")
            files[f"GITHUB_{kind.upper()}"] = str(path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT / "src"),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(self.event_path),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": "Codertocat/Hello-World",
            "GITHUB_REPOSITORY_OWNER": "Codertocat",
            "GITHUB_SHA": "ffffffffffffffffffffffffffffffffffffffff",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_WORKFLOW": "dbt CI",
            "GITHUB_JOB": "dbt",
            "GITHUB_RUN_ID": "9001",
            "GITHUB_RUN_NUMBER": "42",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_ACTOR": "Codertocat",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": "http://127.0.0.1:9",
            "RUNNER_TEMP": str(self.workdir),
            **files,
        }
        env.update(self.extra_env)
        values = declared_inputs()
        unknown = set(inputs) - set(values)
        if unknown:
            raise KeyError(f"not inputs of action.yml: {sorted(unknown)}")
        values.update(inputs)
        for name, value in values.items():
            env[f"INPUT_{name.upper()}"] = value
        for name, value in (state or {}).items():
            env[f"STATE_{name}"] = value
        return env

    def start(
        self,
        inputs: Mapping[str, str],
        *,
        post: bool = False,
        state: Mapping[str, str] | None = None,
    ) -> tuple[subprocess.Popen[str], dict[str, str]]:
        env = self.environment(inputs, state)
        script = "post_entrypoint.py" if post else "entrypoint.py"
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / script)],
            env=env,
            cwd=self.workspace,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",  # what the runner decodes a step's output as
            errors="replace",
        )
        return proc, env

    def finish(
        self, proc: subprocess.Popen[str], env: Mapping[str, str], started: float, timeout: float
    ) -> StepResult:
        stdout, stderr = proc.communicate(timeout=timeout)
        TOKEN_SCAN.record(str(self.workdir), env, stdout, stderr, self.workdir)
        return StepResult(
            exit_code=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            outputs=parse_file_command(Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8")),
            summary=Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8"),
            state=parse_file_command(Path(env["GITHUB_STATE"]).read_text(encoding="utf-8")),
            elapsed=time.monotonic() - started,
        )

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        post: bool = False,
        state: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> StepResult:
        started = time.monotonic()
        proc, env = self.start(inputs, post=post, state=state)
        return self.finish(proc, env, started, timeout)
