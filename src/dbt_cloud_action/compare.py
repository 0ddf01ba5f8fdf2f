"""New or already failing: a failed CI run compared with the run it deferred to.

A dbt Cloud CI job defers to another environment or job (`deferring_environment_id`,
`deferring_job_definition_id` on the job); each of its runs names the run it deferred to as
`deferring_run_id` (the spec's `RunResponse`). Its failing nodes are compared with that run's
`run_results.json`, read from its last step with results: a node that failed or errored there too
is **already failing**; any other (it passed, was skipped, or is not there) is **new**.

Nothing is asked while the run goes: the deferred-to run (one GET, with its job, environment
and steps) and its results (one download) are fetched once, after the end, only when the CI run
has failing nodes. A run that deferred to none is not compared, and the report says so: what is
reported is what dbt Cloud says of each run, never a guess.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dbt_cloud_action.client import ArtifactNotFound, DbtCloudError
from dbt_cloud_action.models import Run
from dbt_cloud_action.results import (
    NodeResult,
    StatusBucket,
    parse_run_results,
    steps_with_results,
)

NEW = "new"
ALREADY_FAILING = "already failing"
RUN_RESULTS = "run_results.json"
MAX_BASELINE_BYTES = 256 << 20  # as artifacts.MAX_RESULTS_BYTES: parsed whole in memory
_FAILED = (StatusBucket.ERROR, StatusBucket.FAIL)


class BaselineSource(Protocol):
    """What the comparison needs from the dbt Cloud client."""

    def get_run(self, run_id: int, include_related: Sequence[str] = ()) -> Run: ...

    def download_artifact(
        self, run_id: int, path: str, into: BinaryIO, *, max_bytes: int, step: int | None = None
    ) -> int: ...

    def run_url(self, run: Run) -> str: ...


@dataclass(frozen=True)
class Comparison:
    """What the report says of the comparison: with what run, and how many of each mark; or,
    with `note`, why nothing was compared."""

    run_id: int = 0
    run_url: str = ""
    where: str = ""  # the deferred-to run's environment ("Production"), else "job <name>"
    job_name: str = ""
    new: int = 0
    already_failing: int = 0
    note: str = ""  # nothing compared: why

    @property
    def compared(self) -> bool:
        return not self.note

    def heading(self, where: str | None = None) -> str:
        """`2 new failures, 1 already failing in Production` (`where` in place of the
        environment's name: escaped, for markdown)."""
        new = f"{self.new:,} new failure" + ("" if self.new == 1 else "s")
        return f"{new}, {self.already_failing:,} already failing in {where or self.where}"


def _key(node: NodeResult) -> tuple[str, str]:
    """A node's resource type and name: how a node only dbt Fusion's log names
    (`model main.customers`) is found among the results' unique ids."""
    return node.resource_type, node.unique_id.replace(" ", ".").rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Baseline:
    """The deferred-to run and what failed in it."""

    run: Run
    run_url: str
    failing_ids: frozenset[str]
    failing_keys: frozenset[tuple[str, str]]

    @property
    def where(self) -> str:
        if self.run.environment_name:
            return self.run.environment_name
        return f"job {self.run.job_name}" if self.run.job_name else f"run #{self.run.id}"

    def already_failing(self, node: NodeResult) -> bool:
        return node.unique_id in self.failing_ids or (
            node.from_log and _key(node) in self.failing_keys
        )


def marks_for(problems: Sequence[NodeResult], baseline: Baseline) -> dict[str, str]:
    """Each failing node of the CI run marked new or already failing."""
    return {
        node.unique_id: ALREADY_FAILING if baseline.already_failing(node) else NEW
        for node in problems
    }


def compared(marks: Mapping[str, str], baseline: Baseline) -> Comparison:
    already = sum(1 for mark in marks.values() if mark == ALREADY_FAILING)
    return Comparison(
        run_id=baseline.run.id,
        run_url=baseline.run_url,
        where=baseline.where,
        job_name=baseline.run.job_name,
        new=len(marks) - already,
        already_failing=already,
    )


def not_deferred() -> Comparison:
    return Comparison(
        note=(
            "Nothing was compared: dbt Cloud says this run deferred to no other run (no "
            "deferring_run_id), so its failures are not marked new or already failing. A CI job "
            "that defers to a production environment or job gets one."
        )
    )


def fetch_baseline(client: BaselineSource, run_id: int) -> Baseline | Comparison:
    """The deferred-to run and its failing nodes (two requests), or a Comparison saying why
    nothing could be compared."""
    try:
        run = client.get_run(run_id, ("job", "environment", "run_steps"))
    except DbtCloudError as exc:
        return _unavailable(run_id, f"it could not be read: {exc}")
    stepped = steps_with_results(run)
    step = stepped[-1].index if stepped else None
    if run.steps and step is None:
        return _unavailable(run_id, "none of its steps ran dbt build, run, test, seed or snapshot")
    into = io.BytesIO()
    try:
        client.download_artifact(run.id, RUN_RESULTS, into, max_bytes=MAX_BASELINE_BYTES, step=step)
        digest = parse_run_results(into.getvalue())
    except ArtifactNotFound:
        return _unavailable(run_id, f"it has no {RUN_RESULTS}")
    except DbtCloudError as exc:
        return _unavailable(run_id, f"its {RUN_RESULTS} could not be fetched: {exc}")
    except ValueError as exc:
        return _unavailable(run_id, f"its {RUN_RESULTS} could not be read: {exc}")
    failing = [node for node in digest.nodes if node.bucket in _FAILED]
    return Baseline(
        run,
        client.run_url(run),
        frozenset(node.unique_id for node in failing),
        frozenset(_key(node) for node in failing),
    )


def _unavailable(run_id: int, why: str) -> Comparison:
    return Comparison(
        run_id=run_id,
        note=(
            f"Nothing was compared with run {run_id}, the run this one deferred to: {why}. "
            "Its failures are not marked new or already failing."
        ),
    )
