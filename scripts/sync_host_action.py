"""Copy action.yml's inputs and outputs into host/action.yml, the variant without Docker.

The two actions must offer the same interface word for word (tests/test_host_action.py checks
it); run this after changing an input or output of action.yml:

    python scripts/sync_host_action.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TOP_LEVEL = re.compile(r"^\S", re.MULTILINE)  # the next key or comment at column 0
_OUTPUT_NAME = re.compile(r"^  ([a-z0-9-]+):\s*$")


def _block(text: str, key: str) -> tuple[int, int]:
    """Start and end offsets of the top-level `key:` block, its heading line included, up to
    the next line at column 0 (a key, or a comment that belongs to what follows)."""
    start = re.search(rf"^{key}:\s*$", text, re.MULTILINE)
    if start is None:
        raise ValueError(f"no top-level {key}: block")
    following = _TOP_LEVEL.search(text, start.end())
    return start.start(), following.start() if following else len(text)


def host_outputs(container_outputs: str) -> str:
    """The container's outputs block with each output's value taken from the `run` step."""
    lines: list[str] = []
    name: str | None = None

    def close() -> None:
        if name is not None:
            while lines and not lines[-1].strip():
                lines.pop()
            lines.append(f"    value: ${{{{ steps.run.outputs.{name} }}}}")

    for line in container_outputs.rstrip("\n").splitlines():
        match = _OUTPUT_NAME.match(line)
        if match:
            close()
            name = match.group(1)
        lines.append(line)
    close()
    return "\n".join(lines) + "\n\n"


def synced(container: str, host: str) -> str:
    """host/action.yml's text with the container's inputs and outputs."""
    in_start, in_end = _block(container, "inputs")
    out_start, out_end = _block(container, "outputs")
    inputs, outputs = container[in_start:in_end], host_outputs(container[out_start:out_end])
    h_in_start, h_in_end = _block(host, "inputs")
    h_out_start, h_out_end = _block(host, "outputs")
    if not h_in_end <= h_out_start:
        raise ValueError("host/action.yml must list inputs before outputs")
    return host[:h_in_start] + inputs + host[h_in_end:h_out_start] + outputs + host[h_out_end:]


def main() -> int:
    host_path = ROOT / "host" / "action.yml"
    container = (ROOT / "action.yml").read_text(encoding="utf-8")
    host = host_path.read_text(encoding="utf-8")
    new = synced(container, host)
    if new != host:
        host_path.write_text(new, encoding="utf-8")
        print("host/action.yml: inputs and outputs copied from action.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
