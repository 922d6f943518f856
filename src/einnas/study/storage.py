"""Storage: the append-only log that is the single source of truth of a search.

Design
------
A storage holds many *studies* (searches), each identified by a unique name and
created with a JSON *config* (space, dataset, strategy, seed, budget, ...).
Nothing in a storage is ever updated or deleted. Each study has one ordered
log of :class:`Record` values -- ``(kind, JSON body, time)`` -- of four kinds:

* ``start``  -- a :class:`~einnas.study.events.TrialStart`; the trial ``number``
  is its position among the study's start records (0, 1, 2, ...);
* ``report`` -- a :class:`~einnas.study.events.TrialReport` of a running trial;
* ``finish`` -- a :class:`~einnas.study.events.TrialOutcome`, at most one per
  trial (finishing twice is an error); its position among the finish records
  is the trial's ``finish_order``;
* ``event``  -- a study event, e.g. a budget extension
  (:meth:`Storage.append_study_event`).

The :class:`~einnas.study.trial.Trial` a caller sees is *derived* by replaying
the log. Every rule -- trial numbers, "unknown parent", "finished twice",
"reports only while running", finish order -- lives here, in :class:`Storage`,
written once. Consequences:

* Resuming a search is replaying the log. A process killed mid-search leaves
  trials with a start but no finish record; :meth:`Storage.abandon_running`
  appends, for each, a finish with state ``FAILED`` and error
  ``"interrupted"`` (:data:`~einnas.study.trial.INTERRUPTED`).
* Finished trials are immutable; trial numbers are contiguous, so "all trials
  with number >= n" is a cheap incremental read (``min_number``).

The backend contract
--------------------
A backend (a subclass of :class:`Storage`) only stores and reads; it provides

* ``_backend_create_study(name, config_json, created_at) -> id`` (inside a
  transaction; :class:`DuplicateStudyError` if the name exists) and
  ``_backend_studies() -> list[StudyRow]`` (all studies, in creation order);
* ``_backend_transaction()`` -- a context manager that excludes every other
  writer, in this process and in others (memory: a lock; SQLite:
  ``BEGIN IMMEDIATE``; journal: ``flock``); everything appended inside it is
  committed atomically when it exits without an exception;
* ``_backend_read(study_id, cursor) -> (records, cursor)`` -- the study's
  records after ``cursor`` (an opaque position; 0 is the beginning), in log
  order, and the position after them;
* ``_backend_append(study_id, records) -> cursor`` -- append records (only
  called inside a transaction, after a read that reached the end of the log)
  and return the position after them.

The semantic layer keeps, per study, the replay of the records read so far and
asks the backend only for the records after it (several processes may write to
one study: a write first reads what others appended, inside the transaction).
The conformance suite :mod:`einnas.testing.storage_conformance` checks a backend.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from einnas.study.events import TrialOutcome, TrialReport, TrialStart, check_text, to_int
from einnas.study.trial import (
    INTERRUPTED,
    StudyEvent,
    StudyRecord,
    Trial,
    TrialState,
    json_dumps,
    json_loads,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "EVENT",
    "FINISH",
    "REPORT",
    "START",
    "Clock",
    "CorruptLogError",
    "DuplicateReportError",
    "DuplicateStudyError",
    "Record",
    "Storage",
    "StorageError",
    "StorageFileError",
    "StudyRow",
    "TrialFinishedError",
    "UnknownStudyError",
    "UnknownTrialError",
    "check_name",
    "encode_config",
    "finish_record",
    "start_record",
    "state_filter",
]

Clock = Callable[[], float]

START = "start"
FINISH = "finish"
REPORT = "report"
EVENT = "event"
RECORD_KINDS = (START, FINISH, REPORT, EVENT)


class StorageError(Exception):
    """Base class of the errors raised by storages."""


class StorageFileError(StorageError):
    """The log's file cannot be used as asked: missing, a directory, not a log, corrupt,
    read-only, full.  The message names the file and what to do; nothing logged is lost."""


class CorruptLogError(StorageFileError):
    """A record or line of the log cannot be read back (damaged file)."""


class DuplicateStudyError(StorageError, ValueError):
    """``create_study`` was called with a name that already exists."""


class UnknownStudyError(StorageError, LookupError):
    """No study of that name exists in the storage."""


class UnknownTrialError(StorageError, LookupError):
    """No trial of that number exists in the study (also: unknown parent)."""


class TrialFinishedError(StorageError, ValueError):
    """The trial already has a finish event; the log is append-only."""


class DuplicateReportError(StorageError, ValueError):
    """The trial already reported this step."""


class Record:
    """One entry of a study's log: its kind, its JSON body and its time.

    Built from the body's text (what a backend read) or from its decoded value
    (what a writer has at hand); the other form is derived on first use, so a
    backend that keeps records in memory never encodes them.
    """

    __slots__ = ("_body", "_data", "at", "kind")

    def __init__(
        self, kind: str, body: str | None, at: float, data: dict[str, Any] | None = None
    ) -> None:
        if body is None and data is None:
            raise ValueError("a record needs its body or its data")
        self.kind = kind
        self.at = at
        self._body = body
        self._data = data

    @property
    def body(self) -> str:
        """The JSON text of the body (what a durable backend stores)."""
        if self._body is None:
            self._body = json_dumps(self._data)
        return self._body

    @property
    def data(self) -> dict[str, Any]:
        """The decoded body."""
        if self._data is None:
            self._data = json_loads(self.body)
        return self._data

    def __getstate__(self) -> tuple[str, str, float]:
        return (self.kind, self.body, self.at)

    def __setstate__(self, state: tuple[str, str, float]) -> None:
        self.kind, self._body, self.at = state
        self._data = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.kind, self.body, self.at) == (other.kind, other.body, other.at)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record({self.kind!r}, {self.body!r}, {self.at!r})"


@dataclass(frozen=True)
class StudyRow:
    """A study as a backend stores it (config as JSON text)."""

    id: int
    name: str
    config: str
    created_at: float

    def record(self) -> StudyRecord:
        try:
            config = json_loads(self.config)
        except ValueError as exc:
            raise CorruptLogError(
                f"the config of study {self.name!r} is damaged ({exc}); restore the log file "
                "from a backup"
            ) from None
        return StudyRecord(self.id, self.name, config, self.created_at)


# --------------------------------------------------------------------------- helpers


def check_name(name: str) -> str:
    """``name`` if it is a valid study name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a study name must be a non-empty string, got {name!r}")
    return name


