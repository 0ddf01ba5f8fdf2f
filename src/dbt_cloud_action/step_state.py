"""What the post step needs to honour the main step's decisions, one record per run.

The post step cancels a run the main step saved but neither saw end nor handed over to dbt
Cloud: the main step meant to cancel it and could not (it was killed outright, or its own cancel
failed). Before a run-creating POST is sent, its key (`PendingRun`: the job, the `cause` and the
commit, or the failed run a retry reruns) is saved, so the post step can look for a run whose
answer never came. With one job the record is the keys it always was (`run_id`, `run_ended`,
`leave_run`) plus `pending_run`, so a post step of an older version reads it; with several jobs
it is one JSON list in `runs`, rewritten whole at each change, so the post step never reads half
of it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .models import Run

STATE_RUN_ID = "run_id"
STATE_RUN_ENDED = "run_ended"
# Why the run is handed over to dbt Cloud (wait: false, cancel-on-exit: false, a timeout with
# cancel-on-timeout: false, a cancel already accepted): the post step must not cancel it.
STATE_LEAVE_RUN = "leave_run"
STATE_RUNS = "runs"
STATE_PENDING_RUN = "pending_run"


@dataclass(frozen=True)
class PendingRun:
    """A run-creating POST about to be sent: what finds its run among the job's runs. Only a
    trigger whose cause names this very step (the automatic cause, with its key), or a retry
    (whose run names the failed run), is one: any other cause may be another run's too."""

    job_id: int
    cause: str = ""
    git_sha: str = ""
    retry_of: int | None = None  # a retry of this failed run; None for a trigger

    @classmethod
    def of_trigger(cls, job_id: int, body: Mapping[str, Any]) -> PendingRun:
        return cls(job_id, str(body.get("cause") or ""), str(body.get("git_sha") or ""))

    @classmethod
    def of_retry(cls, failed: Run) -> PendingRun:
        return cls(failed.job_id, failed.cause, failed.git_sha, retry_of=failed.id)

    def failed_run(self) -> Run:
        """The failed run a retry reruns, as far as finding the retry's run needs it."""
        return Run(
            id=self.retry_of or 0,
            job_id=self.job_id,
            account_id=0,
            status=None,
            status_code=None,
            cause=self.cause,
            git_sha=self.git_sha,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "cause": self.cause,
            "git_sha": self.git_sha,
            "retry_of": self.retry_of,
        }

    @classmethod
    def from_json(cls, item: object) -> PendingRun | None:
        """None when `item` is not a pending run this version wrote."""
        if not isinstance(item, dict):
            return None
        job_id, retry_of = item.get("job_id"), item.get("retry_of")
        if not isinstance(job_id, int) or not (retry_of is None or _is_int(retry_of)):
            return None
        cause, git_sha = str(item.get("cause") or ""), str(item.get("git_sha") or "")
        return cls(job_id, cause, git_sha, retry_of)


@dataclass(frozen=True)
class RunRecord:
    run_id: int | None = None
    ended: bool = False
    leave: str = ""  # why the run is left to dbt Cloud; "" when it is not
    pending: PendingRun | None = None  # a run-creating POST sent, its run not known yet

    @property
    def to_cancel(self) -> bool:
        """What the post step cancels: a run neither seen ending nor handed over."""
        return self.run_id is not None and not self.ended and not self.leave

    @property
    def to_find(self) -> bool:
        """A run-creating POST whose answer never came: its run is looked for, then cancelled."""
        return self.run_id is None and self.pending is not None and not self.leave


class StepState:
    """The records of a step's runs, saved as they change (from the start phase's threads too)."""

    def __init__(self, runs: int, save: Callable[[str, str], None]) -> None:
        self._records = [RunRecord() for _ in range(runs)]
        self._save = save
        self._lock = threading.Lock()

    def slot(self, index: int) -> RunState:
        return RunState(self, index)

    def new_slot(self) -> RunState:
        """A record for a run found while the step goes (a job chain's, run_chain.py)."""
        with self._lock:
            self._records.append(RunRecord())
            return RunState(self, len(self._records) - 1)

    def _record(self, index: int) -> RunRecord:
        with self._lock:
            return self._records[index]

    def _update(self, index: int, **changes: object) -> None:
        with self._lock:
            self._records[index] = replace(self._records[index], **changes)  # type: ignore[arg-type]
            if len(self._records) > 1:
                self._save(STATE_RUNS, json.dumps([_as_json(r) for r in self._records]))
                return
            # one job: the keys it always had, each written once it holds
            if "pending" in changes:
                pending = self._records[0].pending
                self._save(STATE_PENDING_RUN, json.dumps(pending and pending.as_json()))
            if "leave" in changes:
                self._save(STATE_LEAVE_RUN, self._records[0].leave)
            if "run_id" in changes:
                self._save(STATE_RUN_ID, str(self._records[0].run_id))
            if "ended" in changes:
                self._save(STATE_RUN_ENDED, "true")


class RunState:
    """One run's record."""

    def __init__(self, state: StepState, index: int) -> None:
        self._state = state
        self._index = index

    def started(self, run_id: int, *, leave: str = "") -> None:
        """The run exists; a run handed over from the start (wait: false, cancel-on-exit:
        false) is saved with its reason, so the post step never sees its id without it."""
        if leave:
            self._state._update(self._index, leave=leave)
        self._state._update(self._index, run_id=run_id)

    def record(self) -> RunRecord:
        """The run's record as saved (read from any thread)."""
        return self._state._record(self._index)

    def pending(self, pending: PendingRun | None) -> None:
        """A run-creating POST is about to be sent (saved before it is); None: it surely
        created no run."""
        self._state._update(self._index, pending=pending)

    def leave(self, reason: str) -> None:
        self._state._update(self._index, leave=reason)

    def ended(self) -> None:
        self._state._update(self._index, ended=True)

    def another(self) -> RunState:
        """The record of another run of the same step (a run this one's end started)."""
        return self._state.new_slot()


def _as_json(record: RunRecord) -> dict[str, object]:
    pending = None if record.pending is None else record.pending.as_json()
    return {
        "run_id": record.run_id,
        "ended": record.ended,
        "leave": record.leave,
        "pending": pending,
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_records(get_state: Callable[[str], str]) -> list[RunRecord]:
    """The runs the main step saved, from either form; ValueError when `runs` is not ours."""
    several = get_state(STATE_RUNS)
    if several:
        items = json.loads(several)
        if not isinstance(items, list):
            raise ValueError("state 'runs' is not a list")
        return [_from_json(item) for item in items]
    run_id = get_state(STATE_RUN_ID)
    pending_text = get_state(STATE_PENDING_RUN)
    pending = PendingRun.from_json(json.loads(pending_text)) if pending_text else None
    if not run_id and pending is None:
        return []
    return [
        RunRecord(
            run_id=int(run_id) if run_id else None,
            ended=get_state(STATE_RUN_ENDED) == "true",
            leave=get_state(STATE_LEAVE_RUN),
            pending=pending,
        )
    ]


def _from_json(item: object) -> RunRecord:
    if not isinstance(item, dict):
        raise ValueError("state 'runs' holds something other than runs")
    run_id, ended, leave = item.get("run_id"), item.get("ended"), item.get("leave")
    if not (run_id is None or _is_int(run_id)):
        raise ValueError("state 'runs' holds a run id that is not a number")
    return RunRecord(
        run_id=run_id,
        ended=ended is True,
        leave=leave if isinstance(leave, str) else "",
        pending=PendingRun.from_json(item.get("pending")),
    )
