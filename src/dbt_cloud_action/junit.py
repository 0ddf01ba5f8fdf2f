"""The step's dbt Cloud results as JUnit XML, for test-report tools (dorny/test-reporter,
EnricoMi/publish-unit-test-result-action, GitLab's `artifacts:reports:junit`).

One `<testsuite>` per job's run, one `<testcase>` per node that ran: `classname` is the
resource type and package (`model.jaffle_shop`; a node only Fusion's log names, `model`), `name`
the node's name, `time` dbt's execution time; an erroring node has an `<error>`, a failing test
a `<failure>`, both with dbt's message (and `type` says whether it is new or already failing
when compared with the deferred-to run); skipped and reused nodes are `<skipped>`. The shape is
Maven Surefire's, checked against the Jenkins xUnit plugin's `junit-10.xsd` in the tests.

Text from dbt is untrusted: ElementTree escapes markup, and the characters XML 1.0 cannot hold
(controls, lone surrogates, U+FFFE/U+FFFF) are dropped first, so no message breaks the file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from dbt_cloud_action.reporting import RunReport, plain_text, reconciled, truncate
from dbt_cloud_action.results import NodeResult, StatusBucket

_NOT_XML = re.compile("[\ufffe\uffff]")
_MESSAGE_CHARS = 4000


def _text(value: str, limit: int = _MESSAGE_CHARS) -> str:
    return truncate(_NOT_XML.sub("", plain_text(value)), limit)


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _names(node: NodeResult) -> tuple[str, str]:
    """(classname, name): `model.shop` and `orders` of `model.shop.orders`; Fusion's log's
    `model main.orders` is (`model`, `main.orders`)."""
    if " " in node.unique_id:
        kind, _, name = node.unique_id.partition(" ")
        return kind, name
    parts = node.unique_id.split(".")
    if len(parts) < 3:
        return node.resource_type or "node", node.unique_id
    return f"{parts[0]}.{parts[1]}", ".".join(parts[2:])


def _testcase(suite: ET.Element, node: NodeResult, mark: str) -> str:
    classname, name = _names(node)
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": _text(classname, 500), "name": _text(name, 500)}
        | {"time": _seconds(node.execution_time)},
    )
    message = _text(node.message) or f"dbt status: {node.status}"
    kind = {StatusBucket.ERROR: "error", StatusBucket.FAIL: "failure"}.get(node.bucket)
    if kind is not None:
        element = ET.SubElement(case, kind, {"message": message, "type": mark or node.status})
        element.text = message
    elif node.bucket in (StatusBucket.SKIP, StatusBucket.REUSE):
        ET.SubElement(case, "skipped", {"message": f"dbt status: {_text(node.status, 100)}"})
    return kind or ("skipped" if node.bucket in (StatusBucket.SKIP, StatusBucket.REUSE) else "")


def _suite(root: ET.Element, report: RunReport) -> dict[str, int]:
    run = report.run
    label = f"run #{run.id}" if run is not None and run.id else "no run"
    job = _text(report.job_name, 200) or f"job {report.job_id}"
    _, digest = reconciled(report)
    nodes = digest.nodes if digest is not None else ()
    suite = ET.SubElement(root, "testsuite", {"name": f"dbt Cloud {job} {label}"})
    counts = {"tests": 0, "failure": 0, "error": 0, "skipped": 0}
    for node in nodes:
        kind = _testcase(suite, node, report.marks.get(node.unique_id, ""))
        counts["tests"] += 1
        if kind:
            counts[kind] += 1
    elapsed = digest.elapsed_seconds if digest is not None else None
    suite.attrib |= {
        "tests": str(counts["tests"]),
        "failures": str(counts["failure"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": _seconds(elapsed),
    }
    return counts | {"ms": round((elapsed or 0.0) * 1000)}


def render_junit(reports: Sequence[RunReport]) -> bytes:
    """The JUnit XML document (UTF-8, with its declaration) for the step's runs."""
    root = ET.Element("testsuites", {"name": "dbt Cloud"})
    totals = [_suite(root, report) for report in reports]
    root.attrib |= {
        "tests": str(sum(t["tests"] for t in totals)),
        "failures": str(sum(t["failure"] for t in totals)),
        "errors": str(sum(t["error"] for t in totals)),
        "time": _seconds(sum(t["ms"] for t in totals) / 1000),
    }
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
