"""The host variant end to end: host/action.yml's own steps, run as the runner runs a composite
action (tests/composite_runner.py), against the emulator over HTTP; the same cases as the
container action's passing run, failing run and cancel, compared with the container entrypoint.

The venv is made once per session from the tests' own packages (a `.pth` file), so no test
downloads anything; building it from PyPI is exercised by .ci/act-check and bench/variants.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from host import runtime_venv
from host.runtime_venv import RECORD

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.composite_runner import CompositeRun, StepFailed, composite_run, finish, host_action
from tests.runner_files import parse_file_command
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.waiting import wait_for

TOKEN = "dbtc_hostVariantSecretToken_0123456789"
PASSING, FAILING, LONG, UNICODE_PASSING, UNICODE_FAILING = 31, 32, 33, 34, 35
CLONE = StepScript("Clone git repository", duration=1)
# What dbt prints (✓, —), plus an emoji and CJK: none of it is in cp1252.
NON_ASCII = "✓ OK created view model ünïcode — 🎉 日本語のモデル"
JOBS = (
    JobScript(PASSING, "Host: passing", (CLONE, StepScript("dbt build", "dbt build", 100))),
    JobScript(
        FAILING,
        "Host: failing",
        (CLONE, StepScript("dbt build", "dbt build", 100, outcome=20, logs="Database Error")),
    ),
    JobScript(LONG, "Host: long", (CLONE, StepScript("dbt build", "dbt build", 600_000))),
    JobScript(
        UNICODE_PASSING,
        "Nightly ✓ 日本語",
        (CLONE, StepScript("dbt build", "dbt build", 100, logs=NON_ASCII)),
    ),
    JobScript(
        UNICODE_FAILING,
        "Nightly ✗ 日本語",
        (CLONE, StepScript("dbt build", "dbt build", 100, outcome=20, logs=NON_ASCII)),
    ),
)
# A Windows runner's pipe as Python sees it: the ANSI code page, strict, whatever the console.
CP1252_CONSOLE = {"PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0", "LC_ALL": "C", "LANG": "C"}
SIGNAL_BUDGET_SECONDS = 5.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(tmp_path, event_name="pull_request", event=event)


@pytest.fixture(scope="session")
def runner_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding `python3`: the base interpreter of the tests' Python, as on PATH."""
    bin_dir = tmp_path_factory.mktemp("runner-bin")
    (bin_dir / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    return bin_dir


@pytest.fixture(scope="session")
def tool_cache(tmp_path_factory: pytest.TempPathFactory, runner_python: Path) -> Path:
    """A runner tool cache holding the venv host/runtime_venv.py plans, complete, with the tests'
    packages (a .pth file) instead of a download."""
    cache = tmp_path_factory.mktemp("toolcache")
    env = {**os.environ, "PATH": f"{runner_python}{os.pathsep}{os.environ['PATH']}"}
    env["RUNNER_TOOL_CACHE"] = str(cache)
    env.pop("GITHUB_OUTPUT", None)
    root = Path(__file__).resolve().parent.parent
    plan = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [str(runner_python / "python3"), str(root / "host" / "runtime_venv.py"), "plan"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    )
    subprocess.run(
        [str(runner_python / "python3"), "-m", "venv", "--without-pip", plan["venv"]], check=True
    )
    purelib = subprocess.run(
        [plan["python"], "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "tests-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # what build() writes last; the lock and Python are the runner Python's (the tests' own)
    Path(plan["venv"], RECORD).write_text(runtime_venv.plan(env).record(), encoding="utf-8")
    return cache


def use(
    runner: SimulatedRunner, emu: Emulator, job_id: int, runner_python: Path, tool_cache: Path
) -> CompositeRun:
    inputs = emulator_inputs(emu, job_id, **{"poll-interval": "1"})
    return composite_run(
        runner,
        inputs,
        path=f"{runner_python}{os.pathsep}{os.environ['PATH']}",
        tool_cache=tool_cache,
        cache_dir=runner.workdir / "actions-cache",
    )


def test_passing_run_has_the_container_actions_outputs(
    emu: Emulator, runner: SimulatedRunner, runner_python: Path, tool_cache: Path
) -> None:
    composite = use(runner, emu, PASSING, runner_python, tool_cache)
    started = time.monotonic()
    result = finish(composite, *composite.start(), started)
    assert result.exit_code == 0, result.log
    assert composite.outputs["python"]["ready"] == "true"  # no restore, no build, no save
    assert composite.saved == [] and "venv" not in composite.outputs
    [run] = emu.created_runs()
    assert result.outputs["run-id"] == str(run["id"])
    assert result.outputs["status"] == "success"
    assert result.outputs["status-code"] == "10"
    assert result.outputs["job-name"] == "Host: passing"
    assert (
        result.outputs["git-sha"]
        == load_event("pull_request.opened.json")["pull_request"]["head"]["sha"]
    )
    assert str(run["id"]) in result.summary
    # The container entrypoint, same inputs, same runner: the same outputs but the run's own.
    container = runner.run(emulator_inputs(emu, PASSING, **{"poll-interval": "1"}))
    assert container.exit_code == 0, container.log
    different = {"run-id", "run-url", "duration-seconds", "queued-seconds", "runs"}  # runs: ids
    assert {k: v for k, v in result.outputs.items() if k not in different} == {
        k: container.outputs.get(k, "") for k in result.outputs if k not in different
    }


def test_failing_run_fails_the_step_like_the_container_action(
    emu: Emulator, runner: SimulatedRunner, runner_python: Path, tool_cache: Path
) -> None:
    composite = use(runner, emu, FAILING, runner_python, tool_cache)
    result = finish(composite, *composite.start(), time.monotonic())
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "error"
    assert result.outputs["status-code"] == "20"
    assert "::error" in result.stdout
    assert "Traceback" not in result.log
    assert result.summary.strip()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_cancel_signalled_to_the_steps_bash_cancels_the_run(
    emu: Emulator,
    runner: SimulatedRunner,
    runner_python: Path,
    tool_cache: Path,
    sig: signal.Signals,
) -> None:
    """The runner signals the step's process (the `bash` it started), never its children."""
    composite = use(runner, emu, LONG, runner_python, tool_cache)
    started = time.monotonic()
    proc, output = composite.start()
    wait_for(lambda: bool(emu.created_runs()) or proc.poll() is not None, "the trigger")
    run_id = emu.created_runs()[0]["id"]
    polled = f"/api/v2/accounts/{emu.account_id}/runs/{run_id}/"
    wait_for(lambda: sum(r.path == polled for r in emu.requests) >= 2, "a poll of the run")
    signalled = time.monotonic()
    os.kill(proc.pid, sig)
    result = finish(composite, proc, output, started, timeout=30)
    assert time.monotonic() - signalled < SIGNAL_BUDGET_SECONDS, result.log
    assert result.exit_code == 128 + sig, result.log
    assert emu.run(run_id)["status"] == 30
    assert [r.endpoint for r in emu.requests].count("cancel") == 1
    assert result.outputs["status"] == "cancelled"
    assert "cancelled by the workflow" in result.summary.lower()


def test_a_restored_venv_is_used_without_building_or_saving_again(
    emu: Emulator, runner: SimulatedRunner, runner_python: Path, tool_cache: Path, tmp_path: Path
) -> None:
    """A GitHub-hosted runner starts with an empty tool cache and restores the venv by key."""
    composite = use(runner, emu, PASSING, runner_python, tmp_path / "empty-toolcache")
    [key] = [p.name for p in (tool_cache / "dbt-cloud-action").iterdir()]
    composite.cache_dir.mkdir()
    (composite.cache_dir / key).symlink_to(tool_cache / "dbt-cloud-action" / key)
    result = finish(composite, *composite.start(), time.monotonic())
    assert result.exit_code == 0, result.log
    assert composite.cache_hits == [key]
    assert composite.outputs["venv"] == {"built": "false"}
    assert composite.saved == []


def path_without_python_311(tmp_path: Path) -> Path:
    """A PATH directory whose python3 and python answer like a Python 3.10 would, with the
    other tools the step needs."""
    old = tmp_path / "old-python"
    old.mkdir()
    for name in ("python3", "python"):
        (old / name).write_text("#!/bin/sh\nexit 1\n")
        (old / name).chmod(0o755)
    for tool in ("bash", "ls", "sort"):
        (old / tool).symlink_to(shutil.which(tool) or tool)
    return old


def test_no_python_311_on_the_runner_is_a_clear_error(
    emu: Emulator, runner: SimulatedRunner, tmp_path: Path
) -> None:
    old = path_without_python_311(tmp_path)
    composite = use(runner, emu, PASSING, old, tmp_path / "toolcache")
    composite.env["PATH"] = str(old)
    with pytest.raises(StepFailed) as failed:
        composite.start()
    assert "::error title=No Python 3.11+::" in failed.value.log
    assert "actions/setup-python" in failed.value.log
    assert emu.requests == []


def test_without_python_311_on_path_the_newest_in_the_tool_cache_is_used(
    emu: Emulator, runner: SimulatedRunner, runner_python: Path, tmp_path: Path
) -> None:
    """Where actions/setup-python installs, and GitHub-hosted runners carry several versions."""
    old = path_without_python_311(tmp_path)
    tool_cache = tmp_path / "toolcache"
    for version in ("3.10.14", "3.12.7", "3.9.20"):
        interpreter = tool_cache / "Python" / version / "x64" / "bin" / "python3"
        interpreter.parent.mkdir(parents=True)
        if version == "3.12.7":
            interpreter.symlink_to(runner_python / "python3")
        else:
            interpreter.write_text("#!/bin/sh\nexit 1\n")
            interpreter.chmod(0o755)
    composite = use(runner, emu, PASSING, old, tool_cache)
    composite.env["PATH"] = str(old)
    step = host_action()["runs"]["steps"][0]
    proc, output = composite.start_step(0, step)
    log = "".join(proc.communicate(timeout=30))
    assert proc.returncode == 0, log
    outputs = parse_file_command(output.read_text())
    assert outputs["base-python"] == str(
        tool_cache / "Python" / "3.12.7" / "x64" / "bin" / "python3"
    )
    assert outputs["venv"].startswith(str(tool_cache / "dbt-cloud-action"))


@pytest.mark.parametrize(
    "case",  # job, exit code, status
    [(UNICODE_PASSING, 0, "success"), (UNICODE_FAILING, 1, "error")],
    ids=["passing", "failing"],
)
def test_non_ascii_dbt_output_on_a_cp1252_console_is_reported_intact(
    emu: Emulator,
    runner: SimulatedRunner,
    runner_python: Path,
    tool_cache: Path,
    case: tuple[int, int, str],
) -> None:
    """Windows gives a piped stdout the ANSI code page (cp1252); the runner reads the step's
    output as UTF-8. Both variants must print, output and summarise dbt's ✓ as it is."""
    job_id, exit_code, status = case
    composite = use(runner, emu, job_id, runner_python, tool_cache)
    composite.env.update(CP1252_CONSOLE)
    host = finish(composite, *composite.start(), time.monotonic())
    runner.extra_env.update(CP1252_CONSOLE)
    container = runner.run(emulator_inputs(emu, job_id, **{"poll-interval": "1"}))
    name = next(job.name for job in JOBS if job.id == job_id)
    for result in (host, container):
        assert "internal error" not in result.log, result.log
        assert "Traceback" not in result.log, result.log
        assert result.exit_code == exit_code, result.log
        assert result.outputs["status"] == status
        assert result.outputs["job-name"] == name
        assert NON_ASCII in result.stdout  # the step's log, printed in its group
        assert name in result.summary
        if status == "error":
            assert NON_ASCII in result.summary  # the failed step's error lines
    assert all(run["status"] in (10, 20) for run in emu.created_runs())  # none left going


def copy_of_the_venv(tool_cache: Path, into: Path) -> Path:
    """A copy of the session's good venv under the tool cache `into`, where the plan looks."""
    [venv] = (tool_cache / "dbt-cloud-action").iterdir()
    copy = into / "dbt-cloud-action" / venv.name
    shutil.copytree(venv, copy, symlinks=True)
    return copy


def plan_in(tool_cache: Path) -> runtime_venv.VenvPlan:
    """The plan `runtime_venv.py plan` makes on the runner's Python, for `tool_cache`."""
    plan = runtime_venv.plan({"RUNNER_TOOL_CACHE": str(tool_cache)})
    [venv] = (tool_cache / "dbt-cloud-action").iterdir()  # keyed on the runner's interpreter
    return plan._replace(
        key=venv.name, venv=venv, python=runtime_venv.venv_interpreter(venv, "Linux")
    )


def corrupt(venv: Path, how: str) -> None:
    if how == "stale-lock-hash":
        record = json.loads((venv / RECORD).read_text(encoding="utf-8"))
        (venv / RECORD).write_text(json.dumps({**record, "lock-sha256": "0" * 64}))
    elif how == "missing-interpreter":
        (venv / "bin" / "python").unlink()
    else:  # the packages gone: what a half-restored or pruned cache leaves
        [pth] = venv.glob("lib/python*/site-packages/tests-packages.pth")
        pth.unlink()


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("intact", None),
        ("stale-lock-hash", "it was built from another requirements/runtime.txt"),
        ("missing-interpreter", "its Python interpreter is missing"),
        ("corrupted", "its packages do not import"),
    ],
)
def test_a_cached_venv_is_checked_against_its_lock_and_by_running_it(
    tool_cache: Path, tmp_path: Path, how: str, problem: str | None
) -> None:
    venv = copy_of_the_venv(tool_cache, tmp_path)
    if how != "intact":
        corrupt(venv, how)
    assert runtime_venv.check(plan_in(tmp_path)) == problem


def test_a_tampered_cached_venv_is_not_used_but_built_again(
    emu: Emulator, runner: SimulatedRunner, runner_python: Path, tool_cache: Path, tmp_path: Path
) -> None:
    """A self-hosted runner's tool cache holding a venv of the right key built from another
    lock: `plan` says not ready, the Actions cache has nothing, and `build` throws it away and
    starts again (here pip has no index to install from, so it stops there, with the clear error
    and no record: the next run builds again; a real build is in .ci/act-check)."""
    venv = copy_of_the_venv(tool_cache, tmp_path / "toolcache")
    corrupt(venv, "stale-lock-hash")
    (venv / "tampered").write_text("")
    composite = use(runner, emu, PASSING, runner_python, tmp_path / "toolcache")
    wheels = tmp_path / "no-wheels"
    wheels.mkdir()
    composite.env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_CONFIG_FILE=os.devnull)
    with pytest.raises(StepFailed) as failed:
        composite.start()
    assert composite.outputs["python"]["ready"] == "false"
    assert composite.cache_hits == []
    assert "it was built from another requirements/runtime.txt" in failed.value.log
    assert "::error title=Could not set up the action's Python environment::" in failed.value.log
    assert not (venv / "tampered").exists() and not (venv / RECORD).exists()
    assert (venv / "bin" / "python").exists()  # a fresh venv, then pip
    assert emu.requests == []
