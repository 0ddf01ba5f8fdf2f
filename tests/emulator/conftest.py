"""Fixtures: an emulator on a free loopback port, driven by a manual clock, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dbt_cloud_emulator import Emulator, ManualClock
from tests.spec import validate_response


class Api:
    """A thin HTTP client for one emulated account; with `check`, replies are checked against
    the spec (about 20 ms each, so only the contract tests turn it on)."""

    def __init__(self, emulator: Emulator, *, check: bool = False) -> None:
        self.emulator = emulator
        self.check = check
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {emulator.token}"
        self.base = f"{emulator.url}/api/v2/accounts/{emulator.account_id}/"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        check: bool | None = None,
    ) -> requests.Response:
        response = self.session.request(
            method, self.base + path, params=params, json=body, headers=headers, timeout=10
        )
        if self.check if check is None else check:
            self.validate(response)
        return response

    @staticmethod
    def validate(response: requests.Response) -> None:
        url = urlsplit(response.request.url or "")
        validate_response(
            response.request.method or "GET",
            url.path,
            parse_qs(url.query, keep_blank_values=True),
            response.status_code,
            response.content,
            dict(response.headers),
        )

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of a successful reply."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def trigger(self, job_id: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        run: dict[str, Any] = self.data(
            "POST", f"jobs/{job_id}/run/", body=body or {"cause": "test"}
        )
        return run

    def run(self, run_id: int, include: str = "run_steps,trigger") -> dict[str, Any]:
        params = {"include_related": include} if include else None
        run: dict[str, Any] = self.data("GET", f"runs/{run_id}/", params=params)
        return run


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[Emulator]:
    """The default demo account; time moves only when the test advances `clock`."""
    with Emulator(clock=clock.now) as emu:
        yield emu


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.session.close()


@pytest.fixture
def checked_api(emulator: Emulator) -> Iterator[Api]:
    """An Api that validates every reply against the spec."""
    client = Api(emulator, check=True)
    yield client
    client.session.close()
