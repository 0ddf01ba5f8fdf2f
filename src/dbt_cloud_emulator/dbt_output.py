"""What dbt itself would print and write for a scripted step: log lines and artifacts.

Logs follow dbt-core's console format (`12:00:01  1 of 3 START sql table model ...`), and
run_results.json / manifest.json / catalog.json follow dbt's published schemas, so code that
parses real dbt output can be exercised against the emulator.

A job on the `latest-fusion` track runs dbt Fusion (dbt 2.x), whose output differs: one line
per node (` Succeeded [  0.01s] model main.base_model (table)`, `    Failed [  1.00s] ...`,
`   Skipped [-------] ...`) and an execution summary (dbt-labs/dbt-fusion#1539, #828), and a
run_results.json without `message`, `compiled`, `compiled_code` and `batch_results`, with
`failures` on tests only and not on a skipped test (dbt-fusion#1437, dbt-core#14554), and
without the results of nodes that errored (dbt-fusion#1130). A node dbt State reused
(status `reused` in the script) is written `skipped`, as Fusion does (dbt-core#14366).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from dbt_cloud_emulator.config import NodeResult, StepScript

DBT_VERSION = "1.9.1"
FUSION_VERSION = "2.0.0-preview.164"  # as dbt-fusion#1539's output prints it
FUSION_TRACK = "latest-fusion"
ADAPTER = "snowflake"
_LINE_WIDTH = 80
_KIND_WORDS = {"test": "data test", "model": "table model", "seed": "seed"}
_PROJECT_DIR = "/tmp/jobs/{run_id}/target"  # noqa: S108 - where dbt Cloud checks projects out
_FAILURES = re.compile(r"Got (\d+) results?")


@dataclass(frozen=True)
class StepContext:
    """What a run step's output depends on besides its script."""

    run_id: int
    schema: str
    target_name: str
    threads: int
    git_sha: str
    git_branch: str
    fusion: bool = False  # the run's dbt is dbt Fusion (the `latest-fusion` track)

    @property
    def project_dir(self) -> str:
        return _PROJECT_DIR.format(run_id=self.run_id)


@dataclass(frozen=True)
class LogLine:
    offset: float  # seconds after the step started
    text: str


def step_log(step: StepScript, ctx: StepContext) -> tuple[LogLine, ...]:
    """The step's console lines, each at the moment dbt would print it."""
    if step.logs:
        lines = step.logs.splitlines()
        return tuple(
            LogLine(step.duration * i / max(1, len(lines)), text) for i, text in enumerate(lines)
        )
    if step.command is None:
        texts = _system_step_lines(step, ctx)
        spacing = step.duration / max(1, len(texts))
        return tuple(LogLine(i * spacing, text) for i, text in enumerate(texts))
    if ctx.fusion and step.results:
        return _fusion_lines(step, ctx)
    return _dbt_lines(_written(step), ctx)


def _written(step: StepScript) -> StepScript:
    """The step as dbt writes it: a reused node is `skipped`."""
    results = tuple(
        replace(r, status="skipped") if r.status == "reused" else r for r in step.results
    )
    return replace(step, results=results)


def render_log(lines: tuple[LogLine, ...], started: datetime, upto: float) -> str:
    """Lines printed in the first `upto` seconds, with dbt's `HH:MM:SS  ` prefix."""
    return "\n".join(
        f"{(started + timedelta(seconds=line.offset)):%H:%M:%S}  {line.text}"
        for line in lines
        if line.offset <= upto
    )


def render_debug_log(lines: tuple[LogLine, ...], started: datetime, upto: float) -> str:
    """The debug log: every console line with microseconds, level and thread, like dbt.log."""
    return "\n".join(
        f"{(started + timedelta(seconds=line.offset)):%H:%M:%S.%f} [debug] [MainThread]: "
        f"{line.text}"
        for line in lines
        if line.offset <= upto
    )


