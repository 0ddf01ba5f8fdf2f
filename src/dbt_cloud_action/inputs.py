"""Every action input, parsed and validated before anything touches the network.

`parse_inputs` reads raw strings (the runner sets every declared input, empty when unset) and
returns one frozen `ActionInputs`, or raises `InputError` naming the first bad input, what is
allowed and what to do. Each kind of input has one small pure parser that raises `InvalidValue`;
`parse_inputs` adds the input's name, its default for an empty value, and secret hygiene:

- values longer than 32 characters, or that look like a dbt Cloud token, are never echoed
  (covers a token pasted into the wrong input even when api-token holds something else);
- a value containing the api-token (when it has 16 characters or more; real tokens have 40+)
  is refused without being shown, so a message can never quote the token.
"""

from __future__ import annotations

import enum
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Final, TypeVar

from dbt_cloud_action import jobs_as_code
from dbt_cloud_action.access_url import normalize_access_url
from dbt_cloud_action.vars_override import Vars, VarsError, parse_vars

T = TypeVar("T")
D = TypeVar("D")


class Auto(enum.Enum):
    """The user left the value to the action (`auto`); it is resolved from the event later."""

    AUTO = "auto"


AUTO: Final = Auto.AUTO


class RetryFailed(enum.Enum):
    """When to retry a failed run from the point of failure instead of triggering a new one."""

    AUTO = "auto"  # only on a workflow re-run (GITHUB_RUN_ATTEMPT > 1)
    ALWAYS = "always"
    NEVER = "never"


class ForkPullRequests(enum.Enum):
    """What to do on a pull request from a fork, whose commits dbt Cloud cannot check out."""

    FAIL = "fail"
    SKIP = "skip"


class Mode(enum.Enum):
    """Whether the step starts the run (`trigger`) or reports the run dbt Cloud starts by
    itself for this commit from the pull request's webhook (`follow`)."""

    TRIGGER = "trigger"
    FOLLOW = "follow"


class CommentMode(enum.Enum):
    """When the sticky pull request comment is written (EnricoMi's comment_mode, in part):
    `always` each run; `failures` when a run did not succeed, or to update a comment already
    there; `changes` when there is none yet or the outcome or the failing nodes differ from
    what the comment there records; `off` never. `true` is `always`, `false` is `off`."""

    ALWAYS = "always"
    FAILURES = "failures"
    CHANGES = "changes"
    OFF = "off"


class InputError(Exception):
    """A bad input: `str()` is `Input '<name>' <message>`, ready for an `::error::` line."""

    def __init__(self, input_name: str, message: str) -> None:
        super().__init__(f"Input '{input_name}' {message}")
        self.input_name = input_name
        self.message = message


class InvalidValue(ValueError):
    """Raised by a single-value parser; `parse_inputs` turns it into an `InputError`."""


@dataclass(frozen=True)
class SchemaTemplate:
    """A validated `schema-override` template and the placeholders it uses."""

    text: str
    placeholders: frozenset[str]


DEFAULT_FOLLOW_TIMEOUT: Final = 600  # `mode: follow` waits this long for dbt Cloud's run


@dataclass(frozen=True)
class OtherPullRequest:
    """A pull or merge request of another git provider than GitHub (`dbt-cloud-run` on GitLab CI,
    Azure Pipelines, Bitbucket...), sent in the trigger's own field for it."""

    field: str  # gitlab_merge_request_id, azure_pull_request_id or non_native_pull_request_id
    number: int


@dataclass(frozen=True)
class ActionInputs:
    """All inputs, typed. `AUTO` means "derive it from the event"; None means "send nothing"."""

    access_url: str
    api_token: str = field(repr=False)  # never in a repr, a log line or a traceback
    account_id: int
    # The job of one run: each run's life gets these inputs with its own job's id (so
    # `{job_id}` in schema-override is that job's). Parsed: the first id of `jobs`, 0 while
    # the jobs are names still to be resolved.
    job_id: int
    cause: str | Auto
    git_sha: str | Auto | None
    git_branch: str | Auto | None
    pull_request: int | Auto | None
    fork_pull_requests: ForkPullRequests
    schema_override: SchemaTemplate | None
    dbt_version_override: str | None
    threads_override: int | None
    target_name_override: str | None
    generate_docs_override: bool | None
    timeout_seconds_override: int | None
    steps_override: tuple[str, ...]
    wait: bool
    timeout_seconds: int | None  # None: wait until the step's own timeout
    poll_interval: float | Auto
    fail_on_error: bool
    summary: bool
    github_token: str | None = field(repr=False)
    cancel_on_exit: bool
    cancel_on_timeout: bool
    reuse_existing_run: bool
    cancel_superseded: bool
    retry_failed: RetryFailed
    comment_on_pr: CommentMode
    commit_status: bool
    artifacts: tuple[str, ...]
    artifacts_dir: str
    artifacts_step: int | None
    jobs: JobSelection = field(default_factory=lambda: JobSelection())  # noqa: PLW0108 - defined below
    mode: Mode = Mode.TRIGGER
    follow_timeout_seconds: int = DEFAULT_FOLLOW_TIMEOUT
    cancel_followed: bool = False
    other_pull_request: OtherPullRequest | None = None  # CLI only
    vars: Vars | None = None  # added to the job's own steps once it is read (vars_override.py)
    run_id: int | None = None  # a run to report (given_run.py); its job is read from it

    @property
    def starts_runs(self) -> bool:
        """Whether the step may start the run it follows (else dbt Cloud or another did)."""
        return self.mode is Mode.TRIGGER and self.run_id is None

    annotations: bool = True  # `annotations: auto`: failures on their files
    # The dbt project's folder in the repository; None: the dbt Cloud project's own setting.
    project_subdirectory: str | None = None
    junit_xml: str | None = None  # a path relative to the workspace
    check_run: bool = False
    follow_chain: bool = False  # also follow the runs job chaining starts (run_chain.py)
    compare: bool = True  # `compare: auto`: failures marked new or already failing

    @property
    def cancels_on_exit(self) -> bool:
        """Whether a cancelled workflow (or the post step) cancels the run: never a run dbt
        Cloud started by itself, nor a given `run-id`, unless `cancel-followed: true` asks."""
        return self.cancel_on_exit and (self.starts_runs or self.cancel_followed)

    @property
    def cancels_on_timeout(self) -> bool:
        return self.cancel_on_timeout and self.cancels_on_exit


