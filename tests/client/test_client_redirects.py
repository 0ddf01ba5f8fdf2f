"""Redirects over real HTTP: a read follows a redirect only to the same scheme, host and port
(dbt Cloud answers 308 to a path without its trailing slash); the token never reaches another
host; a POST is never re-sent to the address a redirect names.

Two loopback servers play dbt Cloud (`home`) and another host (`other`: another port is another
origin, as is `localhost` for `127.0.0.1`). Each records every request with its Authorization
header.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dbt_cloud_action.client import MAX_REDIRECTS, DbtCloudClient, DbtCloudError

TOKEN = "r3d1rect-Tok-5e8b0c2d"
BASE = "/api/v2/accounts/1"


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Host:
    """One loopback server: `routes` maps a path to (status, Location) redirects; any other
    path under the account answers 200 with a job envelope."""

    routes: dict[str, tuple[int, str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


def _handler(host: Host) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            host.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
            if self.path in host.routes:
                status, location = host.routes[self.path]
                self.send_response(status)
                self.send_header("Location", location.format(other=OTHER_URL[0]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps(
                {
                    "status": {"code": 200, "is_success": True},
                    "data": {"id": 7, "account_id": 1, "name": f"served at {self.path}"},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


OTHER_URL = [""]  # the other host's URL, for Location templates ({other})


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    home, other = Host(), Host()
    servers = []
    for host in (home, other):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
        host.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
    OTHER_URL[0] = other.url
    try:
        yield home, other
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def client(home: Host) -> DbtCloudClient:
    return DbtCloudClient(
        home.url, TOKEN, 1, timeout=2, connect_timeout=2, max_retry_seconds=1, sleep=lambda _: None
    )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_read_follows_a_redirect_on_the_same_host_with_the_token(
    hosts: tuple[Host, Host], status: int
) -> None:
    home, other = hosts
    home.routes[f"{BASE}/jobs/7/"] = (status, f"{BASE}/jobs/7/moved/")  # relative Location
    job = client(home).get_job(7)
    assert job.name == f"served at {BASE}/jobs/7/moved/"
    assert [(s.method, s.path) for s in home.seen] == [
        ("GET", f"{BASE}/jobs/7/"),
        ("GET", f"{BASE}/jobs/7/moved/"),
    ]
    assert {s.authorization for s in home.seen} == {f"Token {TOKEN}"}
    assert other.seen == []


def test_an_absolute_location_on_the_same_origin_is_followed(hosts: tuple[Host, Host]) -> None:
    home, _ = hosts
    home.routes[f"{BASE}/jobs/7/"] = (308, f"{home.url}{BASE}/jobs/7/moved/")
    assert client(home).get_job(7).name == f"served at {BASE}/jobs/7/moved/"
    assert home.seen[-1].authorization == f"Token {TOKEN}"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_not_followed_and_the_token_stays_home(
    hosts: tuple[Host, Host], status: int
) -> None:
    home, other = hosts
    home.routes[f"{BASE}/jobs/7/"] = (status, "{other}" + f"{BASE}/jobs/7/")
    with pytest.raises(DbtCloudError) as caught:
        client(home).get_job(7)
    assert other.seen == []  # never contacted, so never saw the Authorization header
    assert len(home.seen) == 1
    error = caught.value
    assert error.http_status == status
    assert f"GET /jobs/7/ was redirected (HTTP {status}" in str(error)
    assert f"redirected the request to {other.url}{BASE}/jobs/7/" in error.hint
    assert "access-url" in error.hint
    assert TOKEN not in str(error)


def test_a_second_hop_to_another_host_is_not_followed(hosts: tuple[Host, Host]) -> None:
    home, other = hosts
    home.routes[f"{BASE}/jobs/7/"] = (308, f"{BASE}/jobs/7/hop/")
    home.routes[f"{BASE}/jobs/7/hop/"] = (302, "{other}/steal/")
    with pytest.raises(DbtCloudError) as caught:
        client(home).get_job(7)
    assert caught.value.http_status == 302
    assert [s.path for s in home.seen] == [f"{BASE}/jobs/7/", f"{BASE}/jobs/7/hop/"]
    assert other.seen == []


def test_another_host_name_or_scheme_on_the_same_port_is_another_origin(
    hosts: tuple[Host, Host],
) -> None:
    home, _ = hosts
    port = home.url.rsplit(":", 1)[1]
    home.routes[f"{BASE}/jobs/7/"] = (308, f"http://localhost:{port}{BASE}/jobs/7/moved/")
    home.routes[f"{BASE}/jobs/8/"] = (308, f"https://127.0.0.1:{port}{BASE}/jobs/8/moved/")
    for job_id in (7, 8):
        with pytest.raises(DbtCloudError) as caught:
            client(home).get_job(job_id)
        assert caught.value.http_status == 308
    assert [s.path for s in home.seen] == [f"{BASE}/jobs/7/", f"{BASE}/jobs/8/"]


def test_a_post_is_never_redirected_even_on_the_same_host(hosts: tuple[Host, Host]) -> None:
    """A trigger creates a run: re-sending it to another address is not ours to decide."""
    home, _ = hosts
    home.routes[f"{BASE}/jobs/7/run/"] = (308, f"{BASE}/jobs/7/run/again/")
    with pytest.raises(DbtCloudError) as caught:
        client(home).trigger_run(7, {"cause": "test"})
    assert [(s.method, s.path) for s in home.seen] == [("POST", f"{BASE}/jobs/7/run/")]
    error = caught.value
    assert error.http_status == 308
    assert "POST /jobs/7/run/ was redirected (HTTP 308" in str(error)
    assert "access URL or the API path is wrong" in error.hint
    assert "never re-sends a POST" in error.hint


def test_a_redirect_loop_ends_with_a_clear_error(hosts: tuple[Host, Host]) -> None:
    home, _ = hosts
    home.routes[f"{BASE}/jobs/7/"] = (308, f"{BASE}/jobs/7/")
    with pytest.raises(DbtCloudError) as caught:
        client(home).get_job(7)
    assert caught.value.http_status == 308
    assert "access-url" in caught.value.hint
    assert len(home.seen) == MAX_REDIRECTS + 1  # the first request and its redirects, once


def test_a_followed_redirect_keeps_our_token_even_with_a_netrc_entry(
    hosts: tuple[Host, Host], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' own rebuild_auth would put ~/.netrc's credentials on the redirected request."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    home, _ = hosts
    home.routes[f"{BASE}/jobs/7/"] = (308, f"{BASE}/jobs/7/moved/")
    client(home).get_job(7)
    assert [s.authorization for s in home.seen] == [f"Token {TOKEN}"] * 2
