"""Run the action for a pull request against the emulator and show what a user would see.

Two steps of one simulated job: the CI job that passes (101) and the one whose tests fail (102).
For each: the step log, the trigger body dbt Cloud received (the PR's head commit as `git_sha`,
no `git_branch`: dbt Cloud takes one or the other), the outputs and the job summary. Then, with
several jobs, one step that runs them all at once (`job-id: 101,102`): its log, its `runs`
output and its summary, which opens with an overview of the runs. Then the same step for a pull
request from a fork: refused before any request (dbt Cloud cannot check out a fork's commits).
Then a failing run of a job on dbt Fusion (the `latest-fusion` track, job 106): Fusion leaves
the model that errored out of run_results.json, and the summary names it from the step's log.
Then `mode: follow`: dbt Cloud starts the CI run itself from the pull request's webhook, and
the step finds, follows and reports that run, triggering nothing.
Then a job chain (`follow-chain: true`): the step's run of a load job ends, dbt Cloud starts the
job chained to it on completion, and the step follows and reports both, a row each. Last, a
failing pull request whose CI run defers to production (scripts/demo_feedback.py): each failure
new or already failing there, on its file, and what it breaks downstream.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event  # noqa: E402

from dbt_cloud_emulator import (  # noqa: E402
    Emulator,
    EmulatorConfig,
    JobScript,
    NodeResult,
    StepScript,
    default_config,
)

FUSION_JOB = 106
# The model that errors in the Fusion job's run (Fusion leaves it out of run_results.json).
FUSION_ERRORING_MODEL = "customers"


def banner(title: str) -> None:
    print(f"\n{'=' * 30} {title} {'=' * (60 - len(title))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", default="101,102", help="emulated job ids to run, in order")
    parser.add_argument("--time-scale", type=float, default=30.0, help="emulated s per real s")
    parser.add_argument(
        "--fork",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show a pull request from a fork (refused before any API call)",
    )
    parser.add_argument(
        "--fusion",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show a failing run of a job on dbt Fusion (the model that errored named)",
    )
    parser.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show mode: follow (the step reports the run dbt Cloud starts by itself)",
    )
    parser.add_argument(
        "--chain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show follow-chain (the run a job's completion starts, followed and reported)",
    )
    parser.add_argument(
        "--feedback",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also show a failing pull request: failures new or already failing in production",
    )
    args = parser.parse_args()
    expected = {101: 0, 102: 1}
    jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    ok = True
    with (
        Emulator(config=api_only_config(), time_scale=args.time_scale) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"dbt Cloud emulator at {emu.url} (account {emu.account_id})")
        for job in jobs:
            runner = SimulatedRunner(
                Path(tmp) / f"job{job}",
                event_name="pull_request",
                event=load_event("pull_request.opened.json"),
            )
            inputs = emulator_inputs(emu, job, **{"schema-override": "dbt_cloud_pr_{job_id}_{pr}"})
            banner(f"job {job}: step log")
            result = runner.run(inputs, timeout=600)
            print(result.stdout, end="")
            print(result.stderr, end="", file=sys.stderr)
            banner(f"job {job}: trigger body sent to dbt Cloud")
            for request in emu.requests:
                if request.endpoint == "trigger" and request.path.endswith(f"/jobs/{job}/run/"):
                    print(json.dumps(request.body, indent=2))
            banner(f"job {job}: exit code {result.exit_code}, outputs")
            for name, value in result.outputs.items():
                print(f"{name}={value}")
            banner(f"job {job}: job summary (markdown)")
            print(result.summary)
            ok = ok and result.exit_code == expected.get(job, result.exit_code)
        if len(jobs) > 1:
            together = SimulatedRunner(
                Path(tmp) / "together",
                event_name="pull_request",
                event=load_event("pull_request.opened.json"),
            )
            inputs = {
                "access-url": emu.url,
                "api-token": emu.token,
                "account-id": str(emu.account_id),
                "job-id": ",".join(str(job) for job in jobs),
                "schema-override": "dbt_cloud_pr_{job_id}_{pr}",
            }
            banner("several jobs in one step: step log")
            result = together.run(inputs, timeout=600)
            print(result.stdout, end="")
            print(result.stderr, end="", file=sys.stderr)
            banner(f"several jobs: exit code {result.exit_code}, status {result.outputs['status']}")
            print(f"runs={json.dumps(json.loads(result.outputs['runs']), indent=2)}")
            banner("several jobs: job summary (markdown)")
            print(result.summary)
            failing = any(expected.get(job, 0) for job in jobs)
            ok = ok and result.exit_code == (1 if failing else 0)
        if args.fusion:
            ok = show_fusion_run(emu, Path(tmp) / "fusion") and ok
        if args.fork:
            ok = show_fork_pull_request(emu, Path(tmp) / "fork") and ok
        if args.follow:
            ok = show_follow_mode(args.time_scale, Path(tmp) / "follow") and ok
        if args.chain:
            ok = show_job_chain(args.time_scale, Path(tmp) / "chain") and ok
        if args.feedback:
            from scripts.demo_feedback import show_feedback  # noqa: PLC0415 - its scene only

            ok = show_feedback(args.time_scale, Path(tmp) / "feedback", banner) and ok
    return 0 if ok else 1


def show_fork_pull_request(emu: Emulator, workspace: Path) -> bool:
    """The pull request from a fork: the step fails before any API call (exit 1)."""
    runner = SimulatedRunner(
        workspace,
        event_name="pull_request",
        event=load_event("pull_request.synchronize.fork.json"),
    )
    inputs = emulator_inputs(emu, 101)
    before = len(emu.requests)
    banner("a pull request from a fork: step log")
    result = runner.run(inputs, timeout=120)
    print(result.stdout, end="")
    made = len(emu.requests) - before
    banner(f"a pull request from a fork: exit code {result.exit_code}, {made} API requests")
    print("With fork-pull-requests: skip the step would end with status skipped instead.")
    return result.exit_code == 1 and made == 0


def show_fusion_run(emu: Emulator, workspace: Path) -> bool:
    """A failing dbt Fusion run: the step fails (exit 1) and its summary names the model that
    errored, which Fusion's run_results.json leaves out (the step's log names it)."""
    runner = SimulatedRunner(
        workspace, event_name="pull_request", event=load_event("pull_request.opened.json")
    )
    banner("dbt Fusion: step log")
    result = runner.run(emulator_inputs(emu, FUSION_JOB), timeout=600)
    print(result.stdout, end="")
    banner(f"dbt Fusion: exit code {result.exit_code}, job summary (markdown)")
    print(result.summary)
    named = f".{FUSION_ERRORING_MODEL}` | ❌ error (from the log)" in result.summary
    return result.exit_code == 1 and named


def fusion_job() -> JobScript:
    """A CI job on the `latest-fusion` track: one node reused by dbt State, a model that
    errors, a failing test, and what they skip."""
    build = StepScript(
        "Invoke dbt with `dbt build --select state:modified+`",
        "dbt build --select state:modified+",
        25.0,
        20,
        results=(
            NodeResult("model.jaffle_shop.stg_customers", "reused", 0.0),
            NodeResult("model.jaffle_shop.stg_orders", "success", 1.7),
            NodeResult(
                "test.jaffle_shop.not_null_orders_order_id",
                "fail",
                0.8,
                "Got 3 results, configured to fail if != 0",
                "test",
            ),
            NodeResult(
                f"model.jaffle_shop.{FUSION_ERRORING_MODEL}",
                "error",
                2.3,
                "Database Error in model customers (models/customers.sql)\n"
                "  Object 'ANALYTICS.DBT_CI.STG_PAYMENTS' does not exist or not authorized.",
            ),
            NodeResult("model.jaffle_shop.customer_lifetime_value", "skipped", 0.0),
        ),
    )
    ci = next(job for job in default_config().jobs if job.id == 102)
    return replace(
        ci,
        id=FUSION_JOB,
        name="CI - dbt Fusion",
        steps=(*ci.steps[:-1], build),
        dbt_version="latest-fusion",
    )


def api_only_config() -> EmulatorConfig:
    """The demo account with its CI jobs started by the API only, as a team that triggers them
    from GitHub sets them up (with dbt Cloud's own PR trigger on too, every push would start two
    runs and the step warns of it; the follow scene keeps that trigger: it reports that run),
    and a job on dbt Fusion."""
    config = default_config()
    jobs = (*config.jobs, fusion_job())
    return replace(config, jobs=tuple(replace(job, triggers=()) for job in jobs))


def show_follow_mode(time_scale: float, workspace: Path) -> bool:
    """mode: follow, in an account of its own (the first steps' runs are for the same commit):
    dbt Cloud starts job 101's run from the pull request's webhook 3 real seconds after the step
    starts (the emulator's delays are in emulated seconds)."""
    event = load_event("pull_request.opened.json")
    runner = SimulatedRunner(workspace, event_name="pull_request", event=event)
    with Emulator(config=default_config(), time_scale=time_scale) as emu:
        sha = event["pull_request"]["head"]["sha"]
        emu.open_pull_request(101, sha, 2, delay=3.0 * time_scale)
        inputs = emulator_inputs(emu, 101, mode="follow")
        banner("mode: follow: step log")
        result = runner.run(inputs, timeout=600)
        print(result.stdout, end="")
        triggers = sum(r.endpoint == "trigger" for r in emu.requests)
    banner(f"mode: follow: exit code {result.exit_code}, {triggers} runs triggered, outputs")
    for name, value in result.outputs.items():
        print(f"{name}={value}")
    return result.exit_code == 0 and triggers == 0 and result.outputs["origin"] == "followed"


CHAIN_LOAD, CHAIN_MARTS = 201, 202


def show_job_chain(time_scale: float, workspace: Path) -> bool:
    """follow-chain, in an account of its own: job 202 is triggered on the completion (success)
    of job 201; the step triggers 201 only, and reports both runs."""
    build = (StepScript("Invoke dbt with `dbt build`", "dbt build", 40.0),)
    jobs = (
        JobScript(CHAIN_LOAD, "Daily load", build, 2.0, "scheduled"),
        JobScript(CHAIN_MARTS, "Daily marts", build, 2.0, "scheduled", after_job_id=CHAIN_LOAD),
    )
    event = load_event("workflow_dispatch.json")
    runner = SimulatedRunner(workspace, event_name="workflow_dispatch", event=event)
    with Emulator(config=EmulatorConfig(jobs=jobs), time_scale=time_scale) as emu:
        inputs = emulator_inputs(emu, CHAIN_LOAD, **{"follow-chain": "true"})
        banner("follow-chain: step log")
        result = runner.run(inputs, timeout=600)
        print(result.stdout, end="")
        triggers = sum(r.endpoint == "trigger" for r in emu.requests)
    runs = json.loads(result.outputs["runs"])
    banner(f"follow-chain: exit code {result.exit_code}, {triggers} run triggered, runs")
    print(f"runs={json.dumps(runs, indent=2)}")
    banner("follow-chain: job summary (markdown)")
    print(result.summary)
    origins = [(run["job-id"], run["origin"], run["status"]) for run in runs]
    chained = [(str(CHAIN_LOAD), "triggered", "success"), (str(CHAIN_MARTS), "chained", "success")]
    return result.exit_code == 0 and triggers == 1 and origins == chained


if __name__ == "__main__":
    sys.exit(main())
