"""The pure retry policy: full-jitter back-off and Retry-After parsing."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbt_cloud_action.client import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    RETRY_AFTER_CAP_SECONDS,
    backoff_delay,
    parse_retry_after,
)

NOW = datetime(2026, 11, 2, 12, 0, 0, tzinfo=UTC)


def test_backoff_ceiling_doubles_then_caps() -> None:
    ceilings = [backoff_delay(n, 0.999999) for n in range(1, 10)]
    assert ceilings[0] == pytest.approx(BACKOFF_BASE_SECONDS, rel=1e-3)
    assert ceilings[1] == pytest.approx(2 * BACKOFF_BASE_SECONDS, rel=1e-3)
    assert ceilings[2] == pytest.approx(4 * BACKOFF_BASE_SECONDS, rel=1e-3)
    assert max(ceilings) == pytest.approx(BACKOFF_CAP_SECONDS, rel=1e-3)
    assert ceilings == sorted(ceilings)


def test_backoff_is_full_jitter_from_zero() -> None:
    assert backoff_delay(5, 0.0) == 0.0
    assert backoff_delay(3, 0.5) == pytest.approx(0.5 * 4 * BACKOFF_BASE_SECONDS)


@given(st.integers(min_value=-5, max_value=10_000), st.floats(min_value=0.0, max_value=0.999999))
def test_backoff_always_within_zero_and_cap(retry_number: int, rand: float) -> None:
    assert 0.0 <= backoff_delay(retry_number, rand) <= BACKOFF_CAP_SECONDS


@pytest.mark.parametrize(
    ("header", "expected"),
    [("1", 1.0), ("0", 0.0), (" 7 ", 7.0), ("2.5", 2.5), ("100000", RETRY_AFTER_CAP_SECONDS)],
)
def test_retry_after_seconds(header: str, expected: float) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_retry_after_http_date_is_relative_to_now_and_capped() -> None:
    in_30s = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(in_30s, NOW) == pytest.approx(30.0)
    past = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0
    far = format_datetime(NOW + timedelta(days=1), usegmt=True)
    assert parse_retry_after(far, NOW) == RETRY_AFTER_CAP_SECONDS


@pytest.mark.parametrize("header", [None, "", "soon", "-1", "1e9", "nan", "Mon, 99 Foo"])
def test_retry_after_absent_or_bogus_is_none(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None
