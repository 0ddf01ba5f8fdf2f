"""What the emulated account contains: its jobs and how each job's runs play out.

A job is a script: a queue time and steps with durations, logs, outcomes and node results.
Runs follow the script, so a test or demo knows exactly what it will see.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SUCCESS = 10
ERROR = 20
JOB_TYPES = ("ci", "scheduled", "other")
# The job's `triggers` flags, as the spec's JobDefinitionTriggers names them.
TRIGGER_NAMES = ("github_webhook", "git_provider_webhook", "schedule", "on_merge")
# The triggers by which dbt Cloud starts a job's runs itself for a pull request.
PULL_REQUEST_TRIGGERS = ("github_webhook", "git_provider_webhook")
DEFAULT_PROJECT_ID = 70
DEFAULT_PROJECT_NAME = "jaffle_shop"
PROD_ENVIRONMENT_ID = 200
CI_ENVIRONMENT_ID = 201
# Node statuses in run_results.json: models success/error/skipped, tests pass/fail/warn.
# `reused`: dbt State reused the node (state-aware orchestration); dbt writes it `skipped`.
NODE_STATUSES = (
    "success",
    "error",
    "skipped",
    "pass",
    "fail",
    "warn",
    "runtime error",
    "reused",
)
_LATE = re.compile(r"late:(\d+(?:\.\d+)?)")


class ConfigError(ValueError):
    """A config value the emulator cannot play; the message names the field."""


@dataclass(frozen=True)
class NodeResult:
    """One node in a dbt step's run_results.json (and its line in the step log)."""

    unique_id: str
    status: str
    execution_time: float = 1.0
    message: str | None = None
    resource_type: str = "model"
    # The nodes it selects from (a generic test: its model first), for the manifest's
    # depends_on, child_map and a test's attached_node; `column` a generic test's column.
    depends_on: tuple[str, ...] = ()
    column: str | None = None

    def __post_init__(self) -> None:
        if self.unique_id.count(".") < 2:
            raise ConfigError(
                f"result unique_id must look like 'model.project.name', got {self.unique_id!r}"
            )
        if self.status not in NODE_STATUSES:
            raise ConfigError(
                f"result {self.unique_id}: status must be one of {', '.join(NODE_STATUSES)}, "
                f"got {self.status!r}"
            )

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[-1]

    @property
    def package(self) -> str:
        return self.unique_id.split(".")[1]


@dataclass(frozen=True)
class StepScript:
    """One run step: `command` None is a dbt Cloud system step (clone, profile)."""

    name: str
    command: str | None = None
    duration: float = 5.0
    outcome: int = SUCCESS
    logs: str = ""
    results: tuple[NodeResult, ...] = ()

    def __post_init__(self) -> None:
        if self.outcome not in (SUCCESS, ERROR):
            raise ConfigError(f"step {self.name!r}: outcome must be 10 or 20, got {self.outcome}")
        if self.duration < 0:
            raise ConfigError(f"step {self.name!r}: duration must be >= 0, got {self.duration}")
        if self.command is not None and not self.command.startswith("dbt "):
            raise ConfigError(
                f"step {self.name!r}: command must be a dbt command ('dbt ...'), "
                f"got {self.command!r}"
            )

    @property
    def dbt_subcommand(self) -> str:
        """'build', 'docs generate', ... or '' for a system step."""
        if self.command is None:
            return ""
        words = [w for w in self.command.split()[1:] if not w.startswith("-")]
        if words[:2] == ["docs", "generate"]:
            return "docs generate"
        return words[0] if words else ""

    @property
    def artifact_names(self) -> tuple[str, ...]:
        """The artifacts dbt writes for this step (dbt Cloud saves them per step)."""
        sub = self.dbt_subcommand
        if sub in ("build", "run", "test", "seed", "snapshot"):
            return ("manifest.json", "run_results.json")
        if sub == "docs generate":
            return ("catalog.json", "manifest.json", "run_results.json")
        return ()


