"""The host variant's virtual environment: where it lives, its cache key, and building it.

Run by the runner's own Python (3.11+), so standard library only. The venv holds exactly
requirements/runtime.txt, installed with --require-hashes from wheels (the same lock the image
installs). Its key names everything a venv depends on: the OS and architecture, the
interpreter's implementation, full version and location (a venv points at its base
interpreter), and the lock's SHA-256; the key is also the directory name, so a venv left by an
earlier job on a persistent runner is used again only when it is the same.

    python runtime_venv.py plan   outputs: venv, key, python, base-python, ready (true: use it)
    python runtime_venv.py build  builds the venv unless a restored one is complete; outputs: built
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ACTION_ROOT = Path(__file__).resolve().parent.parent
LOCK = ACTION_ROOT / "requirements" / "runtime.txt"
# Written last, holding the key: a venv without it was cut short and is built again.
COMPLETE_MARKER = "dbt-cloud-action-venv.key"


class VenvPlan(NamedTuple):  # not a dataclass: this runs before every step, imports cost time
    key: str
    venv: Path
    python: Path  # the venv's interpreter

    def outputs(self, base_python: str) -> dict[str, str]:
        return {
            "venv": str(self.venv),
            "key": self.key,
            "python": str(self.python),
            "base-python": base_python,
            "ready": "true" if is_complete(self) else "false",
        }


def venv_key(
    *, system: str, machine: str, implementation: str, version: str, base: str, lock: bytes
) -> str:
    """The cache key: readable where it helps (OS, Python), hashed where it is long."""
    lock_hash = hashlib.sha256(lock).hexdigest()[:16]
    base_hash = hashlib.sha256(base.encode()).hexdigest()[:8]
    return (
        f"dbt-cloud-action-venv-{system}-{machine}-{implementation}{version}-{base_hash}-"
        f"{lock_hash}".lower()
    )


def venv_interpreter(root: Path, system: str) -> Path:
    """Windows venvs keep the interpreter in Scripts\\python.exe, the others in bin/python."""
    return root / "Scripts" / "python.exe" if system == "Windows" else root / "bin" / "python"


def plan(env: dict[str, str]) -> VenvPlan:
    """Where this interpreter's venv lives: under the runner's tool cache, which persists on
    self-hosted runners (GitHub-hosted ones restore it from the Actions cache), else its temp."""
    system = platform.system()
    key = venv_key(
        system=system,
        machine=platform.machine(),
        implementation=sys.implementation.name,
        version=platform.python_version(),
        base=sys.executable,
        lock=LOCK.read_bytes(),
    )
    parent = env.get("RUNNER_TOOL_CACHE") or env.get("RUNNER_TEMP") or tempfile.gettempdir()
    root = Path(parent) / "dbt-cloud-action" / key
    return VenvPlan(key=key, venv=root, python=venv_interpreter(root, system))


def is_complete(venv_plan: VenvPlan) -> bool:
    marker = venv_plan.venv / COMPLETE_MARKER
    try:
        return venv_plan.python.exists() and marker.read_text().strip() == venv_plan.key
    except OSError:
        return False


def build(venv_plan: VenvPlan) -> bool:
    """Create the venv and install the lock into it; False when a complete one is there."""
    if is_complete(venv_plan):
        return False
    import venv  # noqa: PLC0415 - only a cold start needs it

    shutil.rmtree(venv_plan.venv, ignore_errors=True)
    venv_plan.venv.parent.mkdir(parents=True, exist_ok=True)
    venv.create(venv_plan.venv, with_pip=True)
    subprocess.run(
        [
            str(venv_plan.python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "-r",
            str(LOCK),
        ],
        check=True,
    )
    (venv_plan.venv / COMPLETE_MARKER).write_text(venv_plan.key + "\n")
    return True


def write_outputs(values: dict[str, str], env: dict[str, str]) -> None:
    """Step outputs (paths and keys of ours, one line each); printed when not on a runner."""
    lines = "".join(f"{name}={value}\n" for name, value in values.items())
    if any("\n" in value or "\r" in value for value in values.values()):
        raise ValueError("a step output may not contain a line break")
    path = env.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as output:
            output.write(lines)
    else:
        sys.stdout.write(lines)


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    venv_plan = plan(env)
    match argv:
        case ["plan"]:
            write_outputs(venv_plan.outputs(sys.executable), env)
        case ["build"]:
            try:
                built = build(venv_plan)
            except (OSError, subprocess.CalledProcessError) as error:
                print(
                    f"::error title=Could not set up the action's Python environment::{error}. "
                    "Check that this runner can reach PyPI (pip's own settings apply, e.g. "
                    "PIP_INDEX_URL) and create a venv (on Debian/Ubuntu: python3-venv), or use "
                    "actions/setup-python before this step."
                )
                return 1
            write_outputs({"built": "true" if built else "false"}, env)
        case _:
            sys.stderr.write(__doc__ or "")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
