"""Issue 12, benchmark: how long after its dbt Cloud run ends the step ends, with and without
artifacts.

The real entrypoint runs as a subprocess in a simulated runner (tests/simulated_runner.py) for a
pull_request event against the emulator at time scale 1: an 8-second run (1 s queued, 1 s
starting, a 1 s clone, a 5 s `dbt build` with results) of a job with earlier runs (the poll
policy expects its end), once of a job that saves artifacts (downloading run_results.json and
manifest.json too) and once of one that saves none. "Step end after run end" is the step's exit
minus the run's `finished_at`, split with the emulator's request log into: noticing the end (the
first request after it) and what follows (final fetch, artifacts, summary, outputs, exit).
Before issue 12, a job without artifacts waited 20 s for a run_results.json that never came.

    python bench/stepend.py [--runs N]
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
STEPS = (
    StepScript("Clone git repository", duration=1),
    StepScript(
        "Invoke dbt with `dbt build`",
        command="dbt build",
        duration=5,
        results=(
            NodeResult("model.shop.orders", "success", 2.0),
            NodeResult("test.shop.not_null_orders_id", "pass", 0.5, resource_type="test"),
        ),
    ),
)
HISTORY = (7.0, 7.1, 6.9)
JOBS = {
    "saves artifacts": JobScript(41, "With artifacts", STEPS, 1, "ci", HISTORY),
    "saves none": JobScript(42, "Without artifacts", STEPS, 1, "ci", HISTORY, artifacts="none"),
}


@dataclass(frozen=True)
class StepEnd:
    after_run_end: float  # the run's end to the step's exit
    noticed: float  # the run's end to the first request after it
    artifact_requests: int


def measure(emu: Emulator, runner: SimulatedRunner, job_id: int) -> StepEnd:
    inputs = emulator_inputs(emu, job_id, artifacts="run_results.json manifest.json")
    seen = len(emu.requests)
    result = runner.run(inputs, timeout=120)
    exited = time.monotonic()
    if result.exit_code != 0:
        raise RuntimeError(f"the run failed ({result.exit_code}):\n{result.log}")
    finished_at = emu.run(int(result.outputs["run-id"]))["finished_at"]
    since = emu.real_seconds_since(finished_at)
    run_end = time.monotonic() - since
    requests = emu.requests[seen:]
    noticed = next(r for r in requests if r.received_at >= run_end)
    return StepEnd(
        after_run_end=exited - run_end,
        noticed=noticed.received_at - run_end,
        artifact_requests=sum(r.endpoint in ("list_artifacts", "get_artifact") for r in requests),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each job (default 3)")
    args = parser.parse_args(argv)
    config = EmulatorConfig(jobs=tuple(JOBS.values()))
    measured: dict[str, list[StepEnd]] = {label: [] for label in JOBS}
    with Emulator(config=config, time_scale=1.0) as emu, tempfile.TemporaryDirectory() as tmp:
        for number in range(args.runs):
            for label, job in JOBS.items():
                workdir = Path(tmp, f"{label}-{number}")
                event = load_event("pull_request.opened.json")
                runner = SimulatedRunner(workdir, event_name="pull_request", event=event)
                measured[label].append(measure(emu, runner, job.id))
    print(f"## Step end after run end, {args.runs} runs each\n")
    print("| job | step end after run end, median (max) | noticed | after that | artifact calls |")
    print("|---|---:|---:|---:|---:|")
    for label, ends in measured.items():
        after = [e.after_run_end for e in ends]
        noticed = statistics.median(e.noticed for e in ends)
        rest = statistics.median(e.after_run_end - e.noticed for e in ends)
        verdict = "met" if max(after) <= TARGET_SECONDS else "MISSED"
        print(
            f"| {label} | {statistics.median(after):.2f} s ({max(after):.2f} s, target "
            f"{TARGET_SECONDS:.0f} s: {verdict}) | {noticed:.2f} s | {rest:.2f} s "
            f"| {ends[0].artifact_requests} |"
        )
    print(
        "\nNoticed: the run's end to the poll that saw it (adaptive polling, job with history). "
        "After noticing:\nfinal fetch, artifacts (list, per-step run_results.json, downloads), "
        "summary, outputs, exit.\nBefore issue 12 a job saving no artifacts added a 20 s wait."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
