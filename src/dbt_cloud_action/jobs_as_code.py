"""Jobs defined as code with dbt Labs' dbt-jobs-as-code: its `[[identifier]]` tags and the JSON
its `sync --json` writes (`jobs-from`).

dbt-jobs-as-code links a job in dbt Cloud to its YAML key by a tag: it writes the job's name as
`f"{name} [[{identifier}]]"`, or with `--use-desc-for-id` puts `[[identifier]]` at the end of the
description instead, and reads the tag back with `r"\\[\\[([*:a-zA-Z0-9_-]+)\\]\\]"` (the first
match; `filter:identifier` when a job imported for some environments carries a filter). Reading
the tag back the tool's own way means `job-name: "[[nightly]]"` names the job the YAML's
`nightly` key manages, wherever the tag sits.

`sync --json` prints `{..., "applied": {"job_changes": [{"action", "type", "identifier",
"project_id", "environment_id", "job_id"}], ...}, "apply_success": bool}`: the jobs it created,
updated or deleted. The step runs those it created or updated, once each; a deleted job cannot
run. Pure: the caller reads the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# dbt-jobs-as-code's own pattern (schemas/job.py, `_extract_identifier_from_name`).
_TAG = re.compile(r"\[\[([*:a-zA-Z0-9_-]+)\]\]")
# What a `job-name` line may give: one identifier (a YAML key), no filter, no wildcard.
_REFERENCE = re.compile(r"\[\[([a-zA-Z0-9_-]+)\]\]")
_RUNNABLE = ("CREATE", "UPDATE")
_KNOWN_ACTIONS = (*_RUNNABLE, "DELETE")
MAX_FILE_BYTES = 5 * 1024 * 1024


class SyncFileError(ValueError):
    """A `jobs-from` file that is not `sync --json`'s output with applied jobs; says why."""


def reference_identifier(line: str) -> str | None:
    """The identifier of a `job-name` line written `[[identifier]]`, else None."""
    match = _REFERENCE.fullmatch(line.strip())
    return match.group(1) if match else None


def tag_identifier(text: str) -> str | None:
    """The identifier a job's name or description carries, read as dbt-jobs-as-code reads it:
    the first `[[...]]`, the part after its colon when it has one; None when it has none (or a
    tag the tool itself refuses, with two colons)."""
    match = _TAG.search(text)
    if match is None:
        return None
    parts = match.group(1).split(":")
    if len(parts) > 2:  # at most filter:identifier, as the tool allows
        return None
    return parts[-1]


def _change_job_id(change: Any, index: int) -> int | None:
    """The job a runnable change applied to; None for a DELETE."""
    where = f"applied.job_changes[{index}]"
    if not isinstance(change, Mapping):
        raise SyncFileError(f"has {where} that is not an object.")
    action = change.get("action")
    if action not in _KNOWN_ACTIONS:
        raise SyncFileError(
            f"has {where} with action {str(action)[:20]!r}; expected CREATE, UPDATE or DELETE."
        )
    if action not in _RUNNABLE:
        return None
    job_id = change.get("job_id")
    if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id < 1:
        raise SyncFileError(
            f"has {where} ({action}) without a job id (job_id is {str(job_id)[:20]!r}); use the "
            "JSON of dbt-jobs-as-code 1.14 or newer, which writes it."
        )
    return job_id


def applied_job_ids(text: str) -> tuple[int, ...]:
    """The jobs a `dbt-jobs-as-code sync --json` output says it created or updated, in its
    order, each once (a self-deferring job's follow-up update names the same job again)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # a nesting too deep is not that shape either
        raise SyncFileError(
            "is not JSON. Write it with `dbt-jobs-as-code sync <jobs.yml> --json > <file>` "
            "(its logs go to stderr)."
        ) from None
    applied = data.get("applied") if isinstance(data, Mapping) else None
    changes = applied.get("job_changes") if isinstance(applied, Mapping) else None
    if not isinstance(changes, list):
        raise SyncFileError(
            "has no applied.job_changes list: it is not the output of "
            "`dbt-jobs-as-code sync --json` (1.14 or newer; `plan --json` applies nothing)."
        )
    if data.get("apply_success") is False:
        raise SyncFileError(
            "says the sync failed (apply_success: false): some changes were not applied. Fix "
            "the sync's errors (in its log) and sync again before running its jobs."
        )
    ids: list[int] = []
    for index, change in enumerate(changes):
        job_id = _change_job_id(change, index)
        if job_id is not None and job_id not in ids:
            ids.append(job_id)
    if not ids:
        raise SyncFileError(
            "lists no job the sync created or updated: nothing to run. Run the jobs by job-id "
            "or job-name instead, or skip this step when the sync changed no job."
        )
    return tuple(ids)
