"""Issue 17, benchmark: when the step ends with `timeout: 10` while dbt Cloud is down.

The real entrypoint (tests/simulated_runner.py, a pull_request event) follows 1, 3 and 10 jobs
of long runs (tests/chaos_run.py `long_job`: none ends by itself meanwhile) at emulator time
scale 100, with `timeout: 10`; from 3 s after the step's start dbt Cloud answers 503 to every
poll and every cancel (`get_run`, `cancel`), until the step ends. Printed: the main step's end
(seconds after its start; a step still going at the cap is killed and shown as "> cap"), how
many of its runs were still going in dbt Cloud then, and what the step said. Figures, not a
test: before issue 17 the step ended after about 114 s with one job and 314 s with three.

    python bench/timeout_outage.py [--jobs 1 3 10] [--cap SECONDS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.chaos_run import ACTIVE, long_job, long_jobs_emulator
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, Fault

TIMEOUT = 10
OUTAGE_FROM = 3.0  # seconds after the step's start
FIRST_JOB = 101


@dataclass(frozen=True)
class StepEnd:
    jobs: int
    ended_after: float | None  # None: still going at the cap (killed)
    going: int  # runs still going in dbt Cloud when the step ended (or was killed)
    created: int
    status: str  # the step's `status` output ("" when it wrote none)


def measure(jobs: int, cap: float, workdir: Path) -> StepEnd:
    ids = range(FIRST_JOB, FIRST_JOB + jobs)
    with long_jobs_emulator(tuple(long_job(i, f"Outage {i}") for i in ids)) as emu:
        runner = SimulatedRunner(
            workdir, event_name="pull_request", event=load_event("pull_request.opened.json")
        )
        inputs = emulator_inputs(
            emu, 0, **{"job-id": " ".join(map(str, ids))}, timeout=str(TIMEOUT)
        )
        started = time.monotonic()
        proc, env = runner.start(inputs)
        ended_after = _follow(emu, proc, started, cap)
        going = sum(run["status"] in ACTIVE for run in emu.created_runs())
        result = runner.finish(proc, env, started, timeout=30)
        return StepEnd(
            jobs, ended_after, going, len(emu.created_runs()), result.outputs.get("status", "")
        )


def _follow(emu: Emulator, proc: subprocess.Popen[str], started: float, cap: float) -> float | None:
    """Start the outage on time; the step's end, or None after killing it at the cap."""
    outage = False
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        if not outage and elapsed >= OUTAGE_FROM:
            emu.faults.add(Fault("get_run", status=503))
            emu.faults.add(Fault("cancel", status=503))
            outage = True
        if elapsed >= cap:
            proc.kill()
            proc.wait()
            return None
        time.sleep(0.02)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 3, 10], help="job counts")
    parser.add_argument("--cap", type=float, default=400.0, help="kill a step after (s)")
    args = parser.parse_args(argv)
    ends = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in args.jobs:
            ends.append(measure(jobs, args.cap, Path(tmp, str(jobs))))
    print(f"## Step end with `timeout: {TIMEOUT}` in a dbt Cloud outage\n")
    print("| jobs | main step ended after | runs still going then | `status` output |")
    print("|---:|---:|---:|---|")
    for end in ends:
        after = (
            f"> {args.cap:.0f} s (cap)" if end.ended_after is None else f"{end.ended_after:.1f} s"
        )
        print(f"| {end.jobs} | {after} | {end.going} of {end.created} | {end.status or '—'} |")
    print(
        f"\nFrom {OUTAGE_FROM:.0f} s after the step's start dbt Cloud answers 503 to every poll "
        "and cancel.\nA run still going is left to the post step (it cancels it once dbt Cloud "
        "answers)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
