"""Issue 17, benchmark: SIGINT to exit while a trigger is in flight, and what is left going.

The real entrypoint (tests/simulated_runner.py, a pull_request event) starts 1 or 3 jobs of
long runs (tests/chaos_run.py `long_job`) at emulator time scale 100; the last trigger to reach
dbt Cloud creates its run at once and answers DELAY seconds late (a `delay` fault), and the step
gets SIGINT 0.2 s after that trigger arrived, as the runner sends it when the workflow is
cancelled. Printed: SIGINT to the step's exit (median and max; the runner's SIGTERM comes
7.5 s after its SIGINT, not sent here), and how many runs were still going in dbt Cloud when
the step exited and after the post step ran with the state it wrote. Figures, not a test.

    python bench/cancel_in_flight.py [--jobs 1 3] [--runs N]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.chaos_run import ACTIVE, long_job, long_jobs_emulator, run_post_step
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, Fault

DELAY = 4.0  # the in-flight trigger's answer comes this late
SIGNAL_AFTER = 0.2  # seconds after that trigger reached dbt Cloud
GIVE_UP = 60.0  # a step still going this long after SIGINT is killed
FIRST_JOB = 111


@dataclass(frozen=True)
class Cancelled:
    to_exit: float | None  # SIGINT to exit; None: killed after GIVE_UP
    going_at_exit: int
    going_after_post: int
    created: int


def _going(emu: Emulator) -> int:
    return sum(run["status"] in ACTIVE for run in emu.created_runs())


def measure(jobs: int, workdir: Path) -> Cancelled:
    ids = range(FIRST_JOB, FIRST_JOB + jobs)
    with long_jobs_emulator(tuple(long_job(i, f"In flight {i}") for i in ids)) as emu:
        emu.faults.add(Fault("trigger", calls=(jobs,), kind="delay", delay=DELAY))
        runner = SimulatedRunner(
            workdir, event_name="pull_request", event=load_event("pull_request.opened.json")
        )
        inputs = emulator_inputs(emu, 0, **{"job-id": " ".join(map(str, ids))})
        started = time.monotonic()
        proc, env = runner.start(inputs)
        while emu.calls("trigger") < jobs and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(SIGNAL_AFTER)
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        to_exit: float | None = None
        while proc.poll() is None and time.monotonic() - signalled < GIVE_UP:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
        else:
            to_exit = time.monotonic() - signalled
        going_at_exit = _going(emu)
        main = runner.finish(proc, env, started, timeout=30)
        run_post_step(runner, inputs, main.state)
        return Cancelled(to_exit, going_at_exit, _going(emu), len(emu.created_runs()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 3], help="job counts")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in args.jobs:
            cases = [measure(jobs, Path(tmp, f"{jobs}-{n}")) for n in range(args.runs)]
            rows.append((jobs, cases))
    print(f"## SIGINT to exit with a trigger in flight, {args.runs} runs each\n")
    print("| jobs | SIGINT to exit, median (max) | runs going at exit | after the post step |")
    print("|---:|---:|---:|---:|")
    for jobs, cases in rows:
        times = [c.to_exit for c in cases if c.to_exit is not None]
        killed = len(cases) - len(times)
        took = f"{statistics.median(times):.2f} s ({max(times):.2f} s)" if times else "—"
        if killed:
            took += f", {killed} still going after {GIVE_UP:.0f} s"
        created = sum(c.created for c in cases)
        at_exit = sum(c.going_at_exit for c in cases)
        after_post = sum(c.going_after_post for c in cases)
        print(f"| {jobs} | {took} | {at_exit} of {created} | {after_post} of {created} |")
    print(
        f"\nThe last trigger to arrive answers {DELAY:.0f} s late; SIGINT {SIGNAL_AFTER} s after "
        "it arrived.\nRuns going: summed over the runs of each row (the host variant has no "
        "post step)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
