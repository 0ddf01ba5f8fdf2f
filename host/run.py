"""The host variant's main step: the container action's engine, on the venv's Python.

A composite action's steps get no INPUT_* variables, so host/action.yml hands every input over as
one JSON object (`toJSON(inputs)`, in DBT_CLOUD_ACTION_INPUTS) and this sets them as the runner
sets them for a container action: INPUT_<NAME>, upper-cased, hyphens kept. A variable name with
a hyphen cannot be written in a shell, but a process environment holds it on every OS, so it is
set here, in the engine's own process, which then runs as the container's entrypoint does.
Its streams are made UTF-8 first (`toolkit.use_utf8_streams`), as the engine's are: on Windows a
piped stdout is cp1252 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

INPUTS_VARIABLE = "DBT_CLOUD_ACTION_INPUTS"


class InputsError(ValueError):
    """DBT_CLOUD_ACTION_INPUTS is not what host/action.yml passes."""


def _as_input(value: object) -> str:
    # The runner passes inputs as strings; an expression may still yield a JSON boolean,
    # number or null, which read as the runner would print them.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value)


def input_environment(inputs_json: str) -> dict[str, str]:
    """INPUT_<NAME> for each input in the JSON object, named as the runner names them."""
    try:
        inputs = json.loads(inputs_json)
    except ValueError as error:
        raise InputsError(f"{INPUTS_VARIABLE} is not JSON ({error})") from None
    if not isinstance(inputs, dict):
        raise InputsError(f"{INPUTS_VARIABLE} is not a JSON object of inputs")
    return {f"INPUT_{name.replace(' ', '_').upper()}": _as_input(v) for name, v in inputs.items()}


def take_inputs(env: Mapping[str, str]) -> dict[str, str]:
    if INPUTS_VARIABLE not in env:
        raise InputsError(
            f"{INPUTS_VARIABLE} is not set: run this through host/action.yml "
            "(uses: OWNER/REPO/host@v1), or run the dbt-cloud-run command instead"
        )
    return input_environment(env[INPUTS_VARIABLE])


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from dbt_cloud_action import toolkit  # noqa: PLC0415 - after sys.path

    toolkit.use_utf8_streams()
    try:
        inputs = take_inputs(os.environ)
    except InputsError as error:
        print(f"::error title=dbt Cloud action (host variant)::{error}")
        return 1
    os.environ.pop(INPUTS_VARIABLE)  # the token is in it; the engine reads INPUT_* only
    os.environ.update(inputs)
    from dbt_cloud_action.action import main as engine_main  # noqa: PLC0415 - after sys.path

    return engine_main()


if __name__ == "__main__":
    sys.exit(main())
