"""Jobs by name: `job-name` lines resolved to dbt Cloud jobs, and what a job's triggers imply.

Job ids differ between accounts and change when a job is recreated, so users may name jobs
instead. A name is looked up through the jobs list (`name__icontains`, which is broad) and then
matched exactly, in any case, and against the `project / environment` qualifiers; anything but
exactly one job is an input error that lists the candidates, before anything is triggered.
The matching is pure (`match_job`, `check_distinct`); `find_jobs` does the listing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from dbt_cloud_action.client import MAX_LISTED_JOBS, DbtCloudClient
from dbt_cloud_action.inputs import InputError, JobReference
from dbt_cloud_action.jobs_as_code import tag_identifier
from dbt_cloud_action.models import Job

INPUT_NAME = "job-name"
MAX_CANDIDATES_SHOWN = 10
_MAX_NAME_SHOWN = 100


class JobNameError(InputError):
    """A `job-name` line that names no job, or several: an input error, before any run."""

    def __init__(self, message: str) -> None:
        super().__init__(INPUT_NAME, message)


def _fold(text: str) -> str:
    """Names compare in any case and with runs of spaces as one."""
    return " ".join(text.split()).casefold()


def _qualifier_matches(qualifier: str, name: str, object_id: int | None) -> bool:
    """A qualifier names the project (environment), or gives its id."""
    if qualifier.isascii() and qualifier.isdigit():
        return object_id is not None and int(qualifier) == object_id
    return bool(name) and _fold(qualifier) == _fold(name)


def _named(reference: JobReference, job: Job) -> bool:
    """Exactly this name, in any case; a name with slashes may also be the whole line. A name
    written `[[identifier]]` names the job whose name or description carries that tag, read as
    dbt-jobs-as-code reads it (its identifiers are case-sensitive YAML keys)."""
    if reference.identifier is not None:
        return reference.identifier in (
            tag_identifier(job.name),
            tag_identifier(job.description),
        )
    return _fold(job.name) == _fold(reference.name) or (
        reference.qualified and _fold(job.name) == _fold(reference.text)
    )


def _qualified(reference: JobReference, job: Job) -> bool:
    if reference.project is None or reference.environment is None:
        return True
    if _fold(job.name) == _fold(reference.text) and _fold(job.name) != _fold(reference.name):
        return True  # the whole line is the job's own name
    return _qualifier_matches(
        reference.project, job.project_name, job.project_id
    ) and _qualifier_matches(reference.environment, job.environment_name, job.environment_id)


def shown_name(text: str) -> str:
    """A name from dbt Cloud as it may appear in a message: one line, printable, bounded."""
    clean = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    clean = " ".join(clean.split())
    return clean if len(clean) <= _MAX_NAME_SHOWN else clean[: _MAX_NAME_SHOWN - 1] + "…"


def _labelled(name: str, object_id: int | None) -> str:
    shown_id = f"#{object_id}" if object_id is not None else "unknown"
    return f"{shown_name(name)} {shown_id}" if name else shown_id


def describe_job(job: Job) -> str:
    """`#12 "CI" (project Core #7, environment CI #71)`, with ids alone where names are unknown."""
    project = _labelled(job.project_name, job.project_id)
    environment = _labelled(job.environment_name, job.environment_id)
    return f'#{job.id} "{shown_name(job.name)}" (project {project}, environment {environment})'


def _candidates(jobs: Sequence[Job]) -> str:
    shown = "; ".join(describe_job(job) for job in jobs[:MAX_CANDIDATES_SHOWN])
    more = len(jobs) - MAX_CANDIDATES_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


def _example(job: Job, *, ids: bool = False) -> str:
    """The `project / environment / job` line that names `job` (with ids when asked)."""
    project = str(job.project_id) if ids or not job.project_name else job.project_name
    environment = (
        str(job.environment_id) if ids or not job.environment_name else job.environment_name
    )
    return f"{shown_name(project)} / {shown_name(environment)} / {shown_name(job.name)}"


def match_job(reference: JobReference, listed: Sequence[Job], *, complete: bool = True) -> Job:
    """The one job `reference` names among `listed` (the jobs whose names contain its name), or
    a JobNameError saying what matched and what to do. `complete=False` means the listing was
    cut off, so a unique match cannot be trusted."""
    line = repr(shown_name(reference.text or reference.name))
    if not complete:
        raise JobNameError(
            f"line {line}: more than {len(listed)} jobs have names containing "
            f"{shown_name(reference.name)!r}, too many to check. Set job-id to the job's id "
            "instead (the number in its URL: .../jobs/<job-id>/)."
        )
    named = [job for job in listed if _named(reference, job)]
    matches = [job for job in named if _qualified(reference, job)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        choose = (
            "They share project and environment: set job-id to the one you mean instead."
            if reference.qualified
            else f"Name one of them as project / environment / job, e.g. "
            f"{_example(matches[0])!r} (names or ids), or set job-id to its id instead."
        )
        raise JobNameError(
            f"line {line} matches {len(matches)} jobs: {_candidates(matches)}. {choose}"
        )
    if reference.identifier is not None and not named:
        raise JobNameError(
            f"line {line}: no job in this account carries the dbt-jobs-as-code tag "
            f"[[{reference.identifier}]] in its name or description. Check the identifier (the "
            "job's key in the jobs YAML, in the same case) and that the YAML was synced to this "
            "account, or set job-id to its id instead."
        )
    if named:
        names_missing = any(not (j.project_name and j.environment_name) for j in named)
        hint = (
            " dbt Cloud did not return the project or environment names: give their ids, "
            f"e.g. {_example(named[0], ids=True)!r}."
            if names_missing
            else ""
        )
        raise JobNameError(
            f"line {line}: jobs with that name exist, but none in that project and "
            f"environment: {_candidates(named)}. Check the project and environment names "
            f"(or use their ids).{hint}"
        )
    if listed:
        raise JobNameError(
            f"line {line}: no job is named exactly {shown_name(reference.name)!r} (names match "
            f"in any case, but whole). Jobs whose names contain it: {_candidates(listed)}. "
            "Copy the job's name from dbt Cloud, or set job-id to its id instead."
        )
    raise JobNameError(
        f"line {line}: no job's name contains {shown_name(reference.name)!r} in this account. "
        "Check the spelling and that account-id and the token are for the account that has "
        "the job, or set job-id to its id instead."
    )


def check_distinct(references: Sequence[JobReference], jobs: Sequence[Job]) -> None:
    """Two lines that name the same job would run it twice: refused."""
    seen: dict[int, JobReference] = {}
    for reference, job in zip(references, jobs, strict=True):
        if job.id in seen:
            first = shown_name(seen[job.id].text or seen[job.id].name)
            raise JobNameError(
                f"lines {first!r} and {shown_name(reference.text or reference.name)!r} both "
                f"name job {describe_job(job)}; list each job once."
            )
        seen[job.id] = reference


def find_jobs(
    client: DbtCloudClient,
    references: Sequence[JobReference],
    *,
    max_jobs: int = MAX_LISTED_JOBS,
) -> tuple[Job, ...]:
    """Each reference's job, in order: one jobs listing per line (`name__icontains`, with the
    environment embedded for its name), then `match_job` and `check_distinct`. DbtCloudError
    when dbt Cloud cannot be asked; JobNameError when a line names no job or several."""
    jobs = []
    for reference in references:
        listed = client.list_jobs(
            name_contains=reference.identifier or reference.name, max_jobs=max_jobs
        )
        if reference.identifier is not None and not any(_named(reference, j) for j in listed):
            # The tag may sit in the description (--use-desc-for-id): every job is a candidate.
            listed = client.list_jobs(max_jobs=max_jobs)
        jobs.append(match_job(reference, listed, complete=len(listed) < max_jobs))
    check_distinct(references, jobs)
    return tuple(jobs)


def pull_request_trigger_warning(job: Job) -> str | None:
    """For a step that triggers the job: when dbt Cloud also runs it by itself on every pull
    request push (its `github_webhook` / `git_provider_webhook` trigger), each push starts two
    runs of it. None when it does not."""
    if not job.runs_on_pull_requests:
        return None
    return (
        f"Job {describe_job(job)} runs on pull requests in dbt Cloud itself (its CI trigger "
        "is on), so every push starts two runs of it: dbt Cloud's and this step's. Set "
        "mode: follow to report dbt Cloud's own run instead of starting another, or turn off "
        "'Run on pull requests' in the job's triggers."
    )
