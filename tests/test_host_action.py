"""host/action.yml, the variant without Docker: same interface as the container action, inputs
handed over as the runner would, and a venv keyed on everything it depends on."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pytest
import yaml
from host.run import InputsError, input_environment, take_inputs
from host.runtime_venv import (
    LOCK,
    RECORD,
    VenvPlan,
    check,
    plan_for,
    probe_problem,
    record_problem,
    venv_interpreter,
    venv_key,
)

ROOT = Path(__file__).resolve().parent.parent


def action(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / path).read_text())
    return data


def test_the_host_variant_has_the_container_actions_inputs_word_for_word() -> None:
    assert action("host/action.yml")["inputs"] == action("action.yml")["inputs"]


def test_the_host_variant_has_the_container_actions_outputs_from_its_main_step() -> None:
    container, host = action("action.yml")["outputs"], action("host/action.yml")["outputs"]
    assert list(host) == list(container)
    for name, meta in host.items():
        assert meta == {**container[name], "value": f"${{{{ steps.run.outputs.{name} }}}}"}


def test_every_run_step_uses_bash_and_the_main_step_execs_python() -> None:
    steps = action("host/action.yml")["runs"]["steps"]
    assert all(step["shell"] == "bash" for step in steps if "run" in step)
    main = steps[-1]
    assert main["id"] == "run"
    assert main["env"]["DBT_CLOUD_ACTION_INPUTS"] == "${{ toJSON(inputs) }}"
    # Without exec, bash would be the step's process and the runner's SIGINT would never reach
    # Python (tests/test_host_action_e2e.py cancels through bash to prove it).
    assert main["run"].startswith("exec ")


def test_inputs_become_input_variables_with_hyphens_kept() -> None:
    env = input_environment(
        json.dumps({"job-id": "42", "api-token": "t", "cause": "a b\nc", "artifacts-dir": ""})
    )
    assert env == {
        "INPUT_JOB-ID": "42",
        "INPUT_API-TOKEN": "t",
        "INPUT_CAUSE": "a b\nc",
        "INPUT_ARTIFACTS-DIR": "",
    }


def test_non_string_json_values_read_as_the_runner_prints_them() -> None:
    env = input_environment('{"wait": false, "summary": true, "threads-override": 4, "x": null}')
    assert env == {
        "INPUT_WAIT": "false",
        "INPUT_SUMMARY": "true",
        "INPUT_THREADS-OVERRIDE": "4",
        "INPUT_X": "",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "is not set"),
        ({"DBT_CLOUD_ACTION_INPUTS": "{"}, "is not JSON"),
        ({"DBT_CLOUD_ACTION_INPUTS": "[1]"}, "not a JSON object"),
    ],
)
def test_missing_or_malformed_inputs_are_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(InputsError, match=message):
        take_inputs(env)


def key(**changes: Any) -> str:
    base: dict[str, Any] = {
        "system": "Linux",
        "machine": "x86_64",
        "implementation": "cpython",
        "version": "3.12.3",
        "base": "/usr/bin/python3",
        "lock": b"requests==2.32.5",
    }
    return venv_key(**{**base, **changes})


@pytest.mark.parametrize(
    "change",
    [
        {"system": "Darwin"},
        {"machine": "arm64"},
        {"implementation": "pypy"},
        {"version": "3.12.4"},
        {"base": "/opt/hostedtoolcache/Python/3.12.3/x64/bin/python3"},
        {"lock": b"requests==2.32.6"},
    ],
)
def test_the_venv_key_changes_with_everything_the_venv_depends_on(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_the_venv_key_is_stable_and_readable() -> None:
    assert key() == key()
    assert key().startswith("dbt-cloud-action-venv-linux-x86_64-cpython3.12.3-")


def test_windows_venvs_keep_python_in_scripts() -> None:
    assert venv_interpreter(PureWindowsPath("v"), "Windows") == PureWindowsPath(
        r"v\Scripts\python.exe"
    )
    assert venv_interpreter(PurePosixPath("v"), "Darwin") == PurePosixPath("v/bin/python")


WINDOWS_RUNNER: dict[str, Any] = {
    "system": "Windows",
    "machine": "AMD64",
    "implementation": "cpython",
    "version": "3.12.7",
    "base": r"C:\hostedtoolcache\windows\Python\3.12.7\x64\python.exe",
    "lock": b"requests==2.32.5",
    "temp_dir": r"C:\Users\runneradmin\AppData\Local\Temp",
}


def test_a_windows_runners_venv_is_planned_in_its_tool_cache_with_windows_paths() -> None:
    plan = plan_for({"RUNNER_TOOL_CACHE": r"C:\hostedtoolcache\windows"}, **WINDOWS_RUNNER)
    assert plan.venv == PureWindowsPath(r"C:\hostedtoolcache\windows\dbt-cloud-action") / plan.key
    assert (
        str(plan.python)
        == rf"C:\hostedtoolcache\windows\dbt-cloud-action\{plan.key}\Scripts\python.exe"
    )
    assert plan.outputs(WINDOWS_RUNNER["base"], None)["python"] == str(plan.python)
    assert plan.key.startswith("dbt-cloud-action-venv-windows-amd64-cpython3.12.7-")
    # a directory name on every OS: no drive, separator, or character Windows refuses
    assert not set(plan.key) & set('<>:"/\\|?* ') and plan.key == plan.key.lower()
    assert plan.python_id == "cpython3.12.7"


def test_without_a_tool_cache_the_venv_goes_to_the_runners_temp_then_the_systems() -> None:
    temp = plan_for({"RUNNER_TEMP": r"D:\a\_temp"}, **WINDOWS_RUNNER)
    assert temp.venv.parent == PureWindowsPath(r"D:\a\_temp\dbt-cloud-action")
    bare = plan_for({}, **WINDOWS_RUNNER)
    assert bare.venv.parent == PureWindowsPath(WINDOWS_RUNNER["temp_dir"]) / "dbt-cloud-action"
    posix = plan_for(
        {"RUNNER_TEMP": "/home/runner/work/_temp"}, **{**WINDOWS_RUNNER, "system": "Linux"}
    )
    assert posix.python == PurePosixPath(
        "/home/runner/work/_temp/dbt-cloud-action", posix.key, "bin", "python"
    )


def test_the_deepest_file_of_the_lock_fits_windows_max_path_on_a_hosted_runner() -> None:
    """Windows refuses paths over 260 characters unless long paths are enabled: the venv under
    the hosted runner's tool cache leaves room for the lock's deepest file (a .pyc)."""
    plan = plan_for({"RUNNER_TOOL_CACHE": r"C:\hostedtoolcache\windows"}, **WINDOWS_RUNNER)
    pinned = [line.split("==")[0] for line in LOCK.read_text().splitlines() if "==" in line]
    deepest = max(
        len(str(file)) + 1  # a cpython-313 .pyc is one character longer than cpython-311's
        for name in pinned
        for file in metadata.distribution(name).files or ()
    )
    assert len(str(plan.venv / "Lib" / "site-packages")) + 1 + deepest < 260


def windows_plan() -> VenvPlan:
    return plan_for({"RUNNER_TOOL_CACHE": r"C:\hostedtoolcache\windows"}, **WINDOWS_RUNNER)


def test_a_venvs_record_must_name_this_locks_full_hash_and_this_python() -> None:
    plan = windows_plan()
    assert record_problem(plan.record(), plan) is None
    assert "no record" in (record_problem(None, plan) or "")
    assert "not what this action writes" in (record_problem("k1\n", plan) or "")  # the old marker
    stale = plan._replace(lock_sha256="0" * 64).record()  # the key's 16-digit prefix is not enough
    assert "another requirements/runtime.txt" in (record_problem(stale, plan) or "")
    other = plan._replace(python_id="cpython3.12.6").record()
    assert record_problem(other, plan) == "it was built for cpython3.12.6, not cpython3.12.7"


def test_the_probe_must_import_the_packages_on_the_planned_python() -> None:
    plan = windows_plan()
    assert probe_problem(0, "cpython3.12.7", plan) is None
    assert probe_problem(1, "", plan) == "its packages do not import"
    assert (
        probe_problem(0, "pypy3.10.14", plan) == "its interpreter is pypy3.10.14, not cpython3.12.7"
    )


def test_no_venv_or_no_interpreter_is_not_ready(tmp_path: Path) -> None:
    plan = plan_for({"RUNNER_TOOL_CACHE": str(tmp_path)}, **{**WINDOWS_RUNNER, "system": "Linux"})
    assert check(plan) == "there is none yet"
    Path(plan.venv).mkdir(parents=True)
    (Path(plan.venv) / RECORD).write_text(plan.record())
    assert check(plan) == "its Python interpreter is missing"


def test_the_sync_script_leaves_the_host_variant_as_it_is() -> None:
    """scripts/sync_host_action.py is how the two stay identical: run on the committed files it
    changes nothing, and it rebuilds host/action.yml's interface from a stale copy."""
    from scripts.sync_host_action import synced

    container = (ROOT / "action.yml").read_text()
    host = (ROOT / "host/action.yml").read_text()
    assert synced(container, host) == host
    stale = host.replace("  fork-pull-requests:\n", "  fork-pull-requests-old:\n")
    assert synced(container, stale) == host
