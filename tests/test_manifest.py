"""manifest.read_manifest: which failing nodes go on which file of this repository."""

from __future__ import annotations

from dbt_cloud_action.manifest import NodeSource, read_manifest

MANIFEST = {
    "metadata": {"project_name": "jaffle_shop"},
    "nodes": {
        "model.jaffle_shop.orders": {
            "resource_type": "model",
            "package_name": "jaffle_shop",
            "original_file_path": "models/orders.sql",
        },
        "model.dbt_project_evaluator.fct_model_fanout": {
            "resource_type": "model",
            "package_name": "dbt_project_evaluator",
            "original_file_path": "models/marts/dag/fct_model_fanout.sql",
        },
        "model.legacy.no_package": {
            "resource_type": "model",
            "original_file_path": "models/legacy.sql",
        },
    },
}


def test_only_this_projects_nodes_are_put_on_its_files() -> None:
    """An installed package's node has its path inside that package: on this repository's
    file of the same name it would be wrong. A node without a package name counts as ours."""
    facts = read_manifest(MANIFEST, list(MANIFEST["nodes"]))  # type: ignore[call-overload]
    assert facts.sources == {
        "model.jaffle_shop.orders": NodeSource("models/orders.sql"),
        "model.legacy.no_package": NodeSource("models/legacy.sql"),
    }