@dataclass(frozen=True)
class JobScript:
    """A job and the script every run of it follows.

    job_type "scheduled" and "other" are deploy jobs: their runs go one at a time (a new run
    waits, blocked, behind the job's previous one). "ci" runs may run side by side, as
    dbt Cloud's CI jobs do.

    Left unset, the environment is "CI" (201) for a CI job and "Production" (200) otherwise,
    and `triggers` (the names of the flags that are on) follow the job type: a CI job runs on
    pull requests (`github_webhook`, `git_provider_webhook`), a scheduled job on `schedule`.
    """

    id: int
    name: str
    steps: tuple[StepScript, ...]
    queue_seconds: float = 2.0
    job_type: str = "ci"
    history: tuple[float, ...] = ()
    artifacts: str = "normal"
    # spaces after each artifact's JSON (still valid), to serve artifacts of any size
    artifact_padding: int = 0
    can_retry: bool = True
    project_id: int = DEFAULT_PROJECT_ID
    project_name: str = DEFAULT_PROJECT_NAME
    environment_id: int | None = None
    environment_name: str | None = None
    triggers: tuple[str, ...] | None = None
    # The job's dbt: a release track ("latest", "latest-fusion": dbt Fusion) or a version.
    dbt_version: str = "latest"
    project_subdirectory: str | None = None  # the project's dbt_project_subdirectory
    description: str = ""
    # Job chaining (`job_completion_trigger_condition`): when a run of job `after_job_id` ends
    # with one of `after_statuses` (10 success, 20 error, 30 cancelled), dbt Cloud starts a run
    # of this job (see Account._start_chained_runs).
    after_job_id: int | None = None
    after_statuses: tuple[int, ...] = (SUCCESS,)
    # Deferral (`deferring_job_definition_id`): each run of this job defers to the latest run of
    # job `defers_to_job_id` that had ended with artifacts when it was created (its
    # `deferring_run_id`; see docs/dbt-cloud-api.md D1).
    defers_to_job_id: int | None = None

    def __post_init__(self) -> None:
        if not self.dbt_version:
            raise ConfigError(f"job {self.id}: dbt_version must not be empty")
        if not self.after_statuses or not set(self.after_statuses) <= {SUCCESS, ERROR, 30}:
            raise ConfigError(f"job {self.id}: after_statuses must be among 10, 20 and 30")
        if self.id < 1:
            raise ConfigError(f"job id must be a positive integer, got {self.id}")
        if self.project_id < 1 or (self.environment_id is not None and self.environment_id < 1):
            raise ConfigError(f"job {self.id}: project_id and environment_id must be positive")
        if not self.project_name or self.environment_name == "":
            raise ConfigError(f"job {self.id}: project_name and environment_name must not be empty")
        unknown = sorted(set(self.triggers or ()) - set(TRIGGER_NAMES))
        if unknown:
            raise ConfigError(
                f"job {self.id}: triggers must be among {', '.join(TRIGGER_NAMES)}, "
                f"got {', '.join(unknown)}"
            )
        if not self.steps:
            raise ConfigError(f"job {self.id}: needs at least one step")
        if self.job_type not in JOB_TYPES:
            raise ConfigError(
                f"job {self.id}: job_type must be one of {', '.join(JOB_TYPES)}, "
                f"got {self.job_type!r}"
            )
        if self.artifact_padding < 0:
            raise ConfigError(f"job {self.id}: artifact_padding must be 0 or more bytes")
        if self.queue_seconds < 0 or any(d <= 0 for d in self.history):
            raise ConfigError(f"job {self.id}: queue_seconds and history must be positive")
        if self.artifacts not in ("normal", "none") and not _LATE.fullmatch(self.artifacts):
            raise ConfigError(
                f"job {self.id}: artifacts must be 'normal', 'none' or 'late:<seconds>', "
                f"got {self.artifacts!r}"
            )

    @property
    def is_deploy(self) -> bool:
        return self.job_type != "ci"

    @property
    def environment(self) -> int:
        """The environment's id: as configured, else CI for a CI job and Production otherwise."""
        if self.environment_id is not None:
            return self.environment_id
        return CI_ENVIRONMENT_ID if self.job_type == "ci" else PROD_ENVIRONMENT_ID

    @property
    def environment_label(self) -> str:
        if self.environment_name is not None:
            return self.environment_name
        return "CI" if self.job_type == "ci" else "Production"

    @property
    def trigger_flags(self) -> dict[str, bool]:
        """The job's `triggers` object: the configured flags on, or the job type's defaults."""
        on = self.triggers
        if on is None:
            on = {"ci": PULL_REQUEST_TRIGGERS, "scheduled": ("schedule",)}.get(self.job_type, ())
        return {name: name in on for name in TRIGGER_NAMES}

    @property
    def runs_on_pull_requests(self) -> bool:
        flags = self.trigger_flags
        return any(flags[name] for name in PULL_REQUEST_TRIGGERS)

    @property
    def saves_artifacts(self) -> bool:
        return self.artifacts != "none"

    @property
    def artifact_delay(self) -> float:
        """Emulated seconds after the run ends before its artifacts can be fetched."""
        late = _LATE.fullmatch(self.artifacts)
        return float(late.group(1)) if late else 0.0

    @property
    def generates_docs(self) -> bool:
        return any(s.dbt_subcommand == "docs generate" for s in self.steps)


