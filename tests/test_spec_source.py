"""Where the contract tests get dbt Cloud's spec: a named file, a copy beside the repo, or the
pinned file fetched once (here from a loopback server standing in for GitHub) and checked."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import spec
from tests.spec import SPEC_ENV, SPEC_URL_ENV, SpecUnavailable, find_spec, spec_path

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = "/dbt-labs/dbt-cloud-openapi-spec/pinned/openapi-v2.yaml"


class SpecServer:
    """Serves `body` at SPEC_FILE on 127.0.0.1 and counts the requests."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                found = self.path == SPEC_FILE
                data = server.body if found else b"not found"
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{SPEC_FILE}"


@pytest.fixture
def serve() -> Iterator[type[SpecServer]]:
    servers: list[SpecServer] = []

    class Started(SpecServer):
        def __init__(self, body: bytes) -> None:
            super().__init__(body)
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
            servers.append(self)

    yield Started
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def pinned() -> bytes:
    """The pinned spec's bytes (from wherever this run found it)."""
    return spec_path().read_bytes()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a machine without network access, as the fetch sees it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SPEC_FILE}"


def bare_clone(tmp_path: Path) -> Path:
    """A clone with nothing beside it: no ../shared/, not a git worktree."""
    repo = tmp_path / "clone"
    repo.mkdir(exist_ok=True)
    return repo


def test_a_named_file_is_used_as_it_is(tmp_path: Path) -> None:
    named = tmp_path / "my-spec.yaml"
    named.write_text("openapi: 3.0.0\n")
    env = {SPEC_ENV: str(named), SPEC_URL_ENV: closed_port_url()}
    assert find_spec(env, bare_clone(tmp_path)) == named.resolve()


def test_a_named_file_that_is_missing_is_one_clear_line(tmp_path: Path) -> None:
    env = {SPEC_ENV: str(tmp_path / "nope.yaml")}
    with pytest.raises(SpecUnavailable) as caught:
        find_spec(env, bare_clone(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert f"{SPEC_ENV}={tmp_path / 'nope.yaml'} is not a file" in message


def test_a_copy_beside_the_repo_is_found_without_fetching(tmp_path: Path) -> None:
    repo = bare_clone(tmp_path)
    beside = tmp_path / "shared" / "dbt-cloud" / "openapi-v2.yaml"
    beside.parent.mkdir(parents=True)
    beside.write_text("openapi: 3.0.0\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: closed_port_url()}
    assert find_spec(env, repo) == beside


def test_the_pinned_spec_is_fetched_once_into_the_cache(
    tmp_path: Path, serve: type[SpecServer], pinned: bytes
) -> None:
    server = serve(pinned)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: server.url}
    found = find_spec(env, bare_clone(tmp_path))
    assert found.parent == tmp_path / "cache" / "dbt-cloud-action"
    assert found.read_bytes() == pinned
    assert find_spec(env, bare_clone(tmp_path)) == found
    assert server.requests == 1
    assert [p.name for p in found.parent.iterdir()] == [found.name]  # no partial file left


def test_a_damaged_cache_is_fetched_again(
    tmp_path: Path, serve: type[SpecServer], pinned: bytes
) -> None:
    server = serve(pinned)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: server.url}
    found = find_spec(env, bare_clone(tmp_path))
    found.write_bytes(pinned[:1000])
    assert find_spec(env, bare_clone(tmp_path)).read_bytes() == pinned
    assert server.requests == 2


def test_a_file_with_another_checksum_is_refused(
    tmp_path: Path, serve: type[SpecServer], pinned: bytes
) -> None:
    server = serve(pinned.replace(b"dbt", b"dbx", 1))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: server.url}
    with pytest.raises(SpecUnavailable) as caught:
        find_spec(env, bare_clone(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert f"not the pinned {spec.SPEC_SHA256}, so it was refused" in message
    assert f"set {SPEC_ENV}=" in message
    assert not (tmp_path / "cache" / "dbt-cloud-action").exists() or not any(
        (tmp_path / "cache" / "dbt-cloud-action").iterdir()
    )


def test_an_http_error_is_one_clear_line(tmp_path: Path, serve: type[SpecServer]) -> None:
    server = serve(b"")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: server.url + ".missing"}
    with pytest.raises(SpecUnavailable, match=r"failed \(HTTP Error 404: Not Found\): set "):
        find_spec(env, bare_clone(tmp_path))


def run_finder(clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m tests.spec` (what scripts/test runs) in `clone`, with only `env` set."""
    base = {k: v for k, v in os.environ.items() if k not in (SPEC_ENV, SPEC_URL_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "tests.spec"],
        cwd=clone,
        env={**base, "PYTHONPATH": str(ROOT / "src"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def clone_with_tests(tmp_path: Path) -> Path:
    """A clone with nothing beside it, holding the spec finder as the repo has it."""
    clone = bare_clone(tmp_path)
    (clone / "tests").mkdir()
    for name in ("__init__.py", "spec.py"):
        shutil.copy(ROOT / "tests" / name, clone / "tests" / name)
    return clone


def test_a_fresh_clone_fetches_the_spec_and_prints_where_it_is(
    tmp_path: Path, clone_with_tests: Path, serve: type[SpecServer], pinned: bytes
) -> None:
    server = serve(pinned)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), SPEC_URL_ENV: server.url}
    proc = run_finder(clone_with_tests, env)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == pinned
    assert server.requests == 1


def test_without_network_a_fresh_clone_gets_one_line_saying_how_to_provide_it(
    tmp_path: Path, clone_with_tests: Path
) -> None:
    url = closed_port_url()
    proc = run_finder(clone_with_tests, {"XDG_CACHE_HOME": str(tmp_path / "c"), SPEC_URL_ENV: url})
    assert proc.returncode == 1
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(
        f"error: the dbt Cloud OpenAPI spec is not beside the repo and fetching {url} failed ("
    )
    assert f"set {SPEC_ENV}=/path/to/openapi-v2.yaml" in line
    assert spec.SPEC_COMMIT in line
