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
| reuse | `reused`; `skipped` in a Fusion step that succeeded | reused by dbt State |

Any other status is counted as `other` rather than guessed.

dbt Fusion (dbt 2.x, dbt's default engine) writes `run_results.json` differently: no `message`,
`failures` only on tests (dbt-labs/dbt-fusion#1437), results with error conditions left out
(dbt-fusion#1130), sometimes no file at all after a failure (dbt-fusion#828), and `skipped` for a
node state-aware orchestration reused as well as for one skipped after an upstream failure
(dbt-core#14366: "on fusion, a resource may also be skipped if prior run was cached"). So a
failed step is reconciled with its own log (`reconcile`): when its results name no erroring or
failing node, the nodes come from Fusion's log lines (`Failed [  0.40s] model x`,
dbt-fusion#1539), and when neither names one the digest says the step failed unexplained
(`unexplained_failure`), never a count that reads as "no errors".

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
from dataclasses import astuple, dataclass, replace
from typing import Any

from dbt_cloud_action.models import Run, RunStatus, RunStep

MESSAGE_LINES = 5
MESSAGE_CHARS = 1000
SLOWEST_MODELS = 10
MAX_NODES = 100_000  # results kept per digest for the JUnit report and the downstream marks
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
    REUSE = "reuse"
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
    "reused": StatusBucket.REUSE,
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
    from_log: bool = False  # named by the step's log, not by run_results.json


@dataclass(frozen=True)
class StatusCounts:
    passed: int = 0
    errored: int = 0
    failed: int = 0
    warned: int = 0
    skipped: int = 0
    other: int = 0
    reused: int = 0

    def by_bucket(self) -> tuple[tuple[StatusBucket, int], ...]:
        """The counts in display order, with the bucket names users know."""
        return (
            (StatusBucket.PASS, self.passed),
            (StatusBucket.ERROR, self.errored),
            (StatusBucket.FAIL, self.failed),
            (StatusBucket.WARN, self.warned),
            (StatusBucket.SKIP, self.skipped),
            (StatusBucket.REUSE, self.reused),
            (StatusBucket.OTHER, self.other),
        )

    @property
    def problems(self) -> int:
        return self.errored + self.failed

    def plus(self, other: StatusCounts) -> StatusCounts:
        return StatusCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class ResultsDigest:
    counts: StatusCounts = StatusCounts()
    problems: tuple[NodeResult, ...] = ()  # erroring then failing nodes, in dbt's order, capped
    problems_total: int = 0  # all erroring and failing nodes, including those not kept
    slowest_models: tuple[NodeResult, ...] = ()  # slowest first
    elapsed_seconds: float | None = None  # the whole dbt invocation
    dbt_version: str = ""
    unreadable_results: int = 0  # entries without a unique_id, ignored
    # A failed step whose results and log name no erroring or failing node (see `reconcile`).
    unexplained_failure: bool = False
    nodes: tuple[NodeResult, ...] = ()  # every readable result, in dbt's order (MAX_NODES)

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

    dbt_version = metadata.get("dbt_version")
    dbt_version = dbt_version if isinstance(dbt_version, str) else ""
    nodes = [_node(entry) if isinstance(entry, Mapping) else None for entry in results]
    readable = [node for node in nodes if node is not None]
    by_bucket = Counter(node.bucket for node in readable)
    problems = [node for bucket in _PROBLEM_BUCKETS for node in readable if node.bucket is bucket]
    timed_models = [n for n in readable if n.resource_type == "model" and n.execution_time]
    return ResultsDigest(
        counts=StatusCounts(
            passed=by_bucket[StatusBucket.PASS],
            errored=by_bucket[StatusBucket.ERROR],
            failed=by_bucket[StatusBucket.FAIL],
            warned=by_bucket[StatusBucket.WARN],
            skipped=by_bucket[StatusBucket.SKIP],
            other=by_bucket[StatusBucket.OTHER],
            reused=by_bucket[StatusBucket.REUSE],
        ),
        problems=tuple(problems[:max_problems]),
        problems_total=len(problems),
        slowest_models=tuple(
            heapq.nlargest(slowest, timed_models, key=lambda n: n.execution_time or 0.0)
        ),
        elapsed_seconds=_seconds(data.get("elapsed_time")),
        dbt_version=dbt_version,
        unreadable_results=len(nodes) - len(readable),
        nodes=tuple(readable[:MAX_NODES]),
    )


def is_fusion(dbt_version: str) -> bool:
    """dbt Fusion reports itself as dbt 2.x (`2.0.0-preview.164`); dbt Core is 1.x."""
    return dbt_version.startswith("2.")


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
    counts = StatusCounts()
    for digest in digests:
        counts = counts.plus(digest.counts)
    problems = [node for d in digests for node in d.problems]
    elapsed = [d.elapsed_seconds for d in digests if d.elapsed_seconds is not None]
    return ResultsDigest(
        counts=counts,
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
        unexplained_failure=any(d.unexplained_failure for d in digests),
        nodes=tuple(node for d in digests for node in d.nodes)[:MAX_NODES],
    )


# ---------------------------------------------------------------------------------------------
# A failed step reconciled with its log

# dbt Fusion's line per node: `    Failed [  1.00s] model main.downstream_model (table)`,
# `   Skipped [-------] model main.final_model (table)` (dbt-labs/dbt-fusion#1539, #828),
# perhaps behind a log's time (`12:00:01  `, or `19:53:01.099293 [info ]: ` as in #1475).
_FUSION_NODE_LINE = re.compile(
    r"^(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+(?:\[\w+\s*\]:)?)?"
    r"\s*(?P<verb>Failed|Errored)\s+\[\s*(?:(?P<seconds>\d+(?:\.\d+)?)s|-+)\s*\]\s+"
    r"(?P<kind>[a-z_]+)\s+(?P<relation>\S+)"
)


def failed_nodes_in_log(logs: str, *, limit: int = 1000) -> tuple[NodeResult, ...]:
    """The nodes a dbt Fusion log says failed, in its order: a test found failing rows (fail),
    anything else broke (error). Named as the log names them (`model main.customers`)."""
    found: dict[str, NodeResult] = {}
    lines = logs.splitlines()
    for i, line in enumerate(lines):
        match = _FUSION_NODE_LINE.match(line)
        if match is None:
            continue
        kind = match["kind"]
        name = f"{kind} {match['relation']}"
        bucket = StatusBucket.FAIL if kind == "test" else StatusBucket.ERROR
        seconds = float(match["seconds"]) if match["seconds"] else None
        message = _error_after(lines[i + 1]) if i + 1 < len(lines) else ""
        found.setdefault(
            name,
            NodeResult(name, kind, match["verb"].lower(), bucket, message, None, seconds, True),
        )
        if len(found) >= limit:
            break
    return tuple(found.values())


def _error_after(line: str) -> str:
    """Fusion's `error: <message>` line right after a failed node's, else ''."""
    _, marker, message = line.partition("error: ")
    return _first_lines(message) if marker else ""


def reconcile(step: RunStep, results: StepResults | None) -> StepResults:
    """A step's results that agree with its status. A failed step gets the failing nodes its
    log names that its run_results.json leaves out (Fusion omits erroring results, or writes
    no file); when neither names one, `unexplained_failure`. A Fusion step that succeeded has
    its skips counted as reuses. Other steps are left as they are."""
    found = results or StepResults(step.index, step_command(step), ResultsDigest())
    digest = found.digest
    if step.status is RunStatus.SUCCESS and is_fusion(digest.dbt_version):
        # Nothing failed upstream, so a Fusion skip can only be a reuse (dbt-core#14366).
        counts = replace(
            digest.counts, skipped=0, reused=digest.counts.reused + digest.counts.skipped
        )
        return replace(found, digest=replace(digest, counts=counts))
    if step.status is not RunStatus.ERROR:
        return found
    known = {_short_name(node) for node in digest.problems}
    logged = tuple(n for n in failed_nodes_in_log(step.logs) if _short_name(n) not in known)
    if not logged:
        if digest.counts.problems:
            return found
        return replace(found, digest=replace(digest, unexplained_failure=True))
    errored = sum(1 for n in logged if n.bucket is StatusBucket.ERROR)
    counts = replace(
        digest.counts,
        errored=digest.counts.errored + errored,
        failed=digest.counts.failed + len(logged) - errored,
    )
    return replace(
        found,
        digest=replace(
            digest,
            counts=counts,
            problems=logged + digest.problems,
            problems_total=digest.problems_total + len(logged),
            nodes=logged + digest.nodes,
        ),
    )


def _short_name(node: NodeResult) -> tuple[str, str]:
    """(kind, name) of `model.shop.orders` and of the log's `model main.orders` alike."""
    return node.resource_type, node.unique_id.replace(" ", ".").rsplit(".", 1)[-1]


def reconciled_steps(
    run: Run | None, step_results: Sequence[StepResults]
) -> tuple[StepResults, ...]:
    """Every step with results, each reconciled with its status and log (`reconcile`),
    including a failed dbt step whose run_results.json never came."""
    if run is None:
        return tuple(step_results)
    by_index = {results.step_index: results for results in step_results}
    steps = {step.index: step for step in steps_with_results(run)}
    failed = {index for index, step in steps.items() if step.status is RunStatus.ERROR}
    indexes = sorted(set(by_index) | failed)
    return tuple(
        reconcile(steps[i], by_index.get(i)) if i in steps else by_index[i] for i in indexes
    )
