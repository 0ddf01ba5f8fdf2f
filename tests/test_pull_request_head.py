"""pull_request_head: the PR's current head for cancel-superseded, or why GitHub cannot say."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dbt_cloud_action.github_reporting import GitHubTarget, pull_request_head
from tests.fake_github import FakeGitHub

TOKEN = "ghs_headCheckToken_0123456789"
REPO = "octo/repo"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repository=REPO) as fake:
        yield fake


def target(url: str, token: str = TOKEN) -> GitHubTarget:
    return GitHubTarget(api_url=url, token=token, repository=REPO, timeout_seconds=2)


def test_the_head_of_an_open_pull_request(gh: FakeGitHub) -> None:
    gh.set_pull_head(7, SHA)
    assert pull_request_head(target(gh.url), 7) == (SHA, "")
    assert [r.path for r in gh.requests] == [f"/repos/{REPO}/pulls/7"]  # one GET, nothing else


def test_unknown_pull_request_bad_token_and_no_token_say_why(gh: FakeGitHub) -> None:
    head, why = pull_request_head(target(gh.url), 8)
    assert head is None and "GitHub answered 404" in why
    head, why = pull_request_head(target(gh.url, token="ghs_wrongToken_0000000000"), 8)
    assert head is None and "401" in why and "ghs_wrongToken" not in why
    head, why = pull_request_head(target(gh.url, token=""), 8)
    assert head is None and "github-token input is empty" in why


def test_no_answer_says_why() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    head, why = pull_request_head(target(f"http://127.0.0.1:{port}"), 7)
    assert head is None and "did not answer" in why
