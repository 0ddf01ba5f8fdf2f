"""Issue 17, the chaos soak: many seeds of tests/test_chaos_e2e.py's cases, the same checks.

Each seed is one case of tests/chaos_schedule.py (1-3 jobs, a fault profile, a signal at a
moment, or a short timeout in an outage), played by tests/chaos_run.py through the real
entrypoint and its post step against an emulator of its own, then held to the invariants of
tests/chaos_checks.py with the bounds of tests/test_chaos_e2e.py. Prints one line per failing
seed and a table of failures per invariant and moment; exits 1 when any seed broke one.
Not a benchmark of speed: a script, so CI's fixed seeds stay fast and this one can run long.

    python bench/chaos_soak.py [--seeds N] [--first S] [--seed S ...] [--workers W] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.chaos_checks import INVARIANTS, CaseRecord, Violation, describe, violations
from tests.chaos_run import job_names, run_case
from tests.chaos_schedule import Moment, schedule_for
from tests.test_chaos_e2e import PROMISES


def play(seed: int) -> tuple[CaseRecord, list[Violation]]:
    with tempfile.TemporaryDirectory(prefix=f"chaos-{seed}-") as workdir:
        record = run_case(schedule_for(seed), Path(workdir), PROMISES)
    return record, violations(record, PROMISES, job_names())


def table(results: list[tuple[CaseRecord, list[Violation]]]) -> list[str]:
    """Seeds failing each invariant, in all and per moment."""
    moments = list(Moment)
    header = "| invariant | seeds failing | " + " | ".join(moments) + " |"
    lines = [header, "|---|---:|" + "---:|" * len(moments)]
    for key, meaning in INVARIANTS.items():
        failing = [r for r, found in results if any(v.invariant == key for v in found)]
        per_moment = Counter(r.schedule.moment for r in failing)
        cells = " | ".join(str(per_moment[m]) for m in moments)
        lines.append(f"| {key}: {meaning} | {len(failing)} | {cells} |")
    ran = Counter(r.schedule.moment for r, _ in results)
    lines.append(
        "| seeds run | " + f"{len(results)} | " + " | ".join(str(ran[m]) for m in moments) + " |"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds (default 200)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--seed", type=int, action="append", help="run only this seed (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument("--verbose", action="store_true", help="print each failure in full")
    args = parser.parse_args(argv)
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    started = time.monotonic()
    results: list[tuple[CaseRecord, list[Violation]]] = []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for record, found in pool.map(play, seeds):
            results.append((record, found))
            if found:
                kinds = "".join(sorted({v.invariant for v in found}))
                print(f"seed {record.schedule.seed} FAILED ({kinds}): {found[0]}", flush=True)
                if args.verbose:
                    print(describe(record, found), flush=True)
    failed = [record.schedule.seed for record, found in results if found]
    minutes = (time.monotonic() - started) / 60
    print(f"\n## Chaos soak: {len(seeds)} seeds in {minutes:.1f} min, {len(failed)} failing\n")
    print("\n".join(table(results)))
    if failed:
        print(f"\nFailing seeds: {' '.join(map(str, failed))}")
        print("Replay one: python bench/chaos_soak.py --verbose --seed N")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
