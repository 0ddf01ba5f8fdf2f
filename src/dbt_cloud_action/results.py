"""What a dbt invocation did, node by node, digested from its `run_results.json`.

Reads the v4 to v6 schemas (dbt 1.0 to 1.9+) and tolerates missing or odd fields: a report
must never fail because dbt changed an artifact. dbt reports each node with its own status
vocabulary; we count them in the five buckets users know from dbt's `Done.` line:

| bucket | dbt statuses | meaning |
|---|---|---|
| pass  | `success` (models, seeds, snapshots), `pass` (tests, freshness) | did what it should |
| error | `error`, `runtime error`, `partial success` (microbatch: some batches failed) | broke |
| fail  | `fail` (tests) | a test found rows it should not |
| warn  | `warn` (tests with `severity: warn`, freshness) | worth a look |
| skip  | `skipped`, `no-op` | not run (upstream failure, or nothing to do) |

Any other status is counted as `other` rather than guessed.

A run has one `run_results.json` per dbt step, and dbt Cloud serves the last step's unless
asked for another (`?step=N`). A job that generates docs ends with `dbt docs generate`, whose
results say nothing about the build, so results are taken from every step that ran a command
that executes nodes (`RESULTS_COMMANDS`): `steps_with_results` chooses them from the run's
steps and `combine` adds their digests up.
"""

from __future__ import annotations

import enum
import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbt_cloud_action.models import Run, RunStatus, RunStep

MESSAGE_LINES = 5
MESSAGE_CHARS = 1000
SLOWEST_MODELS = 10
# dbt commands whose run_results.json lists executed nodes (docs generate, deps, compile,
# source freshness... write none worth counting here).
RESULTS_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot"})
# dbt Cloud names a command step "Invoke dbt with `dbt build --select x`".
_STEP_COMMAND = re.compile(r"`(dbt\s[^`]*)`")


class StatusBucket(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a dbt status, not a password
    ERROR = "error"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    OTHER = "other"


_BUCKET_OF_STATUS = {
    "success": StatusBucket.PASS,
    "pass": StatusBucket.PASS,
    "error": StatusBucket.ERROR,
    "runtime error": StatusBucket.ERROR,
    "partial success": StatusBucket.ERROR,
    "fail": StatusBucket.FAIL,
    "warn": StatusBucket.WARN,
    "skipped": StatusBucket.SKIP,
    "no-op": StatusBucket.SKIP,
}
_PROBLEM_BUCKETS = (StatusBucket.ERROR, StatusBucket.FAIL)


@dataclass(frozen=True)
class NodeResult:
    unique_id: str  # e.g. "model.jaffle_shop.orders"
    resource_type: str  # the unique_id's first part: model, test, seed, snapshot, unit_test...
    status: str  # dbt's own word, e.g. "runtime error"
    bucket: StatusBucket
    message: str = ""  # errors and failures only: first MESSAGE_LINES lines, MESSAGE_CHARS
    failures: int | None = None  # failing rows of a test
    execution_time: float | None = None  # seconds


@dataclass(frozen=True)
class StatusCounts:
    passed: int = 0
    errored: int = 0
    failed: int = 0
    warned: int = 0
    skipped: int = 0
    other: int = 0

    def by_bucket(self) -> tuple[tuple[StatusBucket, int], ...]:
        """The counts in display order, with the bucket names users know."""
        return (
            (StatusBucket.PASS, self.passed),
            (StatusBucket.ERROR, self.errored),
            (StatusBucket.FAIL, self.failed),
            (StatusBucket.WARN, self.warned),
            (StatusBucket.SKIP, self.skipped),
            (StatusBucket.OTHER, self.other),
        )


@dataclass(frozen=True)
class ResultsDigest:
    counts: StatusCounts = StatusCounts()
    problems: tuple[NodeResult, ...] = ()  # erroring then failing nodes, in dbt's order, capped
    problems_total: int = 0  # all erroring and failing nodes, including those not kept
    slowest_models: tuple[NodeResult, ...] = ()  # slowest first
    elapsed_seconds: float | None = None  # the whole dbt invocation
    dbt_version: str = ""
    unreadable_results: int = 0  # entries without a unique_id, ignored

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts.by_bucket())

    @property
    def is_empty(self) -> bool:
        return self.total == 0


def _first_lines(text: str) -> str:
    lines = text.lstrip()[: MESSAGE_CHARS + 1].splitlines()[:MESSAGE_LINES]
    kept = "\n".join(line.rstrip() for line in lines).rstrip()
    return kept if len(kept) <= MESSAGE_CHARS else kept[: MESSAGE_CHARS - 1] + "…"


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _node(entry: Mapping[str, Any]) -> NodeResult | None:
    unique_id = entry.get("unique_id")
    if not isinstance(unique_id, str) or not unique_id:
        return None
    raw_status = entry.get("status")
    status = raw_status.strip().lower() if isinstance(raw_status, str) else ""
    bucket = _BUCKET_OF_STATUS.get(status, StatusBucket.OTHER)
    message = entry.get("message")
    # "SELECT 10" and friends of passing nodes are never shown: skip the work.
    message = message if isinstance(message, str) and bucket in _PROBLEM_BUCKETS else ""
    failures = entry.get("failures")
    return NodeResult(
        unique_id=unique_id,
        resource_type=unique_id.split(".", 1)[0] if "." in unique_id else "",
        status=status or "unknown",
        bucket=bucket,
        message=_first_lines(message),
        failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        execution_time=_seconds(entry.get("execution_time")),
    )


