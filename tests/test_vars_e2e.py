"""`vars` end to end: the real entrypoint against the emulator. The job's own commands are read
and sent back as steps_override with `--vars` added where dbt takes it; an input that cannot
work (steps-override too, a job passing --vars already, no command taking vars, not a mapping)
is one `::error::` naming `vars`, and nothing is triggered."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.test_lifecycle_e2e import unescape_markdown

TOKEN = "dbtc_varsSecretToken_0123456789abcdef"
CLONE = StepScript("Clone git repository", duration=2)
SEED = StepScript("Invoke dbt with `dbt seed`", "dbt seed", duration=5)
FRESHNESS = StepScript("Invoke dbt with `dbt source freshness`", "dbt source freshness", 5)
BUILD = StepScript("Invoke dbt with `dbt build`", "dbt --debug build --select tag:daily", 10)
PASSES_VARS = StepScript("Invoke dbt", "dbt run --vars 'day: monday'", 10)
VARS_JOB, FRESHNESS_JOB, PASSES_VARS_JOB = 41, 42, 43
JOBS = (
    JobScript(VARS_JOB, "Daily", (CLONE, SEED, FRESHNESS, BUILD), queue_seconds=1),
    JobScript(FRESHNESS_JOB, "Freshness only", (CLONE, FRESHNESS), queue_seconds=1),
    JobScript(PASSES_VARS_JOB, "Has vars", (CLONE, PASSES_VARS), queue_seconds=1),
)
VARS = {"start_date": "2024-01-01", "note": "it's $HOME; `x`", "full": True, "n": [1, 2]}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    return SimulatedRunner(tmp_path, event_name="push", event=load_event("push.branch.json"))


def inputs(emu: Emulator, job_id: int | str, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, 0, **{"job-id": str(job_id), "poll-interval": "1", **extra})


def errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("::error")]


def test_the_jobs_own_steps_are_sent_with_the_vars(emu: Emulator, runner: SimulatedRunner) -> None:
    result = runner.run(inputs(emu, VARS_JOB, vars=json.dumps(VARS)))
    assert result.exit_code == 0, result.log
    [body] = [r.body for r in emu.requests if r.endpoint == "trigger"]
    seed, freshness, build = body["steps_override"]
    assert freshness == "dbt source freshness"  # takes no --vars: sent as it is
    for step, command in ((seed, "dbt seed"), (build, "dbt --debug build --select tag:daily")):
        words = shlex.split(step)  # as a shell, or dbt Cloud, splits the command
        assert words[:-2] == shlex.split(command) and words[-2] == "--vars"
        assert yaml.safe_load(words[-1]) == VARS  # dbt reads --vars as YAML
        assert "'" not in step.removesuffix("'").split("--vars '", 1)[1]  # one quoted argument
    [run] = emu.created_runs()
    assert [s["name"] for s in run["run_steps"]][-3:] == [
        f"Invoke dbt with `{step}`" for step in body["steps_override"]
    ]
    assert "vars: the job's steps are sent as steps_override:" in result.stdout
    assert f"  {seed}" in result.stdout
    assert "--vars" in result.summary and "start_date" in result.summary


def test_vars_given_in_yaml_are_sent_as_json(emu: Emulator, runner: SimulatedRunner) -> None:
    """The input's YAML form, as a workflow writes it in a block: each step gets the JSON."""
    result = runner.run(inputs(emu, VARS_JOB, vars="start_date: 2024-01-01\nfull: true\n"))
    assert result.exit_code == 0, result.log
    [body] = [r.body for r in emu.requests if r.endpoint == "trigger"]
    seed = body["steps_override"][0]
    assert json.loads(shlex.split(seed)[-1]) == {"start_date": "2024-01-01", "full": True}


@pytest.mark.parametrize(
    ("job_id", "extra", "why"),
    [
        (PASSES_VARS_JOB, {}, "step 1 already passes --vars"),
        (FRESHNESS_JOB, {}, "takes --vars"),
        (f"{VARS_JOB} {PASSES_VARS_JOB}", {}, "step 1 already passes --vars"),
    ],
)
def test_a_job_the_vars_do_not_fit_starts_no_run(
    emu: Emulator, runner: SimulatedRunner, job_id: int | str, extra: dict[str, str], why: str
) -> None:
    result = runner.run(inputs(emu, job_id, vars='{"day": "monday"}', **extra))
    assert result.exit_code == 1, result.log
    [error] = errors(result.stdout)
    assert "Input 'vars' is set, but " in error and why in error
    assert emu.calls("trigger") == 0  # no job of the step ran, the fitting one neither
    summary = unescape_markdown(result.summary)
    assert why in summary  # the job's report says why
    if " " in str(job_id):  # and the job that fits says why it did not run
        assert (
            f"No dbt Cloud run was started: the inputs do not fit job {PASSES_VARS_JOB}" in summary
        )
    assert result.outputs["status"] == "error"


@pytest.mark.parametrize(
    ("value", "extra", "message"),
    [
        ("day: [monday", {}, "is not a valid YAML or JSON mapping"),
        ('["monday"]', {}, "got a list"),
        ("{}", {}, "empty mapping"),
        ('{"day": "monday"}', {"steps-override": "dbt run"}, "steps-override' are both set"),
        ('{"day": "monday"}', {"mode": "follow"}, "vars is set"),
    ],
)
def test_bad_vars_are_refused_before_any_request(
    emu: Emulator, runner: SimulatedRunner, value: str, extra: dict[str, str], message: str
) -> None:
    result = runner.run(inputs(emu, VARS_JOB, vars=value, **extra))
    assert result.exit_code == 1, result.log
    [error] = errors(result.stdout)
    assert message in error and ("Input 'vars'" in error or "Input 'mode'" in error)
    assert emu.requests == []
