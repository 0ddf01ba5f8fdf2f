"""The emulator as tests and the demo use it: a context manager around a loopback server."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dbt_cloud_emulator.account import ALL_RELATED, Account
from dbt_cloud_emulator.clock import EmulatedTime
from dbt_cloud_emulator.config import EmulatorConfig, PullRequestScript
from dbt_cloud_emulator.faults import FaultBook
from dbt_cloud_emulator.server import ApiApp, EmulatorHTTPServer, LoggedRequest

if TYPE_CHECKING:
    from dbt_cloud_emulator.tls import ThrowawayCertificate


class Emulator:
    """A dbt Cloud API v2 account on http://127.0.0.1:PORT (port 0 picks a free port).

    Emulated time is `(clock() - clock at start) * time_scale` seconds; with a ManualClock's
    `now` as the clock, runs move only when the test advances it. With `tls=True` it serves
    https with a throwaway certificate; clients trust `ca_path` (e.g. REQUESTS_CA_BUNDLE).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        time_scale: float = 1.0,
        clock: Callable[[], float] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        tls: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultBook()
        self._time_scale = time_scale
        self._clock = clock or time.monotonic
        self._address = (host, port)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._app: ApiApp | None = None
        self._tls = tls
        self._certificate: ThrowawayCertificate | None = None

    # ----- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        emulated = EmulatedTime(self._clock, self._time_scale)
        server = EmulatorHTTPServer(*self._address)
        host, port = server.server_address[:2]
        scheme = "http"
        if self._tls:
            # Only here: plain http needs nothing beyond the standard library, so the emulator
            # starts on a bare runner Python (the self-test job) without `cryptography`.
            from dbt_cloud_emulator.tls import make_certificate  # noqa: PLC0415

            directory = Path(tempfile.mkdtemp(prefix="dbt-cloud-emulator-tls-"))
            hosts = tuple(dict.fromkeys((str(host), "127.0.0.1", "localhost")))
            self._certificate = make_certificate(directory, hosts)
            server.ssl_context = self._certificate.server_context()
            scheme = "https"
        url = f"{scheme}://{host!s}:{port}"
        self._app = ApiApp(Account(self.config, emulated, url), self.config.token, self.faults)
        server.app = self._app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
            name=f"dbt-cloud-emulator:{port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        if self._certificate is not None:
            shutil.rmtree(self._certificate.directory, ignore_errors=True)
            self._certificate = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- what clients and tests need --------------------------------------------------------

    @property
    def url(self) -> str:
        """The access URL a client uses, e.g. http://127.0.0.1:54321."""
        return self._running().account.url

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) an https client must trust; only with `tls=True`."""
        self._running()
        if self._certificate is None:
            raise RuntimeError("the emulator serves plain http; start it with tls=True")
        return self._certificate.ca_path

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def account_id(self) -> int:
        return self.config.account_id

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in arrival order, without credentials."""
        return self._running().requests

    def calls(self, endpoint: str) -> int:
        """How many requests reached `endpoint` (a Fault endpoint name, "redirect" or "unknown")."""
        return self._running().calls(endpoint)

    def created_runs(self) -> list[dict[str, Any]]:
        """Runs created by trigger, rerun or retry (not history), oldest first, as API JSON."""
        return self._running().account.created_runs()

    @property
    def runs(self) -> dict[int, dict[str, Any]]:
        """The runs this emulator created, by id."""
        return {run["id"]: run for run in self.created_runs()}

    def run(self, run_id: int) -> dict[str, Any]:
        """A run's current API JSON with steps, trigger and job included."""
        query = {"include_related": [",".join(sorted(ALL_RELATED))]}
        return self._running().account.get_run(run_id, query)

    def open_pull_request(
        self,
        job_id: int,
        git_sha: str,
        pr_number: int,
        *,
        delay: float = 0.0,
        git_branch: str | None = None,
    ) -> None:
        """Script a pull request webhook: `delay` emulated seconds from now, dbt Cloud starts a
        run of CI job `job_id` for `git_sha` by itself (trigger: `git_sha`,
        `github_pull_request_id`, cause_category `ci`). ConfigError when the job does not run
        on pull requests (its triggers have neither github_webhook nor git_provider_webhook)."""
        pull_request = PullRequestScript(job_id, git_sha, pr_number, delay, git_branch)
        account = self._running().account
        account.open_pull_request(pull_request, at=account.time.now() + delay)

    def clock_now(self) -> float:
        """Emulated seconds since the emulator started."""
        return self._running().account.time.now()

    def real_seconds_since(self, timestamp: str) -> float:
        """Real seconds since a moment the emulator reported (e.g. a run's `finished_at`)."""
        emulated = self._running().account.time
        at = (datetime.fromisoformat(timestamp) - emulated.epoch).total_seconds()
        return (emulated.now() - at) / self._time_scale

    def _running(self) -> ApiApp:
        if self._app is None:
            raise RuntimeError("the emulator is not started; use `with Emulator(...) as emu:`")
        return self._app
