"""The chaos cases' invariants, over what a case recorded (pure: a `CaseRecord` in, the
violations out), and the text printed when one breaks.

a. no run left going that the user did not ask to keep (after the main and the post step);
b. no duplicate run: at most one run per job per step;
c. outputs and summary agree with dbt Cloud's state of every run when the main step exited;
d. the step ended within its budget: after the first signal within the runner's grace, with
   `timeout: T` and no signal within T plus the stated grace; the post step within its bound.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.chaos_schedule import Keep, Schedule

ACTIVE = (1, 2, 3)
TERMINAL = (10, 20, 30)
GITHUB_RUN_TAG = "run 9001/1"  # tests/simulated_runner.py's GITHUB_RUN_ID and attempt
KEY_TAG = "key "  # payload.trigger_tag: the step's random key follows
# Words that say how a run ended, and the dbt Cloud status each claims.
_CLAIMS = re.compile(r"\b(success|succeeded|error|errored|failed|cancell?ed|canceled)\b", re.I)
_CLAIMED_STATUS = {"success": 10, "succeeded": 10, "error": 20, "errored": 20, "failed": 20}
INVARIANTS = {
    "a": "a run left going that the inputs did not keep",
    "b": "more than one run for a job",
    "c": "outputs or summary disagree with dbt Cloud",
    "d": "the step overran its budget",
}


@dataclass(frozen=True)
class Promises:
    """The bounds the step is held to (stated in the README; see tests/test_chaos_e2e.py)."""

    signal_budget: float  # the first signal to the step's exit
    timeout_grace: float  # past `timeout`, with no signal


@dataclass(frozen=True)
class SentSignal:
    at: float  # seconds after the main step started
    name: str
    why: str  # "schedule", "runner" (its escalation), "timeout-minutes" (a case overran)


@dataclass(frozen=True)
class Step:
    exit_code: int
    outputs: Mapping[str, str]
    summary: str
    state: Mapping[str, str]
    log: str


@dataclass(frozen=True)
class CreatedRun:
    id: int
    job_id: int
    cause: str

    @property
    def tagged(self) -> bool:
        """Triggered by this step: its automatic cause carries the GitHub run and the key."""
        return GITHUB_RUN_TAG in self.cause and KEY_TAG in self.cause


@dataclass(frozen=True)
class CaseRecord:
    schedule: Schedule
    sent: tuple[SentSignal, ...]
    moment_at: float | None  # when the moment's event was seen (None: never)
    exited_at: float  # the main step's exit, seconds after its start
    main: Step
    at_exit: Mapping[int, int]  # every created run's status when the main step exited
    post: Step
    post_seconds: float
    post_killed: bool
    final: Mapping[int, int]  # after the post step
    runs: tuple[CreatedRun, ...]
    requests: tuple[tuple[float, str, str, int], ...]  # (at, endpoint, path, status)

    @property
    def first_signal(self) -> SentSignal | None:
        return self.sent[0] if self.sent else None


@dataclass(frozen=True)
class Violation:
    invariant: str  # a key of INVARIANTS
    message: str

    def __str__(self) -> str:
        return f"({self.invariant}) {self.message}"


def kept(record: CaseRecord) -> bool:
    """Whether the inputs asked for the runs to keep going: `wait: false`, `cancel-on-exit:
    false`, or `cancel-on-timeout: false` when the timeout came before any signal."""
    keep = record.schedule.keep
    return keep in (Keep.WAIT, Keep.CANCEL_ON_EXIT) or (
        keep is Keep.CANCEL_ON_TIMEOUT and record.first_signal is None
    )


def check_nothing_left_going(record: CaseRecord) -> list[Violation]:
    if kept(record):
        return []
    return [
        Violation(
            "a",
            f"run {run.id} of job {run.job_id} is still {record.final[run.id]} after the post step",
        )
        for run in record.runs
        if record.final.get(run.id) in ACTIVE
    ]


def check_no_duplicate(record: CaseRecord) -> list[Violation]:
    found = [
        Violation("b", f"run {run.id} of job {run.job_id} lacks this step's tag: {run.cause!r}")
        for run in record.runs
        if not run.tagged
    ]
    for job in record.schedule.jobs:
        ids = [run.id for run in record.runs if run.job_id == job]
        if len(ids) > 1:
            found.append(Violation("b", f"job {job} has {len(ids)} runs: {ids}"))
    return found


def _entry_disagrees(
    where: str,
    entry: Mapping[str, str],
    job: int,
    runs: Sequence[CreatedRun],
    at_exit: Mapping[int, int],
) -> list[Violation]:
    """One job's outputs (an item of `runs`, or one job's own outputs) against dbt Cloud."""
    run_id, code = entry.get("run-id", ""), entry.get("status-code", "")
    if not runs and run_id:
        return [Violation("c", f"{where} names run {run_id} for job {job}, which has no run")]
    problems = []
    for run in runs:
        status = at_exit.get(run.id)  # None: created after the main step exited
        if run_id and run_id != str(run.id):
            problems.append(f"names run {run_id} for job {job}; dbt Cloud's is {run.id}")
        elif status in TERMINAL and code != str(status):
            problems.append(
                f"run {run.id} of job {job} has status-code {code!r}; dbt Cloud says {status}"
            )
        elif status in ACTIVE and code in {str(s) for s in TERMINAL}:
            problems.append(
                f"run {run.id} of job {job} has status-code {code}, an end; dbt "
                f"Cloud says it is still {status}"
            )
    return [Violation("c", f"{where}: {problem}") for problem in problems]


def _summary_lines(summary: str, run: CreatedRun, job_name: str) -> list[str]:
    """The summary's headings and table rows about `run`: its label (#id), its job's row in
    the overview (id N), or a heading naming its job."""
    label = re.compile(rf"#{run.id}\b|\(id {run.job_id}\)")
    return [
        line
        for line in summary.splitlines()
        if (line.startswith("|") and label.search(line))
        or (line.startswith("#") and (label.search(line) or f"**{job_name}**" in line))
    ]


def _claims_against(line: str, status: int) -> list[str]:
    """The words in `line` that claim an end other than `status`."""
    claims = []
    for match in _CLAIMS.finditer(line):
        claimed = _CLAIMED_STATUS.get(match.group(1).lower(), 30)
        if claimed != status:
            claims.append(match.group(1))
    return claims


def _summary_disagrees(
    summary: str, run: CreatedRun, status: int, job_name: str
) -> list[Violation]:
    found = []
    for line in _summary_lines(summary, run, job_name):
        wrong = _claims_against(line, status)
        if wrong:
            found.append(
                Violation(
                    "c",
                    f"the summary says {'/'.join(wrong)} of run {run.id} "
                    f"(job {run.job_id}), dbt Cloud status {status}: "
                    f"{line.strip()[:200]}",
                )
            )
    return found


def check_reports_agree(record: CaseRecord, job_names: Mapping[int, str]) -> list[Violation]:
    outputs = record.main.outputs
    if not outputs:  # killed before writing any: nothing was claimed
        return []
    by_job = {job: [r for r in record.runs if r.job_id == job] for job in record.schedule.jobs}
    try:
        items = json.loads(outputs["runs"])
        entries = {int(item["job-id"]): item for item in items}
    except (KeyError, ValueError, TypeError) as exc:
        return [Violation("c", f"the `runs` output is missing or not ours ({exc!r})")]
    found = []
    for job, runs in by_job.items():
        if job not in entries:
            found.append(Violation("c", f"`runs` has no item for job {job}"))
            continue
        found += _entry_disagrees("`runs`", entries[job], job, runs, record.at_exit)
        if len(record.schedule.jobs) == 1:
            found += _entry_disagrees("the outputs", outputs, job, runs, record.at_exit)
        for run in runs:
            if run.id in record.at_exit:
                summary = record.main.summary
                found += _summary_disagrees(summary, run, record.at_exit[run.id], job_names[job])
    return found


def check_budget(record: CaseRecord, promises: Promises) -> list[Violation]:
    found = []
    first, timeout = record.first_signal, record.schedule.timeout
    if first is not None and first.why == "schedule":
        took = record.exited_at - first.at
        if took >= promises.signal_budget:
            found.append(
                Violation(
                    "d",
                    f"the main step exited {took:.2f}s after {first.name} "
                    f"(budget {promises.signal_budget}s)",
                )
            )
    elif timeout is not None and record.exited_at > timeout + promises.timeout_grace:
        found.append(
            Violation(
                "d",
                f"the main step ended {record.exited_at:.2f}s after its "
                f"start with timeout {timeout}s (grace "
                f"{promises.timeout_grace}s)",
            )
        )
    if record.post_killed:
        found.append(
            Violation(
                "d",
                f"the post step was still running after {record.post_seconds:.0f}s and was killed",
            )
        )
    return found


def violations(
    record: CaseRecord, promises: Promises, job_names: Mapping[int, str]
) -> list[Violation]:
    return [
        *check_nothing_left_going(record),
        *check_no_duplicate(record),
        *check_reports_agree(record, job_names),
        *check_budget(record, promises),
    ]


def request_summary(requests: Sequence[tuple[float, str, str, int]]) -> list[str]:
    """The request log, one line per run of identical requests: `+1.23s..+4.56s get_run
    /runs/5/ -> 503 x12` (status 0: no answer sent)."""
    lines: list[str] = []
    group: list[tuple[float, str, str, int]] = []

    def flush() -> None:
        if not group:
            return
        first, last = group[0], group[-1]
        span = f"+{first[0]:.2f}s" + (f"..+{last[0]:.2f}s" if len(group) > 1 else "")
        path = re.sub(r"^/api/v2/accounts/\d+", "", first[2])
        count = f" x{len(group)}" if len(group) > 1 else ""
        lines.append(f"{span} {first[1]} {path} -> {first[3]}{count}")
        group.clear()

    for request in sorted(requests):
        if group and request[1:] != group[-1][1:]:
            flush()
        group.append(request)
    flush()
    return lines


def _tail(text: str, limit: int = 12_000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def describe(record: CaseRecord, found: Sequence[Violation]) -> str:
    """Everything needed to see what happened: the seed, its schedule, the signals, dbt
    Cloud's view, the request log and both steps' logs."""
    signals = ", ".join(f"{s.name} at +{s.at:.2f}s ({s.why})" for s in record.sent) or "none"
    moment = "never" if record.moment_at is None else f"+{record.moment_at:.2f}s"
    parts = [
        "invariants broken:",
        *(f"  {violation}" for violation in found),
        record.schedule.describe(),
        f"moment seen {moment}; signals: {signals}",
        f"main step: exit {record.main.exit_code} at +{record.exited_at:.2f}s; runs at its "
        f"exit {dict(record.at_exit)}; after the post step ({record.post_seconds:.1f}s, exit "
        f"{record.post.exit_code}) {dict(record.final)}",
        "created runs: "
        + "; ".join(f"{r.id} job {r.job_id} cause {r.cause!r}" for r in record.runs),
        f"outputs: {json.dumps(dict(record.main.outputs), ensure_ascii=False)}",
        f"state: {dict(record.main.state)}",
        "request log:",
        *(f"  {line}" for line in request_summary(record.requests)),
        "--- main step log ---",
        _tail(record.main.log),
        "--- main step summary ---",
        _tail(record.main.summary, 4000),
        "--- post step log ---",
        _tail(record.post.log),
    ]
    return "\n".join(parts)