def _system_step_lines(step: StepScript, ctx: StepContext) -> list[str]:
    lowered = step.name.lower()
    if "clone" in lowered:
        return [
            f"Cloning into '{ctx.project_dir}'...",
            "Successfully cloned repository.",
            f"Checked out at {ctx.git_sha[:7]} on branch {ctx.git_branch}.",
        ]
    if "profile" in lowered:
        return [
            "Writing profile to /home/dbt/.dbt/profiles.yml",
            f"Profile uses target '{ctx.target_name}' with schema '{ctx.schema}'.",
        ]
    return [f"{step.name}: done."]


def _dbt_lines(step: StepScript, ctx: StepContext) -> tuple[LogLine, ...]:
    """Header early, one START/result pair per node spread over the step, summary at the end."""
    head = [
        f"Running with dbt={DBT_VERSION}",
        f"Registered adapter: {ADAPTER}={DBT_VERSION}",
    ]
    sub = step.dbt_subcommand
    if sub == "deps":
        texts = [
            *head[:1],
            f"Updating lock file in file path: {ctx.project_dir}/package-lock.yml",
            "Installing dbt-labs/dbt_utils",
            "Installed from version 1.3.0",
            "Up to date!",
        ]
        return _spread(texts, 0.0, step.duration)
    head += [
        f"Found {_project_counts(step.results)}, 471 macros",
        "",
        f"Concurrency: {ctx.threads} threads (target='{ctx.target_name}')",
        "",
    ]
    lines = list(_spread(head, 0.0, step.duration * 0.1))
    body_start, body_end = step.duration * 0.1, step.duration * 0.95
    total_time = sum(r.execution_time for r in step.results) or 1.0
    clock = body_start
    for i, result in enumerate(step.results, start=1):
        counter = f"{i} of {len(step.results)}"
        if result.status != "skipped":  # dbt prints no START for a node it skips
            lines.append(
                LogLine(clock, _dotted(f"{counter} START {_describe(result, ctx)}", "RUN"))
            )
        clock += (body_end - body_start) * result.execution_time / total_time
        lines.append(LogLine(clock, _dotted(f"{counter} {_done(result, ctx)}", _tag(result))))
    if sub == "docs generate":
        tail = [
            "Building catalog",
            f"Catalog written to {ctx.project_dir}/catalog.json",
        ]
    elif not step.results:
        tail = (
            ["Nothing to do. Try checking your model configs and model specification args"]
            if step.outcome == 10
            else [
                "Encountered an error:",
                f"Runtime Error\n  `{step.command}` exited with an error.",
            ]
        )
    else:
        tail = _summary(step)
    lines += _spread(tail, step.duration * 0.95, step.duration)
    return tuple(lines)


_FUSION_VERBS = {
    "success": "Succeeded",
    "pass": "Passed",
    "fail": "Failed",
    "error": "Failed",
    "runtime error": "Failed",
    "warn": "Warned",
    "skipped": "Skipped",
    "reused": "Skipped",
}


def _fusion_lines(step: StepScript, ctx: StepContext) -> tuple[LogLine, ...]:
    """dbt Fusion's console: one line per node as it ends, an error's message after its
    line, then the execution summary (dbt-labs/dbt-fusion#1539)."""
    lines = list(_spread([f"dbt-fusion {FUSION_VERSION}", "   Loading profiles.yml"], 0.0, 1.0))
    body_start, body_end = step.duration * 0.1, step.duration * 0.95
    total_time = sum(r.execution_time for r in step.results) or 1.0
    clock = body_start
    for result in step.results:
        clock += (body_end - body_start) * result.execution_time / total_time
        lines.append(LogLine(clock, _fusion_node_line(result, ctx)))
        if result.status in ("error", "runtime error", "fail") and result.message:
            first, *rest = result.message.splitlines()
            lines += [LogLine(clock, f"error: {first}"), *(LogLine(clock, r) for r in rest)]
    statuses = Counter(_FUSION_VERBS[r.status] for r in step.results)
    errors = statuses["Failed"]
    kinds = Counter(r.resource_type for r in step.results)
    tail = [
        "",
        "==================== Execution Summary =====================",
        f"Finished '{step.dbt_subcommand}' with {errors} error{'s' if errors != 1 else ''} "
        f"for target '{ctx.target_name}' [{step.duration:.1f}s]",
        "Processed: "
        + ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(kinds.items())),
        f"Summary: {len(step.results)} total | "
        f"{statuses['Succeeded'] + statuses['Passed']} success | {errors} error | "
        f"{statuses['Skipped']} skipped",
    ]
    return tuple(lines) + _spread(tail, step.duration * 0.95, step.duration)


