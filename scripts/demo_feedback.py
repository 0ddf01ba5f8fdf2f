"""The demo's feedback scene (issue 19): a failing pull request, its failures new or already
failing in production, on their files, and what they break downstream.

In an account of its own: a scheduled workflow runs the production job ("Nightly build"), whose
`not_null_orders_order_id` test already fails; then the pull request's CI job, which defers to
it, fails that test again and errors a model the pull request broke (`customers`), skipping what
is built on it. The step's file annotations, the JUnit report's marks and the summary are shown.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript

PRODUCTION_JOB, CI_JOB = 301, 302
CLONE = StepScript("Clone git repository", duration=2)
STG_ORDERS = NodeResult("model.jaffle_shop.stg_orders", "success", 1.2)
ORDERS = NodeResult(
    "model.jaffle_shop.orders", "success", 2.1, depends_on=("model.jaffle_shop.stg_orders",)
)
NOT_NULL = NodeResult(
    "test.jaffle_shop.not_null_orders_order_id",
    "fail",
    0.6,
    "Got 3 results, configured to fail if != 0",
    "test",
    depends_on=("model.jaffle_shop.orders",),
    column="order_id",
)
CUSTOMERS_OK = NodeResult(
    "model.jaffle_shop.customers", "success", 1.9, depends_on=("model.jaffle_shop.stg_orders",)
)
CUSTOMERS_ERROR = NodeResult(
    "model.jaffle_shop.customers",
    "error",
    2.3,
    "Database Error in model customers (models/customers.sql)\n"
    "  invalid identifier 'FIRST_ORDER_DATE'",
    depends_on=("model.jaffle_shop.stg_orders",),
)
CLV = NodeResult(
    "model.jaffle_shop.customer_lifetime_value",
    "skipped",
    0.0,
    depends_on=("model.jaffle_shop.customers",),
)
REPORT = NodeResult(
    "model.jaffle_shop.customer_report",
    "skipped",
    0.0,
    depends_on=("model.jaffle_shop.customer_lifetime_value",),
)
SCHEMA_YML = """\
version: 2
models:
  - name: orders
    columns:
      - name: order_id
        tests:
          - not_null
"""


def build(outcome: int, *results: NodeResult) -> StepScript:
    return StepScript("Invoke dbt with `dbt build`", "dbt build", 20.0, outcome, results=results)


def feedback_config() -> EmulatorConfig:
    production = JobScript(
        PRODUCTION_JOB,
        "Nightly build",
        (CLONE, build(20, STG_ORDERS, ORDERS, NOT_NULL, CUSTOMERS_OK, CLV, REPORT)),
        2.0,
        "scheduled",
        triggers=(),
    )
    ci = JobScript(
        CI_JOB,
        "CI - pull requests",
        (CLONE, build(20, STG_ORDERS, ORDERS, NOT_NULL, CUSTOMERS_ERROR, CLV, REPORT)),
        2.0,
        triggers=(),
        defers_to_job_id=PRODUCTION_JOB,
    )
    return EmulatorConfig(jobs=(production, ci))


def show_feedback(time_scale: float, workspace: Path, banner: object) -> bool:
    """The scene; True when it shows what it should (the demo's exit code)."""
    show = banner if callable(banner) else print
    with Emulator(config=feedback_config(), time_scale=time_scale) as emu:
        nightly = SimulatedRunner(
            workspace / "nightly", event_name="schedule", event=load_event("schedule.json")
        )
        show("feedback: the nightly production run (already failing a test)")
        prod = nightly.run(emulator_inputs(emu, PRODUCTION_JOB), timeout=600)
        print(f"exit code {prod.exit_code}, run {prod.outputs.get('run-id')}")
        pull_request = SimulatedRunner(
            workspace / "pr",
            event_name="pull_request",
            event=load_event("pull_request.opened.json"),
        )
        (pull_request.workspace / "models").mkdir(parents=True, exist_ok=True)
        (pull_request.workspace / "models" / "schema.yml").write_text(SCHEMA_YML)
        show("feedback: the pull request's CI run (deferring to production): step log")
        result = pull_request.run(
            emulator_inputs(emu, CI_JOB, **{"junit-xml": "reports/dbt.xml"}), timeout=600
        )
        print(result.stdout, end="")
    annotations = [line for line in result.stdout.splitlines() if ",file=" in line]
    show(f"feedback: exit code {result.exit_code}, {len(annotations)} annotations on files")
    print("\n".join(annotations))
    show("feedback: JUnit report's failures and errors")
    root = ET.parse(pull_request.workspace / "reports" / "dbt.xml").getroot()  # noqa: S314 - ours
    for case in root.iter("testcase"):
        for child in case:
            if child.tag in ("error", "failure"):
                node = f"{case.get('classname')}.{case.get('name')}"
                print(f"{node}: <{child.tag} type={child.get('type')!r}>")
    show("feedback: job summary (markdown)")
    print(result.summary)
    return (
        prod.exit_code == 1
        and result.exit_code == 1
        and "1 new failure, 1 already failing in Production" in result.summary
        and len(annotations) >= 2
    )
