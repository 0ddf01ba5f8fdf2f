"""ArtifactCollector against a scripted client on a fake clock: which requests it makes, and when
it waits, and its caps; write_owned's partial file and ownership (the suite runs as root, as the
action's container does, so it can give files away)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from dbt_cloud_action.artifacts import (
    POLL_SECONDS,
    ArtifactCollector,
    Collected,
    Destination,
    write_owned,
)
from dbt_cloud_action.client import ArtifactNotFound, ArtifactTooLarge, DbtCloudUnavailable
from dbt_cloud_action.models import Run, RunStatus, RunStep

OTHER_UID, OTHER_GID = 4321, 8765


def results(*unique_ids: str) -> bytes:
    return json.dumps(
        {"results": [{"unique_id": uid, "status": "success"} for uid in unique_ids]}
    ).encode()


class ScriptedClient:
    """Serves `files[(path, step)]`, as the real client streams them (its cap enforced, a
    partial file left when it is passed); the first `late` requests 404; `caps` records each
    request's `max_bytes`."""

    def __init__(
        self, listed: list[str], files: dict[tuple[str, int | None], bytes], late: int = 0
    ) -> None:
        self.listed = listed
        self.files = files
        self.late = late
        self.calls: list[tuple[str, int | None]] = []
        self.caps: list[int] = []

    def list_artifacts(self, run_id: int) -> list[str]:
        self.calls.append(("list", None))
        return self.listed

    def download_artifact(
        self, run_id: int, path: str, into: BinaryIO, *, max_bytes: int, step: int | None = None
    ) -> int:
        self.calls.append((path, step))
        self.caps.append(max_bytes)
        if self.late > 0 or (path, step) not in self.files:
            self.late -= 1
            raise ArtifactNotFound(404, f"no {path}")
        data = self.files[(path, step)]
        into.write(data[: max_bytes + 1])
        if len(data) > max_bytes:
            raise ArtifactTooLarge(200, f"artifact {path!r} is larger than {max_bytes} bytes")
        return len(data)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


STEPS = (
    RunStep(1, "Clone git repository", RunStatus.SUCCESS),
    RunStep(2, "Invoke dbt with `dbt seed`", RunStatus.SUCCESS),
    RunStep(3, "Invoke dbt with `dbt build`", RunStatus.SUCCESS),
    RunStep(4, "Invoke dbt with `dbt docs generate`", RunStatus.SUCCESS),
)


def run(saved: bool | None = True, steps: tuple[RunStep, ...] = STEPS) -> Run:
    return Run(7, 1, 1, RunStatus.SUCCESS, 10, steps=steps, artifacts_saved=saved)


def collect(
    client: ScriptedClient,
    tmp_path: Path,
    the_run: Run,
    wanted: tuple[str, ...] = (),
    step: int | None = None,
    **caps: int,
) -> tuple[Collected, FakeTime]:
    fake = FakeTime()
    collector = ArtifactCollector(
        client, wait_seconds=20, clock=fake.clock, sleep=fake.sleep, **caps
    )
    return collector.collect(the_run, wanted, step, Destination(tmp_path, "target")), fake


def test_a_run_that_saved_no_artifacts_is_asked_nothing(tmp_path: Path) -> None:
    client = ScriptedClient([], {})
    collected, fake = collect(client, tmp_path, run(saved=False), ("manifest.json",))
    assert client.calls == [] and fake.sleeps == []
    assert "saved no artifacts for run 7" in collected.notes[0]


def test_each_dbt_step_is_fetched_once_and_reused_for_a_download(tmp_path: Path) -> None:
    files = {
        ("run_results.json", 2): results("seed.x.raw"),
        ("run_results.json", 3): results("model.x.a", "model.x.b"),
        ("manifest.json", None): b"{}",
    }
    client = ScriptedClient(["catalog.json", "manifest.json", "run_results.json"], files)
    collected, fake = collect(
        client, tmp_path, run(), ("manifest.json", "run_results.json"), step=3
    )
    assert client.calls == [
        ("list", None),
        ("run_results.json", 3),
        ("run_results.json", 2),
        ("manifest.json", 3),
    ]
    steps = collected.step_results
    assert [(s.step_index, s.command, s.digest.total) for s in steps] == [
        (2, "dbt seed", 1),
        (3, "dbt build", 2),
    ]
    assert collected.results is not None and collected.results.total == 3
    assert fake.sleeps == []


