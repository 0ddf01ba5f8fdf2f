"""New or already failing (issue 19, 3), through the real entrypoint against the emulator and a
fake GitHub: a production run with failures, then a CI run deferring to it (the emulator's
`defers_to_job_id`, dbt Cloud's `deferring_run_id`); its failures marked in the summary, the
comment, the annotations and the JUnit report, the deferred-to run read once, after the end."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
from tests.fake_github import FakeGitHub
from tests.test_feedback_e2e import (
    CLONE,
    CUSTOMERS,
    GITHUB_TOKEN,
    NOT_NULL,
    ORDERS,
    PR_NUMBER,
    REPOSITORY,
    STG,
    TIME_SCALE,
    TOKEN,
    by_file,
    checkout,
    run,
    runner,
)

UNIQUE = NodeResult(
    "test.shop.unique_orders_id",
    "fail",
    0.3,
    "Got 2 results, configured to fail if != 0",
    "test",
    depends_on=("model.shop.orders",),
    column="id",
)
PROD_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    outcome=20,
    results=(STG, ORDERS, NOT_NULL, UNIQUE, NodeResult("model.shop.customers", "success", 1.0)),
)
DOCS = StepScript("Invoke dbt with `dbt docs generate`", "dbt docs generate", duration=2)
CI_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    outcome=20,
    results=(STG, ORDERS, NOT_NULL, CUSTOMERS),
)
PROD, CI, CI_ALONE = 61, 62, 63
JOBS = (
    JobScript(PROD, "Nightly", (CLONE, PROD_BUILD, DOCS), 1, job_type="scheduled", triggers=()),
    JobScript(CI, "CI deferring", (CLONE, CI_BUILD), 1, triggers=(), defers_to_job_id=PROD),
    JobScript(CI_ALONE, "CI alone", (CLONE, CI_BUILD), 1, triggers=()),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=TIME_SCALE) as e:
        yield e


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, repository=REPOSITORY) as fake:
        yield fake


def requests_of_run(emu: Emulator, run_id: int) -> list[str]:
    """Each request about run `run_id`: its endpoint and, for an artifact, the file and step."""
    prefix = f"/runs/{run_id}/"
    return [
        r.endpoint
        + (
            f" {r.path.rsplit('/', 1)[-1]} {r.query.get('step')}"
            if "artifact" in r.endpoint
            else ""
        )
        for r in emu.requests
        if prefix in r.path
    ]


def test_a_ci_run_deferring_to_production_marks_each_failure_new_or_already_failing(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    production = run(runner(tmp_path / "prod", github), emu, PROD, **{"comment-on-pr": "off"})
    assert production.exit_code == 1
    prod_run = int(production.outputs["run-id"])
    before = len(emu.requests)

    step = runner(tmp_path / "ci", github)
    checkout(step)
    result = run(step, emu, CI, **{"comment-on-pr": "always", "junit-xml": "reports/dbt.xml"})

    assert result.exit_code == 1
    # the deferred-to run: read once (the run, then its build step's results, not docs'), and
    # only after the CI run ended
    ci_run = int(result.outputs["run-id"])
    assert requests_of_run(emu, prod_run)[-2:] == [
        "get_run",
        "get_artifact run_results.json ['2']",
    ]
    later = emu.requests[before:]
    reads = [i for i, r in enumerate(later) if f"/runs/{prod_run}/" in r.path]
    ci_artifacts = [i for i, r in enumerate(later) if f"/runs/{ci_run}/artifacts/" in r.path]
    assert len(reads) == 2 and min(reads) > min(ci_artifacts)

    [comment] = github.comments(PR_NUMBER)
    for markdown in (result.summary, comment["body"]):
        heading = next(line for line in markdown.splitlines() if line.startswith("## "))
        assert heading.endswith("failed: 1 new failure, 1 already failing in Production")
        row = {
            node: next(
                line for line in markdown.splitlines() if f"`{node}`" in line and "|" in line
            )
            for node in ("model.shop.customers", "test.shop.not_null_orders_id")
        }
        assert "· **new**" in row["model.shop.customers"]
        assert "· **already failing**" in row["test.shop.not_null_orders_id"]
        assert f"run #{prod_run}" in markdown and "**Nightly**" in markdown

    annotations = by_file(result)
    assert annotations[("models/customers.sql", None)].properties["title"] == (
        "dbt model customers errored (new)"
    )
    assert annotations[("models/schema.yml", "10")].properties["title"] == (
        "dbt test not_null_orders_id failed (already failing)"
    )

    suite = ET.parse(step.workspace / "reports" / "dbt.xml").getroot()  # noqa: S314 - ours
    types = {
        case.get("name"): child.get("type")
        for case in suite.iter("testcase")
        for child in case
        if child.tag in ("error", "failure")
    }
    assert types == {"customers": "new", "not_null_orders_id": "already failing"}


def test_a_run_that_deferred_to_none_has_no_marks_and_says_nothing_was_compared(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    checkout(step)
    result = run(step, emu, CI_ALONE, **{"comment-on-pr": "off"})

    assert result.exit_code == 1
    assert "Nothing was compared" in result.summary
    assert "· **" not in result.summary and "already failing in" not in result.summary
    titles = {c.properties["title"] for c in by_file(result).values()}
    assert titles == {"dbt model customers errored", "dbt test not_null_orders_id failed"}
    ci_run = int(result.outputs["run-id"])
    other_runs = [
        r.path
        for r in emu.requests
        if "/runs/" in r.path and not r.path.endswith("/runs/") and f"/runs/{ci_run}/" not in r.path
    ]
    assert other_runs == []


def test_compare_off_asks_for_no_other_run_and_marks_nothing(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    production = run(runner(tmp_path / "prod", github), emu, PROD, **{"comment-on-pr": "off"})
    prod_run = int(production.outputs["run-id"])
    reads = len(requests_of_run(emu, prod_run))

    result = run(
        runner(tmp_path / "ci", github), emu, CI, compare="off", **{"comment-on-pr": "off"}
    )

    assert result.exit_code == 1
    assert len(requests_of_run(emu, prod_run)) == reads
    assert "· **" not in result.summary and "already failing in" not in result.summary
    assert "Nothing was compared" not in result.summary


def test_a_bad_compare_value_is_one_error_naming_the_input_before_any_request(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, CI, compare="yes")

    assert result.exit_code == 1
    assert "::error" in result.stdout and "compare" in result.stdout
    assert "must be auto or off" in result.stdout
    assert emu.requests == []
