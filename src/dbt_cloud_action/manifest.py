"""Where each failing node lives and what it breaks, read from a run's `manifest.json`.

The fields used, as the manifest v12 schema defines them (schemas.getdbt.com/dbt/manifest/v12.json,
docs.getdbt.com/reference/artifacts/manifest-json):

- `nodes[id].original_file_path`: the file that defines the node, relative to the dbt project
  (`models/orders.sql`); for a generic test, the YAML file that declares it.
- `nodes[id].patch_path` (`package://models/schema.yml`): the YAML file holding a model's
  properties; used for a test only when it has no `original_file_path`.
- `nodes[id].attached_node` (a generic test's model, dbt >= 1.5), `file_key_name`
  (`models.orders`) and `column_name`: which entry of the YAML file declares the test.
- `child_map` (first-order children of each node) and `nodes[id].depends_on.nodes`; exposures
  in `exposures`.

The manifest has no line numbers. A generic test's line is searched for in the checked-out YAML
file (`line_in_yaml`: its model's `- name:` entry, then its column's); when the file is not
checked out or the names are not found, the annotation is on the file, with no line. A model's
error is put on its file: the line in dbt's message is the compiled SQL's, not the source's.

dbt Fusion writes the same top-level keys but fills some differently: `child_map` was empty
(dbt-labs/dbt-fusion#499), then left out the nodes without children (dagster-io/dagster#32265),
and `path` equals `original_file_path` (dbt-fusion#198). So children are the union of
`child_map` and every node's `depends_on`, and only `original_file_path` is read for paths.
Fusion's log names a failing node `model main.customers` (results.failed_nodes_in_log): it is
found by its resource type and name.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DOWNSTREAM_KINDS = frozenset({"model", "snapshot", "exposure"})
DOWNSTREAM_NAMED = 5  # the first few downstream nodes named
MAX_VISITED = 20_000  # nodes walked per failing node, whatever the project's size
MAX_GRAPH_EDGES = 30  # the Mermaid graph's bound


@dataclass(frozen=True)
class NodeSource:
    """A node's file, relative to the dbt project, and the names that find its YAML entry."""

    path: str
    yaml_names: tuple[str, ...] = ()  # e.g. ("orders", "id"): the model, then the column


@dataclass(frozen=True)
class Downstream:
    """The models, snapshots and exposures downstream of a node (walked breadth first)."""

    total: int
    first: tuple[str, ...]  # unique ids, nearest first
    bounded: bool = False  # the walk stopped at MAX_VISITED: total is a lower bound


@dataclass(frozen=True)
class ManifestFacts:
    """What the report needs of a manifest, keyed by the failing nodes' ids as reported."""

    sources: Mapping[str, NodeSource] = field(default_factory=dict)
    downstream: Mapping[str, Downstream] = field(default_factory=dict)
    edges: tuple[tuple[str, str], ...] = ()  # failing node -> downstream, for a graph
    project_name: str = ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _resolve(reported: str, nodes: Mapping[str, Any]) -> str | None:
    """The manifest id of a node as reported: its unique id, or Fusion's `kind schema.name`."""
    if reported in nodes:
        return reported
    kind, _, relation = reported.partition(" ")
    name = relation.rsplit(".", 1)[-1]
    if not (kind and name):
        return None
    return next(
        (
            uid
            for uid, node in nodes.items()
            if uid.startswith(f"{kind}.") and _mapping(node).get("name") == name
        ),
        None,
    )


def _source(node: Mapping[str, Any], nodes: Mapping[str, Any]) -> NodeSource | None:
    path = node.get("original_file_path")
    if not isinstance(path, str) or not path:
        patch = node.get("patch_path")
        path = patch.partition("://")[2] if isinstance(patch, str) else ""
    if not path:
        return None
    if node.get("resource_type") != "test" or not path.endswith((".yml", ".yaml")):
        return NodeSource(path)
    attached = _mapping(nodes.get(node.get("attached_node") or "")).get("name")
    key = node.get("file_key_name")
    owner = attached or (key.partition(".")[2] if isinstance(key, str) else "")
    column = node.get("column_name") or _mapping(
        _mapping(node.get("test_metadata")).get("kwargs")
    ).get("column_name")
    names = tuple(n for n in (owner, column) if isinstance(n, str) and n)
    return NodeSource(path, names)


