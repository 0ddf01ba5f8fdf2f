"""Issue 7, benchmark 1: from process start to the first HTTP request reaching dbt Cloud.

The real entrypoint runs as a subprocess in a simulated runner (tests/simulated_runner.py) against
the emulator on loopback. The clock starts just before the process is spawned (so interpreter
start-up counts) and stops when the emulator reads the first request (its request log records
`time.monotonic()`, a system-wide clock); the process is then killed, as only its start matters.
The emulator holds its reply back, so the process waits idle until it is killed: its CPU time
(user + system) is what it spent up to the request, a figure other work on the machine changes
far less than the wall time.
The same is timed for the floor: a process that only imports `requests` and sends the same GET
(what any start-up with `requests` as the client costs on this machine). A second pass runs with
PYTHONPROFILEIMPORTTIME (`-X importtime`) to list what was imported on that path, and whole runs
check that PyGithub is loaded only when a GitHub feature needs it.

    python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.simulated_runner
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, NodeResult, StepScript

TARGET_MS = 150.0
HEAVY_MS = 10.0  # an import that costs this much on the path is flagged
MINOR_MS = 1.0  # cheaper imports are summed in one row
# The first request's reply is held back this long: the process is killed while it waits idle.
HELD_ENDPOINT = "get_job"
HOLD_SECONDS = 0.3
JOB_ID = 11
JOBS = (
    JobScript(
        JOB_ID,
        "CI build",
        (
            StepScript(
                "Invoke dbt with `dbt build`",
                "dbt build",
                2,
                results=(NodeResult("model.shop.orders", "success", 1.0),),
            ),
        ),
        queue_seconds=1,
    ),
)
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass(frozen=True)
class ImportedModule:
    name: str
    self_ms: float
    cumulative_ms: float  # with everything it imported first
    children: tuple[ImportedModule, ...]

    @property
    def package(self) -> str:
        return self.name.split(".")[0]

    @property
    def ours(self) -> bool:
        return self.package == "dbt_cloud_action"


@dataclass(frozen=True)
class FirstRequest:
    wall_ms: float  # from spawning the process to the emulator reading its first request
    cpu_ms: float  # the process's user + system time (it is idle after sending the request)
    endpoint: str
    stderr: str  # up to then


@dataclass(frozen=True)
class Cost:
    modules: int
    ms: float


def parse_importtime(stderr: str) -> list[ImportedModule]:
    """The import tree `-X importtime` reported: the modules imported at the top level."""
    pending: dict[int, list[ImportedModule]] = {}
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            depth = len(indent) // 2
            children = tuple(pending.pop(depth + 1, []))
            module = ImportedModule(name, int(self_us) / 1000, int(cumulative_us) / 1000, children)
            pending.setdefault(depth, []).append(module)
    return pending.get(0, [])


def walk(modules: Sequence[ImportedModule]) -> Iterator[ImportedModule]:
    for module in modules:
        yield module
        yield from walk(module.children)


def import_costs(roots: Sequence[ImportedModule]) -> dict[str, Cost]:
    """Import cost by what our code asked for: each of our modules (its own time), each package
    it imports from elsewhere (with everything that pulls in), and the interpreter's start-up."""
    costs: dict[str, Cost] = {}

    def add(name: str, modules: int, ms: float) -> None:
        before = costs.get(name, Cost(0, 0.0))
        costs[name] = Cost(before.modules + modules, before.ms + ms)

    def size(module: ImportedModule) -> int:
        return sum(1 for _ in walk([module]))

    for root in roots:
        if not root.ours:
            add("(interpreter start-up)", size(root), root.cumulative_ms)
            continue
        for module in walk([root]):
            if module.ours:
                add(module.name, 1, module.self_ms)
                for child in module.children:
                    if not child.ours:
                        add(child.package, size(child), child.cumulative_ms)
    return costs


def package_costs(roots: Sequence[ImportedModule]) -> dict[str, float]:
    """Milliseconds per top-level package, each with what it pulls in (so nested packages count
    in their importer's figure too): where a heavy import's time really goes."""
    costs: dict[str, float] = {}

    def visit(module: ImportedModule, parent_package: str) -> None:
        if module.package != parent_package:
            costs[module.package] = costs.get(module.package, 0.0) + module.cumulative_ms
        for child in module.children:
            visit(child, module.package)

    for root in roots:
        visit(root, "")
    return costs


def first_request(
    emu: Emulator, runner: SimulatedRunner, inputs: Mapping[str, str]
) -> FirstRequest:
    """The entrypoint's start, up to its first request (the process is then killed)."""
    return first_request_of(emu, lambda: runner.start(inputs)[0])


