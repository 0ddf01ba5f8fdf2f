"""Run host/action.yml's steps the way GitHub's runner runs a composite action.

Each `run:` step is a `bash --noprofile --norc -eo pipefail <script>` process (the runner's
`shell: bash`), with the job's environment, GITHUB_ACTION_PATH, its own GITHUB_OUTPUT and its
`env:`; composite steps get no INPUT_* variables. `${{ }}` expressions and `if:` conditions are
evaluated for the forms host/action.yml uses, and anything else fails loudly, so a change to the
action cannot slip past the tests. `actions/cache/restore` and `actions/cache/save` are played
by a directory of saved copies keyed like the Actions cache. The last step (id `run`) is started
in the background and handed back, so a test can signal it as the runner does on cancel.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.runner_files import parse_file_command
from tests.simulated_runner import GITHUB_TOKEN, SimulatedRunner
from tests.token_scan import SESSION as TOKEN_SCAN

ROOT = Path(__file__).resolve().parent.parent
HOST_ACTION = ROOT / "host" / "action.yml"
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_STEP_OUTPUT = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+)")
_CONDITION = re.compile(r"(steps\.[\w-]+\.outputs\.[\w-]+)\s*(==|!=)\s*'([^']*)'")


def host_action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(HOST_ACTION.read_text())
    return data


def host_inputs(overrides: Mapping[str, str]) -> dict[str, str]:
    """The `inputs` context: every declared input, the override or its default."""
    declared = host_action()["inputs"]
    unknown = set(overrides) - set(declared)
    if unknown:
        raise KeyError(f"not inputs of host/action.yml: {sorted(unknown)}")
    return {
        name: overrides.get(
            name, str(meta.get("default", "")).replace("${{ github.token }}", GITHUB_TOKEN)
        )
        for name, meta in declared.items()
    }


@dataclass
class CompositeRun:
    """One use of the composite action: its steps' outputs so far, and the main step's process."""

    inputs: dict[str, str]
    env: dict[str, str]
    workdir: Path
    cache_dir: Path
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    cache_hits: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)

    def evaluate(self, expression: str) -> str:
        if expression == "toJSON(inputs)":
            return json.dumps(self.inputs, indent=2)  # the runner pretty-prints toJSON
        match = _STEP_OUTPUT.fullmatch(expression)
        if match:
            return self.outputs.get(match[1], {}).get(match[2], "")
        raise NotImplementedError(f"expression not simulated: {expression}")

    def substitute(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.evaluate(m[1]), text)

    def condition(self, expression: str | None) -> bool:
        if expression is None:
            return True
        match = _CONDITION.fullmatch(expression.strip())
        if not match:
            raise NotImplementedError(f"condition not simulated: {expression}")
        value = self.evaluate(match[1])
        return (value == match[3]) == (match[2] == "==")

    def start_step(self, index: int, step: Mapping[str, Any]) -> tuple[subprocess.Popen[str], Path]:
        script = self.workdir / f"step-{index}.sh"
        script.write_text(self.substitute(step["run"]))
        output = self.workdir / f"step-{index}.output"
        output.write_text("")
        env = {
            **self.env,
            "GITHUB_ACTION_PATH": str(ROOT / "host"),
            "GITHUB_OUTPUT": str(output),
            **{k: self.substitute(str(v)) for k, v in step.get("env", {}).items()},
        }
        proc = subprocess.Popen(
            [*BASH, str(script)],
            env=env,
            cwd=self.env["GITHUB_WORKSPACE"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",  # what the runner decodes a step's output as
            errors="replace",
        )
        return proc, output

    def use_cache(self, index: int, step: Mapping[str, Any]) -> None:
        uses: str = step["uses"]
        with_ = {k: self.substitute(str(v)) for k, v in step["with"].items()}
        path, saved = Path(with_["path"]), self.cache_dir / with_["key"]
        if uses.startswith("actions/cache/restore@"):
            hit = saved.is_dir()
            if hit:
                shutil.rmtree(path, ignore_errors=True)
                shutil.copytree(saved, path, symlinks=True)
                self.cache_hits.append(with_["key"])
            self.outputs[step.get("id", f"step-{index}")] = {"cache-hit": "true" if hit else ""}
        elif uses.startswith("actions/cache/save@"):
            if not saved.exists():
                shutil.copytree(path, saved, symlinks=True)
            self.saved.append(with_["key"])
        else:
            raise NotImplementedError(f"action not simulated: {uses}")

    def start(self) -> tuple[subprocess.Popen[str], Path]:
        """Run every step before the main one to its end, then start the main step."""
        steps = host_action()["runs"]["steps"]
        for index, step in enumerate(steps[:-1]):
            if not self.condition(step.get("if")):
                continue
            if "uses" in step:
                self.use_cache(index, step)
                continue
            proc, output = self.start_step(index, step)
            stdout, stderr = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise StepFailed(step.get("id", str(index)), proc.returncode, stdout + stderr)
            self.outputs[step.get("id", f"step-{index}")] = parse_file_command(
                output.read_text(encoding="utf-8")
            )
        assert steps[-1]["id"] == "run" and self.condition(steps[-1].get("if"))
        return self.start_step(len(steps) - 1, steps[-1])


class StepFailed(RuntimeError):
    def __init__(self, step: str, code: int, log: str) -> None:
        super().__init__(f"composite step {step} exited with {code}:\n{log}")
        self.log = log


@dataclass(frozen=True)
class CompositeResult:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]  # the composite action's outputs, through host/action.yml's `value:`
    summary: str
    elapsed: float

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def finish(
    run: CompositeRun,
    proc: subprocess.Popen[str],
    output: Path,
    started: float,
    timeout: float = 60,
) -> CompositeResult:
    stdout, stderr = proc.communicate(timeout=timeout)
    run.outputs["run"] = parse_file_command(output.read_text(encoding="utf-8"))
    job_files = Path(run.env["GITHUB_STEP_SUMMARY"]).parent
    scanned_env = {**run.env, "INPUT_API-TOKEN": run.inputs["api-token"]}
    TOKEN_SCAN.record(str(run.workdir), scanned_env, stdout, stderr, job_files)
    declared = host_action()["outputs"]
    return CompositeResult(
        exit_code=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        outputs={name: run.substitute(meta["value"]) for name, meta in declared.items()},
        summary=Path(run.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8"),
        elapsed=time.monotonic() - started,
    )


def composite_run(
    runner: SimulatedRunner,
    inputs: Mapping[str, str],
    *,
    path: str,
    tool_cache: Path,
    cache_dir: Path,
) -> CompositeRun:
    """A use of host/action.yml in `runner`'s job: the job's environment without INPUT_* (a
    composite action's steps get none) and without the tests' PYTHONPATH."""
    env = {
        k: v
        for k, v in runner.environment(inputs).items()
        if not k.startswith("INPUT_") and k != "PYTHONPATH"
    }
    env.update(PATH=path, RUNNER_TOOL_CACHE=str(tool_cache))
    workdir = runner.workdir / f"composite-{time.monotonic_ns()}"
    workdir.mkdir()
    return CompositeRun(host_inputs(inputs), env, workdir, cache_dir)