def _fusion_node_line(result: NodeResult, ctx: StepContext) -> str:
    verb = _FUSION_VERBS[result.status]
    took = "[-------]" if verb == "Skipped" else f"[{result.execution_time:6.2f}s]"
    materialized = {"model": " (table)", "seed": " (seed)", "snapshot": " (snapshot)"}
    suffix = materialized.get(result.resource_type, "")
    return f"{verb:>10} {took} {result.resource_type:<5} {ctx.schema}.{result.name}{suffix}"


def _spread(texts: list[str], start: float, end: float) -> tuple[LogLine, ...]:
    spacing = (end - start) / max(1, len(texts))
    return tuple(LogLine(start + i * spacing, text) for i, text in enumerate(texts))


def _project_counts(results: tuple[NodeResult, ...]) -> str:
    counts = Counter(r.resource_type for r in results)
    words = {"model": "models", "test": "data tests", "seed": "seeds", "snapshot": "snapshots"}
    parts = [f"{counts.get(kind, 0)} {plural}" for kind, plural in words.items()]
    return ", ".join([*parts, "2 sources"])


def _dotted(text: str, tag: str) -> str:
    return f"{text} {'.' * max(3, _LINE_WIDTH - len(text))} [{tag}]"


def _describe(result: NodeResult, ctx: StepContext) -> str:
    relation = f"{ctx.schema}.{result.name}"
    return {
        "test": f"test {result.name}",
        "seed": f"seed file {relation}",
        "snapshot": f"snapshot {relation}",
    }.get(result.resource_type, f"sql table model {relation}")


def _done(result: NodeResult, ctx: StepContext) -> str:
    relation = f"{ctx.schema}.{result.name}"
    if result.status == "skipped":
        return f"SKIP {'test' if result.resource_type == 'test' else 'relation'} " + (
            result.name if result.resource_type == "test" else relation
        )
    if result.resource_type == "test":
        word = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}.get(result.status, "ERROR")
        count = f" {failures(result)}" if result.status in ("fail", "warn") else ""
        return f"{word}{count} {result.name}"
    if result.status in ("error", "runtime error"):
        return f"ERROR creating {_describe(result, ctx)}"
    verb = {"seed": "loaded", "snapshot": "snapshotted"}.get(result.resource_type, "created")
    return f"OK {verb} {_describe(result, ctx)}"


def _tag(result: NodeResult) -> str:
    seconds = f"in {result.execution_time:.2f}s"
    if result.status == "skipped":
        return "SKIP"
    if result.status in ("fail", "warn"):
        return f"{result.status.upper()} {failures(result)} {seconds}"
    if result.status in ("error", "runtime error"):
        return f"ERROR {seconds}"
    if result.resource_type == "test":
        return f"PASS {seconds}"
    return f"{result.message or 'SUCCESS 1'} {seconds}"


def failures(result: NodeResult) -> int | None:
    """run_results' `failures`: failing rows for tests (from dbt's message), None for models."""
    if result.resource_type != "test":
        return None
    if result.status in ("pass", "skipped"):
        return 0
    match = _FAILURES.search(result.message or "")
    return int(match.group(1)) if match else 1