def test_a_listed_artifact_that_404s_is_polled_until_it_appears(tmp_path: Path) -> None:
    files = {("run_results.json", 1): results("model.x.a"), ("manifest.json", None): b"{}"}
    only_build = (RunStep(1, "Invoke dbt with `dbt build`", RunStatus.SUCCESS),)
    client = ScriptedClient(["manifest.json", "run_results.json"], files, late=3)
    collected, fake = collect(client, tmp_path, run(steps=only_build), ("manifest.json",))
    assert fake.sleeps == [POLL_SECONDS] * 3
    assert collected.saved == ("target/manifest.json",)
    assert (tmp_path / "target" / "manifest.json").read_bytes() == b"{}"


def test_the_wait_for_a_listed_artifact_is_bounded(tmp_path: Path) -> None:
    client = ScriptedClient(["run_results.json"], {})
    collected, fake = collect(client, tmp_path, run(steps=STEPS[:3]))
    assert sum(fake.sleeps) == 20  # then gives up on step 3, and step 2 is not waited for
    assert client.calls[-1] == ("run_results.json", 2)
    assert len(collected.notes) == 2


def test_an_unlisted_artifact_is_not_requested(tmp_path: Path) -> None:
    only_build = (RunStep(1, "Invoke dbt with `dbt build`", RunStatus.SUCCESS),)
    client = ScriptedClient(["run_results.json"], {("run_results.json", 1): results("m.x.a")})
    collected, fake = collect(client, tmp_path, run(steps=only_build), ("catalog.json",))
    assert client.calls == [("list", None), ("run_results.json", 1)]
    assert collected.notes == (
        "Artifact catalog.json was not saved: run 7 has no such artifact "
        "(dbt Cloud lists run_results.json).",
    )
    assert fake.sleeps == []


def test_another_steps_missing_results_are_not_waited_for_once_others_arrived(
    tmp_path: Path,
) -> None:
    client = ScriptedClient(["run_results.json"], {("run_results.json", 3): results("m.x.a")})
    collected, fake = collect(client, tmp_path, run(steps=STEPS[:3]))
    assert client.calls == [("list", None), ("run_results.json", 3), ("run_results.json", 2)]
    assert fake.sleeps == []
    assert "of step 2 is not available" in collected.notes[0]


def test_written_files_and_created_folders_get_the_workspace_owner(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "out").mkdir(parents=True)  # exists already: left as it is
    os.chown(workspace, OTHER_UID, OTHER_GID)
    write_owned(workspace, Path("out/dbt/target/run_results.json"), lambda f: f.write(b"{}"))
    for path in ("out/dbt", "out/dbt/target", "out/dbt/target/run_results.json"):
        info = (workspace / path).stat()
        assert (info.st_uid, info.st_gid) == (OTHER_UID, OTHER_GID), path
    assert (workspace / "out").stat().st_uid == 0


def test_without_ownership_files_keep_the_writers_owner(tmp_path: Path) -> None:
    os.chown(tmp_path, OTHER_UID, OTHER_GID)
    write_owned(tmp_path, Path("a/b.json"), lambda f: f.write(b"{}"), owned=False)
    assert (tmp_path / "a" / "b.json").stat().st_uid == os.geteuid()


def test_an_artifact_that_cannot_be_written_is_a_note_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("a file where the folder should be")
    only_build = (RunStep(1, "Invoke dbt with `dbt build`", RunStatus.SUCCESS),)
    files = {("run_results.json", 1): results("m.x.a"), ("manifest.json", None): b"{}"}
    client = ScriptedClient(["manifest.json", "run_results.json"], files)
    collected, _ = collect(client, tmp_path, run(steps=only_build), ("manifest.json",))
    assert collected.saved == ()
    [note] = collected.notes
    assert note.startswith("Artifact manifest.json could not be written to target/manifest.json")


