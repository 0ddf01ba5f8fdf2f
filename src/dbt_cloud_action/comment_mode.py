"""When the sticky pull request comment is written: `comment-on-pr`'s modes.

Like EnricoMi/publish-unit-test-result-action's `comment_mode`, decided as follows:

- `always` (or `true`): written, or updated, by every run.
- `failures`: written when some run did not succeed; a comment already there is updated
  whatever the outcome, so it never goes on saying a fixed pull request fails.
- `changes`: written when there is no comment yet, or when the outcome of a job or the set of
  failing nodes differs from the one the comment there records; otherwise it is left as it is
  (a run that fails again the same way adds nothing for the reviewer). The comment records it
  in a hidden line, `<!-- dbt-cloud-run-state: <hash> -->`: a hash of each job's outcome and
  its sorted failing nodes.
- `off` (or `false`): never.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dbt_cloud_action.inputs import CommentMode
from dbt_cloud_action.models import Outcome
from dbt_cloud_action.reporting import RunReport, reconciled

_STATE = "<!-- dbt-cloud-run-state: {} -->"
_FAILED = frozenset({Outcome.ERROR, Outcome.CANCELLED, Outcome.TIMED_OUT, Outcome.NOT_FOUND})


def comment_state(reports: Sequence[RunReport]) -> str:
    """The hidden line naming what the comment says: outcomes and failing nodes (with their
    new / already failing marks), hashed."""
    parts = []
    for report in sorted(reports, key=lambda r: r.job_id):
        _, digest = reconciled(report)
        failing = sorted({n.unique_id for n in digest.problems}) if digest else []
        marked = [f"{node}/{report.marks.get(node, '')}" for node in failing]
        parts.append(f"{report.job_id}={report.outcome.value}:{','.join(marked)}")
    digest_hex = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
    return _STATE.format(digest_hex)


def reason_to_skip(
    mode: CommentMode, reports: Sequence[RunReport], state: str, existing: str | None
) -> str:
    """Why no comment is written or updated ('' when it is), given the comment there."""
    failed = any(report.outcome in _FAILED for report in reports)
    if mode is CommentMode.FAILURES and existing is None and not failed:
        return "comment-on-pr is failures and no run failed."
    if mode is CommentMode.CHANGES and existing is not None and state in existing:
        return (
            "comment-on-pr is changes and the outcome and failing nodes (and their marks) are "
            "those the comment already there shows."
        )
    return ""