def floor_process(emu: Emulator) -> subprocess.Popen[str]:
    """The least a Python process using `requests` does before the entrypoint's first request."""
    url = f"{emu.url}/api/v2/accounts/{emu.account_id}/jobs/{JOB_ID}/"
    code = (
        "import sys, requests; "
        "requests.get(sys.argv[1], headers={'Authorization': 'Token ' + sys.argv[2]}, timeout=10)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, url, emu.token],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_request_of(emu: Emulator, spawn: Callable[[], subprocess.Popen[str]]) -> FirstRequest:
    seen = len(emu.requests)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    held = emu.calls(HELD_ENDPOINT)  # counted when a request arrives, logged once answered
    proc = spawn()
    deadline = started + 30
    while len(emu.requests) == seen and emu.calls(HELD_ENDPOINT) == held:
        if proc.poll() is not None or time.monotonic() > deadline:
            _, stderr = proc.communicate()
            raise RuntimeError(f"the entrypoint made no request; its stderr:\n{stderr}")
        time.sleep(0.002)
    proc.kill()
    _, stderr = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    while len(emu.requests) == seen:  # the held request is logged when its reply is sent
        time.sleep(0.01)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    request = emu.requests[seen]
    return FirstRequest(
        (request.received_at - started) * 1000, cpu * 1000, request.endpoint, stderr
    )


def whole_run_imports(emu: Emulator, workdir: Path, inputs: Mapping[str, str]) -> set[str]:
    """Every module a whole run (trigger, watch, report) imported."""
    runner = pr_runner(workdir, profile_imports=True)
    result = runner.run(inputs, timeout=120)
    if result.exit_code != 0:
        raise RuntimeError(f"the run failed ({result.exit_code}):\n{result.log}")
    return {module.name for module in walk(parse_importtime(result.stderr))}


def pr_runner(workdir: Path, *, profile_imports: bool = False) -> SimulatedRunner:
    env = {"PYTHONPROFILEIMPORTTIME": "1"} if profile_imports else {}
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(workdir, event_name="pull_request", event=event, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")
    parser.add_argument("--profile-runs", type=int, default=5, help="-X importtime runs")
    args = parser.parse_args(argv)

    config = EmulatorConfig(jobs=JOBS)
    with Emulator(config=config, time_scale=100.0) as emu, tempfile.TemporaryDirectory() as tmp:
        inputs = emulator_inputs(emu, JOB_ID)
        runner = pr_runner(Path(tmp, "timed"))
        emu.faults.add(Fault(HELD_ENDPOINT, kind="delay", delay=HOLD_SECONDS))
        first_request(emu, runner, inputs)  # warm the OS file cache
        first_request_of(emu, lambda: floor_process(emu))
        ours: list[FirstRequest] = []
        floor: list[FirstRequest] = []
        for _ in range(args.runs):  # interleaved: a busy moment slows both alike
            ours.append(first_request(emu, runner, inputs))
            floor.append(first_request_of(emu, lambda: floor_process(emu)))
        profiled = pr_runner(Path(tmp, "profiled"), profile_imports=True)
        imports = [
            parse_importtime(first_request(emu, profiled, inputs).stderr)
            for _ in range(args.profile_runs)
        ]
        emu.faults.clear()
        github_on = {**inputs, "comment-on-pr": "true", "commit-status": "true"}
        github_loaded = {}
        for label, run_inputs in (
            ("defaults", inputs),
            ("comment-on-pr, commit-status", github_on),
        ):
            early = walk(parse_importtime(first_request(emu, profiled, run_inputs).stderr))
            whole = whole_run_imports(emu, Path(tmp, label), run_inputs)
            github_loaded[label] = (
                any(module.package == "github" for module in early),
                "github" in {module.split(".")[0] for module in whole},
            )

    endpoint = ours[0].endpoint
    print(f"## Start-up: process start to the first request ({endpoint}), {args.runs} runs\n")
    print("| process | median | min | p90 | max | CPU time, median | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    verdict = "met" if statistics.median(r.wall_ms for r in ours) < TARGET_MS else "MISSED"
    print(f"| entrypoint.py | {spread(ours)} | < {TARGET_MS:.0f} ms ({verdict}) |")
    print(f"| floor: `import requests` and one GET | {spread(floor)} | |")
    count = sum(1 for _ in walk(imports[0]))
    costs = [import_costs(roots) for roots in imports]
    ms = {
        name: statistics.median(c[name].ms if name in c else 0.0 for c in costs)
        for name in costs[0]
    }
    print(
        f"\n### Imported before the first request: {count} modules, "
        f"{sum(ms.values()):.0f} ms under -X importtime (median of {len(imports)} runs)\n"
    )
    print("| our module, or a package it imports (with what that pulls in) | modules | time | |")
    print("|---|---:|---:|---|")
    minor = [name for name in ms if ms[name] < MINOR_MS]
    for name in sorted(ms, key=lambda name: -ms[name]):
        if name not in minor:
            flag = "heavy" if ms[name] >= HEAVY_MS else ""
            print(f"| {name} | {costs[0][name].modules} | {ms[name]:.1f} ms | {flag} |")
    print(f"| {len(minor)} others | | {sum(ms[name] for name in minor):.1f} ms | |")

    packages = [package_costs(roots) for roots in imports]
    nested = {name: statistics.median(p.get(name, 0.0) for p in packages) for name in packages[0]}
    heavy = sorted(
        (name for name in nested if nested[name] >= HEAVY_MS and name != "dbt_cloud_action"),
        key=lambda name: -nested[name],
    )
    print(
        "\n### Heavy packages wherever they are imported (nested: a package includes its imports)\n"
    )
    print("| package | time |")
    print("|---|---:|")
    for name in heavy:
        print(f"| {name} | {nested[name]:.1f} ms |")

    print("\n### PyGithub (`github`) loaded?\n")
    print("| inputs | before the first request | whole run |")
    print("|---|---|---|")
    for label, (before_first, in_whole_run) in github_loaded.items():
        print(f"| {label} | {yes(before_first)} | {yes(in_whole_run)} |")
    return 0


def spread(runs: Sequence[FirstRequest]) -> str:
    """Wall time's median | min | p90 | max, then the median CPU time, as table cells."""
    ms = [r.wall_ms for r in runs]
    p90 = statistics.quantiles(ms, n=10)[-1] if len(ms) > 1 else ms[0]
    cpu = statistics.median(r.cpu_ms for r in runs)
    return " | ".join(f"{v:.0f} ms" for v in (statistics.median(ms), min(ms), p90, max(ms), cpu))


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


if __name__ == "__main__":
    sys.exit(main())
