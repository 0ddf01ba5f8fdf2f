"""The host variant's virtual environment: where it lives, its cache key, and building it.

Run by the runner's own Python (3.11+), so standard library only. The venv holds exactly
requirements/runtime.txt, installed with --require-hashes from wheels (the same lock the image
installs). Its key names everything a venv depends on: the OS and architecture, the
interpreter's implementation, full version and location (a venv points at its base
interpreter), and the lock's SHA-256; the key is also the directory name. A venv found there
(left by an earlier job on a persistent runner, or restored from the Actions cache) is used only
when `check` passes: the record written inside it after the install names this lock's full
SHA-256 and this Python, and its interpreter runs and imports the engine's packages. Anything
else (a cut-short build, a cache entry built from another lock, a deleted package) is built again.

    python runtime_venv.py plan   outputs: venv, key, python, base-python, ready (true: use it)
    python runtime_venv.py build  builds the venv unless a restored one passes; outputs: built
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import NamedTuple

ACTION_ROOT = Path(__file__).resolve().parent.parent
LOCK = ACTION_ROOT / "requirements" / "runtime.txt"
# Written last, after the install: what the venv was built from. A venv without it was cut short
# (or built by an older action) and is built again.
RECORD = "dbt-cloud-action-venv.json"
# Run on the venv's interpreter before it is used: the packages the engine imports first, and
# the interpreter's own name for itself, compared with the one the venv was planned for.
PROBE = (
    "import platform, sys, requests, github, actions_toolkit; "
    "sys.stdout.write(sys.implementation.name + platform.python_version())"
)


class VenvPlan(NamedTuple):  # not a dataclass: this runs before every step, imports cost time
    key: str
    venv: PurePath  # pure, so a Windows runner's plan can be made (and tested) anywhere
    python: PurePath  # the venv's interpreter
    lock_sha256: str
    python_id: str  # implementation and full version, e.g. cpython3.12.7

    def outputs(self, base_python: str, problem: str | None) -> dict[str, str]:
        return {
            "venv": str(self.venv),
            "key": self.key,
            "python": str(self.python),
            "base-python": base_python,
            "ready": "true" if problem is None else "false",
        }

    def record(self) -> str:
        return json.dumps({"lock-sha256": self.lock_sha256, "python": self.python_id}) + "\n"


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


def venv_interpreter(root: PurePath, system: str) -> PurePath:
    """Windows venvs keep the interpreter in Scripts\\python.exe, the others in bin/python."""
    return root / "Scripts" / "python.exe" if system == "Windows" else root / "bin" / "python"


def plan_for(
    env: Mapping[str, str],
    *,
    system: str,
    machine: str,
    implementation: str,
    version: str,
    base: str,
    lock: bytes,
    temp_dir: str,
) -> VenvPlan:
    """Where the venv for this interpreter and lock lives: under the runner's tool cache, which
    persists on self-hosted runners (GitHub-hosted ones restore it from the Actions cache), else
    its temp. Paths are the runner's OS's (`C:\\hostedtoolcache\\windows\\...` on Windows)."""
    key = venv_key(
        system=system,
        machine=machine,
        implementation=implementation,
        version=version,
        base=base,
        lock=lock,
    )
    flavour = PureWindowsPath if system == "Windows" else PurePosixPath
    parent = env.get("RUNNER_TOOL_CACHE") or env.get("RUNNER_TEMP") or temp_dir
    root = flavour(parent) / "dbt-cloud-action" / key
    return VenvPlan(
        key=key,
        venv=root,
        python=venv_interpreter(root, system),
        lock_sha256=hashlib.sha256(lock).hexdigest(),
        python_id=f"{implementation}{version}",
    )


def plan(env: Mapping[str, str]) -> VenvPlan:
    """The plan for the Python running this and the lock beside it."""
    return plan_for(
        env,
        system=platform.system(),
        machine=platform.machine(),
        implementation=sys.implementation.name,
        version=platform.python_version(),
        base=sys.executable,
        lock=LOCK.read_bytes(),
        temp_dir=tempfile.gettempdir(),
    )


def record_problem(record: str | None, venv_plan: VenvPlan) -> str | None:
    """Why the venv's record says it is not this plan's venv, or None."""
    if record is None:
        return "it has no record of what it was built from (cut short, or an older action's)"
    try:
        built: object = json.loads(record)
    except ValueError:
        built = None
    if not isinstance(built, dict):
        return "its record is not what this action writes"
    if built.get("lock-sha256") != venv_plan.lock_sha256:
        return "it was built from another requirements/runtime.txt"
    if built.get("python") != venv_plan.python_id:
        return f"it was built for {built.get('python')}, not {venv_plan.python_id}"
    return None


def probe_problem(returncode: int, stdout: str, venv_plan: VenvPlan) -> str | None:
    """Why the probe's answer (PROBE run on the venv's interpreter) rules the venv out, or None."""
    if returncode != 0:
        return "its packages do not import"
    if stdout.strip() != venv_plan.python_id:
        return f"its interpreter is {stdout.strip() or 'silent'}, not {venv_plan.python_id}"
    return None


def check(venv_plan: VenvPlan) -> str | None:
    """Why the venv cannot be used as it is, or None when it can: it is there, its record names
    this lock (the full hash, not the key's prefix) and Python, and its packages import."""
    venv, python = Path(venv_plan.venv), Path(venv_plan.python)
    if not venv.is_dir():
        return "there is none yet"
    if not python.is_file():
        return "its Python interpreter is missing"
    try:
        record: str | None = (venv / RECORD).read_text(encoding="utf-8")
    except OSError:
        record = None
    problem = record_problem(record, venv_plan)
    if problem:
        return problem
    try:
        probe = subprocess.run(
            [str(python), "-I", "-c", PROBE],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "its Python interpreter does not start"
    return probe_problem(probe.returncode, probe.stdout, venv_plan)


def build(venv_plan: VenvPlan) -> bool:
    """Create the venv and install the lock into it; False when a usable one is there."""
    problem = check(venv_plan)
    if problem is None:
        return False
    print(f"Building the action's Python environment in {venv_plan.venv}: {problem}.")
    import venv  # noqa: PLC0415 - only a cold start needs it

    root = Path(venv_plan.venv)
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    venv.create(root, with_pip=True)
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
    (root / RECORD).write_text(venv_plan.record(), encoding="utf-8")
    problem = check(venv_plan)
    if problem:
        raise OSError(f"the venv just built cannot be used: {problem}")
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
            write_outputs(venv_plan.outputs(sys.executable, check(venv_plan)), env)
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