def _ok(unique_id: str, seconds: float, resource_type: str = "model") -> NodeResult:
    status = "pass" if resource_type == "test" else "success"
    message = None if resource_type == "test" else "SUCCESS 1"
    return NodeResult(unique_id, status, seconds, message, resource_type)


_CLONE = StepScript("Clone git repository", duration=2.0)
_PROFILE = StepScript("Create profile from connection Snowflake", duration=1.0)
_DEPS = StepScript("Invoke dbt with `dbt deps`", "dbt deps", duration=4.0)


def _dbt_step(command: str, duration: float, *results: NodeResult, outcome: int = 10) -> StepScript:
    return StepScript(
        f"Invoke dbt with `{command}`", command, duration, outcome, results=tuple(results)
    )


def default_jobs() -> tuple[JobScript, ...]:
    """A small jaffle-shop account: good for the demo and for trying the action by hand."""
    ci_build = _dbt_step(
        "dbt build --select state:modified+",
        20.0,
        _ok("model.jaffle_shop.stg_orders", 1.8),
        _ok("model.jaffle_shop.orders", 3.4),
        _ok("test.jaffle_shop.not_null_orders_order_id", 0.9, "test"),
        _ok("test.jaffle_shop.unique_orders_order_id", 1.1, "test"),
        _ok("model.jaffle_shop.customers", 4.2),
    )
    failing_build = _dbt_step(
        "dbt build --select state:modified+",
        25.0,
        _ok("model.jaffle_shop.stg_customers", 1.5),
        _ok("model.jaffle_shop.stg_orders", 1.7),
        NodeResult(
            "test.jaffle_shop.not_null_orders_order_id",
            "fail",
            0.8,
            "Got 3 results, configured to fail if != 0",
            "test",
        ),
        NodeResult(
            "test.jaffle_shop.accepted_values_orders_status",
            "fail",
            0.9,
            "Got 1 result, configured to fail if != 0",
            "test",
        ),
        NodeResult(
            "model.jaffle_shop.customers",
            "error",
            2.3,
            "Database Error in model customers (models/customers.sql)\n"
            "  002003 (42S02): SQL compilation error:\n"
            "  Object 'ANALYTICS.DBT_CI.STG_PAYMENTS' does not exist or not authorized.",
        ),
        NodeResult("model.jaffle_shop.customer_lifetime_value", "skipped", 0.0),
        NodeResult("test.jaffle_shop.unique_customers_customer_id", "skipped", 0.0, None, "test"),
        outcome=ERROR,
    )
    nightly = (
        _CLONE,
        _PROFILE,
        _DEPS,
        _dbt_step(
            "dbt seed",
            40.0,
            _ok("seed.jaffle_shop.raw_customers", 6.0, "seed"),
            _ok("seed.jaffle_shop.raw_orders", 9.5, "seed"),
        ),
        _dbt_step(
            "dbt run",
            380.0,
            _ok("model.jaffle_shop.stg_customers", 21.0),
            _ok("model.jaffle_shop.stg_orders", 34.0),
            _ok("model.jaffle_shop.orders", 141.0),
            _ok("model.jaffle_shop.customers", 162.0),
        ),
        _dbt_step(
            "dbt test",
            120.0,
            _ok("test.jaffle_shop.not_null_orders_order_id", 12.0, "test"),
            _ok("test.jaffle_shop.unique_orders_order_id", 14.0, "test"),
            _ok("test.jaffle_shop.unique_customers_customer_id", 11.0, "test"),
        ),
        _dbt_step("dbt docs generate", 50.0),
    )
    return (
        JobScript(
            101,
            "CI - pull requests",
            (_CLONE, _PROFILE, _DEPS, ci_build),
            2.0,
            "ci",
            history=(38.0, 41.0, 35.0),
        ),
        JobScript(102, "CI - failing tests", (_CLONE, _PROFILE, _DEPS, failing_build), 2.0, "ci"),
        JobScript(
            103,
            "Nightly deploy",
            nightly,
            5.0,
            "scheduled",
            history=(612.0, 598.0, 641.0, 605.0, 590.0),
        ),
        JobScript(
            104,
            "Docs job with no artifacts",
            (_CLONE, _PROFILE, _DEPS, _dbt_step("dbt docs generate", 15.0)),
            2.0,
            "other",
            artifacts="none",
        ),
        JobScript(
            105,
            "Deploy - long queue",
            (
                _CLONE,
                _PROFILE,
                _DEPS,
                _dbt_step("dbt run", 30.0, _ok("model.jaffle_shop.orders", 12.0)),
            ),
            300.0,
            "scheduled",
        ),
    )