def digest_run_results(
    data: Mapping[str, Any], *, max_problems: int = 1000, slowest: int = SLOWEST_MODELS
) -> ResultsDigest:
    """Digest a parsed `run_results.json`; ValueError when it is not one."""
    if not isinstance(data, Mapping):
        raise ValueError("run_results.json is not a JSON object")
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    schema = metadata.get("dbt_schema_version")
    if isinstance(schema, str) and "/run-results/" not in schema:
        raise ValueError(f"this is not a run_results.json: its schema is {schema!r}")
    results = data.get("results")
    if not isinstance(results, list):
        raise ValueError("run_results.json has no 'results' list")

    nodes = [_node(entry) if isinstance(entry, Mapping) else None for entry in results]
    readable = [node for node in nodes if node is not None]
    by_bucket = Counter(node.bucket for node in readable)
    problems = [node for bucket in _PROBLEM_BUCKETS for node in readable if node.bucket is bucket]
    timed_models = [n for n in readable if n.resource_type == "model" and n.execution_time]
    dbt_version = metadata.get("dbt_version")
    return ResultsDigest(
        counts=StatusCounts(
            passed=by_bucket[StatusBucket.PASS],
            errored=by_bucket[StatusBucket.ERROR],
            failed=by_bucket[StatusBucket.FAIL],
            warned=by_bucket[StatusBucket.WARN],
            skipped=by_bucket[StatusBucket.SKIP],
            other=by_bucket[StatusBucket.OTHER],
        ),
        problems=tuple(problems[:max_problems]),
        problems_total=len(problems),
        slowest_models=tuple(
            heapq.nlargest(slowest, timed_models, key=lambda n: n.execution_time or 0.0)
        ),
        elapsed_seconds=_seconds(data.get("elapsed_time")),
        dbt_version=dbt_version if isinstance(dbt_version, str) else "",
        unreadable_results=len(nodes) - len(readable),
    )


def parse_run_results(raw: bytes | str) -> ResultsDigest:
    """Digest the bytes of a downloaded `run_results.json`; ValueError when unreadable."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"run_results.json is not valid JSON: {exc}") from None
    return digest_run_results(data)


@dataclass(frozen=True)
class StepResults:
    """One step's digest, with what the step ran (e.g. `dbt build --select x`)."""

    step_index: int
    command: str
    digest: ResultsDigest


def step_command(step: RunStep) -> str:
    """The dbt command a run step ran, from its name; '' for a system step (clone, profile)."""
    found = _STEP_COMMAND.search(step.name)
    return " ".join(found.group(1).split()) if found else ""


def dbt_subcommand(command: str) -> str:
    """`build` of `dbt --warn-error build --select x`; '' when there is none."""
    words = [word for word in command.split()[1:] if not word.startswith("-")]
    return words[0] if command.startswith("dbt ") and words else ""


def steps_with_results(run: Run) -> tuple[RunStep, ...]:
    """The steps whose run_results.json tells what the run did to models and tests: those that
    ran build/run/test/seed/snapshot and ended (on a failed run, the failing step is one)."""
    ended = (RunStatus.SUCCESS, RunStatus.ERROR)
    return tuple(
        step
        for step in run.steps
        if step.status in ended and dbt_subcommand(step_command(step)) in RESULTS_COMMANDS
    )


def combine(digests: Sequence[ResultsDigest], *, max_problems: int = 1000) -> ResultsDigest:
    """The digests of several steps as one: counts added, problems in step order, the slowest
    models over all steps."""
    if len(digests) == 1:
        return digests[0]
    counts = [d.counts for d in digests]
    problems = [node for d in digests for node in d.problems]
    elapsed = [d.elapsed_seconds for d in digests if d.elapsed_seconds is not None]
    return ResultsDigest(
        counts=StatusCounts(
            passed=sum(c.passed for c in counts),
            errored=sum(c.errored for c in counts),
            failed=sum(c.failed for c in counts),
            warned=sum(c.warned for c in counts),
            skipped=sum(c.skipped for c in counts),
            other=sum(c.other for c in counts),
        ),
        problems=tuple(problems[:max_problems]),
        problems_total=sum(d.problems_total for d in digests),
        slowest_models=tuple(
            heapq.nlargest(
                SLOWEST_MODELS,
                (n for d in digests for n in d.slowest_models),
                key=lambda n: n.execution_time or 0.0,
            )
        ),
        elapsed_seconds=sum(elapsed) if elapsed else None,
        dbt_version=next((d.dbt_version for d in digests if d.dbt_version), ""),
        unreadable_results=sum(d.unreadable_results for d in digests),
    )