def encode_config(config: Mapping[str, Any] | None) -> str:
    """JSON text of a study config or event payload (a mapping with string keys)."""
    if config is None:
        return "{}"
    if not isinstance(config, Mapping):
        raise TypeError(f"a study config must be a mapping, got {type(config).__name__}")
    for key in config:
        if not isinstance(key, str):
            raise TypeError(f"study config keys must be strings, got {key!r}")
    return json_dumps(dict(config))


def state_filter(
    states: Iterable[TrialState | str] | TrialState | None,
) -> frozenset[TrialState] | None:
    """Normalise the ``states`` argument of :meth:`Storage.trials`."""
    if states is None:
        return None
    if isinstance(states, TrialState):
        return frozenset((states,))
    return frozenset(TrialState(s) for s in states)


_INTERRUPTED = TrialOutcome(TrialState.FAILED, error=INTERRUPTED)


def start_record(start: TrialStart, number: int, at: float) -> Record:
    """The start record of trial ``number``."""
    data = {
        "arch": start.arch,
        "arch_hash": start.arch_hash,
        "parent": start.parent,
        "mutation": start.mutation,
        "seed": start.seed,
        "proposal": number if start.proposal is None else start.proposal,
        "history": start.history,
    }
    return Record(START, None, at, data)


def finish_record(number: int, outcome: TrialOutcome, at: float) -> Record:
    """The finish record of trial ``number``."""
    data = {
        "number": number,
        "state": outcome.state.value,
        "val": outcome.val,
        "test": outcome.test,
        "duration": outcome.duration,
        "error": outcome.error,
        "metrics": outcome.logged_metrics,
    }
    return Record(FINISH, None, at, data)