def _children(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {
        parent: _strings(kids) for parent, kids in _mapping(manifest.get("child_map")).items()
    }
    for section in ("nodes", "exposures"):
        for uid, node in _mapping(manifest.get(section)).items():
            for parent in _strings(_mapping(_mapping(node).get("depends_on")).get("nodes")):
                kids = children.setdefault(parent, [])
                if uid not in kids:
                    kids.append(uid)
    return children


def _graph_edges(
    start: str, reported: str, children: Mapping[str, Sequence[str]], room: int
) -> list[tuple[str, str]]:
    """The edges below `start` (named `reported`) to its downstream models, snapshots and
    exposures, breadth first, at most `room` of them: the graph stays small whatever the
    project's size."""
    edges: list[tuple[str, str]] = []
    seen = {start}
    queue = deque([start])
    while queue and len(edges) < room:
        parent = queue.popleft()
        for kid in children.get(parent, ()):
            if kid in seen or kid.split(".", 1)[0] not in DOWNSTREAM_KINDS:
                continue
            seen.add(kid)
            edges.append((reported if parent == start else parent, kid))
            queue.append(kid)
            if len(edges) >= room:
                break
    return edges


def _walk(start: str, children: Mapping[str, Sequence[str]]) -> Downstream:
    seen = {start}
    queue = deque(children.get(start, ()))
    found: list[str] = []
    while queue and len(seen) < MAX_VISITED:
        uid = queue.popleft()
        if uid in seen:
            continue
        seen.add(uid)
        if uid.split(".", 1)[0] in DOWNSTREAM_KINDS:
            found.append(uid)
        queue.extend(children.get(uid, ()))
    return Downstream(len(found), tuple(found[:DOWNSTREAM_NAMED]), bool(queue))


def read_manifest(manifest: Mapping[str, Any], failing: Iterable[str]) -> ManifestFacts:
    """The files and downstream nodes of the `failing` nodes (ids as the report names them);
    those the manifest does not know are left out."""
    nodes = _mapping(manifest.get("nodes"))
    children = _children(manifest)
    sources: dict[str, NodeSource] = {}
    downstream: dict[str, Downstream] = {}
    edges: list[tuple[str, str]] = []
    name = _mapping(manifest.get("metadata")).get("project_name")
    project = name if isinstance(name, str) else ""
    for reported in failing:
        uid = _resolve(reported, nodes)
        if uid is None:
            continue
        node = _mapping(nodes[uid])
        source = _source(node, nodes) if _of_this_project(node, project) else None
        if source is not None:
            sources[reported] = source
        if uid.split(".", 1)[0] != "test":
            walked = _walk(uid, children)
            downstream[reported] = walked
            edges += _graph_edges(uid, reported, children, MAX_GRAPH_EDGES - len(edges))
    return ManifestFacts(sources, downstream, tuple(edges), project)


def _of_this_project(node: Mapping[str, Any], project: str) -> bool:
    """A node of an installed package has its path inside that package, not this repository:
    it is not put on a file (unknown names count as this project's)."""
    package = node.get("package_name")
    return not (project and isinstance(package, str) and package and package != project)


_YAML_NAME = re.compile(r"^(?P<indent>\s*)-?\s*name:\s*['\"]?(?P<name>[^'\"#\s]+)")


def line_in_yaml(text: str, names: Sequence[str]) -> int | None:
    """The 1-based line of the last of `names` found in turn (`- name: orders`, then, below it,
    `- name: id`), or of the first when the next is not found; None when the first is not."""
    line: int | None = None
    start = 0
    lines = text.splitlines()
    for name in names:
        hit = next(
            (
                i
                for i in range(start, len(lines))
                if (m := _YAML_NAME.match(lines[i])) and m["name"] == name
            ),
            None,
        )
        if hit is None:
            break
        line, start = hit + 1, hit + 1
    return line
