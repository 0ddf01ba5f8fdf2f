"""What the post step needs to honour the main step's decisions, one record per run.

The post step cancels a run the main step saved but neither saw end nor handed over to dbt
Cloud: the main step meant to cancel it and could not (it was killed outright, or its own cancel
failed). With one job the record is the three keys it always was (`run_id`, `run_ended`,
`leave_run`), so a post step of an older version reads it; with several jobs it is one JSON list
in `runs`, rewritten whole at each change, so the post step never reads half of it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

STATE_RUN_ID = "run_id"
STATE_RUN_ENDED = "run_ended"
# Why the run is handed over to dbt Cloud (wait: false, cancel-on-exit: false, a timeout with
# cancel-on-timeout: false, a cancel already accepted): the post step must not cancel it.
STATE_LEAVE_RUN = "leave_run"
STATE_RUNS = "runs"


@dataclass(frozen=True)
class RunRecord:
    run_id: int | None = None
    ended: bool = False
    leave: str = ""  # why the run is left to dbt Cloud; "" when it is not

    @property
    def to_cancel(self) -> bool:
        """What the post step cancels: a run neither seen ending nor handed over."""
        return self.run_id is not None and not self.ended and not self.leave


class StepState:
    """The records of a step's runs, saved as they change (from the start phase's threads too)."""

    def __init__(self, runs: int, save: Callable[[str, str], None]) -> None:
        self._records = [RunRecord() for _ in range(runs)]
        self._save = save
        self._lock = threading.Lock()

    def slot(self, index: int) -> RunState:
        return RunState(self, index)

    def _update(self, index: int, **changes: object) -> None:
        with self._lock:
            self._records[index] = replace(self._records[index], **changes)  # type: ignore[arg-type]
            if len(self._records) > 1:
                self._save(STATE_RUNS, json.dumps([_as_json(r) for r in self._records]))
                return
            # one job: the keys it always had, each written once it holds
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

    def leave(self, reason: str) -> None:
        self._state._update(self._index, leave=reason)

    def ended(self) -> None:
        self._state._update(self._index, ended=True)


def _as_json(record: RunRecord) -> dict[str, object]:
    return {"run_id": record.run_id, "ended": record.ended, "leave": record.leave}


def read_records(get_state: Callable[[str], str]) -> list[RunRecord]:
    """The runs the main step saved, from either form; ValueError when `runs` is not ours."""
    several = get_state(STATE_RUNS)
    if several:
        items = json.loads(several)
        if not isinstance(items, list):
            raise ValueError("state 'runs' is not a list")
        return [_from_json(item) for item in items]
    run_id = get_state(STATE_RUN_ID)
    if not run_id:
        return []
    return [
        RunRecord(
            run_id=int(run_id),
            ended=get_state(STATE_RUN_ENDED) == "true",
            leave=get_state(STATE_LEAVE_RUN),
        )
    ]


def _from_json(item: object) -> RunRecord:
    if not isinstance(item, dict):
        raise ValueError("state 'runs' holds something other than runs")
    run_id, ended, leave = item.get("run_id"), item.get("ended"), item.get("leave")
    if not (run_id is None or (isinstance(run_id, int) and not isinstance(run_id, bool))):
        raise ValueError("state 'runs' holds a run id that is not a number")
    return RunRecord(
        run_id=run_id, ended=ended is True, leave=leave if isinstance(leave, str) else ""
    )