def _summary(step: StepScript) -> list[str]:
    results = step.results
    errors = [r for r in results if r.status in ("error", "fail", "runtime error")]
    warns = [r for r in results if r.status == "warn"]
    counts = Counter(r.resource_type for r in results)
    elapsed = step.duration
    ran = ", ".join(
        f"{n} {_KIND_WORDS.get(kind, kind)}{'s' if n != 1 else ''}"
        for kind, n in sorted(counts.items())
    )
    lines = [
        "",
        f"Finished running {ran} in 0 hours {int(elapsed // 60)} minutes and "
        f"{elapsed % 60:.2f} seconds ({elapsed:.2f}s).",
        "",
    ]
    if errors or warns:
        lines += [
            f"Completed with {len(errors)} error{'s' if len(errors) != 1 else ''}, "
            f"0 partial successes, and {len(warns)} warning{'s' if len(warns) != 1 else ''}:",
            "",
        ]
        for result in errors + warns:
            lines += [*node_failure_text(result).splitlines(), ""]
    else:
        lines += ["Completed successfully", ""]
    passed = sum(1 for r in results if r.status in ("success", "pass"))
    skipped = sum(1 for r in results if r.status == "skipped")
    lines.append(
        f"Done. PASS={passed} WARN={len(warns)} ERROR={len(errors)} SKIP={skipped} "
        f"NO-OP=0 TOTAL={len(results)}"
    )
    return lines


def node_failure_text(result: NodeResult) -> str:
    """How dbt reports a failed node in its end-of-run summary."""
    if result.resource_type == "test":
        kind = "Warning" if result.status == "warn" else "Failure"
        return (
            f"{kind} in test {result.name} (models/schema.yml)\n  {result.message or ''}\n\n"
            f"  compiled code at target/compiled/{result.package}/models/schema.yml/"
            f"{result.name}.sql"
        )
    message = result.message or "Runtime Error"
    if " in model " in message.splitlines()[0]:
        return message
    return f"Runtime Error in model {result.name} (models/{result.name}.sql)\n  {message}"


def step_failure_message(step: StepScript) -> str:
    """The run's status_message when this step failed: the first failure dbt reported."""
    failed = [r for r in step.results if r.status in ("error", "fail", "runtime error")]
    if failed:
        return node_failure_text(failed[0]).split("\n\n")[0]
    if step.command is None and step.logs:  # a system step: its last words, e.g. git's error
        return step.logs.splitlines()[-1]
    return f"Step {step.name!r} failed."


# ----- artifacts ---------------------------------------------------------------------------


