"""Suite-wide settings and checks: no test's simulated step may show an API token anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.token_scan import SESSION

pytest_plugins = ["pytester"]

# Property tests check correctness, not speed: on CI's two busy cores a single example can take
# longer than Hypothesis' default 200 ms deadline and fail as "flaky" for no fault of the code.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(autouse=True)
def no_token_in_step_output() -> Iterator[None]:
    """Fails the test when a step it ran shows any token used so far in the session."""
    first = len(SESSION.captures)
    yield
    leaks = SESSION.leaks(SESSION.captures[first:])
    if leaks:
        pytest.fail("API token leaked:\n" + "\n".join(map(str, leaks)), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Rescan every step against every token of the session (a token of one test in another)."""
    leaks = SESSION.leaks(SESSION.captures)
    if leaks:
        print("\nAPI token leaked:\n" + "\n".join(map(str, leaks)))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