@dataclass(frozen=True)
class PullRequestScript:
    """A pull request dbt Cloud hears of through its git provider's webhook: `delay` emulated
    seconds after the emulator starts, it starts a run of job `job_id` for commit `git_sha`
    by itself (as a CI job set to run on pull requests)."""

    job_id: int
    git_sha: str
    number: int
    delay: float = 0.0
    git_branch: str | None = None

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ConfigError(f"pull request number must be positive, got {self.number}")
        if not self.git_sha.strip():
            raise ConfigError(f"pull request #{self.number}: git_sha must not be empty")
        if self.delay < 0:
            raise ConfigError(f"pull request #{self.number}: delay must be >= 0, got {self.delay}")


PERMISSION_SETS = ("job_admin", "job_runner", "job_viewer")


@dataclass(frozen=True)
class TokenAccess:
    """What the account's token may do, and from where.

    `permission` is the token's permission set: `job_viewer` reads but may not trigger, cancel
    or retry runs (403). `project_ids` are the projects it has that permission on (None: all);
    another project's jobs and runs answer dbt Cloud's 404 and are left out of lists.
    `ip_allowlist` are the CIDRs the account's IP restrictions allow (None: no restrictions);
    a request from any other address gets the IP restriction's 403.
    """

    permission: str = "job_admin"
    project_ids: tuple[int, ...] | None = None
    ip_allowlist: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.permission not in PERMISSION_SETS:
            raise ConfigError(
                f"access.permission must be one of {', '.join(PERMISSION_SETS)}, "
                f"got {self.permission!r}"
            )
        for cidr in self.ip_allowlist or ():
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"access.ip_allowlist: {cidr!r} is not a CIDR") from None

    @property
    def may_run(self) -> bool:
        """Whether the token may trigger, cancel and retry runs."""
        return self.permission != "job_viewer"

    def sees(self, project_id: int) -> bool:
        return self.project_ids is None or project_id in self.project_ids

    def allows(self, address: str) -> bool:
        """Whether the IP restrictions let a request from `address` through."""
        if self.ip_allowlist is None:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(c, strict=False) for c in self.ip_allowlist)


