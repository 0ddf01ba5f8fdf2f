"""Issue 17, item 7: peak memory of the entrypoint while it downloads a large artifact.

The real entrypoint runs in a simulated runner (tests/simulated_runner.py) against the emulator
and saves `manifest.json` of a `dbt docs generate` job (so no run_results.json is read for the
summary: the download is the only large body), the emulator padding each artifact with spaces
to the size asked for (`artifact_padding`, served a chunk at a time) and
`DBT_CLOUD_ACTION_MAX_ARTIFACT_MB` raised above it. Beside it, for contrast, a process that
reads the same artifact whole into memory (`requests.get(...).content`, what the client did
before it streamed). Each figure is one process's maximum resident set size: each size is
measured in a child of its own, where RUSAGE_CHILDREN is the entrypoint (its only child then)
and `os.wait4` gives the reader's.

    python bench/memory.py [--sizes 16 128 512]   # MiB; about 20 s for the default sizes
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.simulated_runner
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.simulated_runner import SimulatedRunner, emulator_inputs

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript

JOB_ID = 51
STEPS = (
    StepScript("Clone git repository", duration=1),
    StepScript("Invoke dbt with `dbt docs generate`", "dbt docs generate", duration=2),
)
WHOLE = (
    "import requests, sys; "
    "body = requests.get(sys.argv[1], headers={'Authorization': 'Token ' + sys.argv[2]}).content; "
    "print(len(body))"
)


def measure(size_mib: int) -> dict[str, float]:
    """In a child process of its own: the entrypoint's peak RSS saving a `size_mib` artifact,
    then (in another grandchild) reading it whole; MB each, and the file's size."""
    job = JobScript(JOB_ID, "Docs", STEPS, queue_seconds=1, artifact_padding=size_mib << 20)
    with (
        Emulator(config=EmulatorConfig(jobs=(job,)), time_scale=100.0) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        cap = {"DBT_CLOUD_ACTION_MAX_ARTIFACT_MB": str(size_mib + 1)}
        runner = SimulatedRunner(Path(tmp), event_name="push", env=cap)
        inputs = emulator_inputs(emu, JOB_ID, artifacts="manifest.json", **{"poll-interval": "1"})
        result = runner.run(inputs, timeout=600)
        if result.exit_code != 0 or result.outputs.get("artifacts") != "target/manifest.json":
            raise RuntimeError(f"the step did not save the artifact:\n{result.log}")
        saved = (runner.workspace / "target" / "manifest.json").stat().st_size
        streamed = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        run_id = result.outputs["run-id"]
        url = f"{emu.url}/api/v2/accounts/{emu.account_id}/runs/{run_id}/artifacts/manifest.json"
        reader = subprocess.Popen(
            [sys.executable, "-c", WHOLE, url, emu.token], stdout=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(reader.pid, 0)
        if status != 0:
            raise RuntimeError(f"reading the artifact whole failed ({status})")
        whole = usage.ru_maxrss / 1024
    return {"saved_mb": saved / 1e6, "streamed_mb": streamed, "whole_mb": whole}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512], help="MiB")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child's single size
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return 0

    print("## Memory: peak RSS while an artifact is downloaded\n")
    print("| artifact | saved | entrypoint, streamed to disk | read whole into memory |")
    print("|---:|---:|---:|---:|")
    for size in args.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(child.stdout)
        print(
            f"| {size} MiB | {figures['saved_mb']:.1f} MB | {figures['streamed_mb']:.1f} MB "
            f"| {figures['whole_mb']:.1f} MB |"
        )
    print(
        "\nThe entrypoint's peak is its whole process (Python, requests, the step); the "
        "other column\nis a bare `requests.get(...).content` of the same artifact."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
