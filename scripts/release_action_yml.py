#!/usr/bin/env python3
"""Point action.yml at the published image, for the release commit only.

`main` keeps `image: Dockerfile` (every change is built and tested as users would run it); the
commit a release tag points at names the image the release workflow pushed, pinned by digest, so
users who pin a release pull it instead of building. Only that one line changes: the rest of
action.yml (inputs, outputs, post-entrypoint) must stay what was tested.

Standard library only, so the release workflow runs it on the runner's Python without a venv.

    scripts/release_action_yml.py --image ghcr.io/OWNER/REPO --digest sha256:... [action.yml]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DEVELOPMENT_IMAGE_LINE = "  image: Dockerfile"
# A registry host, then lower-case path components (GHCR and every OCI registry refuse upper case).
_IMAGE = re.compile(r"[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ReleaseError(ValueError):
    """action.yml or the image reference is not what a release expects."""


def image_reference(image: str, digest: str) -> str:
    """`docker://<image>@<digest>`, as action.yml's runs.image names a prebuilt image.

    The image name is lower-cased (GitHub repository names may contain upper case, image names
    may not); a digest that is not a full SHA-256 is refused, since a tag could be pushed again.
    """
    name = image.strip().removeprefix("docker://").lower()
    if not _IMAGE.fullmatch(name):
        raise ReleaseError(f"not an image name: {image!r} (expected e.g. ghcr.io/owner/repo)")
    if not _DIGEST.fullmatch(digest.strip()):
        raise ReleaseError(f"not an image digest: {digest!r} (expected sha256: and 64 hex digits)")
    return f"docker://{name}@{digest.strip()}"


def pin_image(action_yml: str, reference: str) -> str:
    """action.yml with its one `image: Dockerfile` line under `runs:` replaced by `reference`.

    A text edit rather than a YAML round trip, so comments, order and quoting stay as reviewed.
    """
    lines = action_yml.splitlines(keepends=True)
    runs = [i for i, line in enumerate(lines) if line.rstrip() == "runs:"]
    if len(runs) != 1:
        raise ReleaseError("action.yml must have exactly one top-level 'runs:' block")
    block_end = next(
        (i for i in range(runs[0] + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "")),
        len(lines),
    )
    targets = [
        i for i in range(runs[0] + 1, block_end) if lines[i].rstrip() == DEVELOPMENT_IMAGE_LINE
    ]
    if len(targets) != 1:
        raise ReleaseError(
            f"action.yml's runs block must contain the line {DEVELOPMENT_IMAGE_LINE.strip()!r} "
            "once (is it already a release commit?)"
        )
    newline = lines[targets[0]][len(lines[targets[0]].rstrip()) :]
    lines[targets[0]] = f"  image: {reference}{newline}"
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--image", required=True, help="e.g. ghcr.io/owner/repo")
    parser.add_argument(
        "--digest", required=True, help="sha256:<64 hex digits> of the pushed image"
    )
    parser.add_argument("action_yml", nargs="?", default="action.yml", type=Path)
    args = parser.parse_args(argv)
    try:
        reference = image_reference(args.image, args.digest)
        args.action_yml.write_text(pin_image(args.action_yml.read_text(), reference))
    except (ReleaseError, OSError) as error:
        print(f"::error::{error}", file=sys.stderr)
        return 1
    print(f"{args.action_yml}: runs.image is now {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