def _invocation_id(run_id: int, step_index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbt-cloud-emulator/run/{run_id}/{step_index}"))


def _metadata(
    kind: str, version: str, generated_at: datetime, invocation_id: str
) -> dict[str, Any]:
    return {
        "dbt_schema_version": f"https://schemas.getdbt.com/dbt/{kind}/{version}.json",
        "dbt_version": DBT_VERSION,
        "generated_at": _z(generated_at),
        "invocation_id": invocation_id,
        "env": {},
    }


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _relation(result: NodeResult, ctx: StepContext) -> str | None:
    if result.resource_type == "test":
        return None
    return f"ANALYTICS.{ctx.schema.upper()}.{result.name.upper()}"


def run_results(
    step: StepScript, ctx: StepContext, step_index: int, started: datetime, finished: datetime
) -> dict[str, Any]:
    """run_results.json (schema v6) for one step, as dbt writes it."""
    if ctx.fusion:
        return _fusion_run_results(step, ctx, step_index, started, finished)
    step = _written(step)
    clock = started
    results: list[dict[str, Any]] = []
    for result in step.results:
        executed = result.status != "skipped"
        node_start, clock = clock, clock + timedelta(seconds=result.execution_time)
        timing = [
            {"name": "compile", "started_at": _z(node_start), "completed_at": _z(node_start)},
            {"name": "execute", "started_at": _z(node_start), "completed_at": _z(clock)},
        ]
        results.append(
            {
                "status": result.status,
                "timing": timing if executed else [],
                "thread_id": f"Thread-{len(results) % ctx.threads + 1} (worker)",
                "execution_time": result.execution_time,
                "adapter_response": _adapter_response(result),
                "message": result.message,
                "failures": failures(result),
                "unique_id": result.unique_id,
                "compiled": executed,
                "compiled_code": _compiled_code(result, ctx) if executed else None,
                "relation_name": _relation(result, ctx),
                "batch_results": None,
            }
        )
    metadata = _metadata("run-results", "v6", finished, _invocation_id(ctx.run_id, step_index))
    metadata["invocation_started_at"] = _z(started)
    return {
        "metadata": metadata,
        "results": results,
        "elapsed_time": round((finished - started).total_seconds(), 3),
        "args": {
            "which": step.dbt_subcommand.replace("docs generate", "generate"),
            "invocation_command": step.command,
            "target": ctx.target_name,
            "threads": ctx.threads,
            "project_dir": ctx.project_dir,
            "profiles_dir": "/home/dbt/.dbt",
            "quiet": False,
            "log_format": "default",
        },
    }


def _fusion_run_results(
    step: StepScript, ctx: StepContext, step_index: int, started: datetime, finished: datetime
) -> dict[str, Any]:
    """run_results.json as dbt Fusion writes it: erroring nodes left out, no `message`, no
    `compiled*` or `batch_results`, `failures` on tests that ran only, reuses `skipped`."""
    clock = started
    results: list[dict[str, Any]] = []
    for result in step.results:
        node_start, clock = clock, clock + timedelta(seconds=result.execution_time)
        if result.status in ("error", "runtime error"):
            continue  # dbt-labs/dbt-fusion#1130
        skipped = result.status in ("skipped", "reused")
        entry: dict[str, Any] = {
            "status": "skipped" if skipped else result.status,
            "timing": []
            if skipped
            else [{"name": "execute", "started_at": _z(node_start), "completed_at": _z(clock)}],
            "thread_id": f"Thread-{len(results) % ctx.threads + 1}",
            "execution_time": 0.0 if skipped else result.execution_time,
            "adapter_response": _adapter_response(result),
            "unique_id": result.unique_id,
            "relation_name": _relation(result, ctx),
        }
        if result.resource_type == "test" and not skipped:
            entry["failures"] = failures(result)
        results.append(entry)
    metadata = _metadata("run-results", "v6", finished, _invocation_id(ctx.run_id, step_index))
    metadata["dbt_version"] = FUSION_VERSION
    return {
        "metadata": metadata,
        "results": results,
        "elapsed_time": round((finished - started).total_seconds(), 3),
        "args": {"which": step.dbt_subcommand, "target": ctx.target_name},
    }


def _compiled_code(result: NodeResult, ctx: StepContext) -> str:
    """Illustrative compiled SQL (never executed: the emulator has no warehouse)."""
    source = f"{result.name}_failures" if result.resource_type == "test" else f"stg_{result.name}"
    return f"select * from {ctx.schema}.{source}"  # noqa: S608 - text in an artifact, never run


def _adapter_response(result: NodeResult) -> dict[str, Any]:
    if result.status in ("skipped", "error", "runtime error") or result.resource_type == "test":
        return {}
    return {"_message": result.message or "SUCCESS 1", "code": "SUCCESS", "rows_affected": 1}


def manifest(
    project_results: tuple[NodeResult, ...], ctx: StepContext, step_index: int, at: datetime
) -> dict[str, Any]:
    """manifest.json (schema v12) with the project's nodes: those any step of the job touches.

    Edges come from each result's `depends_on`. dbt Core's child_map has a key per node; dbt
    Fusion's leaves out the nodes without children (dagster-io/dagster#32265) and its `path`
    is `original_file_path` (dbt-labs/dbt-fusion#198)."""
    unique = _unique(project_results)
    nodes = {result.unique_id: _manifest_node(result, ctx) for result in unique}
    children: dict[str, list[str]] = {unique_id: [] for unique_id in nodes}
    for result in unique:
        for parent in result.depends_on:
            children.setdefault(parent, []).append(result.unique_id)
    if ctx.fusion:
        children = {parent: kids for parent, kids in children.items() if kids}
    metadata = _metadata("manifest", "v12", at, _invocation_id(ctx.run_id, step_index))
    project = next(iter(nodes.values()))["package_name"] if nodes else "jaffle_shop"
    metadata.update(project_name=project, adapter_type=ADAPTER)
    empty = (
        "sources",
        "macros",
        "docs",
        "exposures",
        "metrics",
        "groups",
        "selectors",
        "disabled",
        "group_map",
        "saved_queries",
        "semantic_models",
        "unit_tests",
    )
    return {
        "metadata": metadata,
        "nodes": nodes,
        **{name: {} for name in empty},
        "parent_map": {r.unique_id: list(r.depends_on) for r in unique},
        "child_map": children,
    }


def _manifest_node(result: NodeResult, ctx: StepContext) -> dict[str, Any]:
    kind = result.resource_type
    path = {"test": "schema.yml", "seed": f"{result.name}.csv"}.get(kind, f"{result.name}.sql")
    folder = {"seed": "seeds", "snapshot": "snapshots"}.get(kind, "models")
    materialized = {"test": "test", "seed": "seed", "snapshot": "snapshot"}.get(kind, "table")
    original = f"{folder}/{path}"
    properties: dict[str, Any] = {}
    if kind == "test":  # a generic test declared in models/schema.yml on its first parent
        attached = result.depends_on[0] if result.depends_on else None
        model = attached.rsplit(".", 1)[-1] if attached else None
        properties = {
            "attached_node": attached,
            "file_key_name": f"models.{model}" if model else None,
            "column_name": result.column,
            "test_metadata": {
                "name": result.name.split("_", 1)[0],
                "kwargs": {"column_name": result.column, "model": f"{{{{ ref('{model}') }}}}"},
                "namespace": None,
            },
        }
    elif kind in ("model", "snapshot", "seed"):
        properties = {"patch_path": f"{result.package}://{folder}/schema.yml"}
    return {
        **properties,
        "database": "ANALYTICS",
        "schema": ctx.schema,
        "name": result.name,
        "resource_type": kind,
        "package_name": result.package,
        "path": original if ctx.fusion else path,
        "original_file_path": original,
        "unique_id": result.unique_id,
        "fqn": [result.package, result.name],
        "alias": result.name,
        "config": {"enabled": True, "materialized": materialized},
        "tags": [],
        "description": "",
        "columns": {},
        "depends_on": {"macros": [], "nodes": list(result.depends_on)},
        "relation_name": _relation(result, ctx),
    }


def catalog(
    project_results: tuple[NodeResult, ...], ctx: StepContext, step_index: int, at: datetime
) -> dict[str, Any]:
    """catalog.json (schema v1): table metadata for the project's models, seeds and snapshots."""
    nodes = {
        r.unique_id: {
            "metadata": {
                "type": "BASE TABLE",
                "schema": ctx.schema.upper(),
                "name": r.name.upper(),
                "database": "ANALYTICS",
                "comment": None,
                "owner": "TRANSFORMER",
            },
            "columns": {"ID": {"type": "NUMBER", "index": 1, "name": "ID", "comment": None}},
            "stats": {},
            "unique_id": r.unique_id,
        }
        for r in _unique(project_results)
        if r.resource_type != "test"
    }
    return {
        "metadata": _metadata("catalog", "v1", at, _invocation_id(ctx.run_id, step_index)),
        "nodes": nodes,
        "sources": {},
        "errors": None,
    }


def _unique(results: tuple[NodeResult, ...]) -> list[NodeResult]:
    return list({r.unique_id: r for r in results}.values())


PARQUET_MAGIC = b"PAR1"


def telemetry_name(step_index: int) -> str:
    """A dbt Fusion step's OpenTelemetry artifact, as the spec names it."""
    return f"metadata/telemetry-{step_index}-otel.parquet"


def fusion_telemetry(step_index: int) -> bytes:
    """A stand-in for that artifact: Parquet's magic at both ends, served as
    `application/x-parquet` like the real one. Not a Parquet file (writing one needs pyarrow):
    the action stores it when asked and never reads it."""
    return PARQUET_MAGIC + f"emulated OTel telemetry of step {step_index}".encode() + PARQUET_MAGIC