ONLY_BUILD = (RunStep(1, "Invoke dbt with `dbt build`", RunStatus.SUCCESS),)


def test_a_download_past_its_cap_leaves_no_file_and_says_it_was_too_large(tmp_path: Path) -> None:
    files = {("run_results.json", 1): results("m.x.a"), ("catalog.json", None): b" " * 5000}
    client = ScriptedClient(["catalog.json", "run_results.json"], files)
    collected, _ = collect(
        client, tmp_path, run(steps=ONLY_BUILD), ("catalog.json",), max_artifact_bytes=4096
    )
    assert collected.saved == ()
    [note] = collected.notes
    assert note.startswith("Artifact catalog.json was not saved: ")
    assert "is larger than 4096 bytes" in note
    assert list((tmp_path / "target").iterdir()) == []  # the partial file is gone too
    assert collected.results is not None and collected.results.total == 1  # results still shown


def test_results_are_read_within_their_own_cap_and_downloads_within_theirs(
    tmp_path: Path,
) -> None:
    big_results = results(*(f"model.x.m{i}" for i in range(200)))
    files = {("run_results.json", 1): big_results, ("manifest.json", None): b"{}"}
    client = ScriptedClient(["manifest.json", "run_results.json"], files)
    collected, _ = collect(
        client,
        tmp_path,
        run(steps=ONLY_BUILD),
        ("manifest.json",),
        max_results_bytes=1000,
        max_artifact_bytes=2000,
    )
    assert client.caps == [1000, 2000]
    [note] = collected.notes
    assert note.startswith("Could not fetch run_results.json of step 1: ")
    assert "larger than 1000 bytes" in note
    assert collected.results is None
    assert collected.saved == ("target/manifest.json",)


def test_results_read_already_are_saved_without_a_second_request(tmp_path: Path) -> None:
    files: dict[tuple[str, int | None], bytes] = {("run_results.json", 1): results("m.x.a")}
    client = ScriptedClient(["run_results.json"], files)
    collected, _ = collect(client, tmp_path, run(steps=ONLY_BUILD), ("run_results.json",))
    assert client.calls == [("list", None), ("run_results.json", 1)]
    assert (tmp_path / "target" / "run_results.json").read_bytes() == files[("run_results.json", 1)]
    assert collected.saved == ("target/run_results.json",)


def test_a_failed_write_removes_its_partial_file_and_keeps_the_older_copy(tmp_path: Path) -> None:
    target = tmp_path / "target" / "manifest.json"
    write_owned(tmp_path, Path("target/manifest.json"), lambda f: f.write(b"old"), owned=False)

    def broken(into: BinaryIO) -> None:
        into.write(b"half of it")
        raise DbtCloudUnavailable(None, "the answer broke off")

    with pytest.raises(DbtCloudUnavailable):
        write_owned(tmp_path, Path("target/manifest.json"), broken, owned=False)
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]


def test_the_file_is_in_place_only_once_complete(tmp_path: Path) -> None:
    target = tmp_path / "target" / "catalog.json"
    seen: list[bool] = []

    def fill(into: BinaryIO) -> None:
        into.write(b"{}")
        seen.append(target.exists())

    write_owned(tmp_path, Path("target/catalog.json"), fill, owned=False)
    assert seen == [False]
    assert target.read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["catalog.json"]


def test_a_checked_out_symlink_never_takes_a_write_outside_the_workspace(tmp_path: Path) -> None:
    """The container writes as root: a folder (or file) of the checkout that links out of the
    workspace is refused, and nothing is written there."""
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    (workspace / "reports").symlink_to(outside, target_is_directory=True)
    (workspace / "report.xml").symlink_to(outside / "report.xml")
    for relative in (Path("reports/dbt.xml"), Path("report.xml")):
        with pytest.raises(OSError, match="outside the workspace"):
            write_owned(workspace, relative, lambda into: into.write(b"<testsuites/>"))
    assert list(outside.iterdir()) == []
    write_owned(workspace, Path("target/dbt.xml"), lambda into: into.write(b"<testsuites/>"))
    assert (workspace / "target" / "dbt.xml").read_bytes() == b"<testsuites/>"
