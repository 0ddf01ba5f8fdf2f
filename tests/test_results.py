from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_cloud_action.models import Run, RunStatus, RunStep
from dbt_cloud_action.results import (
    MESSAGE_CHARS,
    MESSAGE_LINES,
    StatusBucket,
    StatusCounts,
    StepResults,
    combine,
    dbt_subcommand,
    digest_run_results,
    failed_nodes_in_log,
    parse_run_results,
    reconcile,
    reconciled_steps,
    step_command,
    steps_with_results,
)


def result(unique_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "unique_id": unique_id,
        "status": status,
        "timing": [],
        "thread_id": "Thread-1",
        "adapter_response": {},
        "message": None,
        "failures": None,
        "execution_time": 0.5,
        **extra,
    }


def run_results(version: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {
            "dbt_schema_version": f"https://schemas.getdbt.com/dbt/run-results/v{version}.json",
            "dbt_version": "1.8.3",
            "generated_at": "2026-11-01T10:01:00Z",
        },
        "results": results,
        "elapsed_time": 61.5,
        "args": {"which": "build"},
    }


BUILD = [
    result("model.shop.stg_orders", "success", message="SELECT 10", execution_time=3.0),
    result("model.shop.orders", "error", message="Database Error in model orders\n  boom"),
    result("model.shop.customers", "success", execution_time=12.25),
    result("seed.shop.raw", "success", execution_time=30.0),
    result("test.shop.not_null_orders_id", "fail", failures=3, message="Got 3 results"),
    result("test.shop.unique_orders_id", "pass", failures=0),
    result("test.shop.accepted_values", "warn", failures=1),
    result("model.shop.downstream", "skipped", execution_time=0),
    result("test.shop.stale", "runtime error", message="Runtime Error\n  x"),
    result("model.shop.micro", "partial success"),
]


@pytest.mark.parametrize("version", [4, 5, 6])
def test_counts_problems_and_slowest_models(version: int) -> None:
    digest = digest_run_results(run_results(version, BUILD), slowest=2)
    assert digest.counts == StatusCounts(passed=4, errored=3, failed=1, warned=1, skipped=1)
    assert digest.total == 10
    assert [n.unique_id for n in digest.problems] == [
        "model.shop.orders",
        "test.shop.stale",
        "model.shop.micro",
        "test.shop.not_null_orders_id",
    ]
    assert digest.problems_total == 4
    failing_test = digest.problems[3]
    assert (failing_test.resource_type, failing_test.status, failing_test.failures) == (
        "test",
        "fail",
        3,
    )
    assert failing_test.bucket is StatusBucket.FAIL
    assert digest.problems[1].status == "runtime error"
    # Seeds are not models; a skipped model with 0 s is not "slow".
    assert [n.unique_id for n in digest.slowest_models] == [
        "model.shop.customers",
        "model.shop.stg_orders",
    ]
    assert digest.elapsed_seconds == 61.5
    assert digest.dbt_version == "1.8.3"


def test_minimal_entries_and_unknown_statuses_are_tolerated() -> None:
    digest = digest_run_results(
        {
            "results": [
                {"unique_id": "model.a.b"},
                {"unique_id": "model.a.c", "status": "Reticulating"},
                {"unique_id": "snapshot", "status": "SUCCESS", "execution_time": "fast"},
                {"status": "error"},
                "garbage",
                None,
            ]
        }
    )
    assert digest.counts == StatusCounts(passed=1, other=2)
    assert digest.unreadable_results == 3
    assert digest.problems == ()
    assert digest.elapsed_seconds is None
    assert digest.dbt_version == ""


def test_messages_keep_first_lines_only() -> None:
    message = "\n".join(f"line {i}" for i in range(50))
    digest = digest_run_results({"results": [result("model.a.b", "error", message=message)]})
    assert digest.problems[0].message.splitlines() == [f"line {i}" for i in range(MESSAGE_LINES)]
    huge = digest_run_results({"results": [result("model.a.b", "error", message="x" * 10**6)]})
    assert len(huge.problems[0].message) == MESSAGE_CHARS
    assert huge.problems[0].message.endswith("…")


def test_only_messages_worth_showing_are_kept() -> None:
    digest = digest_run_results(run_results(6, BUILD))
    slowest = {n.unique_id: n for n in digest.slowest_models}
    assert slowest["model.shop.stg_orders"].message == ""  # "SELECT 10" is noise
    assert digest.problems[0].message == "Database Error in model orders\n  boom"
    padded = digest_run_results({"results": [result("t.a.b", "fail", message="\n  x  \n\n\n")]})
    assert padded.problems[0].message == "x"


def test_problems_are_capped_but_counted() -> None:
    many = [result(f"test.a.t{i}", "fail", failures=i) for i in range(2500)]
    digest = digest_run_results({"results": many}, max_problems=100)
    assert len(digest.problems) == 100
    assert digest.problems_total == 2500
    assert digest.counts.failed == 2500


