"""Issue 19, benchmark: what the feedback on a failed run costs, in requests, bytes and time.

The real entrypoint runs as a subprocess in a simulated runner for a pull_request event against
the emulator at time scale 1. A production job's run ends first, with a failing test; then a CI
job deferring to it (`deferring_run_id`) fails that test again and errors a model: once with
the feedback on (`annotations: auto`, `compare: auto`, the defaults: the failing step's
manifest.json, the deferred-to run and its run_results.json, all after the end) and once with
both off. The extra requests and bytes are the difference in the emulator's request log
(response bodies); "step end after run end" is the step's exit minus the run's `finished_at`
(the issue's bound: 2 s). A passing run asks for none of it.

    python bench/feedback.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.simulated_runner
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript

TARGET_SECONDS = 2.0
CLONE = StepScript("Clone git repository", duration=1)
ORDERS = NodeResult("model.shop.orders", "success", 1.0)
NOT_NULL = NodeResult(
    "test.shop.not_null_orders_id", "fail", 0.5, "Got 3 results", "test", ("model.shop.orders",)
)
CUSTOMERS = NodeResult("model.shop.customers", "error", 1.0, "Database Error in model customers")
CLV = NodeResult("model.shop.clv", "skipped", 0.0, depends_on=("model.shop.customers",))
OK_CUSTOMERS = NodeResult("model.shop.customers", "success", 1.0)


def build(*results: NodeResult) -> StepScript:
    return StepScript("Invoke dbt with `dbt build`", "dbt build", 5, 20, results=results)


HISTORY = (7.0, 7.1, 6.9)
PROD, CI = 51, 52
JOBS = (
    JobScript(PROD, "Nightly", (CLONE, build(ORDERS, NOT_NULL, OK_CUSTOMERS, CLV)), 1, "scheduled"),
    JobScript(
        CI,
        "CI deferring",
        (CLONE, build(ORDERS, NOT_NULL, CUSTOMERS, CLV)),
        1,
        "ci",
        HISTORY,
        triggers=(),
        defers_to_job_id=PROD,
    ),
)
VARIANTS = {
    "feedback on (defaults)": {},
    "annotations and compare off": {"annotations": "off", "compare": "off"},
}


@dataclass(frozen=True)
class Measured:
    requests: int
    response_bytes: int
    after_run_end: float


def measure(emu: Emulator, runner: SimulatedRunner, extra: dict[str, str]) -> Measured:
    seen = len(emu.requests)
    result = runner.run(emulator_inputs(emu, CI, **extra), timeout=120)
    exited = time.monotonic()
    if result.exit_code != 1:
        raise RuntimeError(f"the CI run should fail ({result.exit_code}):\n{result.log}")
    finished_at = emu.run(int(result.outputs["run-id"]))["finished_at"]
    run_end = time.monotonic() - emu.real_seconds_since(finished_at)
    requests = emu.requests[seen:]
    return Measured(
        requests=len(requests),
        response_bytes=sum(r.response_bytes for r in requests),
        after_run_end=exited - run_end,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (default 3)")
    args = parser.parse_args(argv)
    measured: dict[str, list[Measured]] = {label: [] for label in VARIANTS}
    with (
        Emulator(config=EmulatorConfig(jobs=JOBS), time_scale=1.0) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        nightly = SimulatedRunner(
            Path(tmp, "nightly"), event_name="schedule", event=load_event("schedule.json")
        )
        if nightly.run(emulator_inputs(emu, PROD), timeout=120).exit_code != 1:
            raise RuntimeError("the production run should fail a test")
        for number in range(args.runs):
            for label, extra in VARIANTS.items():
                event = load_event("pull_request.opened.json")
                runner = SimulatedRunner(
                    Path(tmp, f"{number}-{len(extra)}"), event_name="pull_request", event=event
                )
                measured[label].append(measure(emu, runner, extra))
    print(f"## Feedback on a failed run, {args.runs} runs each\n")
    print("| variant | requests | response bytes | step end after run end, median (max) |")
    print("|---|---:|---:|---:|")
    medians = {}
    for label, runs in measured.items():
        requests = statistics.median(m.requests for m in runs)
        size = statistics.median(m.response_bytes for m in runs)
        after = [m.after_run_end for m in runs]
        verdict = "met" if max(after) <= TARGET_SECONDS else "MISSED"
        medians[label] = (requests, size)
        print(
            f"| {label} | {requests:.0f} | {size:,.0f} | {statistics.median(after):.2f} s "
            f"({max(after):.2f} s, target {TARGET_SECONDS:.0f} s: {verdict}) |"
        )
    (on_requests, on_bytes), (off_requests, off_bytes) = medians.values()
    print(
        f"\nExtra per failed run: {on_requests - off_requests:.0f} requests, "
        f"{on_bytes - off_bytes:,.0f} bytes (the failing step's manifest.json; the deferred-to "
        "run with its steps, and its run_results.json), all after the run's end. A passing run "
        "or one without failures asks for none of them."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
