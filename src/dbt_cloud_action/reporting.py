"""Turn what happened to a run into outputs, a job summary, a PR comment and log lines.

Pure: a `RunReport` in, strings out. Branch names, step names, dbt logs and messages are
untrusted, so everything that is not ours goes through one of three escapes:

- `escape_markdown` for text in paragraphs and table cells: HTML special characters become
  entities (so `<script>` renders as text), every other ASCII punctuation character is
  backslash-escaped (no emphasis, links, headings, lists, quotes or table pipes), `@name` and
  `#123` get a zero-width joiner (no notification, no cross-reference), line breaks and control
  characters go.
- `inline_code` for identifiers (SHA, branch, schema, node ids): a code span whose fence is
  longer than any backtick run inside.
- `code_block` for log lines: a fenced block, same fence rule; GitHub renders its content as text.

Every piece is also cut to a length, and the assembled document is checked against its limit
(1 MiB for the summary, 65,536 characters for a comment), dropping the least useful sections
first and saying so, so no run, however large, produces a summary GitHub refuses.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from dbt_cloud_action.compare import Comparison
from dbt_cloud_action.manifest import MAX_GRAPH_EDGES, ManifestFacts
from dbt_cloud_action.models import Outcome, Run, RunStatus, RunStep
from dbt_cloud_action.results import (
    NodeResult,
    ResultsDigest,
    StatusBucket,
    StepResults,
    combine,
    reconciled_steps,
    step_command,
    steps_with_results,
)

SUMMARY_MAX_BYTES = 1024 * 1024  # GitHub drops a step summary over 1 MiB
COMMENT_MAX_CHARS = 65_536  # GitHub rejects a longer comment body
STEP_LOG_MAX_LINES = 5000  # per ::group::; the full log stays in dbt Cloud
_STEP_LOG_LINE_CHARS = 4000
_LOG_TAIL_CHARS = 2_000_000  # error lines come from the end of a log; bound the work
_FIELD_CHARS = 200  # names, branches, ids
_ANNOTATION_CHARS = 1000


@dataclass(frozen=True)
class RunReport:
    job_id: int
    job_name: str
    account_id: int
    run: Run | None  # final state (with steps) if known
    run_url: str
    outcome: Outcome
    origin: str = "triggered"  # "triggered" | "attached" | "retried" | "followed"
    git_sha: str = ""
    git_branch: str = ""
    pull_request: int | None = None
    schema_override: str = ""
    overrides: tuple[tuple[str, str], ...] = ()  # e.g. (("threads", "8"),)
    # this step asked dbt Cloud to cancel the run, and dbt Cloud says it is cancelled
    cancelled_by_workflow: bool = False
    left_running: str = ""  # why the step left the run going in dbt Cloud ("": it did not)
    timed_out_after: float | None = None  # seconds waited before giving up
    results: ResultsDigest | None = None  # all steps with results together
    step_results: tuple[StepResults, ...] = ()  # each of them, in step order
    skipped_steps: tuple[str, ...] = ()  # steps a retry skipped
    notes: tuple[str, ...] = ()  # e.g. "run_results.json not available: ..."
    artifacts: tuple[str, ...] = ()  # saved artifact paths
    facts: ManifestFacts | None = None  # the failing nodes' files and downstream nodes
    project_subdirectory: str = ""  # the dbt project's folder in the repository
    # failing node -> "new" or "already failing" (compared with the deferred-to run)
    marks: Mapping[str, str] = field(default_factory=dict)
    comparison: Comparison | None = None  # with the deferred-to run, or why there is none


# ---------------------------------------------------------------------------------------------
# Text hygiene and escaping


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Controls, bidi overrides (they can make text read differently than it is), BOM, surrogates.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_ASCII_PUNCTUATION = frozenset("!#$%'()*+,-./:;=?@[\\]^_`{|}~")
# GitHub links @user and @org/team (notifying them) and #123 (cross-referencing the issue).
_MENTION_OR_REFERENCE = re.compile(r"(?<=[@#])(?=[A-Za-z0-9])")
_ZWJ = "\u200d"
_URL_SAFE = ":/?#[]@!$&'*+,;=%~"  # everything else, parentheses and spaces included, encoded


def plain_text(text: str) -> str:
    """Text without ANSI codes or invisible characters, with every line break a `\\n`."""
    text = _LINE_BREAK.sub("\n", _ANSI.sub("", text)).replace("\t", "    ")
    return _INVISIBLE.sub("", text)


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _single_line(text: str, limit: int) -> str:
    return truncate(" ".join(plain_text(text).split()), limit)


def escape_markdown(text: str) -> str:
    """One line of literal text, safe in a paragraph or a table cell."""
    text = _MENTION_OR_REFERENCE.sub(_ZWJ, " ".join(plain_text(text).split()))
    return "".join(
        _HTML_ENTITIES.get(ch) or (f"\\{ch}" if ch in _ASCII_PUNCTUATION else ch) for ch in text
    )


def escape_html(text: str) -> str:
    """One line of literal text inside an HTML element (`<summary>`), where markdown is off."""
    return html.escape(_MENTION_OR_REFERENCE.sub(_ZWJ, " ".join(plain_text(text).split())))


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def inline_code(text: str, *, in_table: bool = False) -> str:
    """A code span showing `text` literally (cut to a field's length); '' for empty text."""
    text = _single_line(text, _FIELD_CHARS)
    if not text:
        return ""
    if in_table:  # GFM splits cells before parsing code spans, so even here a pipe ends a cell
        text = text.replace("|", "\\|")
    fence = "`" * (_longest_backtick_run(text) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def code_block(lines: Sequence[str], *, language: str = "text") -> str:
    """A fenced block showing `lines` literally; no line can close the fence."""
    body = "\n".join(plain_text(line).replace("\n", " ") for line in lines)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def markdown_link(text_markdown: str, url: str) -> str:
    """A link when `url` is http(s), else just the (already escaped) text."""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # e.g. an unbalanced "[" in the host
        return text_markdown
    if scheme not in {"http", "https"}:
        return text_markdown
    return f"[{text_markdown}]({quote(plain_text(url), safe=_URL_SAFE)})"


def _cell(text: str, limit: int) -> str:
    """Multi-line text in one table cell: lines escaped, joined with <br>, cut to `limit`."""
    lines = [line.strip() for line in plain_text(truncate(text, limit)).split("\n")]
    return "<br>".join(escape_markdown(line) for line in lines if line)


def format_duration(seconds: float | None) -> str:
    """`0.4s`, `42s`, `3m 07s`, `2h 05m`; an em dash when unknown."""
    if seconds is None:
        return "—"
    if round(seconds, 1) < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


# ---------------------------------------------------------------------------------------------
# Outputs


def _whole_seconds(seconds: float | None) -> str:
    return "" if seconds is None else str(round(seconds))


def _git_sha(report: RunReport) -> str:
    """The commit for the summary: the one sent, else the one dbt Cloud says it ran."""
    return report.git_sha or (report.run.git_sha if report.run else "")


def _git_branch(report: RunReport) -> str:
    """The branch for the summary: the one sent, else (when no commit was sent either, so the
    run built a branch's tip) the one dbt Cloud says it ran."""
    if report.git_branch or report.git_sha:
        return report.git_branch
    return report.run.git_branch if report.run else ""


def outputs_for(report: RunReport) -> dict[str, str]:
    """The step outputs (durations in whole seconds; `artifacts` one path per line)."""
    run = report.run
    return {
        "run-id": str(run.id) if run and run.id else "",
        "run-url": report.run_url,
        "status": report.outcome.value,
        "status-code": "" if run is None or run.status_code is None else str(run.status_code),
        "duration-seconds": _whole_seconds(run.run_seconds if run else None),
        "queued-seconds": _whole_seconds(run.queued_seconds if run else None),
        "git-sha": report.git_sha,  # what was sent: empty when dbt Cloud chose
        "git-branch": report.git_branch,
        "pull-request": "" if report.pull_request is None else str(report.pull_request),
        "schema-override": report.schema_override,
        "job-name": report.job_name,
        "origin": report.origin,
        "artifacts": "\n".join(report.artifacts),
    }


# With several jobs, the single-valued outputs the step's jobs share: the commit, branch and
# pull request sent (the same for every job), the schema when every job's is the same. The
# others are per run: empty, read them from `runs`; `status` is the overall outcome.
_SHARED_OUTPUTS = ("git-sha", "git-branch", "pull-request", "schema-override")
# The overall outcome of several runs: the first of these any run has.
_OUTCOME_PRECEDENCE = (
    Outcome.ERROR,
    Outcome.NOT_FOUND,
    Outcome.CANCELLED,
    Outcome.RUNNING,
    Outcome.TIMED_OUT,
    Outcome.TRIGGERED,
    Outcome.SKIPPED,
    Outcome.SUCCESS,
)


def overall_outcome(outcomes: Sequence[Outcome]) -> Outcome:
    """The step's outcome: error, then not-found (a followed run that never appeared fails
    the step too), then cancelled, then timed-out; runs not waited for
    (triggered) before success, as nothing is known of how they end."""
    return next(o for o in _OUTCOME_PRECEDENCE if o in outcomes)


def run_outputs(report: RunReport) -> dict[str, str]:
    """One object of the `runs` output: the job's id and its single-job outputs."""
    return {"job-id": str(report.job_id), **outputs_for(report)}


def step_outputs(reports: Sequence[RunReport]) -> dict[str, str]:
    """The step's outputs: one job's as ever, plus `runs` (a JSON array, one object per job).
    With several jobs `status` is the overall outcome, the shared values are given and the
    per-run ones are empty."""
    runs = json.dumps([run_outputs(report) for report in reports], ensure_ascii=False)
    if len(reports) == 1:
        return {**outputs_for(reports[0]), "runs": runs}
    each = [outputs_for(report) for report in reports]
    merged = {name: "" for name in each[0]}
    for name in _SHARED_OUTPUTS:
        values = {outputs[name] for outputs in each}
        merged[name] = values.pop() if len(values) == 1 else ""
    merged["status"] = overall_outcome([report.outcome for report in reports]).value
    return {**merged, "runs": runs}


# ---------------------------------------------------------------------------------------------
# Logs and annotations

# dbt prefixes each log line with a time ("12:00:05  "); dbt Cloud sometimes with a full date.
_TIMESTAMP = re.compile(
    r"^\s*(?:\d{4}-\d{2}-\d{2}[T ])?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?(?: {1,2}|$)"
)
# Case-sensitive on purpose: dbt's "Done. PASS=3 ERROR=1" line is a tally, not an error.
# ("Database Error", "Compilation Error", "Runtime Error" all contain "Error".)
_ERROR_MARKERS = ("Error", "Failure in")


def _is_error_line(line: str) -> bool:
    return any(marker in line for marker in _ERROR_MARKERS)


def _meaningful_lines(logs: str) -> list[str]:
    lines = []
    for raw in plain_text(logs[-_LOG_TAIL_CHARS:]).split("\n"):
        line = _TIMESTAMP.sub("", raw, count=1).rstrip()
        if line.strip():
            lines.append(line)
    return lines


def error_lines(logs: str, limit: int) -> list[str]:
    """The lines of a dbt log that say what went wrong, at most `limit`, timestamps removed.

    dbt ends a failed invocation with `Completed with N errors` followed by one paragraph
    per failing node; we return that section from its first error line. Without it (a crash,
    a failed `dbt deps`, a clone error) the last meaningful lines are the best we have.
    """
    if limit <= 0:
        return []
    lines = _meaningful_lines(logs)
    completed = [i for i, line in enumerate(lines) if line.lstrip().startswith("Completed with")]
    section = lines[completed[-1] + 1 :] if completed else []
    first_error = next((i for i, line in enumerate(section) if _is_error_line(line)), None)
    if first_error is None:
        return lines[-limit:]
    return section[first_error : first_error + limit]


def _last_error_line(logs: str) -> str:
    """The last error line with its first detail line, e.g. `Database Error in model x: ...`."""
    lines = error_lines(logs, 200)
    marked = [i for i, line in enumerate(lines) if _is_error_line(line)]
    if not marked:
        return lines[-1].strip() if lines else ""
    i = marked[-1]
    detail = lines[i + 1] if i + 1 < len(lines) and lines[i + 1][:1].isspace() else ""
    return f"{lines[i].strip()}: {detail.strip()}" if detail else lines[i].strip()


def failing_step(run: Run | None) -> RunStep | None:
    """The step that errored, else the one that was cancelled; None when no step is to blame."""
    if run is None:
        return None
    for status in (RunStatus.ERROR, RunStatus.CANCELLED):
        step = next((s for s in run.steps if s.status is status), None)
        if step is not None:
            return step
    return None


def _run_label(report: RunReport) -> str:
    return f"run #{report.run.id}" if report.run and report.run.id else "the run"


def _step_label(step: RunStep) -> str:
    return f'step {step.index} "{_single_line(step.name, _FIELD_CHARS)}"'


def annotation_for(report: RunReport) -> tuple[str, str] | None:
    """(title, message) of the ::error:: for a run that did not succeed; None otherwise."""
    job = _single_line(report.job_name, _FIELD_CHARS) or f"job {report.job_id}"
    run = _run_label(report)
    step = failing_step(report.run)
    if report.outcome is Outcome.ERROR:
        title = f"dbt Cloud job {job} failed"
        if step is not None:
            line = _last_error_line(step.logs)
            message = f"{run} failed at {_step_label(step)}" + (f": {line}" if line else "")
        else:
            reason = report.run.status_message if report.run else ""
            message = f"{run} ended in error" + (f": {reason}" if reason else "")
    elif report.outcome is Outcome.CANCELLED and report.run is None:  # none was started
        title = f"dbt Cloud job {job}: no run, the workflow was cancelled"
        message = " ".join(report.notes) or "The workflow was cancelled before a run started."
    elif report.outcome is Outcome.CANCELLED:
        title = f"dbt Cloud job {job} was cancelled"
        who = "by this workflow" if report.cancelled_by_workflow else "in dbt Cloud"
        message = f"{run} was cancelled {who}" + (f" during {_step_label(step)}" if step else "")
    elif report.outcome is Outcome.TIMED_OUT:
        title = f"dbt Cloud job {job} timed out"
        message = (
            f"Stopped waiting for {run} after {format_duration(report.timed_out_after)}; "
            + _left_as(report)
            + " Raise the timeout input if the job needs longer."
        )
    elif report.outcome is Outcome.RUNNING:
        title = f"dbt Cloud job {job} left running"
        message = f"The workflow was cancelled; {_left_as(report)}"
    elif report.outcome is Outcome.NOT_FOUND:
        title = f"dbt Cloud job {job}: no run to follow"
        message = " ".join(report.notes)
    else:
        return None
    link = f" {_single_line(report.run_url, 500)}" if report.run_url else ""
    message = _single_line(message, _ANNOTATION_CHARS - len(link)) + link
    return _single_line(title, _FIELD_CHARS), message


def _left_as(report: RunReport) -> str:
    """What became of a run the step stopped waiting for, as dbt Cloud last showed it."""
    if report.cancelled_by_workflow:
        return "the action cancelled it in dbt Cloud."
    if report.left_running:
        return f"it was left running in dbt Cloud ({report.left_running})."
    return "it may still be running in dbt Cloud."


def commit_status_description(report: RunReport) -> str:
    """The final commit status's one line, e.g. `dbt Cloud run 123 failed after 3m 05s`."""
    run = report.run
    name = f"dbt Cloud run {run.id}" if run and run.id else "dbt Cloud run"
    ran = run.run_seconds if run else None
    if report.outcome is Outcome.SUCCESS:
        verb = "succeeded" + (f" in {format_duration(ran)}" if ran is not None else "")
    elif report.outcome is Outcome.ERROR:
        verb = "failed" + (f" after {format_duration(ran)}" if ran is not None else "")
    elif report.outcome is Outcome.CANCELLED:
        verb = "was cancelled " + (
            "by the workflow" if report.cancelled_by_workflow else "in dbt Cloud"
        )
    elif report.outcome is Outcome.TIMED_OUT:
        verb = f"timed out after {format_duration(report.timed_out_after)}"
        if report.left_running:
            verb += ", left running"
    elif report.left_running:
        verb = f"left running: {report.left_running}"
    else:
        verb = "was triggered"
    return f"{name} {verb}"


def step_title(step: RunStep) -> str:
    """A step's one-line title, for its log group."""
    status = step.status.name.lower() if step.status else "unknown"
    return (
        f"Step {step.index}: {_single_line(step.name, _FIELD_CHARS)} "
        f"({status}, {format_duration(step.duration_seconds)})"
    )


def render_step_log(step: RunStep, max_lines: int = STEP_LOG_MAX_LINES) -> list[str]:
    """A step's log lines (the last `max_lines`), to print inside stop_commands()."""
    budget = max_lines * _STEP_LOG_LINE_CHARS
    hidden_chars = step.logs_cut + max(0, len(step.logs) - budget)  # cut when read, or here
    lines = step.logs[-budget:].splitlines()
    kept = [truncate(line, _STEP_LOG_LINE_CHARS) for line in lines[-max_lines:]]
    if not step.logs:
        return ["(this step has no logs)"]
    if not hidden_chars and len(kept) == len(lines):
        return kept
    hidden = (
        f"its first {hidden_chars:,} characters"
        if hidden_chars
        else f"{len(lines) - len(kept)} earlier lines"
    )
    return [f"… {hidden} not shown; the whole log is in dbt Cloud", *kept]


# ---------------------------------------------------------------------------------------------
# Summary and PR comment


@dataclass(frozen=True)
class _Limits:
    problem_rows: int
    message_chars: int
    error_lines: int
    slowest_rows: int
    step_rows: int
    list_items: int  # notes, overrides, skipped steps, artifacts


_SUMMARY_LIMITS = _Limits(100, 400, 40, 10, 100, 20)
# Tried in turn until the comment fits.
_COMMENT_LIMITS = (
    _Limits(30, 300, 30, 5, 40, 10),
    _Limits(10, 150, 10, 3, 20, 5),
    _Limits(3, 80, 5, 0, 10, 3),
)

_OUTCOME_HEADLINE = {
    Outcome.SUCCESS: ("✅", "succeeded"),
    Outcome.ERROR: ("❌", "failed"),
    Outcome.CANCELLED: ("🚫", "was cancelled"),
    Outcome.TIMED_OUT: ("⏱️", "timed out"),
    Outcome.RUNNING: ("⏳", "was left running in dbt Cloud"),
    Outcome.TRIGGERED: ("🚀", "was triggered (not waited for)"),
    Outcome.SKIPPED: ("⏭️", "was skipped"),
    Outcome.NOT_FOUND: ("❓", "has no run to follow"),
}
_STEP_STATUS = {
    RunStatus.QUEUED: "⏳ queued",
    RunStatus.STARTING: "⏳ starting",
    RunStatus.RUNNING: "⏳ running",
    RunStatus.SUCCESS: "✅ success",
    RunStatus.ERROR: "❌ error",
    RunStatus.CANCELLED: "🚫 cancelled",
}
_BUCKET_LABEL = {
    StatusBucket.PASS: "✅ pass",
    StatusBucket.ERROR: "❌ error",
    StatusBucket.FAIL: "🔴 fail",
    StatusBucket.WARN: "⚠️ warn",
    StatusBucket.SKIP: "⏭️ skip",
    StatusBucket.REUSE: "♻️ reused",
    StatusBucket.OTHER: "❔ other",
}
_ORIGIN = {
    "triggered": "triggered by this workflow",
    "attached": "attached to a run already in progress for this commit (not triggered again)",
    "retried": "retried from the point of failure of the previous run",
    "followed": "started by dbt Cloud for this commit's pull request, followed (mode: follow)",
    "given": "named by run-id: started elsewhere, followed and reported by this workflow",
    "chained": "started by dbt Cloud on the completion of a run before it (follow-chain)",
}


def _headline(report: RunReport) -> str:
    emoji, verb = _OUTCOME_HEADLINE[report.outcome]
    job = escape_markdown(truncate(report.job_name, _FIELD_CHARS)) or f"job {report.job_id}"
    if report.outcome is Outcome.NOT_FOUND:  # no run to name
        return f"## {emoji} dbt Cloud job **{job}** {verb}"
    run = markdown_link(_run_label(report), report.run_url)  # ours; a link is never a reference
    return f"## {emoji} dbt Cloud {run} of **{job}** {verb}{_compared_heading(report)}"


def _compared_heading(report: RunReport) -> str:
    """`: 2 new failures, 1 already failing in Production` when compared with a deferred-to run."""
    comparison = report.comparison
    if comparison is None or not comparison.compared:
        return ""
    return f": {comparison.heading(escape_markdown(truncate(comparison.where, _FIELD_CHARS)))}"


def _comparison(report: RunReport) -> str:
    """With what run the failures were compared (linked), or why none was."""
    comparison = report.comparison
    if comparison is None:
        return ""
    if not comparison.compared:
        return f"- {escape_markdown(comparison.note)}"
    run = markdown_link(f"run #{comparison.run_id}", comparison.run_url)
    job = escape_markdown(truncate(comparison.job_name, _FIELD_CHARS))
    where = escape_markdown(truncate(comparison.where, _FIELD_CHARS))
    of_job = f" of **{job}**" if job else ""
    return (
        f"Compared with {run}{of_job} ({where}), the run this one deferred to: "
        f"**{comparison.new:,} new** (passed or absent there), "
        f"**{comparison.already_failing:,} already failing** there."
    )


def _more(shown: int, total: int, what: str) -> str:
    return f"… and {total - shown:,} more {what} not shown." if total > shown else ""


def _facts(report: RunReport, limits: _Limits) -> str:
    run = report.run
    rows: list[tuple[str, str]] = []
    status = f"**{report.outcome.value}**"
    if run is not None and run.status_code is not None:
        status += f" (dbt Cloud status {run.status_code})"
    rows.append(("Status", status))
    job = escape_markdown(truncate(report.job_name, _FIELD_CHARS))
    rows.append(("Job", f"{job} (id {report.job_id}, account {report.account_id})"))
    rows.append(("Origin", escape_markdown(_ORIGIN.get(report.origin, report.origin))))
    code_facts = (
        ("Commit", _git_sha(report)),
        ("Branch", _git_branch(report)),
        ("Schema", report.schema_override),
    )
    rows += [(name, inline_code(value, in_table=True)) for name, value in code_facts if value]
    if report.pull_request is not None:
        rows.append(("Pull request", f"#{report.pull_request}"))
    if report.overrides:
        shown = report.overrides[: limits.list_items]
        overrides = [
            f"{inline_code(name, in_table=True)}: {_code_lines(value, limits.list_items)}"
            for name, value in shown
        ]
        more = _more(len(shown), len(report.overrides), "overrides")
        rows.append(("Overrides", "<br>".join([*overrides, *([more] if more else [])])))
    if run is not None and run.cause:
        rows.append(("Cause", escape_markdown(truncate(run.cause, 255))))
    if run is not None:
        rows.append(("Queued", format_duration(run.queued_seconds)))
        rows.append(("Ran", format_duration(run.run_seconds)))
    return "\n".join(["| | |", "|---|---|", *(f"| **{k}** | {v} |" for k, v in rows)])


def _code_lines(value: str, limit: int) -> str:
    """A multi-line value (e.g. steps-override) as code spans, one per line, at most `limit`."""
    lines = [inline_code(line, in_table=True) for line in value.splitlines() if line.strip()]
    return " ".join(lines[:limit]) + (" …" if len(lines) > limit else "")


def _notes(report: RunReport, limits: _Limits) -> str:
    notes: list[str] = []
    if report.origin == "attached":
        notes.append("Attached to a run of this job already in progress for this commit.")
    if report.origin == "followed" and report.run is not None:
        notes.append(
            "Followed the run dbt Cloud started by itself for this commit; this workflow did "
            "not trigger it."
        )
    if report.origin == "given" and report.run is not None:
        notes.append(
            "Followed the run named by run-id; this workflow did not trigger it, and leaves it "
            "alone when cancelled unless cancel-followed is true."
        )
    if report.origin == "retried":
        notes.append("Retried from the point of failure, built as the failed run was.")
        if report.skipped_steps:
            shown = report.skipped_steps[: limits.list_items]
            more = _more(len(shown), len(report.skipped_steps), "steps")
            listed = "; ".join(_single_line(step, _FIELD_CHARS) for step in shown)
            notes.append(f"Skipped steps that had already succeeded: {listed}. {more}".strip())
    if report.outcome is Outcome.TIMED_OUT:
        waited = format_duration(report.timed_out_after)
        notes.append(f"Timed out after {waited}: {_left_as(report)}")
    elif report.cancelled_by_workflow:
        notes.append("Cancelled by the workflow: the action cancelled the run in dbt Cloud.")
    elif report.left_running and report.outcome is Outcome.RUNNING:
        notes.append(f"The workflow was cancelled; {_left_as(report)}")
    status_message = report.run.status_message if report.run else ""
    if status_message and report.outcome is not Outcome.SUCCESS:
        notes.append(f"dbt Cloud says: {truncate(status_message, 500)}")
    notes += [truncate(note, 500) for note in report.notes[: limits.list_items]]
    more = _more(min(len(report.notes), limits.list_items), len(report.notes), "notes")
    lines = [f"- {escape_markdown(note)}" for note in notes] + ([f"- {more}"] if more else [])
    return "\n".join(lines)


def _steps(run: Run | None, limits: _Limits) -> str:
    if run is None or not run.steps:
        return ""
    shown = run.steps[: limits.step_rows]
    rows = [
        f"| {step.index} | {escape_markdown(truncate(step.name, _FIELD_CHARS))} "
        f"| {_STEP_STATUS[step.status] if step.status else '❔ unknown'} "
        f"| {format_duration(step.duration_seconds)} |"
        for step in shown
    ]
    more = _more(len(shown), len(run.steps), "steps")
    table = "\n".join(["### Steps", "", "| # | Step | Status | Duration |", "|--:|---|---|--:|"])
    return "\n".join([table, *rows]) + (f"\n\n{more}" if more else "")


def _error_details(report: RunReport, limits: _Limits) -> str:
    step = failing_step(report.run)
    if step is None or step.status is not RunStatus.ERROR:
        return ""
    lines = [truncate(line, 500) for line in error_lines(step.logs, limits.error_lines)]
    if not lines:
        return ""
    title = escape_html(f"Error lines of step {step.index}: {truncate(step.name, _FIELD_CHARS)}")
    return f"<details open><summary>{title}</summary>\n\n{code_block(lines)}\n\n</details>"


# Shown only when some node is in them; the others always, zero included.
_OPTIONAL_BUCKETS = (StatusBucket.REUSE, StatusBucket.OTHER)
_UNEXPLAINED = (
    "❌ the step failed, but neither its run_results.json nor its log names a failing node: "
    "see its error lines"
)


def _counts(digest: ResultsDigest) -> str:
    """`✅ pass **2** · ❌ error **1** ... (dbt 1.9.1, 25s in dbt)`; a failed step whose
    failure no node explains never reads as `error 0`."""
    counts = " · ".join(
        f"{_BUCKET_LABEL[bucket]} **{count:,}**"
        for bucket, count in digest.counts.by_bucket()
        if count or bucket not in _OPTIONAL_BUCKETS
        if not (digest.unexplained_failure and bucket in (StatusBucket.ERROR, StatusBucket.FAIL))
    )
    if digest.unexplained_failure:
        counts = f"{_UNEXPLAINED} · {counts}"
    about = [f"dbt {escape_markdown(digest.dbt_version)}"] if digest.dbt_version else []
    if digest.elapsed_seconds is not None:
        about.append(f"{format_duration(digest.elapsed_seconds)} in dbt")
    return counts + (f" ({', '.join(about)})" if about else "")


def _step_counts(steps: Sequence[StepResults], limits: _Limits) -> list[str]:
    """One line per step with results, e.g. `- **Step 4** `dbt build`: ✅ pass **2** ...`."""
    shown = steps[: limits.step_rows]
    lines = [
        f"- **Step {step.step_index}** {inline_code(step.command)}: {_counts(step.digest)}"
        for step in shown
    ]
    more = _more(len(shown), len(steps), "steps")
    return lines + ([f"- {more}"] if more else [])


def reconciled(report: RunReport) -> tuple[tuple[StepResults, ...], ResultsDigest | None]:
    """The report's results per step and together, each step's agreeing with its status and
    log (`results.reconciled_steps`): Fusion's silent run_results never read as no errors."""
    given = report.step_results
    ran = steps_with_results(report.run) if report.run else ()
    if not given and report.results is not None and ran:  # one digest: the last such step's
        given = (StepResults(ran[-1].index, step_command(ran[-1]), report.results),)
    steps = reconciled_steps(report.run, given)
    if steps == given:
        return report.step_results, report.results
    return steps, combine([step.digest for step in steps]) if steps else report.results


def _results(report: RunReport, limits: _Limits) -> str:
    step_results, digest = reconciled(report)
    if digest is None or (digest.is_empty and not digest.unexplained_failure):
        return ""
    parts = ["### Models and tests", ""]
    if step_results:
        parts += _step_counts(step_results, limits)
        if len(step_results) > 1:
            parts += ["", f"**All {len(step_results)} steps:** {_counts(digest)}"]
    else:
        parts.append(_counts(digest))
    if digest.problems_total:
        shown = digest.problems[: limits.problem_rows]
        parts += ["", "| Node | Status | Failures | Message |", "|---|---|--:|---|"]
        parts += [
            _problem_row(node, limits, report.marks.get(node.unique_id, "")) for node in shown
        ]
        more = _more(len(shown), digest.problems_total, "failing or erroring nodes")
        parts += ["", more] if more else []
    return "\n".join(parts)


def _problem_row(node: NodeResult, limits: _Limits, mark: str = "") -> str:
    failures = "" if node.failures is None else f"{node.failures:,}"
    status = _BUCKET_LABEL[node.bucket]
    if node.from_log:
        status += " (from the log)"
    elif node.status != node.bucket.value:
        status += f" ({escape_markdown(truncate(node.status, 40))})"
    if mark:  # ours: new or already failing
        status += f" · **{mark}**"
    return (
        f"| {inline_code(node.unique_id, in_table=True)} | {status} | {failures} "
        f"| {_cell(node.message, limits.message_chars)} |"
    )


def _downstream(report: RunReport, limits: _Limits) -> str:
    """What each failed model breaks: the models, snapshots and exposures downstream of it
    (from the manifest's child_map), the first few named, those skipped in this run marked."""
    facts = report.facts
    if facts is None or not facts.downstream:
        return ""
    _, digest = reconciled(report)
    skipped = {
        n.unique_id for n in (digest.nodes if digest else ()) if n.bucket is StatusBucket.SKIP
    }
    rows = []
    for unique_id, below in list(facts.downstream.items())[: limits.problem_rows]:
        if not below.total:
            continue
        names = [
            inline_code(uid, in_table=True) + (" (skipped)" if uid in skipped else "")
            for uid in below.first
        ]
        more = " …" if below.total > len(below.first) else ""
        total = f"{below.total:,}" + ("+" if below.bounded else "")
        rows.append(
            f"| {inline_code(unique_id, in_table=True)} | {total} | {', '.join(names)}{more} |"
        )
    if not rows:
        return ""
    head = ["### What the failures break downstream", "", "| Failed | Downstream | First |"]
    return "\n".join([*head, "|---|--:|---|", *rows])


_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _mermaid_label(unique_id: str) -> str:
    """A node id as a Mermaid label: only letters, digits, `_`, `.` and `-` (anything else, a
    quote, bracket, backtick or line break among them, becomes `_`), so no name can end the
    label, the diagram or the code block."""
    return _MERMAID_UNSAFE.sub("_", truncate(plain_text(unique_id), 80))


def _graph(report: RunReport) -> str:
    """A Mermaid graph of what the failures break (the manifest reader's bounded edges, at most
    MAX_GRAPH_EDGES), folded under the downstream table; failed nodes outlined in red."""
    facts = report.facts
    if facts is None or not facts.edges:
        return ""
    ids: dict[str, str] = {}
    for edge in facts.edges:
        for uid in edge:
            ids.setdefault(uid, f"n{len(ids)}")
    lines = ["graph LR"]
    lines += [f'  {key}["{_mermaid_label(uid)}"]' for uid, key in ids.items()]
    lines += [f"  {ids[parent]} --> {ids[kid]}" for parent, kid in facts.edges]
    failed = [key for uid, key in ids.items() if uid in facts.downstream]
    if failed:
        lines += [
            "  classDef failed stroke:#d73a49,stroke-width:3px",
            f"  class {','.join(failed)} failed",
        ]
    title = f"Graph of what the failures break (at most {MAX_GRAPH_EDGES} edges)"
    body = "\n".join(lines)
    return f"<details><summary>{title}</summary>\n\n```mermaid\n{body}\n```\n\n</details>"


def _slowest(digest: ResultsDigest | None, limits: _Limits) -> str:
    if digest is None or not digest.slowest_models or limits.slowest_rows <= 0:
        return ""
    rows = [
        f"| {inline_code(node.unique_id, in_table=True)} | {format_duration(node.execution_time)} |"
        for node in digest.slowest_models[: limits.slowest_rows]
    ]
    return "\n".join(["### Slowest models", "", "| Model | Time |", "|---|--:|", *rows])


def _artifacts(report: RunReport, limits: _Limits) -> str:
    if not report.artifacts:
        return ""
    shown = report.artifacts[: limits.list_items]
    listed = ", ".join(inline_code(path) for path in shown)
    more = _more(len(shown), len(report.artifacts), "artifacts")
    return f"**Artifacts saved:** {listed}" + (f" {more}" if more else "")


def _sections(report: RunReport, limits: _Limits) -> list[str]:
    """The report's blocks, most important first."""
    blocks = [
        _headline(report),
        _notes(report, limits),
        _comparison(report),
        _facts(report, limits),
        _error_details(report, limits),
        _results(report, limits),
        _downstream(report, limits),
        _graph(report),
        _steps(report.run, limits),
        _slowest(report.results, limits),
        _artifacts(report, limits),
    ]
    return [block for block in blocks if block]


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(blocks: Sequence[str], limit: int, size: Callable[[str], int], cut_note: str) -> str:
    """All blocks when they fit under `limit`; else those that fit, in order, then the note."""
    whole = "\n\n".join(blocks) + "\n"
    if size(whole) <= limit:
        return whole
    kept: list[str] = []
    for block in blocks:
        if size("\n\n".join([*kept, block, cut_note]) + "\n") <= limit:
            kept.append(block)
    return "\n\n".join([*kept, cut_note]) + "\n"


def render_summary(report: RunReport, max_bytes: int = SUMMARY_MAX_BYTES) -> str:
    """The job summary: GitHub-flavoured markdown, always under `max_bytes`."""
    if report.outcome in (Outcome.SKIPPED, Outcome.NOT_FOUND):  # no run: the reason only
        emoji, verb = _OUTCOME_HEADLINE[report.outcome]
        why = " ".join(escape_markdown(truncate(note, 1000)) for note in report.notes)
        job = f"job {report.job_id}" if report.job_id else "run"
        return f"## {emoji} dbt Cloud {job} {verb}\n\n{why}\n"
    note = "_Some sections were left out to keep this summary under GitHub's 1 MiB limit._"
    return _fit(_sections(report, _SUMMARY_LIMITS), max_bytes - 1024, _utf8_size, note)


def render_pr_comment(report: RunReport, marker: str, summary_url: str | None) -> str:
    """The sticky PR comment: `marker` (an HTML comment) first, under COMMENT_MAX_CHARS."""
    return _fitted_comment(marker, (), [report], summary_url)


def _fitted_comment(
    marker: str, opening: Sequence[str], reports: Sequence[RunReport], summary_url: str | None
) -> str:
    """`marker`, the `opening` blocks, then the reports' sections, shortened together (all
    reports at once, tighter limits each attempt) until the comment fits."""
    if not re.fullmatch(r"<!--(?:(?!-->)[^\n])*-->", marker):
        raise ValueError(f"marker must be a one-line HTML comment like <!-- x -->, got {marker!r}")
    where = markdown_link("job summary", summary_url) if summary_url else "job summary"
    footer = f"<sub>Full report: the workflow run's {where}.</sub>"
    shortened = f"_Shortened to fit a comment; see the workflow run's {where} for everything._"
    budget = COMMENT_MAX_CHARS - 512
    for attempt, limits in enumerate(_COMMENT_LIMITS):
        blocks = [block for report in reports for block in _sections(report, limits)]
        body = "\n\n".join([marker, *opening, *blocks, shortened if attempt else footer])
        if len(body) < budget:
            return body + "\n"
    headlines = [block for report in reports for block in _sections(report, _COMMENT_LIMITS[-1])]
    return _fit([marker, *opening, *headlines], budget, len, shortened)


# ---------------------------------------------------------------------------------------------
# Several jobs: one summary and one comment for the set


def _failed_nodes(report: RunReport) -> str:
    _, digest = reconciled(report)
    if digest is None:
        return "—"
    if digest.unexplained_failure and not digest.counts.problems:
        return "? (see its error lines)"
    return f"{digest.counts.problems:,}"


def render_overview(reports: Sequence[RunReport]) -> str:
    """The table that opens a step's report on several jobs: one row per job."""
    overall = overall_outcome([report.outcome for report in reports])
    emoji, _verb = _OUTCOME_HEADLINE[overall]
    rows = []
    for report in reports:
        job = escape_markdown(truncate(report.job_name, _FIELD_CHARS)) or f"job {report.job_id}"
        run = report.run
        label = f"#{run.id}" if run is not None and run.id else "—"
        status_emoji, _ = _OUTCOME_HEADLINE[report.outcome]
        ran = format_duration(run.run_seconds if run is not None else None)
        rows.append(
            f"| {job} (id {report.job_id}) | {markdown_link(label, report.run_url)} "
            f"| {status_emoji} {report.outcome.value} | {ran} | {_failed_nodes(report)} |"
        )
    return "\n".join(
        [
            f"## {emoji} dbt Cloud: {len(reports)} jobs, {overall.value}",
            "",
            "| Job | Run | Status | Duration | Failed models and tests |",
            "|---|---|---|--:|--:|",
            *rows,
        ]
    )


def step_summary(reports: Sequence[RunReport]) -> str:
    """The step's job summary: one job's as ever; for several, the overview and then each
    job's section, each within its share of the 1 MiB limit."""
    if len(reports) == 1:
        return render_summary(reports[0])
    overview = render_overview(reports)
    share = (SUMMARY_MAX_BYTES - _utf8_size(overview) - 4096) // len(reports)
    return "\n\n".join([overview, *(render_summary(r, share) for r in reports)])


def step_comment(reports: Sequence[RunReport], marker: str, summary_url: str | None) -> str:
    """The sticky PR comment for the step's jobs: one job's as ever; for several, the
    overview and then each job's sections, shortened together until they fit."""
    if len(reports) == 1:
        return render_pr_comment(reports[0], marker, summary_url)
    return _fitted_comment(marker, [render_overview(reports)], reports, summary_url)
