"""`call_concurrently`: results in order, exceptions captured, calls really concurrent."""

from __future__ import annotations

import threading

from dbt_cloud_action.concurrent_calls import call_concurrently


def test_one_call_runs_in_the_calling_thread() -> None:
    [done] = call_concurrently([threading.current_thread])
    assert done.value is threading.current_thread() and done.error is None


def test_several_calls_run_at_once_and_keep_their_order() -> None:
    together = threading.Barrier(3, timeout=10)  # broken unless all three wait at once

    def meet(value: int) -> int:
        together.wait()
        return value

    results = call_concurrently([lambda: meet(1), lambda: meet(2), lambda: meet(3)])
    assert [(done.value, done.error) for done in results] == [(1, None), (2, None), (3, None)]


def test_an_exception_is_the_calls_result_not_the_callers() -> None:
    def broken() -> int:
        raise ValueError("no")

    for calls in ([broken], [broken, lambda: 2]):
        results = call_concurrently(calls)
        assert isinstance(results[0].error, ValueError) and results[0].value is None
    assert results[1].value == 2 and results[1].error is None