@dataclass(frozen=True)
class EmulatorConfig:
    account_id: int = 1
    token: str = "emulator-token"  # noqa: S105 - the emulator's well-known demo token
    jobs: tuple[JobScript, ...] = field(default_factory=default_jobs)
    # Commits the account's repository does not hold (a fork's, say). The repository holds any
    # other commit; a run asked to check one of these out fails at its clone step, as git does.
    unknown_commits: tuple[str, ...] = ()
    # Pull requests whose webhooks make dbt Cloud start runs by itself (see PullRequestScript).
    pull_requests: tuple[PullRequestScript, ...] = ()
    # The token's permission set, projects and the account's IP restrictions (see TokenAccess).
    access: TokenAccess = field(default_factory=TokenAccess)

    def __post_init__(self) -> None:
        if self.account_id < 1:
            raise ConfigError(f"account_id must be a positive integer, got {self.account_id}")
        if not self.token:
            raise ConfigError("token must not be empty")
        ids = [job.id for job in self.jobs]
        if len(ids) != len(set(ids)):
            raise ConfigError(f"job ids must be unique, got {ids}")
        _check_names("project", {(job.project_id, job.project_name) for job in self.jobs})
        _check_names("environment", {(job.environment, job.environment_label) for job in self.jobs})
        for pull_request in self.pull_requests:
            self.pull_request_job(pull_request.job_id)
        for job in self.jobs:
            if job.defers_to_job_id is not None and job.defers_to_job_id not in ids:
                raise ConfigError(f"job {job.id}: defers_to_job_id names no job in the account")

    def pull_request_job(self, job_id: int) -> JobScript:
        """The job a pull request's webhook starts, or why dbt Cloud would start none."""
        job = self.job(job_id)
        if job is None:
            raise ConfigError(f"pull request webhook: no job {job_id} in the account")
        if not job.runs_on_pull_requests:
            raise ConfigError(
                f"pull request webhook: job {job_id} does not run on pull requests (its "
                f"triggers have neither {' nor '.join(PULL_REQUEST_TRIGGERS)}), so dbt Cloud "
                "would start no run for it"
            )
        return job

    def job(self, job_id: int) -> JobScript | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def holds_commit(self, sha: str) -> bool:
        """Whether the repository can check out `sha` (full or abbreviated, any case)."""
        wanted = sha.strip().lower()
        return not any(c.lower().startswith(wanted) for c in self.unknown_commits)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Build from JSON-shaped data with the same field names as the dataclasses."""
        config: EmulatorConfig = _build(cls, data, "config")
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> EmulatorConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read emulator config {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"emulator config {path} must hold a JSON object")
        return cls.from_dict(data)


def _check_names(kind: str, pairs: set[tuple[int, str]]) -> None:
    """One name per project (environment) id, as in a real account."""
    ids = [i for i, _ in pairs]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise ConfigError(f"{kind} {clashes[0]} is given more than one name")


_NESTED: dict[str, type[Any]] = {
    "jobs": JobScript,
    "steps": StepScript,
    "results": NodeResult,
    "pull_requests": PullRequestScript,
}
_SCALARS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "account_id": (int,),
    "outcome": (int,),
    "token": (str,),
    "name": (str,),
    "job_type": (str,),
    "artifacts": (str,),
    "artifact_padding": (int,),
    "logs": (str,),
    "unique_id": (str,),
    "status": (str,),
    "resource_type": (str,),
    "command": (str, type(None)),
    "message": (str, type(None)),
    "duration": (int, float),
    "queue_seconds": (int, float),
    "execution_time": (int, float),
    "can_retry": (bool,),
    "project_id": (int,),
    "project_name": (str,),
    "environment_id": (int, type(None)),
    "environment_name": (str, type(None)),
    "job_id": (int,),
    "git_sha": (str,),
    "git_branch": (str, type(None)),
    "number": (int,),
    "delay": (int, float),
    "permission": (str,),
    "dbt_version": (str,),
    "project_subdirectory": (str, type(None)),
    "column": (str, type(None)),
    "description": (str,),
    "after_job_id": (int, type(None)),
    "defers_to_job_id": (int, type(None)),
}


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    """Type-check JSON data field by field so a bad config names the exact field."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        here = f"{where}.{key}"
        if key in _NESTED:
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ConfigError(f"{here}: must be a list of objects")
            kwargs[key] = tuple(
                _build(_NESTED[key], v, f"{here}[{i}]") for i, v in enumerate(value)
            )
        elif key == "access":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{here}: must be an object")
            kwargs[key] = _build(TokenAccess, value, here)
        elif key in ("project_ids", "ip_allowlist") and value is None:
            kwargs[key] = None
        elif key == "project_ids":
            if not isinstance(value, list) or not all(type(v) is int for v in value):
                raise ConfigError(f"{here}: must be a list of project ids")
            kwargs[key] = tuple(value)
        elif key == "ip_allowlist":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f'{here}: must be a list of CIDRs, e.g. "10.0.0.0/8"')
            kwargs[key] = tuple(value)
        elif key == "unknown_commits":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{here}: must be a list of commit SHAs")
            kwargs[key] = tuple(value)
        elif key == "depends_on":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{here}: must be a list of unique ids")
            kwargs[key] = tuple(value)
        elif key == "triggers" and value is None:
            kwargs[key] = None  # the job type's triggers
        elif key == "triggers":
            if not isinstance(value, list) or not all(v in TRIGGER_NAMES for v in value):
                raise ConfigError(
                    f"{here}: must be a list of trigger names among {', '.join(TRIGGER_NAMES)}"
                )
            kwargs[key] = tuple(value)
        elif key == "after_statuses":
            if not isinstance(value, list) or not all(type(v) is int for v in value):
                raise ConfigError(f"{here}: must be a list of run statuses (10, 20, 30)")
            kwargs[key] = tuple(value)
        elif key == "history":
            if not isinstance(value, list) or not all(_is_number(v) for v in value):
                raise ConfigError(f"{here}: must be a list of durations in seconds")
            kwargs[key] = tuple(float(v) for v in value)
        else:
            allowed = _SCALARS[key]
            if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
                raise ConfigError(
                    f"{here}: must be {' or '.join(t.__name__ for t in allowed)}, got {value!r}"
                )
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def default_config() -> EmulatorConfig:
    return EmulatorConfig()