@dataclass(frozen=True)
class JobReference:
    """One line of `job-name`: a job's exact name (any case), optionally qualified as
    `project / environment / job` (each qualifier a name or an id). `text` is the line as
    written: a job whose whole name is that line (slashes included) matches too."""

    name: str
    project: str | None = None
    environment: str | None = None
    text: str = ""
    # A name written `[[identifier]]`: the job dbt-jobs-as-code manages under that YAML key.
    identifier: str | None = None

    @property
    def qualified(self) -> bool:
        return self.project is not None


_MAX_SHOWN = 32
_TOKEN_PREFIXES = ("dbtc_", "dbtu_")
_MIN_TOKEN_CHECKED = 16
CAUSE_MAX = 255
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_STEPS = 20
MAX_STEP_LENGTH = 1000
MAX_ARTIFACTS = 50
MAX_JOBS = 20  # jobs in one step (job-id or job-name); more is surely a mistake
MAX_JOB_NAME_LENGTH = 255
_JOB_ID_SEPARATORS = re.compile(r"[\s,]+")
SCHEMA_PLACEHOLDERS = frozenset({"job_id", "pr", "sha", "sha7", "branch"})


def _shown(value: str) -> str:
    """A raw value as it may appear in a message: quoted and escaped, or withheld."""
    if len(value) > _MAX_SHOWN:
        return f"a value of {len(value)} characters, not shown"
    if value.startswith(_TOKEN_PREFIXES):
        return "what looks like a dbt Cloud token, not shown"
    return repr(value)


def _digits(text: str, max_digits: int = 18) -> int | None:
    """An ASCII decimal, or None (int() would accept '+1', '1_0', ' 1' and Unicode digits)."""
    if len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def _invisible(text: str, allowed: str = "") -> bool:
    """Whether `text` has control, format, separator or other invisible characters."""
    return any(unicodedata.category(ch)[0] in "CZ" and ch not in allowed for ch in text)


def parse_positive_int(text: str) -> int:
    value = _digits(text)
    if value is None or value < 1:
        raise InvalidValue(f"must be a positive integer (got {_shown(text)}).")
    return value


def parse_bool(text: str) -> bool:
    """YAML 1.2 core booleans, exactly like `core.getBooleanInput` in actions/toolkit."""
    if text in {"true", "True", "TRUE"}:
        return True
    if text in {"false", "False", "FALSE"}:
        return False
    raise InvalidValue(f"must be true or false (got {_shown(text)}).")


_DURATION = re.compile(r"(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,8})s)?", re.ASCII)