def test_an_empty_run_is_an_empty_digest() -> None:
    digest = digest_run_results(run_results(6, []))
    assert digest.is_empty
    assert digest.elapsed_seconds == 61.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({}, "no 'results' list"),
        ({"results": {"a": 1}}, "no 'results' list"),
        (
            {
                "metadata": {
                    "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"
                }
            },
            "not a run_results.json",
        ),
    ],
)
def test_garbage_is_a_clear_value_error(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        digest_run_results(data)


def test_parse_run_results_from_bytes() -> None:
    raw = json.dumps(run_results(5, BUILD)).encode()
    assert parse_run_results(raw).counts.failed == 1
    for bad in (b"\xff\xfe", b"<html>502 Bad Gateway</html>", b"[" * 100_000, b""):
        with pytest.raises(ValueError, match=r"run_results\.json"):
            parse_run_results(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
result_like = st.fixed_dictionaries(
    {},
    optional={
        "unique_id": st.text(max_size=30) | json_values,
        "status": st.sampled_from(["success", "error", "fail", "pass", "warn"]) | json_values,
        "message": st.text() | json_values,
        "failures": json_values,
        "execution_time": st.floats() | json_values,
    },
)


@settings(max_examples=300)
@given(
    data=json_values
    | st.fixed_dictionaries(
        {"results": st.lists(result_like | json_values, max_size=8)},
        optional={"metadata": json_values, "elapsed_time": json_values},
    )
)
def test_any_json_gives_a_digest_or_a_value_error(data: Any) -> None:
    try:
        digest = digest_run_results(data)
    except ValueError:
        return
    assert digest.total + digest.unreadable_results == len(data["results"])
    assert digest.problems_total == digest.counts.errored + digest.counts.failed
    assert all(n.execution_time is None or n.execution_time >= 0 for n in digest.slowest_models)


# --- choosing the steps with results, and adding them up --------------------------------------


def run_step(index: int, name: str, status: int = 10) -> RunStep:
    return RunStep(index, name, RunStatus(status))


def run_of(*steps: RunStep) -> Run:
    return Run(id=1, job_id=2, account_id=3, status=RunStatus.SUCCESS, status_code=10, steps=steps)


@pytest.mark.parametrize(
    ("name", "command", "subcommand"),
    [
        ("Invoke dbt with `dbt build --select tag:x+`", "dbt build --select tag:x+", "build"),
        ("Invoke dbt with `dbt --warn-error  run`", "dbt --warn-error run", "run"),
        ("Invoke dbt with `dbt run-operation grant`", "dbt run-operation grant", "run-operation"),
        ("Invoke dbt with `dbt docs generate`", "dbt docs generate", "docs"),
        ("Clone git repository", "", ""),
        ("Invoke dbt with `dbtx build`", "", ""),
    ],
)  # fmt: skip
def test_step_command_and_subcommand(name: str, command: str, subcommand: str) -> None:
    assert step_command(run_step(1, name)) == command
    assert dbt_subcommand(command) == subcommand


def test_steps_with_results_are_the_dbt_steps_that_ran_nodes_and_ended() -> None:
    steps = (
        run_step(1, "Clone git repository"),
        run_step(2, "Invoke dbt with `dbt deps`"),
        run_step(3, "Invoke dbt with `dbt seed`"),
        run_step(4, "Invoke dbt with `dbt run`"),
        run_step(5, "Invoke dbt with `dbt test`", 20),
        run_step(6, "Invoke dbt with `dbt snapshot`", 30),  # cancelled: saved nothing
        run_step(7, "Invoke dbt with `dbt docs generate`"),
        run_step(8, "Invoke dbt with `dbt source freshness`"),
        run_step(9, "Invoke dbt with `dbt build`", 3),  # still running
    )
    assert [s.index for s in steps_with_results(run_of(*steps))] == [3, 4, 5]
    assert steps_with_results(run_of()) == ()


def test_combine_adds_counts_keeps_problems_in_step_order_and_the_slowest_overall() -> None:
    seed = digest_run_results(run_results(6, [result("seed.x.raw", "success", execution_time=9.0)]))
    build = digest_run_results(
        run_results(
            6,
            [
                result("model.x.a", "success", execution_time=1.0),
                result("model.x.b", "error", message="boom"),
                result("test.x.t", "fail", failures=2),
            ],
        )
    )
    both = combine([seed, build])
    assert both.counts == StatusCounts(passed=2, errored=1, failed=1)
    assert [n.unique_id for n in both.problems] == ["model.x.b", "test.x.t"]
    assert both.problems_total == 2
    assert [n.unique_id for n in both.slowest_models] == ["model.x.a", "model.x.b"]
    assert both.dbt_version == "1.8.3"
    assert combine([build]) is build
    assert combine([]).is_empty


# ----- dbt Fusion: silent run_results reconciled with the step's log -------------------------

# dbt-labs/dbt-fusion#1539, a Fusion build's console output.
FUSION_LOG = """dbt-fusion 2.0.0-preview.164
   Loading profiles.yml
 Succeeded [  0.01s] model main.base_model (table)
    Failed [  1.00s] model main.downstream_model (table)
error: dbt1501: Error executing materialization macro
   Skipped [-------] model main.final_model (table)
    Failed [  0.40s] test  main.not_null_base_model_id

==================== Execution Summary =====================
Finished 'build' with 2 errors for target 'dev' [1.3s]
Summary: 4 total | 1 success | 2 error | 1 skipped
"""


def fusion_step(status: RunStatus, logs: str = FUSION_LOG) -> RunStep:
    return RunStep(4, "Invoke dbt with `dbt build`", status, logs)


def fusion_results(*entries: dict[str, Any]) -> StepResults:
    data = {"metadata": {"dbt_version": "2.0.0-preview.164"}, "results": list(entries)}
    return StepResults(4, "dbt build", digest_run_results(data))


def test_fusions_failed_lines_name_the_nodes() -> None:
    nodes = failed_nodes_in_log(FUSION_LOG)
    assert [(n.unique_id, n.bucket, n.execution_time) for n in nodes] == [
        ("model main.downstream_model", StatusBucket.ERROR, 1.0),
        ("test main.not_null_base_model_id", StatusBucket.FAIL, 0.4),
    ]
    assert all(n.from_log for n in nodes)
    assert nodes[0].message == "dbt1501: Error executing materialization macro"
    assert failed_nodes_in_log("12:00:01  1 of 2 ERROR creating sql table model x") == ()
    timed = (
        "12:00:01      Failed [  1.00s] model a.b (table)\n"
        "19:53:01.09 [info ]:  Failed [ 2.00s] seed a.c"
    )
    assert [n.unique_id for n in failed_nodes_in_log(timed)] == ["model a.b", "seed a.c"]


def test_a_failed_fusion_step_takes_the_erroring_model_its_results_leave_out() -> None:
    """The issue's run: the model errored and is missing from run_results, a test failed."""
    results = fusion_results(
        {"unique_id": "model.shop.base_model", "status": "success"},
        {"unique_id": "test.shop.not_null_base_model_id", "status": "fail", "failures": 3},
    )
    digest = reconcile(fusion_step(RunStatus.ERROR), results).digest
    assert (digest.counts.errored, digest.counts.failed, digest.counts.passed) == (1, 1, 1)
    assert [n.unique_id for n in digest.problems] == [
        "model main.downstream_model",
        "test.shop.not_null_base_model_id",  # already in run_results: not counted twice
    ]
    assert digest.problems_total == 2
    assert not digest.unexplained_failure


def test_a_failed_step_without_results_takes_its_log_and_else_says_it_is_unexplained() -> None:
    from_log = reconcile(fusion_step(RunStatus.ERROR), None)  # Fusion wrote no run_results
    assert from_log.digest.counts.problems == 2
    silent = reconcile(fusion_step(RunStatus.ERROR, "Finished 'build' with 1 error"), None)
    assert silent.digest.unexplained_failure
    assert silent.digest.counts.problems == 0


def test_a_successful_fusion_steps_skips_are_reuses_and_a_core_steps_stay_skips() -> None:
    skipped = {"unique_id": "model.shop.orders", "status": "skipped"}
    fusion = reconcile(fusion_step(RunStatus.SUCCESS), fusion_results(skipped)).digest
    assert (fusion.counts.skipped, fusion.counts.reused) == (0, 1)
    core = StepResults(4, "dbt build", digest_run_results({"results": [skipped]}))
    assert reconcile(fusion_step(RunStatus.SUCCESS), core).digest.counts.skipped == 1
    failed = reconcile(fusion_step(RunStatus.ERROR), fusion_results(skipped)).digest
    assert failed.counts.skipped == 1  # after a failure a skip may be the failure's
    reused = digest_run_results({"results": [{**skipped, "status": "reused"}]})
    assert reused.counts.reused == 1


def test_reconciled_steps_add_a_failed_dbt_step_that_left_no_results() -> None:
    run = Run(
        id=1,
        job_id=2,
        account_id=3,
        status=RunStatus.ERROR,
        status_code=20,
        steps=(
            RunStep(1, "Clone git repository", RunStatus.SUCCESS),
            RunStep(2, "Invoke dbt with `dbt run`", RunStatus.SUCCESS),
            fusion_step(RunStatus.ERROR),
        ),
    )
    ok = StepResults(2, "dbt run", digest_run_results({"results": []}))
    steps = reconciled_steps(run, (ok,))
    assert [s.step_index for s in steps] == [2, 4]
    assert steps[1].digest.counts.problems == 2
