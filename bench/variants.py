"""Issue 14: how long each way of running the action takes from the step's start to its first
dbt Cloud request, side by side, with what each downloads first.

1. Container, `image: Dockerfile` (main's action.yml): the base image is pulled, the Dockerfile
   built without cache, the container started.
2. Container, prebuilt image (a release's action.yml): the image pulled by digest, started.
3. Host variant (host/action.yml), cold: Python found, venv built from PyPI, saved, started.
4. Host variant, warm: the venv already there (a self-hosted runner's tool cache, or restored
   from the Actions cache), started.
5. In-process start-up: the entrypoint's own process start to its first request.

Stand-ins, since Docker Hub and GHCR are out of reach: the base image is the CI's Debian-made
stand-in (.ci/container-lib.sh), loaded from an archive; the published image is pushed to an OCI
layout (the manifest and gzip layers a registry holds, so its layer sizes are what a pull
downloads) and pulled from there. Containers run with podman as .ci/container-check runs them,
in an image store of their own (the shared one is left alone). The host variant runs
host/action.yml's own steps through tests/composite_runner.py, pip reading no local config
(no wheel mirror): a cold venv downloads from PyPI as a runner would. Each step is timed from
just before its first command until the emulator (on 127.0.0.1, in this process) logs the
first request; then the step is stopped.

    python bench/variants.py [--runs N]    about 2 minutes; needs root and podman (or makes them)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench. and tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench.startup import JOB_ID, JOBS, first_request, pr_runner
from tests.composite_runner import composite_run
from tests.simulated_runner import emulator_inputs

from dbt_cloud_emulator import Emulator, EmulatorConfig

ROOT = Path(__file__).resolve().parent.parent
# The container checks' work directory (.ci/container-lib.sh): podman's settings, the stand-in.
WORK = Path(os.environ.get("CONTAINER_CI_WORK", "/var/tmp/dbt-cloud-action-ci"))  # noqa: S108
BENCH = WORK / "bench-variants"
IMAGE = "localhost/dbt-cloud-action:variants"
REGISTRY = BENCH / "registry"  # the stand-in for GHCR: an OCI layout
# The base image's compressed size on Docker Hub (python:3.12-slim, linux/amd64; docs/container.md).
REAL_BASE_COMPRESSED_MB = 43.0


@dataclass(frozen=True)
class Figure:
    label: str
    seconds: list[float]
    downloads: str

    def cell(self) -> str:
        median = statistics.median(self.seconds)
        shown = f"{median * 1000:.0f} ms" if median < 1 else f"{median:.1f} s"
        return shown if len(self.seconds) == 1 else f"{shown} (median of {len(self.seconds)})"


def podman_command(*args: str) -> list[str]:
    """podman on the bench's own image store, set up as .ci/container-lib.sh sets it up."""
    return [
        "podman",
        *("--root", str(BENCH / "storage"), "--runroot", str(BENCH / "run")),
        *("--storage-driver", "overlay", "--runtime", "runc", "--cgroup-manager", "cgroupfs"),
        *("--events-backend", "file", *args),
    ]


def podman_env() -> dict[str, str]:
    return {
        **os.environ,
        "CONTAINERS_CONF": str(WORK / "containers.conf"),
        "TMPDIR": str(WORK / "tmp"),
    }


