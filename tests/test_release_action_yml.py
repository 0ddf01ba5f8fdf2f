"""The release commit's action.yml: only runs.image changes, to the pushed image by digest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scripts.release_action_yml import ReleaseError, image_reference, pin_image

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_only_the_image_changes_in_the_real_action_yml() -> None:
    before = (ROOT / "action.yml").read_text()
    after = pin_image(before, image_reference("ghcr.io/octo/dbt-cloud-action", DIGEST))
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert new["runs"] == {
        **old["runs"],
        "image": f"docker://ghcr.io/octo/dbt-cloud-action@{DIGEST}",
    }
    assert {k: v for k, v in new.items() if k != "runs"} == {
        k: v for k, v in old.items() if k != "runs"
    }
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        ("  image: Dockerfile", f"  image: docker://ghcr.io/octo/dbt-cloud-action@{DIGEST}")
    ]


def test_repository_names_are_lower_cased_for_the_registry() -> None:
    assert image_reference("ghcr.io/Octo-Org/DBT-Cloud-Action", DIGEST) == (
        f"docker://ghcr.io/octo-org/dbt-cloud-action@{DIGEST}"
    )


@pytest.mark.parametrize(
    "digest",
    ["latest", "sha256:abc", "sha256:" + "G" * 64, "sha512:" + "0" * 128, "", DIGEST + "0"],
)
def test_anything_but_a_full_sha256_digest_is_refused(digest: str) -> None:
    with pytest.raises(ReleaseError, match="digest"):
        image_reference("ghcr.io/octo/repo", digest)


@pytest.mark.parametrize("image", ["", "repo", "ghcr.io/", "ghcr.io/octo/repo:v1", "ghcr.io/a b/c"])
def test_malformed_image_names_are_refused(image: str) -> None:
    with pytest.raises(ReleaseError, match="image name"):
        image_reference(image, DIGEST)


def test_an_action_yml_already_pinned_is_refused() -> None:
    reference = image_reference("ghcr.io/octo/repo", DIGEST)
    pinned = pin_image((ROOT / "action.yml").read_text(), reference)
    with pytest.raises(ReleaseError, match="already a release commit"):
        pin_image(pinned, reference)


def test_an_image_line_outside_runs_is_not_touched() -> None:
    text = "inputs:\n  x:\n    description: |\n  image: Dockerfile\nruns:\n  using: docker\n"
    with pytest.raises(ReleaseError, match="runs block"):
        pin_image(text, image_reference("ghcr.io/octo/repo", DIGEST))


def test_the_command_rewrites_the_file_and_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "action.yml"
    target.write_text((ROOT / "action.yml").read_text())
    script = [sys.executable, str(ROOT / "scripts" / "release_action_yml.py")]
    ok = subprocess.run(
        [*script, "--image", "ghcr.io/Octo/Repo", "--digest", DIGEST, str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert (
        yaml.safe_load(target.read_text())["runs"]["image"]
        == f"docker://ghcr.io/octo/repo@{DIGEST}"
    )
    again = subprocess.run(
        [*script, "--image", "ghcr.io/octo/repo", "--digest", DIGEST, str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert again.stderr.startswith("::error::") and "Traceback" not in again.stderr
