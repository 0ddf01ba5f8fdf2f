"""Issue 6's fault matrix: the real entrypoint, in a simulated runner, against a faulty emulator.

Each case scripts faults on the emulator's endpoints and states what the user must see (exit
code, the `status` output, the `::error` naming what to do), how many API calls each endpoint
got, and what became of the run in dbt Cloud (exactly one, or none; ended, never left running by
mistake). Retry-After 0 on most bursts keeps the suite fast; the back-off path without it is
covered by a few cases (and by the client's unit tests on a fake clock).
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dbt_cloud_action.action import Tuning, tuning_from_env
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, NodeResult, StepScript
from tests.runner_files import parse_workflow_commands
from tests.simulated_runner import ROOT, SimulatedRunner, StepResult, load_event

TOKEN = "dbtc_faultMatrixToken_5f3a9c0e71b2d4a68e"
# Runs take about 0.6 s of real time at this scale: the first poll usually sees the run going
# and the second (1 s later) sees it ended; on a loaded machine the first may already see it
# ended, so reads of the run are counted as a range (polls plus the final read).
TIME_SCALE = 40.0
FAST_HTTP = {"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.4", "DBT_CLOUD_ACTION_RETRY_SECONDS": "3"}

BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    command="dbt build",
    duration=20,
    results=(NodeResult("model.shop.orders", "success", 3.5),),
)
CI_JOB, SLOW_JOB, STUCK_JOB, NO_ARTIFACTS_JOB, LATE_ARTIFACTS_JOB = 11, 13, 14, 15, 16
JOBS = (
    # dbt Cloud's own pull request trigger off: a CI job it also runs by itself is warned
    # about, and the outage test counts the warnings
    JobScript(
        CI_JOB, "CI build", (StepScript("Clone git repository", duration=2), BUILD), 2, triggers=()
    ),
    JobScript(SLOW_JOB, "Slow deploy", (StepScript("Run", "dbt run", 6000),), 1, "scheduled"),
    JobScript(STUCK_JOB, "Stuck in queue", (BUILD,), queue_seconds=1_000_000),
    JobScript(NO_ARTIFACTS_JOB, "No artifacts", (BUILD,), 2, artifacts="none"),
    JobScript(LATE_ARTIFACTS_JOB, "Late artifacts", (BUILD,), 2, artifacts="late:20"),
)


def reads(failed: int = 0) -> range:
    """GET runs/{id}/ calls: one or two polls and the final read, plus `failed` ones retried."""
    return range(2 + failed, 4 + failed)


# Calls a clean pull_request run of CI_JOB makes: the job, its recent runs (listed once, for
# reuse-existing-run and the usual duration), the trigger, the run's reads, its results.
CLEAN: dict[str, int | range] = {
    "get_job": 1,
    "list_runs": 1,
    "trigger": 1,
    "get_run": reads(),
    "get_artifact": 1,
    "list_artifacts": 1,
}


def calls(**changes: int | range) -> dict[str, int | range]:
    """CLEAN with some counts changed (0 removes the endpoint)."""
    merged: dict[str, int | range] = {**CLEAN, **changes}
    return {name: count for name, count in merged.items() if count}


def burst(endpoint: str, first: int, *statuses: int, retry_after: float | None = 0) -> list[Fault]:
    """Consecutive calls from `first` on answer the given statuses, one each."""
    return [
        Fault(endpoint, calls=(first + n,), status=status, retry_after=retry_after)
        for n, status in enumerate(statuses)
    ]


@dataclass(frozen=True)
class Case:
    id: str
    faults: list[Fault]
    exit_code: int
    status: str  # the `status` output: every end writes one
    calls: dict[str, int | range]  # a range where back-off timing decides
    runs: int = 1  # runs the action created in dbt Cloud
    run_status: int | None = 10  # the created run's status in dbt Cloud at the end
    error: str = ""  # a fragment of the ::error annotation (which also says what to do)
    log: str = ""  # a fragment of the visible log
    summary: str = ""  # a fragment of the job summary
    job: int = CI_JOB
    inputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    access_url: str | None = None  # None: the emulator's


HTTP_5XX = (500, 502, 503, 504)
CASES = [
    Case("clean-run", [], 0, "success", CLEAN),
    # --- rate limits
    Case(
        "429-retry-after-on-get_run",
        [Fault("get_run", calls=(2,), status=429, retry_after=1)],
        0,
        "success",
        calls(get_run=reads(1)),
    ),
    Case(
        "429-without-retry-after-on-trigger",
        [Fault("trigger", calls=(1,), status=429)],
        0,
        "success",
        calls(trigger=2),  # a 429 surely did nothing: retried without looking for a run
    ),
    # --- 500/502/503/504 bursts on every endpoint the action uses
    Case("5xx-burst-get_job", burst("get_job", 1, *HTTP_5XX), 0, "success", calls(get_job=5)),
    Case("5xx-burst-list_runs", burst("list_runs", 1, *HTTP_5XX), 0, "success", calls(list_runs=5)),
    *(
        Case(
            f"5xx-burst-trigger-{first}-{second}",
            burst("trigger", 1, first, second),
            0,
            "success",
            # each failed POST is followed by a look for the run it may have created
            calls(trigger=3, list_runs=3),
        )
        for first, second in ((500, 502), (503, 504))
    ),
    Case(
        "5xx-burst-get_run", burst("get_run", 2, *HTTP_5XX), 0, "success", calls(get_run=reads(4))
    ),
    Case(
        "5xx-burst-get_artifact",
        burst("get_artifact", 1, *HTTP_5XX),
        0,
        "success",
        calls(get_artifact=5),
    ),
    Case(
        "5xx-burst-cancel",
        burst("cancel", 1, *HTTP_5XX),
        1,
        "timed-out",
        {"get_job": 1, "list_runs": 1, "trigger": 1, "get_run": range(2, 12), "cancel": 5},
        run_status=30,
        error="Raise the timeout input",
        job=SLOW_JOB,
        inputs={"timeout": "1s"},
    ),
    Case(
        "503-backoff-without-retry-after",
        burst("get_job", 1, 503, 503, retry_after=None),
        0,
        "success",
        calls(get_job=3),
    ),
    # --- broken connections and slow answers
    Case(
        "dropped-connections",
        [Fault(e, calls=(n,), kind="drop") for e, n in (("get_job", 1), ("get_run", 2))],
        0,
        "success",
        calls(get_job=2, get_run=reads(1)),
    ),
    Case(
        "dropped-trigger-connection",
        [Fault("trigger", calls=(1,), kind="drop")],
        0,
        "success",
        calls(trigger=2, list_runs=2),  # looked for a run, found none: triggered again
    ),
    Case(
        "slow-answer-past-timeout",
        [
            Fault(e, calls=(n,), kind="delay", delay=1.0)
            for e, n in (("get_job", 1), ("get_run", 2))
        ],
        0,
        "success",
        calls(get_job=2, get_run=reads(1)),
        env={"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.4"},
    ),
    Case(
        "slow-trigger-answer-past-timeout",
        [Fault("trigger", calls=(1,), kind="delay", delay=1.0)],
        0,
        "success",
        calls(list_runs=2),  # the run exists: found, not triggered again
        env={"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.4"},
    ),
    Case(
        "html-instead-of-json",
        [
            Fault("get_job", calls=(1,), kind="html", status=200),
            Fault("get_run", calls=(2,), kind="html", status=502, retry_after=0),
        ],
        0,
        "success",
        calls(get_job=2, get_run=reads(1)),
    ),
    # --- dbt Cloud's own quirks
    Case(
        "404-on-first-polls-after-trigger",
        [Fault("get_run", calls=(1, 2), kind="not_found_after_trigger")],
        0,
        "success",
        # two 404s, then the run (still going or already ended: back-off is random), the final read
        calls(get_run=reads(2)),
    ),
    Case(
        "trigger-response-lost",
        [Fault("trigger", calls=(1,), kind="lose_response")],
        0,
        "success",
        calls(list_runs=2, get_run=reads()),  # found by listing: exactly one run
    ),
    Case(
        "stuck-in-queue-past-timeout",
        [],
        1,
        "timed-out",
        {"get_job": 1, "list_runs": 1, "trigger": 1, "get_run": range(2, 12), "cancel": 1},
        run_status=30,
        error="Raise the timeout input",
        job=STUCK_JOB,
        inputs={"timeout": "1s"},
    ),
    Case(
        "artifacts-late",
        [],
        0,
        "success",
        calls(get_artifact=range(1, 3)),  # one 404, unless it was already there
        job=LATE_ARTIFACTS_JOB,
        summary="orders",
    ),
    Case(
        "artifacts-missing",
        [],
        0,
        "success",
        calls(get_artifact=0, list_artifacts=0),  # artifacts_saved is false: nothing to ask
        job=NO_ARTIFACTS_JOB,
        log="dbt Cloud saved no artifacts for run",
    ),
    # --- wrong configuration: fails at once, with what to fix
    Case(
        "access-url-refused",
        [],
        1,
        "error",
        {},
        runs=0,
        error="check access-url",
        access_url="http://127.0.0.1:{closed_port}",
        env=FAST_HTTP,
    ),
    Case(
        "access-url-unknown-host",
        [],
        1,
        "error",
        {},
        runs=0,
        error="could not be resolved",
        access_url="https://ab123.us1.dbt.com",
        # default retry budget (60 s): a host that does not exist must fail at once, not retry
        env={"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.4"},
    ),
    Case(
        "wrong-token",
        [],
        1,
        "error",
        {"get_job": 1},
        runs=0,
        error="Check api-token",
        inputs={"api-token": "dbtc_notTheRightToken_0123456789ab"},
    ),
    Case(
        "wrong-account",
        [],
        1,
        "error",
        {"get_job": 1},
        runs=0,
        error="check account-id",
        inputs={"account-id": "999"},
    ),
    Case(
        "job-does-not-exist",
        [],
        1,
        "error",
        {"get_job": 1},
        runs=0,
        error="Check account-id and job-id",
        job=999,
    ),
]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(token=TOKEN, jobs=JOBS)
    with Emulator(config=config, time_scale=TIME_SCALE) as emulator:
        yield emulator


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def offline_dns(tmp_path: Path) -> dict[str, str]:
    """Env for a subprocess whose name resolution refuses every non-loopback host, recording
    each refused name, so no lookup (and no traffic) leaves the machine."""
    stub = tmp_path / "offline_dns"
    stub.mkdir()
    (stub / "sitecustomize.py").write_text(
        "import os, socket\n"
        "_real = socket.getaddrinfo\n"
        "def getaddrinfo(host, *args, **kwargs):\n"
        "    name = host.decode() if isinstance(host, bytes) else str(host)\n"
        "    if name in ('localhost', '127.0.0.1', '::1'):\n"
        "        return _real(host, *args, **kwargs)\n"
        "    with open(os.environ['OFFLINE_DNS_LOG'], 'a') as log:\n"
        "        log.write(name + '\\n')\n"
        "    raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')\n"
        "socket.getaddrinfo = getaddrinfo\n"
    )
    return {
        "PYTHONPATH": f"{stub}:{ROOT / 'src'}",
        "OFFLINE_DNS_LOG": str(tmp_path / "lookups.log"),
    }


def action_values(emu: Emulator, job: int, **extra: str) -> dict[str, str]:
    return {
        "access-url": emu.url,
        "api-token": TOKEN,
        "account-id": str(emu.account_id),
        "job-id": str(job),
        "poll-interval": "1",
        **extra,
    }


def pr_runner(workdir: Path, env: dict[str, str] | None = None) -> SimulatedRunner:
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(workdir, event_name="pull_request", event=event, env=env)


def run_action(
    emu: Emulator,
    tmp_path: Path,
    job: int,
    *,
    inputs: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    access_url: str | None = None,
) -> StepResult:
    values = action_values(emu, job, **(inputs or {}))
    if access_url is not None:
        values["access-url"] = access_url
    return pr_runner(tmp_path, env).run(values, timeout=90)


def endpoint_calls(emu: Emulator) -> dict[str, int]:
    return dict(Counter(request.endpoint for request in emu.requests))


def annotations_of(result: StepResult, kind: str) -> list[str]:
    commands = parse_workflow_commands(result.stdout).named(kind)
    return [f"{c.properties.get('title', '')}: {c.data}" for c in commands]


def assert_user_facing(result: StepResult) -> None:
    """No traceback, and every error tells the user what to do."""
    assert "Traceback" not in result.log, result.log
    for error in annotations_of(result, "error"):
        assert any(word in error for word in ("What to do", "Check", "check", "Set", "Raise")), (
            error
        )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault(case: Case, emu: Emulator, tmp_path: Path) -> None:
    for fault in case.faults:
        emu.faults.add(fault)
    env = dict(case.env)
    access_url = case.access_url
    if access_url is not None and "{closed_port}" in access_url:
        access_url = access_url.format(closed_port=closed_port())
    elif access_url is not None:
        env.update(offline_dns(tmp_path))
    result = run_action(emu, tmp_path, case.job, inputs=case.inputs, env=env, access_url=access_url)

    assert result.exit_code == case.exit_code, result.log
    assert result.outputs.get("status") == case.status, result.log
    # every end writes the same outputs and a summary, one job or many
    [run_output] = json.loads(result.outputs["runs"])
    assert run_output["status"] == case.status and result.summary.strip(), result.log
    assert_user_facing(result)
    errors = annotations_of(result, "error")
    if case.error:
        assert any(case.error in error for error in errors), errors
    else:
        assert errors == [], errors
    if case.log:
        assert case.log in "\n".join(parse_workflow_commands(result.stdout).visible)
    assert case.summary in result.summary
    seen = endpoint_calls(emu)
    assert set(seen) == set(case.calls), seen  # no other endpoint was called
    for name, count in case.calls.items():
        assert seen[name] in (count if isinstance(count, range) else (count,)), seen
    created = emu.created_runs()
    assert len(created) == case.runs, created
    if case.runs:
        [run] = created
        assert emu.run(run["id"])["status"] == case.run_status
        assert result.outputs["run-id"] == str(run["id"])
        assert result.outputs["status-code"] == str(case.run_status)
    if case.access_url == "https://ab123.us1.dbt.com":
        lookups = (tmp_path / "lookups.log").read_text().split()
        assert lookups and set(lookups) == {"ab123.us1.dbt.com"}
        # a host that does not exist is not retried for the whole budget: one lookup, at once
        assert len(lookups) == 1, lookups


def test_outage_longer_than_a_call_budget_does_not_end_the_run(
    emu: Emulator, tmp_path: Path
) -> None:
    """dbt Cloud stops answering for three times one call's retry budget (1 s here), then comes
    back: the step keeps following, says so once per back-off step, and reports the run's real
    outcome; nothing is cancelled, by the step or by its post step."""
    emu.faults.add(Fault("get_run", status=503))  # no Retry-After: the client backs off
    runner = pr_runner(tmp_path, {"DBT_CLOUD_ACTION_RETRY_SECONDS": "1"})
    inputs = action_values(emu, CI_JOB)
    started = time.monotonic()
    proc, env = runner.start(inputs)
    deadline = started + 30
    while not any(r.endpoint == "get_run" for r in emu.requests):
        assert time.monotonic() < deadline and proc.poll() is None, "the step never polled"
        time.sleep(0.02)
    time.sleep(3.5)
    assert proc.poll() is None, proc.communicate()  # still following, through the outage
    emu.faults.clear()
    result = runner.finish(proc, env, started, timeout=60)
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success", result.log
    assert_user_facing(result)
    visible = parse_workflow_commands(result.stdout).visible
    outage_lines = [line for line in visible if "dbt Cloud has not answered since" in line]
    assert 2 <= len(outage_lines) <= 6, outage_lines  # once per back-off step, not per request
    assert "HTTP 503" in outage_lines[0] and "Run 10001 is still followed" in outage_lines[0]
    assert len(annotations_of(result, "warning")) == 1  # the first line only
    assert any("dbt Cloud answers again after" in line for line in visible), visible
    assert emu.calls("cancel") == 0
    [run] = emu.created_runs()
    assert emu.run(run["id"])["status"] == 10
    assert result.state["run_ended"] == "true"

    post = pr_runner(tmp_path / "post").run(inputs, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert emu.calls("cancel") == 0


def test_outage_past_the_timeout_leaves_the_cancel_to_the_post_step(
    emu: Emulator, tmp_path: Path
) -> None:
    """dbt Cloud is down when the timeout expires: the step reports timed-out, its own cancel
    fails, so the state leaves the run to the post step, which cancels it once dbt Cloud is
    back. The run's id and link are still output for later steps."""
    emu.faults.add(Fault("get_run", status=503, retry_after=0))
    emu.faults.add(Fault("cancel", status=503, retry_after=0))
    runner = pr_runner(tmp_path, {"DBT_CLOUD_ACTION_RETRY_SECONDS": "1"})
    inputs = action_values(emu, SLOW_JOB, timeout="3s")
    result = runner.run(inputs, timeout=60)
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out", result.log
    assert_user_facing(result)
    [run] = emu.created_runs()
    assert result.outputs["run-id"] == str(run["id"])
    assert result.outputs["run-url"] == run["href"]
    assert "Could not cancel run" in result.stdout
    # the post step must act
    assert result.state["run_id"] == str(run["id"]) and "leave_run" not in result.state
    assert emu.run(run["id"])["status"] in (1, 2, 3)

    emu.faults.clear()
    post = pr_runner(tmp_path / "post").run(inputs, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert emu.run(run["id"])["status"] == 30
    assert emu.calls("trigger") == 1


# --- chaos: a long run under random faults from fixed seeds ---------------------------------

CHAOS_SEEDS = (1, 7, 42, 1234, 2026)
CHAOS_ENDPOINTS = ("get_job", "list_runs", "trigger", "get_run", "get_artifact")


def chaos_faults(seed: int) -> list[Fault]:
    """A handful of transient faults, each on one call, drawn from `seed`."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    for _ in range(6):
        endpoint = rng.choice(CHAOS_ENDPOINTS)
        call = (rng.randint(1, 6),)
        kind = rng.choice(("status", "status", "html", "drop", "delay", "special"))
        if kind == "special" and endpoint == "trigger":
            faults.append(Fault("trigger", calls=(1,), kind="lose_response"))
        elif kind == "special" and endpoint == "get_run":
            faults.append(Fault("get_run", calls=(1, 2), kind="not_found_after_trigger"))
        elif kind == "delay":
            faults.append(Fault(endpoint, calls=call, kind="delay", delay=0.6))
        elif kind in ("html", "drop"):
            faults.append(Fault(endpoint, calls=call, kind=kind, status=502, retry_after=0))
        else:
            status = rng.choice((429, *HTTP_5XX))
            faults.append(
                Fault(endpoint, calls=call, status=status, retry_after=rng.choice((0, 1)))
            )
    return faults


@pytest.mark.parametrize("seed", CHAOS_SEEDS, ids=[f"seed-{seed}" for seed in CHAOS_SEEDS])
def test_chaos(seed: int, tmp_path: Path) -> None:
    long_job = JobScript(
        21,
        "Nightly build",
        (StepScript("Clone git repository", duration=5), StepScript("Build", "dbt build", 1200)),
        queue_seconds=30,
    )
    config = EmulatorConfig(token=TOKEN, jobs=(long_job,))
    with Emulator(config=config, time_scale=1000.0) as emu:
        for fault in chaos_faults(seed):
            emu.faults.add(fault)
        result = run_action(emu, tmp_path, 21, env={"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.3"})
        assert_user_facing(result)
        [run] = emu.created_runs()  # exactly one run, whatever was lost
        final = emu.run(run["id"])
        assert final["status"] in (10, 20, 30)  # nothing left running
        assert result.outputs["run-id"] == str(run["id"])
        assert result.outputs["status-code"] == str(final["status"])  # the truth
        assert (result.outputs["status"] == "success") == (result.exit_code == 0), result.log
        assert TOKEN not in "\n".join(parse_workflow_commands(result.stdout).visible)


def test_chaos_seeds_draw_varied_faults() -> None:
    """The seed list covers every endpoint and the special kinds, so chaos is not a no-op."""
    drawn = [fault for seed in CHAOS_SEEDS for fault in chaos_faults(seed)]
    assert {fault.endpoint for fault in drawn} == set(CHAOS_ENDPOINTS)
    assert {"status", "html", "drop", "delay"} <= {fault.kind for fault in drawn}


# --- the tuning variables ----------------------------------------------------------------------


def test_tuning_defaults_and_overrides() -> None:
    assert tuning_from_env({}) == Tuning(http_timeout=10.0, retry_seconds=60.0, artifact_wait=20.0)
    tuned = tuning_from_env({**FAST_HTTP, "DBT_CLOUD_ACTION_ARTIFACT_WAIT": "0"})
    assert tuned == Tuning(http_timeout=0.4, retry_seconds=3.0, artifact_wait=0.0)


def test_the_artifact_cap_is_set_in_mib() -> None:
    assert tuning_from_env({}).max_artifact_bytes == 1 << 30
    tuned = tuning_from_env({"DBT_CLOUD_ACTION_MAX_ARTIFACT_MB": " 2048 "})
    assert tuned.max_artifact_bytes == 2 << 30


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e3", "65537", "9" * 5000, "lots", "١٢"])
def test_the_artifact_cap_rejects_anything_but_whole_mib(value: str) -> None:
    with pytest.raises(ValueError, match="DBT_CLOUD_ACTION_MAX_ARTIFACT_MB must be a whole number"):
        tuning_from_env({"DBT_CLOUD_ACTION_MAX_ARTIFACT_MB": value})


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "601"])
def test_tuning_rejects_bad_values_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="DBT_CLOUD_ACTION_RETRY_SECONDS must be a number"):
        tuning_from_env({"DBT_CLOUD_ACTION_RETRY_SECONDS": value})


def test_bad_tuning_variable_fails_the_step_before_any_call(emu: Emulator, tmp_path: Path) -> None:
    result = run_action(emu, tmp_path, CI_JOB, env={"DBT_CLOUD_ACTION_HTTP_TIMEOUT": "soon"})
    assert result.exit_code == 1
    [error] = annotations_of(result, "error")
    assert "DBT_CLOUD_ACTION_HTTP_TIMEOUT must be a number of seconds" in error
    assert emu.requests == []
