"""A finished run's results and artifacts: fetched from what dbt Cloud says it saved, without
blind waits, and written into the workspace owned like it.

dbt Cloud says whether a run stored artifacts (`artifacts_saved`) and which ones (`GET
runs/{id}/artifacts/`, the last step's files). Nothing is asked of a run that stored none. A
file is waited for only when the list names it and its download still answers 404 (listed
artifacts can become fetchable a moment after the run ends, kestra-io/plugin-dbt#275); that wait
is bounded and ends for good at the first download that succeeds.

Results come from every step that ran build/run/test/seed/snapshot (`steps_with_results`), each
fetched with `?step=N`, so a job ending with `dbt docs generate` still shows its build.

The container runs as root, while later steps run as the runner's user: saved files and the
folders created for them get the owner of the workspace, so `dbt compile --state target` or a
checkout clean-up can overwrite them.

Memory stays bounded whatever the project's size (docs/artifacts.md, Memory): a download is
streamed to a file beside its destination, renamed into place once complete and removed
otherwise, and refused past `MAX_ARTIFACT_BYTES`; a `run_results.json` digested for the report
is read into memory (json parses a whole document at once) and refused past
`MAX_RESULTS_BYTES`.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from dbt_cloud_action.client import MAX_ARTIFACT_BYTES, ArtifactNotFound, DbtCloudError
from dbt_cloud_action.manifest import ManifestFacts, read_manifest
from dbt_cloud_action.models import Run, RunStep
from dbt_cloud_action.results import (
    ResultsDigest,
    StepResults,
    combine,
    parse_run_results,
    reconciled_steps,
    step_command,
    steps_with_results,
)

RUN_RESULTS = "run_results.json"
MANIFEST = "manifest.json"
POLL_SECONDS = 2.0
# A run_results.json read into memory to digest (its parsed form takes a few times its size);
# a download is capped on disk by the client's MAX_ARTIFACT_BYTES unless the runner says.
MAX_RESULTS_BYTES = 256 << 20
_LISTED_IN_NOTES = 10


class ArtifactSource(Protocol):
    """What the collector needs from the dbt Cloud client."""

    def list_artifacts(self, run_id: int) -> list[str]: ...

    def download_artifact(
        self, run_id: int, path: str, into: BinaryIO, *, max_bytes: int, step: int | None = None
    ) -> int: ...


@dataclass(frozen=True)
class Destination:
    """Where downloads go: `directory` relative to `workspace`; `owned_like_workspace` gives
    what is written the workspace's owner (in the runner's container, which runs as root)."""

    workspace: Path
    directory: str
    owned_like_workspace: bool = True


@dataclass(frozen=True)
class Collected:
    step_results: tuple[StepResults, ...] = ()
    results: ResultsDigest | None = None  # all of step_results together
    saved: tuple[str, ...] = ()  # paths relative to the workspace
    notes: tuple[str, ...] = ()
    facts: ManifestFacts | None = None  # the failing nodes' files and downstream nodes


class ArtifactCollector:
    """One run's results and downloads; `max_artifact_bytes` and `max_results_bytes` are the
    caps above (tests lower them)."""

    def __init__(
        self,
        client: ArtifactSource,
        *,
        wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_artifact_bytes: int = MAX_ARTIFACT_BYTES,
        max_results_bytes: int = MAX_RESULTS_BYTES,
    ) -> None:
        self._client = client
        self._wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._max_artifact_bytes = max_artifact_bytes
        self._max_results_bytes = max_results_bytes
        self._deadline = 0.0
        self._visible = False  # a download succeeded: the run's artifacts are all fetchable
        self._cache: dict[tuple[str, int | None], bytes] = {}  # run_results.json by step

    def collect(
        self,
        run: Run,
        wanted: Sequence[str],
        wanted_step: int | None,
        to: Destination,
        *,
        manifest: bool = False,
    ) -> Collected:
        """Results of the run's dbt steps, and the `wanted` artifacts saved under `to`; with
        `manifest`, when some node failed, the failing step's manifest.json read once."""
        chosen = steps_with_results(run)
        if run.artifacts_saved is False:
            if not (chosen or wanted):
                return Collected()
            missing = "model and test results are not shown" + (
                " and no artifact was downloaded" if wanted else ""
            )
            return Collected(notes=(f"dbt Cloud saved no artifacts for run {run.id}: {missing}.",))
        try:
            listed = self._client.list_artifacts(run.id)
        except DbtCloudError as exc:
            return Collected(notes=(f"Could not list the artifacts of run {run.id}: {exc}",))
        if not listed:
            return Collected(
                notes=(f"dbt Cloud lists no artifacts for run {run.id}; results are not shown.",)
            )
        self._deadline = self._clock() + self._wait_seconds
        last = run.steps[-1].index if run.steps else None
        notes: list[str] = []
        step_results = self._results(run, chosen, last, RUN_RESULTS in listed, notes)
        facts = None
        if manifest:
            facts = self._manifest_facts(run, step_results, last, MANIFEST in listed, notes)
        saved = self._download(run, wanted, wanted_step, last, listed, to, notes)
        digests = [step.digest for step in step_results]
        return Collected(
            step_results=step_results,
            results=combine(digests) if digests else None,
            saved=saved,
            notes=tuple(notes),
            facts=facts,
        )

    def _manifest_facts(
        self,
        run: Run,
        step_results: Sequence[StepResults],
        last: int | None,
        listed: bool,
        notes: list[str],
    ) -> ManifestFacts | None:
        """The failing nodes' files and downstream nodes from the manifest.json of the last
        step with failures (one request, none when nothing failed). The bytes stay cached
        only when the step also downloads that very file."""
        failing = [
            step for step in reconciled_steps(run, step_results) if step.digest.problems_total
        ]
        if not failing:
            return None
        step = failing[-1]
        ids = [node.unique_id for s in failing for node in s.digest.problems]
        key = (MANIFEST, step.step_index)
        try:
            raw = self._cache.get(key)
            if raw is None:
                into = io.BytesIO()
                self._fetch(
                    run, MANIFEST, step.step_index, last, listed, into, self._max_results_bytes
                )
                raw = into.getvalue()
            data = json.loads(raw)
        except ArtifactNotFound:
            notes.append(
                f"{MANIFEST} of step {step.step_index} is not available for run "
                f"{run.id}: failures are not put on their files."
            )
            return None
        except DbtCloudError as exc:
            notes.append(f"Could not fetch {MANIFEST}: {exc}; failures are not put on their files.")
            return None
        except (ValueError, RecursionError) as exc:
            notes.append(f"{MANIFEST} could not be read: {exc}")
            return None
        self._cache[key] = raw
        return read_manifest(data if isinstance(data, dict) else {}, ids)

    def _results(
        self,
        run: Run,
        chosen: Sequence[RunStep],
        last: int | None,
        listed: bool,
        notes: list[str],
    ) -> tuple[StepResults, ...]:
        """Each chosen step's digest, the latest step first fetched (it is the listed one)."""
        wanted: list[tuple[int | None, str]] = [(s.index, step_command(s)) for s in chosen]
        if not run.steps and listed:  # steps unknown: the last step's results, as listed
            wanted = [(None, "")]
        found: list[StepResults] = []
        for index, command in reversed(wanted):
            where = f" of step {index}" if index is not None else ""
            try:
                raw = self._results_of(run, index, last, listed=listed)
            except ArtifactNotFound:
                notes.append(
                    f"{RUN_RESULTS}{where} is not available for run {run.id}; its model and "
                    "test results are not shown."
                )
                continue
            except DbtCloudError as exc:
                notes.append(f"Could not fetch {RUN_RESULTS}{where}: {exc}")
                continue
            try:
                digest = parse_run_results(raw)
            except ValueError as exc:
                notes.append(f"{RUN_RESULTS}{where} could not be read: {exc}")
                continue
            found.append(StepResults(index or last or 0, command, digest))
        return tuple(reversed(found))

    def _download(  # noqa: PLR0917  (one call site; each argument is distinct)
        self,
        run: Run,
        wanted: Sequence[str],
        wanted_step: int | None,
        last: int | None,
        listed: Sequence[str],
        to: Destination,
        notes: list[str],
    ) -> tuple[str, ...]:
        saved: list[str] = []
        for path in wanted:
            # the list names the last step's files; another step's are tried once
            if (wanted_step is None or wanted_step == last) and path not in listed:
                names = ", ".join(listed[:_LISTED_IN_NOTES]) + (
                    ", …" if len(listed) > _LISTED_IN_NOTES else ""
                )
                notes.append(
                    f"Artifact {path} was not saved: run {run.id} has no such artifact "
                    f"(dbt Cloud lists {names})."
                )
                continue
            relative = PurePosixPath(to.directory, path)  # shown with / on every OS, as given
            fill = self._writer(run, path, wanted_step, last, listed=path in listed)
            try:
                write_owned(to.workspace, Path(relative), fill, owned=to.owned_like_workspace)
            except DbtCloudError as exc:
                notes.append(f"Artifact {path} was not saved: {exc}")
                continue
            except OSError as exc:
                notes.append(f"Artifact {path} could not be written to {relative}: {exc}")
                continue
            saved.append(str(relative))
        return tuple(saved)

    def _results_of(self, run: Run, step: int | None, last: int | None, *, listed: bool) -> bytes:
        """A step's run_results.json, read into memory within `max_results_bytes` and kept, so
        that downloading it too costs no second request."""
        key = (RUN_RESULTS, last if step is None else step)
        if key not in self._cache:
            into = io.BytesIO()
            self._fetch(run, RUN_RESULTS, step, last, listed, into, self._max_results_bytes)
            self._cache[key] = into.getvalue()
        return self._cache[key]

    def _writer(
        self, run: Run, path: str, step: int | None, last: int | None, *, listed: bool
    ) -> Callable[[BinaryIO], object]:
        """What fills a download's file: the results read already (when within the cap, else
        the client says it is too large), else the artifact streamed within the cap."""
        cached = self._cache.get((path, last if step is None else step))
        if cached is not None and len(cached) <= self._max_artifact_bytes:
            return lambda into: into.write(cached)
        limit = self._max_artifact_bytes
        return lambda into: self._fetch(run, path, step, last, listed, into, limit)

    def _fetch(  # noqa: PLR0917  (two call sites; each argument is distinct)
        self,
        run: Run,
        path: str,
        step: int | None,
        last: int | None,
        listed: bool,
        into: BinaryIO,
        max_bytes: int,
    ) -> None:
        """Stream the artifact into `into`. While it 404s it is polled until the deadline only
        when it must exist: the list names this very file (the last step's), or names it for
        the last step and no download of the run has succeeded yet."""
        named = listed and step in (None, last)
        while True:
            try:
                self._client.download_artifact(run.id, path, into, max_bytes=max_bytes, step=step)
            except ArtifactNotFound:
                remaining = self._deadline - self._clock()
                if not (named or (listed and not self._visible)) or remaining <= 0:
                    raise
                self._sleep(min(POLL_SECONDS, remaining))
                continue
            self._visible = True
            return