def report_body(number: int, report: TrialReport) -> str:
    """The JSON body of a report record of trial ``number``."""
    head = json_dumps({"number": number, "step": report.step, "val": report.val})
    return f'{head[:-1]},"metrics":{report.metrics_json}}}'


def event_body(kind: str, payload_json: str) -> str:
    """The JSON body of a study event record."""
    return f'{{"kind":{json_dumps(kind)},"payload":{payload_json}}}'


# --------------------------------------------------------------------------- replay


def _view(values: dict[str, Any]) -> Trial:
    """A :class:`Trial` from all its field values, without ``__init__``'s overhead.

    Replay builds one view per record; a frozen dataclass's ``__init__`` costs
    more than the rest of a write. ``values`` must name every field.
    """
    trial: Trial = object.__new__(Trial)
    trial.__dict__.update(values)
    return trial


class _Replay:
    """The state of one study derived from the records read so far."""

    __slots__ = ("cursor", "events", "n_finished", "study", "trials")

    def __init__(self, study: str) -> None:
        self.study = study
        self.cursor = 0
        self.trials: list[Trial] = []
        self.events: list[StudyEvent] = []
        self.n_finished = 0

    def apply(self, record: Record) -> None:
        body = record.data
        kind = record.kind
        if kind == START:
            n = len(self.trials)
            self.trials.append(
                _view(
                    {
                        "number": n,
                        "arch": body["arch"],
                        "arch_hash": body["arch_hash"],
                        "parent": body["parent"],
                        "mutation": body["mutation"],
                        "state": TrialState.RUNNING,
                        "val": None,
                        "test": None,
                        "metrics": {},
                        "seed": body["seed"],
                        "started_at": record.at,
                        "finished_at": None,
                        "duration": None,
                        "error": None,
                        "proposal": body["proposal"],
                        "history": body.get("history"),
                        "finish_order": None,
                        "intermediate": {},
                        "reports": (),
                    }
                )
            )
        elif kind == FINISH:
            t = self._trial(body["number"])
            values = dict(t.__dict__)
            values.update(
                state=TrialState(body["state"]),
                val=body["val"],
                test=body["test"],
                metrics=body["metrics"],
                finished_at=record.at,
                duration=body["duration"],
                error=body["error"],
                finish_order=self.n_finished,
            )
            self.trials[t.number] = _view(values)
            self.n_finished += 1
        elif kind == REPORT:
            t = self._trial(body["number"])
            rep = TrialReport(body["step"], body["val"], body["metrics"])
            values = dict(t.__dict__)
            values.update(
                intermediate={**t.intermediate, rep.step: rep.val}, reports=(*t.reports, rep)
            )
            self.trials[t.number] = _view(values)
        elif kind == EVENT:
            self.events.append(
                StudyEvent(len(self.events), body["kind"], body["payload"], record.at)
            )
        else:
            raise CorruptLogError(f"study {self.study!r}: unknown record kind {kind!r} in the log")

    def _trial(self, number: int) -> Trial:
        if not 0 <= number < len(self.trials):
            raise CorruptLogError(
                f"study {self.study!r}: the log refers to unknown trial {number} (damaged log?)"
            )
        return self.trials[number]

    def existing(self, number: int) -> Trial:
        n = to_int(number, "number")
        if not 0 <= n < len(self.trials):
            raise UnknownTrialError(f"study {self.study!r} has no trial number {number!r}")
        return self.trials[n]

    def running(self, number: int) -> Trial:
        t = self.existing(number)
        if t.is_finished:
            raise TrialFinishedError(
                f"trial {t.number} of study {self.study!r} is already {t.state.name}"
            )
        return t

    def start_record(self, start: TrialStart, at: float) -> Record:
        n = len(self.trials)
        if start.parent is not None and not 0 <= start.parent < n:
            raise UnknownTrialError(
                f"parent trial {start.parent} does not exist (the new trial is number {n})"
            )
        return start_record(start, n, at if start.started_at is None else start.started_at)


