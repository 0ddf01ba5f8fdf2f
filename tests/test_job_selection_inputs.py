"""`job-id` with several ids and `job-name` with names: the pure parsers and the rule that
exactly one of the two is set. A single bad id gets job-id's message of old ("must be a
positive integer"), which is what these tests match, as the list's message also contains it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_cloud_action.inputs import (
    MAX_JOBS,
    InputError,
    InvalidValue,
    JobReference,
    JobSelection,
    parse_job_ids,
    parse_job_names,
    parse_job_reference,
    parse_job_selection,
)

TOKEN = "dbtc_Q2xpZW50U2VjcmV0VG9rZW5Gb3JUZXN0cw0123"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("42", (42,)),
        (" 42 ", (42,)),
        ("101 102", (101, 102)),
        ("101,102", (101, 102)),
        ("101, 102,\n103", (101, 102, 103)),
        ("101\n\n102\n", (101, 102)),
        ("3,,\t4", (3, 4)),
    ],
)
def test_job_ids_are_separated_by_whitespace_commas_or_newlines(
    text: str, ids: tuple[int, ...]
) -> None:
    assert parse_job_ids(text) == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("101 101", "lists job 101 twice"),
        ("101,102,101", "lists job 101 twice"),
        ("0", "positive integer"),
        ("12a", "positive integer"),
        ("-3", "positive integer"),
        ("+3", "positive integer"),
        (",", "at least one job id"),
        (" ".join(str(i) for i in range(1, MAX_JOBS + 2)), f"at most {MAX_JOBS}"),
    ],
)
def test_bad_job_ids_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_job_ids(text)


@settings(max_examples=200)
@given(st.lists(st.integers(1, 10**12), min_size=1, max_size=MAX_JOBS, unique=True), st.data())
def test_any_distinct_ids_round_trip_with_any_separators(
    ids: list[int], data: st.DataObject
) -> None:
    separators = st.sampled_from([" ", ",", "\n", ", ", " ,\n", "\t"])
    text = "".join(f"{i}{data.draw(separators)}" for i in ids)
    assert parse_job_ids(text) == tuple(ids)


@given(st.text(max_size=60))
def test_job_id_parsing_only_ever_raises_invalid_value(text: str) -> None:
    try:
        ids = parse_job_ids(text)
    except InvalidValue:
        return
    assert ids and len(set(ids)) == len(ids) and all(i > 0 for i in ids)


def test_a_job_name_line_may_name_its_project_and_environment() -> None:
    assert parse_job_reference(" CI - pull requests ") == JobReference(
        "CI - pull requests", text="CI - pull requests"
    )
    assert parse_job_reference("Core / Production / Nightly") == JobReference(
        "Nightly", "Core", "Production", "Core / Production / Nightly"
    )
    assert parse_job_reference("7/71/Deploy / nightly").name == "Deploy / nightly"
    assert parse_job_reference("Deploy / nightly").qualified is False  # two parts: a name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one job name"),
        ("CI\nci", "twice"),
        ("Core / Prod / CI\n core/prod/ci", "twice"),
        (" / Prod / CI", "all three parts"),
        ("Core / / CI", "all three parts"),
        ("Core / Prod / ", "all three parts"),
        ("CI\u200bjob", "invisible"),
        ("x" * 256, "longer than 255"),
        ("\n".join(f"job {i}" for i in range(MAX_JOBS + 1)), f"at most {MAX_JOBS}"),
    ],
)
def test_bad_job_names_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_job_names(text)


def test_job_names_are_one_per_line() -> None:
    assert parse_job_names("CI\n\n  Core / Prod / Nightly  \n") == (
        JobReference("CI", text="CI"),
        JobReference("Nightly", "Core", "Prod", "Core / Prod / Nightly"),
    )


@given(st.text(max_size=80))
def test_job_name_parsing_only_ever_raises_invalid_value(text: str) -> None:
    try:
        references = parse_job_names(text)
    except InvalidValue:
        return
    assert 1 <= len(references) <= MAX_JOBS
    assert all(r.name and r.name == r.name.strip() for r in references)


def inputs(**values: str) -> dict[str, str]:
    return {"api-token": TOKEN, "job-id": "", "job-name": "", "jobs-from": "", **values}


def test_exactly_one_of_job_id_and_job_name() -> None:
    assert parse_job_selection(inputs(**{"job-id": "1, 2"}).__getitem__) == JobSelection((1, 2))
    names = parse_job_selection(inputs(**{"job-name": "CI"}).__getitem__)
    assert names == JobSelection(job_names=(JobReference("CI", text="CI"),))
    with pytest.raises(InputError, match="'job-name' are both set") as both:
        parse_job_selection(inputs(**{"job-id": "1", "job-name": "CI"}).__getitem__)
    assert both.value.input_name == "job-id"
    with pytest.raises(InputError, match="is required") as neither:
        parse_job_selection(inputs().__getitem__)
    assert "job-name" in str(neither.value)
    with pytest.raises(InputError, match="twice") as twice:
        parse_job_selection(inputs(**{"job-id": "7 7"}).__getitem__)
    assert twice.value.input_name == "job-id"
    with pytest.raises(InputError, match="api-token"):
        parse_job_selection(inputs(**{"job-name": f"CI {TOKEN}"}).__getitem__)