def write_owned(
    workspace: Path, relative: Path, fill: Callable[[BinaryIO], object], *, owned: bool = True
) -> None:
    """Write `workspace/relative` with what `fill` writes into the open file, creating its
    folders. It is written beside its place (`.<name>.part`) and renamed there only once `fill`
    returns, so a download that fails or is cancelled leaves no partial file and an older copy
    stays whole; whatever `fill` raises, the partial file is removed and the error goes on.
    With `owned`, the file and every folder created for it get the workspace's owner (when
    running as root, as the container does)."""
    owner = _owner_to_give(workspace) if owned else None
    root = workspace.resolve()
    folder = workspace
    for part in relative.parent.parts:
        folder /= part
        if not folder.is_dir():
            folder.mkdir()
            if owner is not None:
                os.chown(folder, *owner)
    target = workspace / relative
    # a checked-out symlink (a folder, or the file itself) must not take a write of the
    # action's, which runs as root in the container, outside the workspace
    if target.is_symlink() or not folder.resolve().is_relative_to(root):
        raise OSError(f"{relative} leads outside the workspace through a symbolic link")
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as into:
            fill(into)
        if owner is not None:
            os.chown(partial, *owner)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _owner_to_give(workspace: Path) -> tuple[int, int] | None:
    """The workspace's (uid, gid) when this process is root and could give files away."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() != 0:
        return None
    try:
        info = workspace.stat()
    except OSError:
        return None
    return info.st_uid, info.st_gid
