"""The detection benchmark keeps working: one short run per policy, through the real pieces."""

import random

from bench.detection import POLICIES, SCENARIOS, follow_all, make_cases, report


def test_benchmark_follows_a_run_under_every_policy() -> None:
    usual = SCENARIOS[0]
    case = next(c for c in make_cases(1, random.Random(1)) if c.scenario == usual)
    outcomes = follow_all([case])
    assert [o.policy for o in outcomes] == list(POLICIES)
    for outcome in outcomes:
        interval = POLICIES[outcome.policy].interval
        slowest = max(interval(t, None, None, None) for t in range(0, 100))
        assert 0 <= outcome.latency < slowest
        assert outcome.requests >= 3  # first poll, the poll that saw the end, the final fetch
    assert "adaptive mean latency" in report(outcomes, elapsed=0.0)