# --------------------------------------------------------------------------- the storage


class Storage(ABC):
    """The storage API: the log's semantics over a backend's primitives.

    Studies are addressed by name. All writes are appends (see the module
    docstring); each write method is atomic, also across processes. Methods
    raise :class:`UnknownStudyError` for unknown study names and
    :class:`UnknownTrialError` for unknown trial numbers. Thread-safe.
    """

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._reset_cache()

    def _reset_cache(self) -> None:
        """Forget everything derived from the log (after unpickling, ...)."""
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._replays: dict[int, _Replay] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_ids", "_replays"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_cache()

    # -- backend primitives ---------------------------------------------------

    @abstractmethod
    def _backend_create_study(self, name: str, config: str, created_at: float) -> int:
        """Store a new study (inside a transaction); return its id."""

    @abstractmethod
    def _backend_studies(self) -> list[StudyRow]:
        """All studies, in order of creation."""

    @abstractmethod
    def _backend_transaction(self) -> contextlib.AbstractContextManager[None]:
        """Exclude all other writers; commit the appends made inside on exit."""

    @abstractmethod
    def _backend_read(self, study_id: int, cursor: int) -> tuple[list[Record], int]:
        """The study's records after ``cursor``, and the cursor after them."""

    @abstractmethod
    def _backend_append(self, study_id: int, records: Sequence[Record]) -> int:
        """Append ``records`` to the study's log; return the cursor after them."""

    # -- plumbing ----------------------------------------------------------------

    def _study_id(self, name: str) -> int:
        sid = self._ids.get(name)
        if sid is None:
            for row in self._backend_studies():
                self._ids[row.name] = row.id
            sid = self._ids.get(name)
            if sid is None:
                raise UnknownStudyError(f"no study named {name!r} in {self!r}")
        return sid

    def _sync(self, name: str) -> _Replay:
        """The study's replay, brought up to date with the log (hold the lock)."""
        sid = self._study_id(name)
        replay = self._replays.get(sid)
        if replay is None:
            replay = self._replays[sid] = _Replay(name)
        records, cursor = self._backend_read(sid, replay.cursor)
        for i, record in enumerate(records):
            try:
                replay.apply(record)
            except StorageError:
                self._replays.pop(sid, None)
                raise
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                self._replays.pop(sid, None)
                raise CorruptLogError(
                    f"{self!r}: record {i + 1} read of study {name!r} is damaged"
                    f" ({type(exc).__name__}: {exc}); the log cannot be read past it: restore the"
                    " file from a backup (einnas only appends, so an older copy holds a prefix)"
                ) from None
        replay.cursor = cursor
        return replay

    def _write(self, name: str, build: Callable[[_Replay], list[Record]]) -> _Replay:
        """One write transaction on study ``name``.

        ``build`` gets the up-to-date replay, checks the write against it
        (raising leaves the log untouched) and returns the records to append;
        they are appended and replayed, and the replay is returned.
        """
        with self._lock:
            sid = self._study_id(name)
            try:
                with self._backend_transaction():
                    replay = self._sync(name)
                    records = build(replay)
                    if records:
                        replay.cursor = self._backend_append(sid, records)
                        for record in records:
                            replay.apply(record)
                    return replay
            except BaseException:
                # the transaction may have been rolled back after an append: re-read later
                self._replays.pop(sid, None)
                raise

    # -- studies -------------------------------------------------------------------

    def create_study(self, name: str, config: Mapping[str, Any]) -> int:
        """Record a new study; return its id. :class:`DuplicateStudyError` if it exists."""
        check_name(name)
        text = encode_config(config)
        with self._lock, self._backend_transaction():
            sid = self._backend_create_study(name, text, self._clock())
        self._ids[name] = sid
        return sid

    def get_study(self, name: str) -> StudyRecord | None:
        """The study's record (with its creation config), or ``None``."""
        with self._lock:
            for row in self._backend_studies():
                if row.name == name:
                    return row.record()
        return None

    def list_studies(self) -> list[StudyRecord]:
        """All studies, in order of creation."""
        with self._lock:
            return [row.record() for row in self._backend_studies()]

    def append_study_event(
        self, name: str, kind: str, payload: Mapping[str, Any] | None = None
    ) -> StudyEvent:
        """Append an event (e.g. ``kind="budget"``) to the study's own log."""
        check_text(kind, "kind", allow_none=False)
        record = Record(EVENT, event_body(kind, encode_config(payload)), self._clock())
        return self._write(name, lambda replay: [record]).events[-1]

    def study_events(self, name: str) -> list[StudyEvent]:
        """The study's events, in order of recording."""
        with self._lock:
            return list(self._sync(name).events)

    # -- trials: writes --------------------------------------------------------------

    def start_trial(self, study: str, start: TrialStart) -> Trial:
        """Append a start; the storage assigns the next trial number.

        ``start.parent`` must be the number of an existing trial of the study.
        """
        now = self._clock()
        return self._write(study, lambda replay: [replay.start_record(start, now)]).trials[-1]

    def finish_trial(self, study: str, number: int, outcome: TrialOutcome) -> Trial:
        """Append the outcome of a running trial; return the finished view.

        A second finish of the same trial raises :class:`TrialFinishedError`.
        """
        now = self._clock()
        n = to_int(number, "number")

        def build(replay: _Replay) -> list[Record]:
            return [finish_record(replay.running(n).number, outcome, now)]

        return self._write(study, build).trials[n]

    def record_trial(self, study: str, start: TrialStart, outcome: TrialOutcome) -> Trial:
        """Append a trial's start and outcome in one atomic write.

        For evaluations that are complete before anything is logged (tabular
        lookups, simulated runs). ``start.started_at`` defaults to the time of
        the write, as does ``finished_at``.
        """
        now = self._clock()

        def build(replay: _Replay) -> list[Record]:
            first = replay.start_record(start, now)
            return [first, finish_record(len(replay.trials), outcome, now)]

        return self._write(study, build).trials[-1]

    def report(self, study: str, number: int, report: TrialReport) -> Trial:
        """Append an intermediate result of a RUNNING trial; return its view.

        :class:`TrialFinishedError` if the trial is finished,
        :class:`DuplicateReportError` if it already reported ``report.step``.
        """
        now = self._clock()
        n = to_int(number, "number")

        def build(replay: _Replay) -> list[Record]:
            t = replay.running(n)
            if report.step in t.intermediate:
                raise DuplicateReportError(
                    f"trial {n} of study {study!r} already reported step {report.step}"
                )
            return [Record(REPORT, report_body(n, report), now)]

        return self._write(study, build).trials[n]

    def abandon_running(self, study: str) -> list[Trial]:
        """Finish every RUNNING trial as FAILED with error ``"interrupted"``.

        Call this when resuming a study that no live process is working on:
        the trials a killed process left running are closed in the log (they
        are not deleted), so that the search can propose them again. Returns
        the abandoned trials (now FAILED), ordered by number.
        """
        now = self._clock()
        numbers: list[int] = []

        def build(replay: _Replay) -> list[Record]:
            numbers[:] = [t.number for t in replay.trials if not t.is_finished]
            return [finish_record(n, _INTERRUPTED, now) for n in numbers]

        replay = self._write(study, build)
        return [replay.trials[n] for n in numbers]

    # -- trials: reads ------------------------------------------------------------

    def trials(
        self,
        study: str,
        states: Iterable[TrialState | str] | TrialState | None = None,
        *,
        min_number: int = 0,
    ) -> list[Trial]:
        """The study's trials (numbers >= ``min_number``), ordered by number.

        ``states`` restricts the result to trials in those states.
        """
        wanted = state_filter(states)
        with self._lock:
            views = self._sync(study).trials[max(0, int(min_number)) :]
        if wanted is None:
            return views
        return [t for t in views if t.state in wanted]

    def get_trial(self, study: str, number: int) -> Trial:
        """The current view of one trial."""
        with self._lock:
            return self._sync(study).existing(number)

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (a no-op unless overridden)."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
