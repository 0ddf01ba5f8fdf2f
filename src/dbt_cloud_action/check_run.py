"""A check run per job on the head commit (`check-run: true`), with PyGithub, imported lazily.

Created `in_progress` when the run is being followed, concluded from dbt Cloud's outcome at its
end with the job's summary as its output and every file annotation, which a check run is not
limited to ten of: the Checks API takes at most 50 annotations per request and appends those of
each update to the ones already there (docs.github.com/rest/checks/runs#update-a-check-run), so
they go in batches of 50. A run left going keeps its check run in progress, as its commit status
stays pending. A token without `checks: write`, as a fork's pull request gets, is answered 403:
a warning says what to add, and the dbt Cloud outcome still decides the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbt_cloud_action.github_reporting import GitHubReportResult, GitHubTarget
from dbt_cloud_action.models import Outcome

if TYPE_CHECKING:
    from github import Github

    from dbt_cloud_action.annotations import FileAnnotation

ANNOTATIONS_PER_REQUEST = 50
SUMMARY_MAX_CHARS = 65_535  # output.summary's limit
_TITLE_CHARS = 255
_MESSAGE_CHARS = 64_000
PERMISSION = "checks: write"

_CONCLUSIONS = {
    Outcome.SUCCESS: "success",
    Outcome.ERROR: "failure",
    Outcome.CANCELLED: "cancelled",
    Outcome.TIMED_OUT: "timed_out",
}


def conclusion_for(outcome: Outcome, state: str) -> str:
    """The check run's conclusion: dbt Cloud's outcome, else the commit status's state."""
    return _CONCLUSIONS.get(outcome) or ("success" if state == "success" else "failure")


@dataclass(frozen=True)
class CheckRunOutput:
    title: str
    summary: str  # markdown, already escaped by reporting
    annotations: tuple[FileAnnotation, ...] = ()


def _annotation(annotation: FileAnnotation) -> dict[str, object]:
    line = annotation.line or 1  # the Checks API needs a line; 1 for a file-level one
    return {
        "path": annotation.file,
        "start_line": line,
        "end_line": line,
        "annotation_level": "failure",
        "title": annotation.title[:_TITLE_CHARS],
        "message": annotation.message[:_MESSAGE_CHARS],
    }


def batches(annotations: Sequence[FileAnnotation]) -> list[list[dict[str, object]]]:
    """The annotations as the Checks API takes them: 50 a request (one empty batch for none)."""
    shaped = [_annotation(a) for a in annotations]
    return [
        shaped[i : i + ANNOTATIONS_PER_REQUEST]
        for i in range(0, max(1, len(shaped)), ANNOTATIONS_PER_REQUEST)
    ]


def start_check_run(
    target: GitHubTarget, sha: str, name: str, details_url: str
) -> tuple[GitHubReportResult, str]:
    """Create the check run in progress; its API URL ('' when it could not be created)."""
    from dbt_cloud_action.github_reporting import report_call  # noqa: PLC0415 - a cycle

    created: list[str] = []

    def create(gh: Github) -> str:
        repo = gh.get_repo(target.repository, lazy=True)
        # dbt Cloud's run page as the check's details, when known
        if details_url:
            check = repo.create_check_run(
                name=name, head_sha=sha, status="in_progress", details_url=details_url
            )
        else:
            check = repo.create_check_run(name=name, head_sha=sha, status="in_progress")
        created.append(check.url)
        return f"Check run {name!r} started on {sha[:7]}"

    result = report_call(target, create, action=f"create check run {name!r}", permission=PERMISSION)
    return result, created[0] if created else ""


def conclude_check_run(
    target: GitHubTarget, url: str, conclusion: str, output: CheckRunOutput
) -> GitHubReportResult:
    """Conclude it, the output with the first 50 annotations, then the rest 50 at a time."""
    from dbt_cloud_action.github_reporting import report_call  # noqa: PLC0415 - a cycle

    summary = output.summary[:SUMMARY_MAX_CHARS]
    title = output.title[:_TITLE_CHARS]

    def conclude(gh: Github) -> str:
        parts = batches(output.annotations)
        for index, batch in enumerate(parts):
            body: dict[str, object] = {
                "output": {"title": title, "summary": summary, "annotations": batch}
            }
            if index == 0:
                body |= {"status": "completed", "conclusion": conclusion}
            gh.requester.requestJsonAndCheck("PATCH", url, input=body)
        count = len(output.annotations)
        return (
            f"Check run concluded {conclusion} with {count} annotation"
            f"{'s' if count != 1 else ''} ({len(parts)} request{'s' if len(parts) != 1 else ''})"
        )

    return report_call(target, conclude, action="conclude the check run", permission=PERMISSION)