def podman(*args: str, capture: bool = False) -> str:
    command = podman_command(*args)
    done = subprocess.run(command, env=podman_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout.strip() if capture else ""


def prepare_base() -> str:
    """The stand-in base image (made once by the CI's own code), saved to an archive: what the
    build's pull of the base loads."""
    script = f"""
set -euo pipefail
REPO={ROOT}
source "$REPO/.ci/container-lib.sh"
ensure_container_tools >&2
BASE=$(base_image_name)
ensure_base_image "$BASE" >&2
mkdir -p {BENCH}
rm -f {BENCH}/base.tar
pm save -q -o {BENCH}/base.tar "$BASE"
echo "$BASE"
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"podman or the stand-in base could not be set up:\n{done.stderr}")
    return done.stdout.strip()


def empty_store() -> None:
    podman("rm", "-a", "-f")
    podman("rmi", "-a", "-f")


def until_first_request(
    emu: Emulator, started: float, start_step: Callable[[], subprocess.Popen[str]]
) -> tuple[float, subprocess.Popen[str]]:
    """Seconds from `started` to the emulator reading a request, and the step's process."""
    seen = len(emu.requests)
    proc = start_step()
    deadline = time.monotonic() + 600
    while len(emu.requests) == seen:
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate()
            raise RuntimeError(f"the step made no request:\n{out}\n{err}")
        time.sleep(0.005)
    return emu.requests[seen].received_at - started, proc


def container_step(emu: Emulator, workdir: Path, image: str, started: float) -> float:
    """`podman run` the image as the runner runs a container action (as .ci/container-check
    does): every input as INPUT_<NAME>, the runner's files mounted at the same paths."""
    runner = pr_runner(workdir)
    env = runner.environment(emulator_inputs(emu, JOB_ID))
    passed = {k: v for k, v in env.items() if k.startswith(("INPUT_", "GITHUB_", "RUNNER_", "CI"))}
    name = f"variants-{time.monotonic_ns()}"
    options = ["--rm", "--name", name, "--network=host", "-v", f"{workdir}:{workdir}"]
    options += ["--workdir", env["GITHUB_WORKSPACE"]]
    for key, value in passed.items():
        options += ["-e", f"{key}={value}"]
    command = podman_command("run", *options, image)

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            command, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    seconds, proc = until_first_request(emu, started, start)
    podman("rm", "-f", name)
    proc.communicate()
    return seconds


def compressed_sizes(base: str) -> tuple[int, int]:
    """Bytes a pull downloads: all the image's gzip layers, and those the Dockerfile adds."""
    index = json.loads((REGISTRY / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((REGISTRY / "blobs" / "sha256" / manifest_digest).read_text())
    sizes = [int(layer["size"]) for layer in manifest["layers"]]
    base_layers = int(
        podman("image", "inspect", "--format", "{{len .RootFS.Layers}}", base, capture=True)
    )
    return sum(sizes), sum(sizes[base_layers:])


def measure_containers(emu: Emulator, tmp: Path, runs: int) -> tuple[list[Figure], str]:
    base = prepare_base()
    shutil.rmtree(BENCH / "storage", ignore_errors=True)
    shutil.rmtree(REGISTRY, ignore_errors=True)
    empty_store()

    started = time.monotonic()
    podman("load", "-q", "-i", str(BENCH / "base.tar"))
    podman(
        "build", "-q", "--no-cache", "--pull=never", "--network=host",
        "--build-arg", f"BASE_IMAGE={base}", "-t", IMAGE, str(ROOT),
    )  # fmt: skip
    built = [container_step(emu, tmp / "built", IMAGE, started)]
    uncompressed = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE, capture=True))
    base_uncompressed = int(podman("image", "inspect", "--format", "{{.Size}}", base, capture=True))
    podman("push", "-q", IMAGE, f"oci:{REGISTRY}:release")
    total, added = compressed_sizes(base)

    pulled = []
    for run in range(runs):
        empty_store()
        started = time.monotonic()
        podman("pull", "-q", f"oci:{REGISTRY}:release")
        pulled.append(
            container_step(emu, tmp / f"pulled-{run}", f"localhost{REGISTRY}:latest", started)
        )
    empty_store()

    mb = 1e6
    figures = [
        Figure(
            "container, `image: Dockerfile` (main): base pulled, built without cache",
            built,
            f"the base ({REAL_BASE_COMPRESSED_MB:.0f} MB for python:3.12-slim) and the wheels",
        ),
        Figure(
            "container, prebuilt image pulled by digest (a release)",
            pulled,
            f"the image: {REAL_BASE_COMPRESSED_MB + added / mb:.0f} MB compressed",
        ),
    ]
    sizes = (
        f"Image: {uncompressed / mb:.0f} MB uncompressed on the stand-in base "
        f"({base_uncompressed / mb:.0f} MB), {total / mb:.1f} MB compressed (the gzip layers a "
        f"pull downloads), of which the Dockerfile adds {added / mb:.1f} MB "
        f"({(uncompressed - base_uncompressed) / mb:.0f} MB uncompressed). With the real "
        f"python:3.12-slim ({REAL_BASE_COMPRESSED_MB:.0f} MB compressed) a pull downloads about "
        f"{REAL_BASE_COMPRESSED_MB + added / mb:.0f} MB."
    )
    return figures, sizes


def gzip_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(directory, arcname=directory.name)
    return buffer.tell()


def measure_host(emu: Emulator, tmp: Path, runs: int) -> list[Figure]:
    bin_dir = tmp / "runner-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    tool_cache, cache_dir = tmp / "toolcache", tmp / "actions-cache"
    pip_env = {"PIP_CONFIG_FILE": os.devnull}  # no local wheel mirror: download as a runner does
    if os.environ.get("PIP_CERT"):
        pip_env["PIP_CERT"] = os.environ["PIP_CERT"]  # a TLS-inspecting proxy's CA, if any
    inputs = emulator_inputs(emu, JOB_ID)

    def host_step(name: str) -> float:
        runner = pr_runner(tmp / name)
        runner.extra_env.update(pip_env)
        composite = composite_run(
            runner,
            inputs,
            path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            tool_cache=tool_cache,
            cache_dir=cache_dir,
        )
        started = time.monotonic()
        seconds, proc = until_first_request(emu, started, lambda: composite.start()[0])
        proc.kill()
        proc.communicate()
        return seconds

    cold = [host_step("cold")]
    warm = [host_step(f"warm-{run}") for run in range(runs)]
    [venv] = (tool_cache / "dbt-cloud-action").iterdir()
    return [
        Figure("host variant, cold venv: built from PyPI and saved", cold, "the wheels from PyPI"),
        Figure(
            "host variant, warm venv (self-hosted tool cache, or restored from the Actions cache)",
            warm,
            f"none, or the cached venv: {gzip_size(venv) / 1e6:.0f} MB gzip",
        ),
    ]


def measure_in_process(emu: Emulator, tmp: Path, runs: int) -> Figure:
    runner = pr_runner(tmp / "in-process")
    inputs = emulator_inputs(emu, JOB_ID)
    first_request(emu, runner, inputs)  # warm the OS file cache
    seconds = [first_request(emu, runner, inputs).wall_ms / 1000 for _ in range(runs)]
    return Figure("in-process: the entrypoint's process start to its first request", seconds, "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs of the quick variants")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    sizes = ""
    config = EmulatorConfig(jobs=JOBS)
    with Emulator(config=config, time_scale=100.0) as emu, tempfile.TemporaryDirectory() as tmp:
        try:
            container_figures, sizes = measure_containers(emu, Path(tmp), args.runs)
            figures += container_figures
        except RuntimeError as error:
            sizes = f"Containers not measured: {str(error).splitlines()[0]}"
        figures += measure_host(emu, Path(tmp), args.runs)
        figures.append(measure_in_process(emu, Path(tmp), max(10, args.runs)))

    print("## Start-up by variant: from the step's start to the first dbt Cloud request\n")
    print("| variant | step start → first request | downloaded first |")
    print("|---|---:|---|")
    for figure in figures:
        print(f"| {figure.label} | {figure.cell()} | {figure.downloads} |")
    print(f"\n{sizes}")
    print(
        "\nGitHub's runner builds or pulls a container action's image in *Set up job*, before "
        "the step's own clock starts; the job waits for it all the same, so it counts here. "
        "The pulls and the cache restore here are local copies: on a runner they also take "
        "the download of the sizes above."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
