"""Chaos: seeded schedules of signals (SIGINT, SIGTERM, SIGKILL before, during and after each
trigger, during polls, during cancels) x 1-3 jobs x dbt Cloud's faults (slow and lost answers,
5xx, dropped connections, outages), each played through the real entrypoint and its post step
against the emulator over HTTP, then held to the invariants of tests/chaos_checks.py.

The seeds are derived (tests/chaos_schedule.py `ci_seeds`) so that every moment meets 1, 2 and
3 jobs and each signal, and every fault kind and way of keeping a run appears; the longer soak is
`bench/chaos_soak.py`. A failure prints the seed, its schedule, the request log and the logs;
either replays it: `pytest 'tests/test_chaos_e2e.py::test_chaos_case[seed-N]'`, or
`bench/chaos_soak.py --verbose --seed N`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_cloud_action.scope import SIGNAL_EXIT_SECONDS, TIMEOUT_GRACE_SECONDS
from tests.chaos_checks import Promises, describe, violations
from tests.chaos_run import job_names, run_case
from tests.chaos_schedule import ci_seeds, cover, features, required_features, schedule_for

# The product's promises, as scope.py and the README state them, not performance figures: the
# first signal to the step's exit (before the runner's SIGTERM, 7.5 s after its SIGINT), and with
# `timeout: T` and no signal, the step's end within T plus the grace.
PROMISES = Promises(signal_budget=SIGNAL_EXIT_SECONDS, timeout_grace=TIMEOUT_GRACE_SECONDS)

SEEDS = ci_seeds()


def test_the_ci_seeds_cover_every_moment_job_count_fault_signal_and_keep() -> None:
    covered = frozenset().union(*(features(schedule_for(seed)) for seed in SEEDS))
    assert required_features() <= covered, sorted(required_features() - covered)
    with pytest.raises(ValueError, match="no seed covers"):
        cover(range(1), required_features())  # one seed cannot: the cover really is checked


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{seed}" for seed in SEEDS])
def test_chaos_case(seed: int, tmp_path: Path) -> None:
    record = run_case(schedule_for(seed), tmp_path, PROMISES)
    found = violations(record, PROMISES, job_names())
    assert not found, describe(record, found)
