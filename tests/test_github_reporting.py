"""PR comment and commit status over real HTTP against the loopback fake GitHub API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_action.github_reporting import (
    COMMENT_LIMIT,
    COMMENT_SEARCH_LIMIT,
    GitHubReportResult,
    GitHubTarget,
    comment_body_with_marker,
    comment_marker,
    set_commit_status,
    status_context,
    status_description,
    upsert_pr_comment,
)
from tests.fake_github import BOT_LOGIN, FakeGitHub

TOKEN = "ghs_s3cretTokenValue"
REPO = "octo/repo"
SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_URL = "https://ab123.us1.dbt.com/deploy/1/projects/2/runs/77/"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repository=REPO) as fake:
        yield fake


def target_for(
    gh: FakeGitHub, *, token: str = TOKEN, repository: str = REPO, api_url: str = ""
) -> GitHubTarget:
    return GitHubTarget(api_url=api_url or gh.url, token=token, repository=repository)


def bot_comments(gh: FakeGitHub, pr: int) -> list[dict[str, object]]:
    return [c for c in gh.comments(pr) if c["user"] == {"login": BOT_LOGIN, "type": "Bot"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- pure pieces ----------------------------------------------------------------------------


def test_marker_is_hidden_and_unique_per_job() -> None:
    assert comment_marker(123) == "<!-- dbt-cloud-action:job=123 -->"
    assert comment_marker(12) not in comment_marker(123)
    assert status_context("Nightly build") == "dbt Cloud / Nightly build"


def test_body_with_marker_is_left_alone() -> None:
    marker = comment_marker(5)
    body = f"### dbt Cloud run\nok\n{marker}"
    assert comment_body_with_marker(body, marker) == body


def test_missing_marker_is_added_first() -> None:
    marker = comment_marker(5)
    assert comment_body_with_marker("ok", marker) == f"{marker}\nok"


def test_oversized_body_is_cut_and_keeps_its_marker() -> None:
    marker = comment_marker(5)
    body = "x" * COMMENT_LIMIT + marker  # marker past the limit would be cut away
    cut = comment_body_with_marker(body, marker)
    assert len(cut) == COMMENT_LIMIT
    assert cut.startswith(marker)
    assert cut.count(marker) == 1
    assert cut.endswith("(cut to fit GitHub's comment size limit)")


def test_status_description_fits_github_limit() -> None:
    assert status_description("Run  #77\nsucceeded") == "Run #77 succeeded"
    long = status_description("y" * 500)
    assert len(long) == 140
    assert long.endswith("…")


# --- sticky comment -------------------------------------------------------------------------


def test_second_upsert_edits_the_same_comment(gh: FakeGitHub) -> None:
    marker = comment_marker(42)
    first = upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nRun 1 failed")
    second = upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nRun 2 passed")

    comments = gh.comments(7)
    assert len(comments) == 1
    assert comments[0]["body"] == f"{marker}\nRun 2 passed"
    assert first == GitHubReportResult(True, f"Created comment {comments[0]['id']} on #7")
    assert second == GitHubReportResult(True, f"Updated comment {comments[0]['id']} on #7")
    # Lazy PyGithub objects: no GET of the repository or the issue, only the calls that matter.
    assert [(r.method, r.path) for r in gh.requests] == [
        ("GET", "/repos/octo/repo/issues/7/comments"),
        ("POST", "/repos/octo/repo/issues/7/comments"),
        ("GET", "/repos/octo/repo/issues/7/comments"),
        ("GET", "/user"),  # a marked comment: whose? (403 for this workflow-like token)
        ("PATCH", f"/repos/octo/repo/issues/comments/{comments[0]['id']}"),
    ]


def test_unchanged_body_is_not_written_again(gh: FakeGitHub) -> None:
    marker = comment_marker(42)
    upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nsame")
    again = upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nsame")
    assert again.ok
    assert "already up to date" in again.message
    assert [r.method for r in gh.requests].count("PATCH") == 0


def test_marker_found_among_many_comments_across_pages(gh: FakeGitHub) -> None:
    marker = comment_marker(123)
    for i in range(230):
        gh.add_comment(9, f"LGTM {i}")
    gh.add_comment(9, f"{comment_marker(12)}\nanother job's comment", user=BOT_LOGIN)
    ours = gh.add_comment(9, f"{marker}\nold report", user=BOT_LOGIN)
    for i in range(40):
        gh.add_comment(9, f"later {i}")

    result = upsert_pr_comment(target_for(gh), 9, marker, f"{marker}\nnew report")

    assert result == GitHubReportResult(True, f"Updated comment {ours['id']} on #9")
    by_id = {c["id"]: c["body"] for c in gh.comments(9)}
    assert by_id[ours["id"]] == f"{marker}\nnew report"
    assert len(by_id) == 272
    pages = [r.query.get("page", ["1"]) for r in gh.requests if r.path.endswith("/comments")]
    assert pages == [["1"], ["2"], ["3"]]
    assert [r.path for r in gh.requests if r.method == "GET"][-1] == "/user"  # whose is it?


def test_comment_search_is_bounded(gh: FakeGitHub) -> None:
    marker = comment_marker(1)
    for i in range(COMMENT_SEARCH_LIMIT + 50):
        gh.add_comment(3, f"chatter {i}")
    gh.add_comment(3, f"{marker}\nburied report", user=BOT_LOGIN)

    result = upsert_pr_comment(target_for(gh), 3, marker, f"{marker}\nfresh report")

    assert result.ok
    assert result.message.startswith("Created comment")
    gets = [r for r in gh.requests if r.method == "GET"]
    assert len(gets) == COMMENT_SEARCH_LIMIT // 100  # no marker seen: no need to ask who we are


def test_a_marker_planted_by_someone_else_is_left_alone(gh: FakeGitHub) -> None:
    marker = comment_marker(5)
    planted = gh.add_comment(6, f"{marker}\nplease click <a href=x>here</a>", user="mallory")
    first = upsert_pr_comment(target_for(gh), 6, marker, f"{marker}\nreport 1")
    second = upsert_pr_comment(target_for(gh), 6, marker, f"{marker}\nreport 2")

    assert first.ok and second.ok, (first, second)
    assert first.message.endswith("(1 with the marker by others left alone)")
    planted_now, ours = gh.comments(6)
    assert planted_now == planted
    assert ours["user"]["login"] == BOT_LOGIN and ours["body"] == f"{marker}\nreport 2"
    assert second.message == f"Updated comment {ours['id']} on #6"


def test_a_personal_token_edits_only_its_own_users_comment() -> None:
    marker = comment_marker(5)
    with FakeGitHub(token=TOKEN, repository=REPO, identity="ci-user") as gh:
        gh.add_comment(6, f"{marker}\nby the workflow token", user=BOT_LOGIN)
        mine = gh.add_comment(6, f"{marker}\nold", user="CI-User")  # logins ignore case
        result = upsert_pr_comment(target_for(gh), 6, marker, f"{marker}\nnew")

        assert result == GitHubReportResult(True, f"Updated comment {mine['id']} on #6")
        assert [c["body"] for c in gh.comments(6)] == [
            f"{marker}\nby the workflow token",
            f"{marker}\nnew",
        ]


def test_comment_without_marker_gets_one(gh: FakeGitHub) -> None:
    marker = comment_marker(8)
    upsert_pr_comment(target_for(gh), 7, marker, "no marker here")
    upsert_pr_comment(target_for(gh), 7, marker, "still none")
    (comment,) = gh.comments(7)
    assert comment["body"] == f"{marker}\nstill none"


def test_enterprise_api_url_with_path_prefix() -> None:
    with FakeGitHub(token=TOKEN, repository=REPO, prefix="/api/v3") as gh:
        assert gh.url.endswith("/api/v3")
        for i in range(150):
            gh.add_comment(4, f"c{i}")
        marker = comment_marker(2)
        assert upsert_pr_comment(target_for(gh), 4, marker, f"{marker}\none").ok
        assert upsert_pr_comment(target_for(gh), 4, marker, f"{marker}\ntwo").ok
        assert [c["body"] for c in bot_comments(gh, 4)] == [f"{marker}\ntwo"]


def test_forbidden_comment_is_a_warning_naming_the_permission(gh: FakeGitHub) -> None:
    gh.forbid("comments")
    marker = comment_marker(42)

    result = upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nreport")

    assert not result.ok
    assert "403" in result.message
    assert "Resource not accessible by integration" in result.message
    assert "`pull-requests: write`" in result.message
    assert "issues: write" in result.message
    assert "permissions:" in result.message
    assert "fork" in result.message
    assert gh.comments(7) == []


def test_forbidden_edit_is_a_warning_too(gh: FakeGitHub) -> None:
    marker = comment_marker(42)
    assert upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nfirst").ok
    gh.forbid("comments")
    result = upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nsecond")
    assert not result.ok
    assert "pull-requests: write" in result.message
    assert [c["body"] for c in gh.comments(7)] == [f"{marker}\nfirst"]


def test_token_without_read_access_is_a_warning(gh: FakeGitHub) -> None:
    gh.forbid("comments", reads=True)
    result = upsert_pr_comment(target_for(gh), 7, comment_marker(1), "report")
    assert not result.ok
    assert "pull-requests: write" in result.message
    assert [r.method for r in gh.requests] == ["GET"]


def test_unknown_repository_is_a_warning(gh: FakeGitHub) -> None:
    result = upsert_pr_comment(target_for(gh, repository="octo/gone"), 7, comment_marker(1), "r")
    assert not result.ok
    assert "404" in result.message
    assert "octo/gone" in result.message
    assert "pull-requests: write" in result.message


def test_rejected_token_is_a_warning(gh: FakeGitHub) -> None:
    result = upsert_pr_comment(target_for(gh, token="ghs_wrong"), 7, comment_marker(1), "r")
    assert not result.ok
    assert "401 (Bad credentials)" in result.message
    assert "github-token" in result.message


def test_empty_token_is_a_warning_without_any_request(gh: FakeGitHub) -> None:
    result = set_commit_status(target_for(gh, token=""), SHA, "pending", "d", RUN_URL, "c")
    assert not result.ok
    assert "github-token input is empty" in result.message
    assert gh.requests == []


# --- commit status --------------------------------------------------------------------------


def test_status_goes_pending_then_success(gh: FakeGitHub) -> None:
    context = status_context("Nightly build")
    pending = set_commit_status(
        target_for(gh), SHA, "pending", "Run #77 queued in dbt Cloud", RUN_URL, context
    )
    success = set_commit_status(
        target_for(gh), SHA, "success", "Run #77 succeeded in 3m 12s", RUN_URL, context
    )

    assert pending.ok
    assert success.ok
    assert "'success'" in success.message
    statuses = gh.statuses(SHA)
    assert [(s["state"], s["context"], s["target_url"]) for s in statuses] == [
        ("pending", "dbt Cloud / Nightly build", RUN_URL),
        ("success", "dbt Cloud / Nightly build", RUN_URL),
    ]
    assert statuses[-1]["description"] == "Run #77 succeeded in 3m 12s"
    assert [(r.method, r.path) for r in gh.requests] == [
        ("POST", f"/repos/octo/repo/statuses/{SHA}")
    ] * 2


def test_long_status_description_is_cut_not_rejected(gh: FakeGitHub) -> None:
    result = set_commit_status(target_for(gh), SHA, "failure", "z" * 300, RUN_URL, "dbt Cloud / j")
    assert result.ok
    assert len(gh.statuses(SHA)[0]["description"]) == 140


def test_unknown_status_state_is_a_programming_error(gh: FakeGitHub) -> None:
    with pytest.raises(ValueError, match="pending"):
        set_commit_status(target_for(gh), SHA, "cancelled", "d", RUN_URL, "c")


def test_forbidden_status_is_a_warning_naming_the_permission(gh: FakeGitHub) -> None:
    gh.forbid("statuses")
    result = set_commit_status(target_for(gh), SHA, "pending", "queued", RUN_URL, "dbt Cloud / j")
    assert not result.ok
    assert "403" in result.message
    assert "`statuses: write`" in result.message
    assert "permissions:" in result.message
    assert "dbt Cloud outcome still decides" in result.message
    assert gh.statuses(SHA) == []


# --- network trouble ------------------------------------------------------------------------


def test_unreachable_api_is_a_warning() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    target = GitHubTarget(api_url=url, token=TOKEN, repository=REPO)

    comment = upsert_pr_comment(target, 7, comment_marker(1), "report")
    status = set_commit_status(target, SHA, "pending", "queued", RUN_URL, "dbt Cloud / j")

    for result in (comment, status):
        assert not result.ok
        assert f"GitHub at {url} did not answer (Connection refused)" in result.message
        assert "GITHUB_API_URL" in result.message


def test_silent_api_times_out_into_a_warning() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        target = GitHubTarget(f"http://127.0.0.1:{port}", TOKEN, REPO, timeout_seconds=1)
        status = set_commit_status(target, SHA, "pending", "queued", RUN_URL, "dbt Cloud / j")
        comment = upsert_pr_comment(target, 7, comment_marker(1), "report")
    for result in (status, comment):
        assert not result.ok
        assert "no answer within 1 s" in result.message


def test_token_never_appears_in_any_message(gh: FakeGitHub) -> None:
    marker = comment_marker(42)
    results = [
        upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nreport"),
        upsert_pr_comment(target_for(gh), 7, marker, f"{marker}\nreport 2"),
        set_commit_status(target_for(gh), SHA, "pending", "queued", RUN_URL, "c"),
        upsert_pr_comment(target_for(gh, repository="octo/gone"), 7, marker, "r"),
        upsert_pr_comment(target_for(gh, token=TOKEN + "x"), 7, marker, "r"),
    ]
    gh.forbid("comments")
    gh.forbid("statuses")
    results += [
        upsert_pr_comment(target_for(gh), 7, marker, "r"),
        set_commit_status(target_for(gh), SHA, "success", "done", RUN_URL, "c"),
        upsert_pr_comment(
            target_for(gh, api_url=f"http://127.0.0.1:{closed_port()}"), 7, marker, "r"
        ),
    ]
    assert [r.ok for r in results] == [True, True, True, False, False, False, False, False]
    for result in results:
        assert TOKEN not in result.message
    for request in gh.requests:
        assert TOKEN not in str(request)  # the fake's log drops Authorization as well


# --- start-up cost --------------------------------------------------------------------------


def test_module_import_does_not_load_pygithub() -> None:
    probe = (
        "import sys\n"
        "import dbt_cloud_action.github_reporting as m\n"
        "print('github' in sys.modules)\n"
        "m.set_commit_status(m.GitHubTarget('http://127.0.0.1:9', '', 'o/r'), 'a', 'pending', "
        "'d', 'u', 'c')\n"
        "print('github' in sys.modules)\n"  # control: the probe does see a real import
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False", "True"]
