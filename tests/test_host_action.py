"""host/action.yml, the variant without Docker: same interface as the container action, inputs
handed over as the runner would, and a venv keyed on everything it depends on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from host.run import InputsError, input_environment, take_inputs
from host.runtime_venv import VenvPlan, build, is_complete, venv_interpreter, venv_key

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
    assert venv_interpreter(Path("v"), "Windows") == Path("v/Scripts/python.exe")
    assert venv_interpreter(Path("v"), "Darwin") == Path("v/bin/python")


def test_a_venv_without_its_marker_is_incomplete_and_a_complete_one_is_not_rebuilt(
    tmp_path: Path,
) -> None:
    plan = VenvPlan(key="k1", venv=tmp_path / "venv", python=tmp_path / "venv" / "bin" / "python")
    plan.python.parent.mkdir(parents=True)
    plan.python.write_text("")
    assert not is_complete(plan)
    (plan.venv / "dbt-cloud-action-venv.key").write_text("k0\n")
    assert not is_complete(plan)  # another key: a venv for something else
    (plan.venv / "dbt-cloud-action-venv.key").write_text("k1\n")
    assert is_complete(plan)
    assert build(plan) is False


def test_the_sync_script_leaves_the_host_variant_as_it_is() -> None:
    """scripts/sync_host_action.py is how the two stay identical: run on the committed files it
    changes nothing, and it rebuilds host/action.yml's interface from a stale copy."""
    from scripts.sync_host_action import synced

    container = (ROOT / "action.yml").read_text()
    host = (ROOT / "host/action.yml").read_text()
    assert synced(container, host) == host
    stale = host.replace("  fork-pull-requests:\n", "  fork-pull-requests-old:\n")
    assert synced(container, stale) == host
