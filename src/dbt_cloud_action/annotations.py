"""Each failing node as an annotation on its own file, within what GitHub shows.

The files come from the run's manifest (manifest.py): a model's, seed's or snapshot's own file,
a generic test's YAML file, on its line when the checked-out file shows it (the manifest has
no line numbers). Paths in the manifest are relative to the dbt project; the annotation's are
relative to the repository, so the project's folder (`project-subdirectory`, else the dbt Cloud
project's `dbt_project_subdirectory`) is put before them.

GitHub shows at most 10 error annotations per step (and 50 per job, all steps together;
actions/toolkit docs/problem-matchers.md): the step's own error annotations count first, the
files get the rest, in the order of the results table, and the summary says how many are not
shown. A check run (`check-run: true`) takes them all, 50 per request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dbt_cloud_action.inputs import relative_path_problem
from dbt_cloud_action.manifest import line_in_yaml
from dbt_cloud_action.reporting import RunReport, plain_text, reconciled, truncate
from dbt_cloud_action.results import NodeResult, StatusBucket

_TITLE_CHARS = 200
_MESSAGE_CHARS = 2000
_YAML_MAX_BYTES = 1 << 20  # a YAML file read to find a test's line


@dataclass(frozen=True)
class FileAnnotation:
    file: str  # relative to the repository, with /
    line: int | None  # None: on the file, the line is not known
    title: str
    message: str
    unique_id: str = ""


@dataclass(frozen=True)
class AnnotationPlan:
    shown: tuple[FileAnnotation, ...] = ()
    hidden: int = 0  # beyond GitHub's limit: in the summary's table (and the check run)


def _safe_relative(path: str) -> str | None:
    """`path` as a repository-relative POSIX path, or None when it leaves the repository (or
    is a drive, UNC or control-character path: the inputs' own rule, `relative_path_problem`)."""
    posix = path.replace("\\", "/")
    if not posix or relative_path_problem(posix) is not None or posix.startswith("//"):
        return None
    return str(PurePosixPath(posix))


def workspace_reader(workspace: str) -> Callable[[str], str | None]:
    """Reads a checked-out YAML file of the workspace (None when absent, too large, or not
    inside the workspace), to find a test's line."""
    root = Path(workspace).resolve() if workspace else None

    def read(relative: str) -> str | None:
        if root is None or not relative.endswith((".yml", ".yaml")):
            return None
        try:  # a link loop or a NUL in a manifest's path: no line, never a crash
            path = (root / relative).resolve()
            if not path.is_relative_to(root) or path.stat().st_size > _YAML_MAX_BYTES:
                return None
            return path.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError, ValueError):
            return None

    return read


def _verb(node: NodeResult) -> str:
    return "failed" if node.bucket is StatusBucket.FAIL else "errored"


def node_title(node: NodeResult, mark: str = "") -> str:
    """`dbt test unique_orders_id failed (new)`."""
    name = node.unique_id.replace(" ", ".").rsplit(".", 1)[-1]
    kind = node.resource_type or "node"
    title = f"dbt {kind} {name} {_verb(node)}" + (f" ({mark})" if mark else "")
    return truncate(" ".join(plain_text(title).split()), _TITLE_CHARS)


def report_annotations(
    report: RunReport, read: Callable[[str], str | None]
) -> tuple[FileAnnotation, ...]:
    """One annotation per failing node the manifest places, in the results table's order."""
    facts = report.facts
    if facts is None:
        return ()
    _, digest = reconciled(report)
    if digest is None:
        return ()
    found: list[FileAnnotation] = []
    for node in digest.problems:
        source = facts.sources.get(node.unique_id)
        file = _safe_relative(
            str(PurePosixPath(report.project_subdirectory or ".", source.path)) if source else ""
        )
        if source is None or file is None:
            continue
        text = read(file) if source.yaml_names else None
        line = line_in_yaml(text, source.yaml_names) if text else None
        message = plain_text(node.message).strip() or f"{_verb(node).capitalize()} in dbt Cloud."
        downstream = facts.downstream.get(node.unique_id)
        if downstream is not None and downstream.total:
            names = ", ".join(uid.rsplit(".", 1)[-1] for uid in downstream.first)
            more = "" if downstream.total <= len(downstream.first) else ", …"
            message += f"\nDownstream: {downstream.total} ({names}{more})."
        found.append(
            FileAnnotation(
                file,
                line,
                node_title(node, report.marks.get(node.unique_id, "")),
                truncate(message, _MESSAGE_CHARS),
                node.unique_id,
            )
        )
    return tuple(found)


def plan_annotations(annotations: Sequence[FileAnnotation], room: int) -> AnnotationPlan:
    """The first `room` annotations shown; the rest counted."""
    room = max(0, room)
    return AnnotationPlan(tuple(annotations[:room]), max(0, len(annotations) - room))


def summary_line(plan: AnnotationPlan, per_step: int) -> str:
    """What the job summary says of the file annotations ('' when there are none)."""
    shown = len(plan.shown)
    if not (shown or plan.hidden):
        return ""
    nodes = "1 failing node annotated on its file" if shown == 1 else ""
    line = "_" + (nodes or f"{shown} failing nodes annotated on their files")
    if plan.hidden:
        line += (
            f"; {plan.hidden} more not shown as annotations (GitHub shows at most {per_step} "
            "error annotations per step): see the table above"
        )
    return line + "._"
