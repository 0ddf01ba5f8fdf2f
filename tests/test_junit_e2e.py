"""The JUnit XML report (issue 19 item 5) through the entrypoint and the CLI, checked against the
Jenkins xUnit plugin's JUnit schema (tests/fixtures/junit/README.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import xmlschema

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult
from tests.fake_github import FakeGitHub
from tests.hostile import FRAGMENTS
from tests.test_cli import run_cli
from tests.test_feedback_e2e import (
    CLONE,
    FAILING,
    FAILING_BUILD,
    FUSION,
    TOKEN,
    emu,
    github,
    run,
    runner,
)

__all__ = ["emu", "github"]  # fixtures
SCHEMA = xmlschema.XMLSchema10(Path(__file__).parent / "fixtures" / "junit" / "junit-10.xsd")


def cases(document: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(document).getroot()  # noqa: S314 - the report this step just wrote
    return {(c.attrib["classname"], c.attrib["name"]): c for c in root.iter("testcase")}


def test_one_testcase_per_node_with_errors_failures_and_skips_valid_junit(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    result = run(step, emu, FAILING, **{"junit-xml": "reports/dbt.xml"})

    assert result.exit_code == 1
    document = step.workspace / "reports" / "dbt.xml"
    SCHEMA.validate(str(document))
    found = cases(document)
    assert set(found) == {
        ("model.shop", "stg_orders"),
        ("model.shop", "orders"),
        ("test.shop", "not_null_orders_id"),
        ("model.shop", "customers"),
        ("model.shop", "clv"),
        ("model.shop", "revenue"),
    }
    assert found[("model.shop", "orders")].attrib["time"] == "2.000"
    assert list(found[("model.shop", "orders")]) == []  # passed
    [failure] = list(found[("test.shop", "not_null_orders_id")])
    assert failure.tag == "failure" and failure.attrib["message"].startswith("Got 3 results")
    [error] = list(found[("model.shop", "customers")])
    assert error.tag == "error" and "column x does not exist" in (error.text or "")
    assert [e.tag for e in found[("model.shop", "clv")]] == ["skipped"]
    suite = ET.parse(document).getroot().find("testsuite")  # noqa: S314 - as above
    assert suite is not None
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["errors"]) == (
        "6",
        "1",
        "1",
    )
    assert suite.attrib["skipped"] == "2"


def test_a_fusion_run_has_its_log_named_model_as_an_error(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    run(step, emu, FUSION, **{"junit-xml": "dbt.xml"})

    SCHEMA.validate(str(step.workspace / "dbt.xml"))
    found = cases(step.workspace / "dbt.xml")
    # Fusion's run_results.json leaves the erroring model out; the log names it
    [error] = [
        case for (kind, name), case in found.items() if kind == "model" and "customers" in name
    ]
    assert [e.tag for e in error] == ["error"]


def test_the_cli_writes_the_report_and_hostile_text_stays_valid_xml(tmp_path: Path) -> None:
    messages = list(FRAGMENTS)[:20]
    hostile = replace(
        FAILING_BUILD,
        results=tuple(
            NodeResult(f"test.shop.h{i}", "fail", 0.1, message + "\x00\x1b[31m\ufffe]]>", "test")
            for i, message in enumerate(messages)
        ),
    )
    jobs = (JobScript(61, "hostile <junit> & co", (CLONE, hostile), 1, triggers=()),)
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=jobs), time_scale=100) as emu:
        proc = run_cli(
            ["--job-id", "61", "--junit-xml", "out/dbt.xml", "--git-sha", "none"],
            {
                "DBT_CLOUD_ACCESS_URL": emu.url,
                "DBT_CLOUD_API_TOKEN": TOKEN,
                "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
                "DBT_CLOUD_POLL_INTERVAL": "1",
            },
            tmp_path,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    document = tmp_path / "out" / "dbt.xml"
    SCHEMA.validate(str(document))
    failures = [f for case in cases(document).values() for f in case if f.tag == "failure"]
    assert len(failures) == len(messages)
    assert all("\x00" not in (f.text or "") and "\x1b" not in (f.text or "") for f in failures)