def parse_duration(text: str) -> int:
    """Seconds from `900`, `90s`, `45m`, `2h` or `1h30m` (up to 7 days)."""
    seconds = _digits(text, max_digits=8)
    if seconds is None:
        match = _DURATION.fullmatch(text)
        if match is None or not text:
            raise InvalidValue(
                f"must be a duration such as 900, 90s, 45m, 2h or 1h30m (got {_shown(text)})."
            )
        hours, minutes, secs = (int(group or 0) for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidValue(f"must be more than 0 and at most 7 days (got {_shown(text)}).")
    return seconds


_SHA = re.compile(r"[0-9a-fA-F]{7,40}", re.ASCII)


def parse_sha(text: str) -> str | Auto | None:
    if text == "auto":
        return AUTO
    if text == "none":
        return None
    if not _SHA.fullmatch(text):
        raise InvalidValue(
            f"must be auto, none or a commit SHA of 7 to 40 hex characters (got {_shown(text)})."
        )
    return text.lower()


_REF_FORBIDDEN = frozenset("~^:?*[\\")


def branch_name_problem(name: str) -> str | None:
    """Why `name` is not a valid branch name (`git check-ref-format --branch` rules), or None."""
    if not name:
        return "is empty"
    if len(name) > 255:
        return "is longer than 255 characters"
    if _invisible(name):
        return "contains a space, a control character or an invisible character"
    if bad := sorted(_REF_FORBIDDEN.intersection(name)):
        return f"contains {' '.join(bad)}"
    if name.startswith("-"):
        return "starts with -"
    if name == "@" or "@{" in name:
        return "is @ or contains @{"
    if ".." in name or "//" in name:
        return "contains .. or //"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "starts with / or ends with / or ."
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "has a part that starts with . or ends with .lock"
    return None


def parse_branch(text: str) -> str | Auto | None:
    """auto, none or a branch name; a pasted `refs/heads/x` is taken as `x`."""
    if text == "auto":
        return AUTO
    if text == "none":
        return None
    name = text.removeprefix("refs/heads/")
    if name.startswith("refs/"):
        raise InvalidValue(
            f"must be a branch name, not a ref such as refs/tags/... (got {_shown(text)}). "
            "Use github.head_ref or github.ref_name for a branch, or none."
        )
    if problem := branch_name_problem(name):
        raise InvalidValue(
            f"must be auto, none or a valid git branch name; this one {problem} "
            f"(got {_shown(text)})."
        )
    return name


def parse_pull_request(text: str) -> int | Auto | None:
    if text == "auto":
        return AUTO
    if text == "none":
        return None
    value = _digits(text)
    if value is None or value < 1:
        raise InvalidValue(
            f"must be auto, none or a pull request number such as 42 (got {_shown(text)})."
        )
    return value


def parse_fork_pull_requests(text: str) -> ForkPullRequests:
    try:
        return ForkPullRequests(text)
    except ValueError:
        raise InvalidValue(
            f"must be fail or skip (got {_shown(text)}): dbt Cloud cannot check out a fork's "
            "commits, so a pull request from a fork either fails the step or is skipped."
        ) from None


def parse_schema_template(text: str) -> SchemaTemplate:
    """A template using only {job_id}, {pr}, {sha}, {sha7} and {branch}, plus literal text."""
    allowed = ", ".join(f"{{{name}}}" for name in sorted(SCHEMA_PLACEHOLDERS))
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        raise InvalidValue(
            f"is not a valid template: braces must enclose a placeholder ({allowed}) "
            f"(got {_shown(text)})."
        ) from None
    placeholders = set()
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in SCHEMA_PLACEHOLDERS:
            raise InvalidValue(
                f"uses the unknown placeholder {_shown('{' + name + '}')}; allowed: {allowed}."
            )
        if spec or conversion:
            raise InvalidValue(
                f"must use placeholders without a format or conversion, such as {{{name}}}."
            )
        placeholders.add(name)
    if not placeholders and not any(ch.isascii() and ch.isalnum() for ch in text):
        raise InvalidValue(
            f"must contain letters, digits or placeholders, e.g. dbt_cloud_pr_{{job_id}}_{{pr}} "
            f"(got {_shown(text)})."
        )
    return SchemaTemplate(text, frozenset(placeholders))


_DBT_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", re.ASCII)


def parse_dbt_version(text: str) -> str:
    if not _DBT_VERSION.fullmatch(text):
        raise InvalidValue(
            "must be a dbt version such as latest, compatible, fallback, versionless, 1.8 or "
            f"1.9.0-latest: letters, digits, . _ + - only (got {_shown(text)})."
        )
    return text


def parse_threads(text: str) -> int:
    value = _digits(text)
    if value is None or not 1 <= value <= 64:
        raise InvalidValue(f"must be a whole number from 1 to 64 (got {_shown(text)}).")
    return value


_TARGET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", re.ASCII)


def parse_target_name(text: str) -> str:
    if not _TARGET_NAME.fullmatch(text):
        raise InvalidValue(
            "must be a name such as ci or prod: a letter or _ then letters, digits, _ or -, "
            f"at most 64 characters (got {_shown(text)})."
        )
    return text


def parse_timeout_seconds_override(text: str) -> int:
    value = _digits(text, max_digits=10)
    if value is None or value > 2**31 - 1:
        raise InvalidValue(
            f"must be a whole number of seconds, 0 for no timeout (got {_shown(text)})."
        )
    return value


_DBT_COMMAND = re.compile(r"dbt\s+\S.*", re.DOTALL)


def parse_steps(text: str) -> tuple[str, ...]:
    """One dbt command per line; blank lines are ignored."""
    steps = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not steps:
        raise InvalidValue("must list at least one dbt command, one per line.")
    if len(steps) > MAX_STEPS:
        raise InvalidValue(f"must list at most {MAX_STEPS} commands (got {len(steps)}).")
    for number, step in enumerate(steps, start=1):
        if len(step) > MAX_STEP_LENGTH:
            raise InvalidValue(
                f"command {number} is longer than {MAX_STEP_LENGTH} characters; shorten it."
            )
        if _invisible(step, allowed=" \t"):
            raise InvalidValue(
                f"command {number} contains a control or invisible character; remove it."
            )
        if not _DBT_COMMAND.fullmatch(step):
            raise InvalidValue(
                f"command {number} must start with 'dbt ', e.g. dbt build --select "
                f"state:modified+ (got {_shown(step)}). Put one command per line."
            )
    return steps


def parse_job_ids(text: str) -> tuple[int, ...]:
    """One or more job ids separated by whitespace, commas or newlines; each at most once."""
    parts = [p for p in _JOB_ID_SEPARATORS.split(text) if p]
    if not parts:
        raise InvalidValue("must list at least one job id.")
    if len(parts) > MAX_JOBS:
        raise InvalidValue(f"must list at most {MAX_JOBS} job ids (got {len(parts)}).")
    if len(parts) == 1:  # one id: the same message as ever
        return (parse_positive_int(parts[0]),)
    ids: list[int] = []
    for part in parts:
        value = _digits(part)
        if value is None or value < 1:
            raise InvalidValue(
                f"must be job ids (positive integers) separated by spaces, commas or newlines "
                f"(got {_shown(part)})."
            )
        if value in ids:
            raise InvalidValue(f"lists job {value} twice; list each job once.")
        ids.append(value)
    return tuple(ids)


def parse_job_reference(line: str) -> JobReference:
    """`job` or `project / environment / job` (the job's name may itself contain slashes)."""
    text = line.strip()
    if not text:
        raise InvalidValue("has an empty job name.")
    if len(text) > MAX_JOB_NAME_LENGTH:
        raise InvalidValue(
            f"has a line longer than {MAX_JOB_NAME_LENGTH} characters; give the job's name."
        )
    if _invisible(text, allowed=" "):
        raise InvalidValue(
            f"line {_shown(text)} contains a control or invisible character; remove it."
        )
    parts = [part.strip() for part in text.split("/", 2)]
    if len(parts) < 3:
        return JobReference(
            name=text, text=text, identifier=jobs_as_code.reference_identifier(text)
        )
    project, environment, name = parts
    if not (project and environment and name):
        raise InvalidValue(
            f"line {_shown(text)} must be a job name, or project / environment / job with "
            "all three parts given."
        )
    return JobReference(
        name=name,
        project=project,
        environment=environment,
        text=text,
        identifier=jobs_as_code.reference_identifier(name),
    )


def parse_job_names(text: str) -> tuple[JobReference, ...]:
    """One exact job name per line (any case), optionally `project / environment / job`;
    blank lines are ignored and no line may repeat another."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidValue("must list at least one job name, one per line.")
    if len(lines) > MAX_JOBS:
        raise InvalidValue(f"must list at most {MAX_JOBS} job names (got {len(lines)}).")
    references: list[JobReference] = []
    for line in lines:
        reference = parse_job_reference(line)
        key = _reference_key(reference)
        if any(_reference_key(r) == key for r in references):
            raise InvalidValue(f"lists {_shown(line)} twice; list each job once.")
        references.append(reference)
    return tuple(references)


def _reference_key(reference: JobReference) -> tuple[str, ...]:
    return tuple(
        " ".join(part.split()).casefold()
        for part in (reference.project or "", reference.environment or "", reference.name)
    )


_POLL_SECONDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3})?", re.ASCII)


def parse_poll_interval(text: str) -> float | Auto:
    if text == "auto":
        return AUTO
    seconds = float(text) if _POLL_SECONDS.fullmatch(text) else None
    if seconds is None or not 1 <= seconds <= 300:
        raise InvalidValue(
            f"must be auto or a number of seconds from 1 to 300 (got {_shown(text)})."
        )
    return seconds


def parse_mode(text: str) -> Mode:
    try:
        return Mode(text)
    except ValueError:
        raise InvalidValue(
            f"must be trigger or follow (got {_shown(text)}): trigger starts a run, follow "
            "reports the run dbt Cloud starts by itself for this commit's pull request."
        ) from None


def parse_retry_failed(text: str) -> RetryFailed:
    try:
        return RetryFailed(text)
    except ValueError:
        raise InvalidValue(f"must be auto, always or never (got {_shown(text)}).") from None


def relative_path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative path (absolute, `..`, backslash...), or None."""
    if _invisible(path, allowed=" "):
        return "contains a control or invisible character"
    if "\\" in path:
        return "contains a backslash; use /"
    if path.startswith("/") or PurePosixPath(path).is_absolute():
        return "is absolute"
    if PureWindowsPath(path).drive:  # C:/x or C:x: the workspace / it is outside it on Windows
        return "starts with a Windows drive"
    if ".." in PurePosixPath(path).parts:
        return "contains .."
    if len(path) > 1024:
        return "is longer than 1024 characters"
    return None


def parse_artifact_paths(text: str) -> tuple[str, ...]:
    """Whitespace-separated artifact paths, relative and without `..`; duplicates dropped."""
    paths = tuple(dict.fromkeys(text.split()))
    if len(paths) > MAX_ARTIFACTS:
        raise InvalidValue(f"must list at most {MAX_ARTIFACTS} paths (got {len(paths)}).")
    for path in paths:
        if problem := relative_path_problem(path):
            raise InvalidValue(
                f"must list relative artifact paths such as run_results.json; {_shown(path)} "
                f"{problem}."
            )
    return paths


def parse_vars_input(text: str) -> Vars:
    try:
        return parse_vars(text)
    except VarsError as error:
        raise InvalidValue(str(error)) from None


def check_vars(inputs: ActionInputs) -> None:
    """`vars` edits the job's own steps: with `steps-override` there are none of its to edit."""
    if inputs.vars is not None and inputs.steps_override:
        raise InputError(
            "vars",
            "and input 'steps-override' are both set, but vars adds --vars to the job's own "
            "commands, which steps-override replaces. Add --vars '{...}' to your "
            "steps-override commands instead, or remove steps-override.",
        )


def parse_artifacts_dir(text: str) -> str:
    if problem := relative_path_problem(text):
        raise InvalidValue(
            f"must be a directory relative to the workspace, such as target; "
            f"{_shown(text)} {problem}."
        )
    return text


def clean_cause(text: str) -> str:
    """One line of printable text of at most 255 characters (dbt Cloud's limit)."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line if len(line) <= CAUSE_MAX else line[: CAUSE_MAX - 1] + "…"


def parse_cause(text: str) -> str | Auto:
    if text == "auto":
        return AUTO
    cause = clean_cause(text)
    if not cause:
        raise InvalidValue("must be auto or some text; it contains only invisible characters.")
    return cause


def parse_secret(text: str) -> str:
    """A token: one line without spaces. Never echoed."""
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidValue(
            "must be a single token without spaces or line breaks (value not shown)."
        )
    return text


def parse_access_url(text: str) -> str:
    try:
        return normalize_access_url(text)
    except ValueError as error:
        raise InvalidValue(str(error)) from None


class _Reader:
    """Reads one input at a time: its default for an empty value, its name and hint on errors."""

    def __init__(self, get: Callable[[str], str], token: str) -> None:
        self._get = get
        self._token = token

    def required(
        self, name: str, parser: Callable[[str], T], missing: str = "", hint: str = ""
    ) -> T:
        """An input without a default; `missing` says what to set it to (else `parser` says)."""
        text = self._text(name)
        if not text and missing:
            raise InputError(name, f"is required: set it to {missing}. {hint}".strip())
        return self._parse(name, parser, text, hint)

    def optional(self, name: str, parser: Callable[[str], T], default: D, hint: str = "") -> T | D:
        """An input whose empty value means `default` (what action.yml declares)."""
        text = self._text(name)
        return self._parse(name, parser, text, hint) if text else default

    def _text(self, name: str) -> str:
        raw = self._get(name)
        if name != "api-token" and len(self._token) >= _MIN_TOKEN_CHECKED and self._token in raw:
            raise InputError(
                name,
                "contains the api-token value (not shown). Put the token only in api-token, "
                "from a secret, and check which value you passed to this input.",
            )
        return raw.strip()

    def _parse(self, name: str, parser: Callable[[str], T], text: str, hint: str) -> T:
        try:
            return parser(text)
        except InvalidValue as error:
            raise InputError(name, f"{error} {hint}".strip()) from None


# Every input of action.yml, in its order; the CLI offers each as a flag and a DBT_CLOUD_* variable.
INPUT_NAMES: Final = (
    "access-url",
    "api-token",
    "account-id",
    "job-id",
    "job-name",
    "cause",
    "git-sha",
    "git-branch",
    "pull-request",
    "fork-pull-requests",
    "schema-override",
    "dbt-version-override",
    "threads-override",
    "target-name-override",
    "generate-docs-override",
    "timeout-seconds-override",
    "steps-override",
    "wait",
    "timeout",
    "poll-interval",
    "fail-on-error",
    "summary",
    "github-token",
    "cancel-on-exit",
    "cancel-on-timeout",
    "reuse-existing-run",
    "cancel-superseded",
    "retry-failed",
    "mode",
    "follow-timeout",
    "cancel-followed",
    "comment-on-pr",
    "commit-status",
    "artifacts",
    "artifacts-dir",
    "artifacts-step",
    "vars",
    "run-id",
    "annotations",
    "project-subdirectory",
    "junit-xml",
    "check-run",
    "jobs-from",
    "follow-chain",
    "compare",
)


# Inputs of `dbt-cloud-run` only, not of action.yml: the action runs on GitHub, whose pull request
# is `pull-request`; on other CIs the CLI sends another provider's id in the API's own field.
OTHER_PULL_REQUEST_FIELDS: Final = {
    "gitlab-merge-request-id": "gitlab_merge_request_id",
    "azure-pull-request-id": "azure_pull_request_id",
    "non-native-pull-request-id": "non_native_pull_request_id",
}
CLI_ONLY_INPUT_NAMES: Final = tuple(OTHER_PULL_REQUEST_FIELDS)


def parse_other_pull_request(
    get: Callable[[str], str], pull_request: int | Auto | None
) -> OtherPullRequest | None:
    """The CLI's GitLab, Azure DevOps or other provider's pull request id, if one is given.

    dbt Cloud's docs ask for the pull request id "using one of these fields"; what it does with
    two is not documented, so two ids (or one with an explicit `pull-request`) are refused.
    """
    read = _Reader(get, get("api-token").strip())
    given = [
        OtherPullRequest(field, number)
        for name, field in OTHER_PULL_REQUEST_FIELDS.items()
        if (number := read.optional(name, parse_positive_int, None)) is not None
    ]
    if not given:
        return None
    names = [_input_name(other) for other in given]
    if len(given) > 1:
        raise InputError(
            names[0],
            f"and input '{names[1]}' are both set, but a run is about one pull request, whose "
            "id dbt Cloud takes in one field. Set only the one of your git provider.",
        )
    if isinstance(pull_request, int):
        raise InputError(
            "pull-request",
            f"and input '{names[0]}' are both set, but a run is about one pull request: dbt "
            "Cloud takes its id in one field. pull-request is GitHub's; set it to none (or "
            f"leave it auto) to send {names[0]}.",
        )
    return given[0]


def _input_name(other: OtherPullRequest) -> str:
    return next(name for name, field in OTHER_PULL_REQUEST_FIELDS.items() if field == other.field)


# Inputs that only shape a run this step triggers: with `mode: follow` nothing is triggered.
_TRIGGER_ONLY_INPUTS: Final[tuple[tuple[str, Callable[[ActionInputs], bool]], ...]] = (
    ("cause", lambda i: i.cause is not AUTO),
    ("schema-override", lambda i: i.schema_override is not None),
    ("dbt-version-override", lambda i: i.dbt_version_override is not None),
    ("threads-override", lambda i: i.threads_override is not None),
    ("target-name-override", lambda i: i.target_name_override is not None),
    ("generate-docs-override", lambda i: i.generate_docs_override is not None),
    ("timeout-seconds-override", lambda i: i.timeout_seconds_override is not None),
    ("steps-override", lambda i: bool(i.steps_override)),
    ("reuse-existing-run", lambda i: not i.reuse_existing_run),
    ("cancel-superseded", lambda i: i.cancel_superseded),
    ("retry-failed", lambda i: i.retry_failed is RetryFailed.ALWAYS),
    ("vars", lambda i: i.vars is not None),
)


def check_given_run_inputs(inputs: ActionInputs) -> None:
    """`run-id` reports a run that exists: inputs that choose, shape or start a run would be
    silently ignored; they are refused instead, all named at once."""
    if inputs.run_id is None:
        return
    if inputs.jobs.job_names or len(inputs.jobs.job_ids) > 1 or inputs.mode is Mode.FOLLOW:
        raise InputError(
            "run-id",
            "is set with job-name, several job-id values or mode: follow, but names the one "
            "run to report: leave them unset (job-id may name the run's job, as a check).",
        )
    if not inputs.wait:
        raise InputError(
            "wait",
            "is false, but run-id only follows and reports the run it names. Set wait: true "
            "(the default).",
        )
    names = [name for name, is_set in _TRIGGER_ONLY_INPUTS if is_set(inputs)]
    if names:
        raise InputError(
            "run-id",
            f"names a run that exists, which nothing shapes any more, but {', '.join(names)} "
            f"{'is' if len(names) == 1 else 'are'} set. Remove "
            f"{'it' if len(names) == 1 else 'them'}, or unset run-id to trigger a run.",
        )


def check_follow_mode(inputs: ActionInputs) -> None:
    """`mode: follow` starts nothing, so inputs that shape or start a run would be silently
    ignored; they are refused instead, all named at once, as is `wait: false`."""
    if inputs.mode is not Mode.FOLLOW or inputs.run_id is not None:
        return
    if not inputs.wait:
        raise InputError(
            "wait",
            "is false, but mode: follow starts no run: it only waits for and reports the run "
            "dbt Cloud starts. Set wait: true (the default), or mode: trigger.",
        )
    names = [name for name, is_set in _TRIGGER_ONLY_INPUTS if is_set(inputs)]
    if names:
        listed = ", ".join(names)
        raise InputError(
            "mode",
            f"is follow, which triggers nothing, but {listed} "
            f"{'is' if len(names) == 1 else 'are'} set and would shape or start a run. Remove "
            f"{'it' if len(names) == 1 else 'them'} (dbt Cloud runs the job as it is "
            "configured), or use mode: trigger.",
        )


def check_one_git_target(git_sha: str | Auto | None, git_branch: str | Auto | None) -> None:
    """dbt Cloud takes a commit or a branch, never both (it answers 400 "git_branch and git_sha
    cannot both be specified"), so two explicit values are refused before any API call."""
    if isinstance(git_sha, str) and isinstance(git_branch, str):
        raise InputError(
            "git-sha",
            "and input 'git-branch' are both set, but dbt Cloud takes one of them, never both "
            "(it refuses the run: git_branch and git_sha cannot both be specified). To run "
            "that commit, leave git-branch unset (auto); to run the tip of that branch, set "
            "git-sha to auto or none.",
        )


@dataclass(frozen=True)
class GitTarget:
    """The inputs that say which code to run, read first: a fork's pull request must be
    refused or skipped even when the other inputs cannot be read (forks get no secrets)."""

    git_sha: str | Auto | None
    git_branch: str | Auto | None
    fork_pull_requests: ForkPullRequests


@dataclass(frozen=True)
class JobSelection:
    """Which jobs the step runs: ids (`job-id`) or names to resolve (`job-name`), never both."""

    job_ids: tuple[int, ...] = ()
    job_names: tuple[JobReference, ...] = ()


def parse_jobs_from(text: str) -> tuple[int, ...]:
    """`jobs-from`: the jobs a `dbt-jobs-as-code sync --json` output created or updated (the
    file is read here, before any request: a bad file starts nothing)."""
    path = Path(text.strip())
    try:
        with path.open("rb") as file:
            raw = file.read(jobs_as_code.MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as error:  # ValueError: a path with a NUL in it
        why = getattr(error, "strerror", None) or "not a usable path"
        raise InvalidValue(
            f"names {_shown(text.strip())}, which cannot be read ({why}). "
            "Give the path of the file `dbt-jobs-as-code sync <jobs.yml> --json > <file>` wrote, "
            "relative to the workspace."
        ) from None
    if len(raw) > jobs_as_code.MAX_FILE_BYTES:
        raise InvalidValue(
            f"names a file larger than {jobs_as_code.MAX_FILE_BYTES // (1024 * 1024)} MiB; it is "
            "not the output of `dbt-jobs-as-code sync --json`."
        )
    try:
        ids = jobs_as_code.applied_job_ids(raw.decode("utf-8", errors="replace"))
    except jobs_as_code.SyncFileError as error:
        raise InvalidValue(f"file {_shown(text.strip())} {error}") from None
    if len(ids) > MAX_JOBS:
        raise InvalidValue(
            f"file {_shown(text.strip())} applied {len(ids)} jobs; a step runs at most "
            f"{MAX_JOBS}. Split the jobs YAML, or run some of them by job-id."
        )
    return ids


def parse_job_selection(get: Callable[[str], str], *, optional: bool = False) -> JobSelection:
    """`job-id` (one or more ids), `job-name` (one or more names) or `jobs-from` (a sync's
    applied jobs): exactly one of them, or none when `optional` (a `run-id` names its job)."""
    read = _Reader(get, get("api-token").strip())
    ids_given = bool(get("job-id").strip())
    names_given = bool(get("job-name").strip())
    if read.optional("jobs-from", str, ""):  # the api-token check first
        if ids_given or names_given or optional:
            raise InputError(
                "jobs-from",
                "is set with job-id, job-name or run-id; it chooses the jobs itself (those its "
                "sync created or updated). Set only one of them.",
            )
        return JobSelection(job_ids=read.required("jobs-from", parse_jobs_from))
    if optional and not (ids_given or names_given):
        return JobSelection()
    if ids_given and names_given:
        raise InputError(
            "job-id",
            "and input 'job-name' are both set; set one of them: job-id with the jobs' ids, or "
            "job-name with their names.",
        )
    if names_given:
        return JobSelection(job_names=read.required("job-name", parse_job_names))
    return JobSelection(
        job_ids=read.required(
            "job-id",
            parse_job_ids,
            missing="the id of the job to run (or set job-name to its name, or jobs-from to "
            "a dbt-jobs-as-code sync's JSON)",
            hint="Set job-id to the number in the job's URL: .../jobs/<job-id>/",
        )
    )


def parse_git_target(get: Callable[[str], str]) -> GitTarget:
    read = _Reader(get, get("api-token").strip())
    target = GitTarget(
        git_sha=read.optional("git-sha", parse_sha, AUTO),
        git_branch=read.optional("git-branch", parse_branch, AUTO),
        fork_pull_requests=read.optional(
            "fork-pull-requests", parse_fork_pull_requests, ForkPullRequests.FAIL
        ),
    )
    check_one_git_target(target.git_sha, target.git_branch)
    return target


@dataclass(frozen=True)
class Connection:
    """Where dbt Cloud is and who the step is there: all the post step needs (the runs it
    cleans up are in its saved state, so nothing else is read again: a jobs-from file may be
    gone by then)."""

    access_url: str
    api_token: str
    account_id: int


def parse_connection(get: Callable[[str], str]) -> Connection:
    read = _Reader(get, get("api-token").strip())
    return Connection(
        access_url=read.required("access-url", parse_access_url),
        api_token=read.required(
            "api-token",
            parse_secret,
            missing="a dbt Cloud service token",
            hint="Pass it from a secret: api-token: ${{ secrets.DBT_CLOUD_API_TOKEN }}",
        ),
        account_id=read.required(
            "account-id",
            parse_positive_int,
            missing="your dbt Cloud account id",
            hint="Set account-id to the number after /accounts/ in your dbt Cloud URLs.",
        ),
    )


def parse_inputs(get: Callable[[str], str], *, cli: bool = False) -> ActionInputs:
    """All inputs from raw strings (`get("job-id")`; empty means unset), or the first InputError.
    `cli` also reads the inputs only `dbt-cloud-run` has (CLI_ONLY_INPUT_NAMES)."""
    read = _Reader(get, get("api-token").strip())
    git = parse_git_target(get)
    connection = parse_connection(get)
    access_url, api_token = connection.access_url, connection.api_token
    account_id = connection.account_id
    run_id = read.optional(
        "run-id",
        parse_positive_int,
        None,
        hint="Set it to the number after /runs/ in the run's URL, or leave it empty.",
    )
    jobs = parse_job_selection(get, optional=run_id is not None)
    pull_request = read.optional("pull-request", parse_pull_request, AUTO)
    inputs = ActionInputs(
        access_url=access_url,
        api_token=api_token,
        account_id=account_id,
        job_id=jobs.job_ids[0] if jobs.job_ids else 0,
        jobs=jobs,
        cause=read.optional("cause", parse_cause, AUTO),
        git_sha=git.git_sha,
        git_branch=git.git_branch,
        pull_request=pull_request,
        fork_pull_requests=git.fork_pull_requests,
        schema_override=read.optional("schema-override", parse_schema_template, None),
        dbt_version_override=read.optional("dbt-version-override", parse_dbt_version, None),
        threads_override=read.optional("threads-override", parse_threads, None),
        target_name_override=read.optional("target-name-override", parse_target_name, None),
        generate_docs_override=read.optional("generate-docs-override", parse_bool, None),
        timeout_seconds_override=read.optional(
            "timeout-seconds-override", parse_timeout_seconds_override, None
        ),
        steps_override=read.optional("steps-override", parse_steps, ()),
        wait=read.optional("wait", parse_bool, True),
        timeout_seconds=read.optional(
            "timeout",
            parse_duration,
            None,
            hint="Leave it empty to wait until the step's own timeout.",
        ),
        poll_interval=read.optional("poll-interval", parse_poll_interval, AUTO),
        fail_on_error=read.optional("fail-on-error", parse_bool, True),
        summary=read.optional("summary", parse_bool, True),
        github_token=read.optional(
            "github-token",
            parse_secret,
            None,
            hint="Leave it unset to use the workflow's github.token.",
        ),
        cancel_on_exit=read.optional("cancel-on-exit", parse_bool, True),
        cancel_on_timeout=read.optional("cancel-on-timeout", parse_bool, True),
        reuse_existing_run=read.optional("reuse-existing-run", parse_bool, True),
        cancel_superseded=read.optional("cancel-superseded", parse_bool, False),
        retry_failed=read.optional("retry-failed", parse_retry_failed, RetryFailed.AUTO),
        comment_on_pr=read.optional("comment-on-pr", parse_comment_mode, CommentMode.OFF),
        commit_status=read.optional("commit-status", parse_bool, False),
        artifacts=read.optional("artifacts", parse_artifact_paths, ()),
        artifacts_dir=read.optional("artifacts-dir", parse_artifacts_dir, "target"),
        artifacts_step=read.optional("artifacts-step", parse_positive_int, None),
        mode=read.optional("mode", parse_mode, Mode.TRIGGER),
        follow_timeout_seconds=read.optional(
            "follow-timeout",
            parse_duration,
            DEFAULT_FOLLOW_TIMEOUT,
            hint="Leave it empty to wait up to 10 minutes for dbt Cloud to start the run.",
        ),
        cancel_followed=read.optional("cancel-followed", parse_bool, False),
        other_pull_request=parse_other_pull_request(get, pull_request) if cli else None,
        vars=read.optional("vars", parse_vars_input, None),
        run_id=run_id,
        annotations=read.optional("annotations", parse_auto_off, True),
        project_subdirectory=read.optional("project-subdirectory", parse_subdirectory, None),
        junit_xml=read.optional("junit-xml", parse_junit_path, None),
        check_run=read.optional("check-run", parse_bool, False),
        follow_chain=read.optional("follow-chain", parse_bool, False),
        compare=read.optional("compare", parse_auto_off, True),
    )
    check_given_run_inputs(inputs)
    check_follow_mode(inputs)
    check_vars(inputs)
    check_follow_chain(inputs)
    return inputs


def check_follow_chain(inputs: ActionInputs) -> None:
    """The chain starts when the run ends: a step that does not wait for the end sees none."""
    if inputs.follow_chain and not inputs.wait:
        raise InputError(
            "follow-chain",
            "is true, but wait is false: the runs a job chain starts are found only once this "
            "run ends. Set wait: true (the default), or follow-chain: false.",
        )


# -- reporting where reviewers look (issue 19) ----------------------------------------------
def parse_comment_mode(text: str) -> CommentMode:
    """`always | failures | changes | off`; `true` and `false` as before (always, off)."""
    legacy = {"true": "always", "True": "always", "TRUE": "always"}
    legacy |= {"false": "off", "False": "off", "FALSE": "off"}
    try:
        return CommentMode(legacy.get(text, text))
    except ValueError:
        raise InvalidValue(
            f"must be always, failures, changes or off (or true, false) (got {_shown(text)}): "
            "failures comments only when a run fails, changes only when the outcome or the "
            "failing nodes differ from the comment already there."
        ) from None


def parse_auto_off(text: str) -> bool:
    """`auto` (on where it applies) or `off`."""
    if text not in {"auto", "off"}:
        raise InvalidValue(f"must be auto or off (got {_shown(text)}).")
    return text == "auto"


def parse_subdirectory(text: str) -> str:
    """The dbt project's folder in the repository, relative (`.` or `/` ends are trimmed)."""
    cleaned = text.strip("/")
    if cleaned in {"", "."}:
        return ""
    if problem := relative_path_problem(cleaned):
        raise InvalidValue(
            f"must be the dbt project's folder relative to the repository, such as "
            f"transform/dbt; {_shown(text)} {problem}."
        )
    return cleaned


def parse_junit_path(text: str) -> str:
    if problem := relative_path_problem(text):
        raise InvalidValue(
            f"must be a file path relative to the workspace, such as reports/dbt.xml; "
            f"{_shown(text)} {problem}."
        )
    if text.endswith("/"):
        raise InvalidValue(f"must name a file, not a folder (got {_shown(text)}).")
    return text
