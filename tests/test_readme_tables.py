"""The README's Inputs and Outputs tables name every input and output action.yml declares, and
nothing else: a new input cannot land undocumented."""

from __future__ import annotations

import re

import yaml

from tests.simulated_runner import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def table_names(start: str, end: str) -> list[str]:
    section = README[README.index(start) : README.index(end)]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M)


def test_the_inputs_table_has_every_input_once() -> None:
    names = table_names("## Inputs", "## Outputs")
    assert sorted(names) == sorted(ACTION["inputs"])


def test_the_outputs_table_has_every_output_once() -> None:
    names = table_names("## Outputs", "## Permissions")
    assert sorted(names) == sorted(ACTION["outputs"])
