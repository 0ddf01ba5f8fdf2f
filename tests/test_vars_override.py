"""vars_override's pure rules: which commands take --vars, and the one quoted argument."""

from __future__ import annotations

import datetime
import json
import shlex

import pytest
import yaml

from dbt_cloud_action.vars_override import (
    VarsError,
    parse_vars,
    passes_vars,
    steps_with_vars,
    takes_vars,
)


@pytest.mark.parametrize(
    ("step", "takes"),
    [
        ("dbt build", True),
        ("dbt --debug run --select x", True),
        ("dbt docs generate", True),
        ("dbt compile", True),
        ("dbt snapshot", True),
        ("dbt docs serve", False),
        ("dbt source freshness", False),
        ("dbt ls", False),
        ("dbt deps", False),
        ("dbt", False),
        ("dbt run --select 'unclosed", True),  # split on whitespace when a shell could not
    ],
)
def test_which_commands_take_vars(step: str, takes: bool) -> None:
    assert takes_vars(step) is takes


@pytest.mark.parametrize("step", ["dbt run --vars 'a: 1'", "dbt run --vars={a: 1}"])
def test_a_step_passing_vars_is_seen(step: str) -> None:
    assert passes_vars(step)
    assert not passes_vars("dbt run --select vars_model")


@pytest.mark.parametrize(
    "values",
    [
        {"q": "it's"},
        {"s": 'a\nb\\c "d" $e `f`'},
        {"é": "ünï 😀"},
        {"x": None, "y": [1, {"z": 2.5}]},
    ],
)
def test_the_argument_is_one_single_quoted_yaml_mapping(values: object) -> None:
    given = parse_vars(json.dumps(values))
    [flag, value] = shlex.split(given.argument)
    assert flag == "--vars" and yaml.safe_load(value) == values
    assert given.argument.count("'") == 2 and "\n" not in given.argument


def test_steps_get_the_argument_where_dbt_takes_it() -> None:
    given = parse_vars('{"a": 1}')
    steps = steps_with_vars(["dbt seed", "dbt source freshness"], given, 7, max_length=1000)
    assert steps == ("dbt seed --vars '{\"a\":1}'", "dbt source freshness")
    with pytest.raises(VarsError, match="longer than 20 characters"):
        steps_with_vars(["dbt seed"], given, 7, max_length=20)
    with pytest.raises(VarsError, match="none of job 7's commands"):
        steps_with_vars([], given, 7, max_length=1000)


@pytest.mark.parametrize(
    "text", ["1", "null", '"a"', "{a: [1}", "{}", "- a", '{"a": "' + "x" * 900 + '"}']
)
def test_what_is_not_a_small_mapping_is_refused(text: str) -> None:
    with pytest.raises(VarsError):
        parse_vars(text)


def test_a_global_flag_with_a_value_before_the_command_is_skipped() -> None:
    """`dbt --log-level debug build` builds: the flag's value is not the command."""
    assert takes_vars("dbt --log-level debug build")
    assert takes_vars("dbt --log-format json test --select x")
    assert not takes_vars("dbt --log-level debug deps")
    assert takes_vars("dbt --debug docs generate")


def test_vars_in_yaml_are_sent_as_json_a_date_as_its_iso_text() -> None:
    """issue 20: `vars: <YAML or JSON mapping>`; dbt reads --vars as YAML, the step carries JSON."""
    given = parse_vars("start_date: 2024-01-01\nfull_refresh: true\nregions: [eu, us]\n")
    assert given.values == {
        "start_date": datetime.date(2024, 1, 1),
        "full_refresh": True,
        "regions": ["eu", "us"],
    }
    flag, value = shlex.split(given.argument)
    assert flag == "--vars"
    assert json.loads(value) == {
        "start_date": "2024-01-01",
        "full_refresh": True,
        "regions": ["eu", "us"],
    }
    with pytest.raises(VarsError, match="mapping of variable names"):
        parse_vars("1: one")  # a number is no variable name
