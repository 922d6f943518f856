"""Storage: the append-only log that is the single source of truth of a search.

Design
------
A storage holds many *studies* (searches), each identified by a unique name and
created with a JSON *config* (space, dataset, strategy, seed, budget, ...).
Nothing in a storage is ever updated or deleted; everything is an event that is
appended to a log:

* ``study created``      -- name, config, creation time (written once);
* ``study event``        -- anything recorded later about the study, e.g. a
  budget extension (:meth:`Storage.append_study_event`);
* ``trial started``      -- the architecture, its hash, parent, mutation, seed
  and proposal index; the storage assigns the trial ``number`` (0, 1, 2, ...
  per study, in order of start events);
* ``trial finished``     -- terminal state, objective, test metric, metrics,
  duration, error. At most one per trial: finishing twice is an error.

The :class:`~einnas.study.trial.Trial` a caller sees is *derived* by replaying a
trial's events (:func:`replay_trial`): a start event alone is a ``RUNNING``
trial, a start plus a finish event is a finished one. Consequences:

* Resuming a search is replaying the log. A process killed mid-search leaves
  trials with a start but no finish event; :meth:`Storage.abandon_running`
  appends, for each of them, a finish event with state ``FAILED`` and error
  ``"interrupted"`` (:data:`~einnas.study.trial.INTERRUPTED`), so the resumed
  search can recognise them (``Trial.interrupted``) and re-propose them.
* Finished trials are immutable and may be cached by readers; trial numbers
  are contiguous, so "all trials with number >= n" is a cheap incremental read
  (the ``min_number`` argument of :meth:`Storage.trials`).
* Changing a study's config is an event too: configs are never rewritten.

Two implementations share the semantics (and one conformance test suite):
:class:`InMemoryStorage` here (tests, throw-away runs) and
:class:`~einnas.study.sqlite_storage.SQLiteStorage` (durable, multi-process).
Both push every JSON value through an encode/decode round trip, so they return
identical values. :func:`open_storage` picks one from a URL-like string.
"""

from __future__ import annotations

import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from einnas.study.trial import (
    INTERRUPTED,
    StudyEvent,
    StudyRecord,
    Trial,
    TrialState,
    check_metrics,
    json_dumps,
    json_loads,
    normalise_outcome,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "Clock",
    "DuplicateStudyError",
    "FinishEvent",
    "InMemoryStorage",
    "PreparedFinish",
    "PreparedStart",
    "StartEvent",
    "Storage",
    "StorageError",
    "TrialFinishedError",
    "UnknownStudyError",
    "UnknownTrialError",
    "check_duration",
    "check_int",
    "check_name",
    "check_text",
    "encode_config",
    "encode_payload",
    "interrupted_finish",
    "open_storage",
    "prepare_finish",
    "prepare_start",
    "replay_trial",
    "state_filter",
    "to_int",
]

Clock = Callable[[], float]


class StorageError(Exception):
    """Base class of the errors raised by storages."""


class DuplicateStudyError(StorageError, ValueError):
    """``create_study`` was called with a name that already exists."""


class UnknownStudyError(StorageError, LookupError):
    """No study of that name exists in the storage."""


class UnknownTrialError(StorageError, LookupError):
    """No trial of that number exists in the study (also: unknown parent)."""


class TrialFinishedError(StorageError, ValueError):
    """The trial already has a finish event; the log is append-only."""


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class StartEvent:
    """The event appended when a trial starts (one per trial)."""

    number: int
    arch: str
    arch_hash: str
    parent: int | None
    mutation: str | None
    seed: int | None
    proposal: int
    started_at: float


@dataclass(frozen=True)
class FinishEvent:
    """The event appended when a trial ends (at most one per trial).

    ``metrics`` is kept as the JSON text that was logged.
    """

    number: int
    state: TrialState
    val: float | None
    test: float | None
    metrics: str
    duration: float | None
    error: str | None
    finished_at: float


def replay_trial(start: StartEvent, finish: FinishEvent | None) -> Trial:
    """Derive the current view of a trial from its events."""
    if finish is None:
        return Trial(
            number=start.number,
            arch=start.arch,
            arch_hash=start.arch_hash,
            parent=start.parent,
            mutation=start.mutation,
            state=TrialState.RUNNING,
            seed=start.seed,
            started_at=start.started_at,
            proposal=start.proposal,
        )
    if finish.number != start.number:  # pragma: no cover - storage invariant
        raise StorageError(f"events of trials {start.number} and {finish.number} mixed up")
    return Trial(
        number=start.number,
        arch=start.arch,
        arch_hash=start.arch_hash,
        parent=start.parent,
        mutation=start.mutation,
        state=finish.state,
        val=finish.val,
        test=finish.test,
        metrics=json_loads(finish.metrics),
        seed=start.seed,
        started_at=start.started_at,
        finished_at=finish.finished_at,
        duration=finish.duration,
        error=finish.error,
        proposal=start.proposal,
    )


# --------------------------------------------------------------------------- validation


def check_name(name: str) -> str:
    """``name`` if it is a valid study name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a study name must be a non-empty string, got {name!r}")
    return name


def to_int(value: Any, what: str) -> int:
    """``value`` as an ``int`` (numpy integers accepted; bools and floats refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if isinstance(value, int):
        return int(value)
    index = getattr(value, "__index__", None)
    if not callable(index):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return int(index())


def check_int(value: Any, what: str) -> int | None:
    """``value`` as an ``int``, or None."""
    return None if value is None else to_int(value, what)


def check_duration(duration: float | None) -> float | None:
    """``duration`` as a float: None or finite and non-negative."""
    if duration is None:
        return None
    d = float(duration)
    if not math.isfinite(d) or d < 0:
        raise ValueError(f"duration must be a finite number of seconds >= 0, got {duration!r}")
    return d


def check_text(value: Any, what: str, *, allow_none: bool) -> str | None:
    """``value`` if it is a string (or None where allowed)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class PreparedStart:
    """Validated arguments of a start event (the number is not known yet)."""

    arch: str
    arch_hash: str
    parent: int | None
    mutation: str | None
    seed: int | None
    proposal: int | None

    def check_parent(self, number: int) -> None:
        """Raise unless the parent is an earlier trial of the same study."""
        if self.parent is not None and not 0 <= self.parent < number:
            raise UnknownTrialError(
                f"parent trial {self.parent} does not exist (the new trial is number {number})"
            )

    def event(self, number: int, started_at: float) -> StartEvent:
        """The start event for trial ``number``."""
        self.check_parent(number)
        return StartEvent(
            number=number,
            arch=self.arch,
            arch_hash=self.arch_hash,
            parent=self.parent,
            mutation=self.mutation,
            seed=self.seed,
            proposal=number if self.proposal is None else self.proposal,
            started_at=started_at,
        )


@dataclass(frozen=True)
class PreparedFinish:
    """Validated, normalised arguments of a finish event."""

    state: TrialState
    val: float | None
    test: float | None
    metrics: str
    duration: float | None
    error: str | None

    def event(self, number: int, finished_at: float) -> FinishEvent:
        """The finish event for trial ``number``."""
        return FinishEvent(
            number=number,
            state=self.state,
            val=self.val,
            test=self.test,
            metrics=self.metrics,
            duration=self.duration,
            error=self.error,
            finished_at=finished_at,
        )


def prepare_start(
    arch: str,
    arch_hash: str,
    parent: int | None,
    mutation: str | None,
    seed: int | None,
    proposal: int | None,
) -> PreparedStart:
    """Validate the arguments of a start event."""
    p = check_int(proposal, "proposal")
    if p is not None and p < 0:
        raise ValueError(f"proposal must be >= 0, got {proposal!r}")
    return PreparedStart(
        arch=str(check_text(arch, "arch", allow_none=False)),
        arch_hash=str(check_text(arch_hash, "arch_hash", allow_none=False)),
        parent=check_int(parent, "parent"),
        mutation=check_text(mutation, "mutation", allow_none=True),
        seed=check_int(seed, "seed"),
        proposal=p,
    )


def prepare_finish(
    state: TrialState | str,
    val: float | None,
    test: float | None,
    metrics: Mapping[str, object] | None,
    duration: float | None,
    error: str | None,
) -> PreparedFinish:
    """Validate and normalise the arguments of a finish event.

    See :func:`~einnas.study.trial.normalise_outcome` for the NaN rules.
    """
    st, v, t, err = normalise_outcome(
        TrialState(state), val, test, check_text(error, "error", allow_none=True)
    )
    return PreparedFinish(
        state=st,
        val=v,
        test=t,
        metrics=check_metrics(metrics),
        duration=check_duration(duration),
        error=err,
    )


def interrupted_finish() -> PreparedFinish:
    """The finish event that :meth:`Storage.abandon_running` appends."""
    return PreparedFinish(
        state=TrialState.FAILED,
        val=None,
        test=None,
        metrics="{}",
        duration=None,
        error=INTERRUPTED,
    )


def state_filter(
    states: Iterable[TrialState | str] | TrialState | None,
) -> frozenset[TrialState] | None:
    """Normalise the ``states`` argument of :meth:`Storage.trials`."""
    if states is None:
        return None
    if isinstance(states, TrialState):
        return frozenset((states,))
    return frozenset(TrialState(s) for s in states)


def encode_config(config: Mapping[str, Any]) -> str:
    """JSON text of a study config (a mapping with string keys)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"a study config must be a mapping, got {type(config).__name__}")
    for key in config:
        if not isinstance(key, str):
            raise TypeError(f"study config keys must be strings, got {key!r}")
    return json_dumps(dict(config))


def encode_payload(payload: Mapping[str, Any] | None) -> str:
    """JSON text of a study event payload."""
    return "{}" if payload is None else encode_config(payload)


# --------------------------------------------------------------------------- base class


class Storage(ABC):
    """The storage API shared by :class:`InMemoryStorage` and ``SQLiteStorage``.

    Studies are addressed by name. All writes are appends (see the module
    docstring); each write method is atomic. Methods raise
    :class:`UnknownStudyError` for unknown study names and
    :class:`UnknownTrialError` for unknown trial numbers.
    """

    # -- studies ---------------------------------------------------------------

    @abstractmethod
    def create_study(self, name: str, config: Mapping[str, Any]) -> int:
        """Record a new study; return its id. :class:`DuplicateStudyError` if it exists."""

    @abstractmethod
    def get_study(self, name: str) -> StudyRecord | None:
        """The study's record (with its creation config), or ``None``."""

    @abstractmethod
    def list_studies(self) -> list[StudyRecord]:
        """All studies, in order of creation."""

    @abstractmethod
    def append_study_event(
        self, name: str, kind: str, payload: Mapping[str, Any] | None = None
    ) -> StudyEvent:
        """Append an event (e.g. ``kind="budget"``) to the study's own log."""

    @abstractmethod
    def study_events(self, name: str) -> list[StudyEvent]:
        """The study's events, in order of recording."""

    # -- trials ----------------------------------------------------------------

    @abstractmethod
    def start_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
    ) -> Trial:
        """Append a start event; the storage assigns the next trial number.

        ``parent`` must be the number of an existing trial of the study.
        ``proposal`` defaults to the assigned number.
        """

    @abstractmethod
    def finish_trial(
        self,
        study: str,
        number: int,
        state: TrialState | str,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
    ) -> Trial:
        """Append the finish event of a running trial; return the finished view.

        ``state`` must be COMPLETE, FAILED or PRUNED; a second finish of the
        same trial raises :class:`TrialFinishedError`. NaN handling: see
        :func:`~einnas.study.trial.normalise_outcome`.
        """

    @abstractmethod
    def start_and_finish_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
        state: TrialState | str = TrialState.COMPLETE,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
        started_at: float | None = None,
    ) -> Trial:
        """Append both events of a trial in one atomic write.

        For evaluations that are complete before anything is logged (tabular
        lookups, simulated runs). ``started_at`` defaults to the time of the
        write, as does ``finished_at``.
        """

    @abstractmethod
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

    @abstractmethod
    def get_trial(self, study: str, number: int) -> Trial:
        """The current view of one trial."""

    @abstractmethod
    def abandon_running(self, study: str) -> list[Trial]:
        """Finish every RUNNING trial as FAILED with error ``"interrupted"``.

        Call this when resuming a study that no live process is working on:
        the trials a killed process left running are closed in the log (they
        are not deleted), so that the search can propose them again. Returns
        the abandoned trials (now FAILED), ordered by number.
        """

    # -- lifetime ---------------------------------------------------------------

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


# --------------------------------------------------------------------------- in memory


class _MemStudy:
    """The append-only logs of one study held in memory."""

    __slots__ = ("config", "created_at", "events", "finishes", "id", "name", "starts")

    def __init__(self, study_id: int, name: str, config: str, created_at: float) -> None:
        self.id = study_id
        self.name = name
        self.config = config
        self.created_at = created_at
        self.events: list[tuple[str, str, float]] = []
        self.starts: list[StartEvent] = []
        self.finishes: dict[int, FinishEvent] = {}

    def record(self) -> StudyRecord:
        return StudyRecord(self.id, self.name, json_loads(self.config), self.created_at)

    def view(self, number: int) -> Trial:
        return replay_trial(self.starts[number], self.finishes.get(number))


class InMemoryStorage(Storage):
    """A storage that lives in this process's memory (tests, throw-away runs).

    Same semantics as the SQLite storage, including the JSON round trip of
    configs and metrics. Thread-safe. Pickling copies the whole log (a child
    process then writes to its own copy, not to the parent's).
    """

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._studies: dict[str, _MemStudy] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"InMemoryStorage({len(self._studies)} studies)"

    def _study(self, name: str) -> _MemStudy:
        try:
            return self._studies[name]
        except KeyError:
            raise UnknownStudyError(f"no study named {name!r}") from None

    # -- studies

    def create_study(self, name: str, config: Mapping[str, Any]) -> int:
        check_name(name)
        text = encode_config(config)
        with self._lock:
            if name in self._studies:
                raise DuplicateStudyError(f"a study named {name!r} already exists")
            study_id = len(self._studies) + 1
            self._studies[name] = _MemStudy(study_id, name, text, self._clock())
            return study_id

    def get_study(self, name: str) -> StudyRecord | None:
        with self._lock:
            s = self._studies.get(name)
            return None if s is None else s.record()

    def list_studies(self) -> list[StudyRecord]:
        with self._lock:
            return [s.record() for s in self._studies.values()]

    def append_study_event(
        self, name: str, kind: str, payload: Mapping[str, Any] | None = None
    ) -> StudyEvent:
        check_text(kind, "kind", allow_none=False)
        text = encode_payload(payload)
        with self._lock:
            s = self._study(name)
            now = self._clock()
            s.events.append((kind, text, now))
            return StudyEvent(len(s.events) - 1, kind, json_loads(text), now)

    def study_events(self, name: str) -> list[StudyEvent]:
        with self._lock:
            s = self._study(name)
            return [
                StudyEvent(i, kind, json_loads(text), at)
                for i, (kind, text, at) in enumerate(s.events)
            ]

    # -- trials

    def start_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
    ) -> Trial:
        prep = prepare_start(arch, arch_hash, parent, mutation, seed, proposal)
        with self._lock:
            s = self._study(study)
            event = prep.event(len(s.starts), self._clock())
            s.starts.append(event)
            return replay_trial(event, None)

    def finish_trial(
        self,
        study: str,
        number: int,
        state: TrialState | str,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
    ) -> Trial:
        prep = prepare_finish(state, val, test, metrics, duration, error)
        with self._lock:
            s = self._study(study)
            n = self._existing(s, number)
            if n in s.finishes:
                raise TrialFinishedError(
                    f"trial {n} of study {study!r} is already {s.finishes[n].state.name}"
                )
            s.finishes[n] = prep.event(n, self._clock())
            return s.view(n)

    def start_and_finish_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
        state: TrialState | str = TrialState.COMPLETE,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
        started_at: float | None = None,
    ) -> Trial:
        pstart = prepare_start(arch, arch_hash, parent, mutation, seed, proposal)
        pfinish = prepare_finish(state, val, test, metrics, duration, error)
        with self._lock:
            s = self._study(study)
            now = self._clock()
            n = len(s.starts)
            start = pstart.event(n, now if started_at is None else float(started_at))
            s.starts.append(start)
            s.finishes[n] = pfinish.event(n, now)
            return s.view(n)

    def trials(
        self,
        study: str,
        states: Iterable[TrialState | str] | TrialState | None = None,
        *,
        min_number: int = 0,
    ) -> list[Trial]:
        wanted = state_filter(states)
        with self._lock:
            s = self._study(study)
            views = [s.view(n) for n in range(max(0, min_number), len(s.starts))]
        if wanted is None:
            return views
        return [t for t in views if t.state in wanted]

    def get_trial(self, study: str, number: int) -> Trial:
        with self._lock:
            s = self._study(study)
            return s.view(self._existing(s, number))

    def abandon_running(self, study: str) -> list[Trial]:
        prep = interrupted_finish()
        with self._lock:
            s = self._study(study)
            now = self._clock()
            out = []
            for start in s.starts:
                if start.number not in s.finishes:
                    s.finishes[start.number] = prep.event(start.number, now)
                    out.append(s.view(start.number))
            return out

    @staticmethod
    def _existing(s: _MemStudy, number: int) -> int:
        n = to_int(number, "number")
        if not 0 <= n < len(s.starts):
            raise UnknownTrialError(f"study {s.name!r} has no trial number {number!r}")
        return n


# --------------------------------------------------------------------------- factory


def open_storage(spec: str | os.PathLike[str] | Storage | None = None) -> Storage:
    """Open a storage from a URL-like spec.

    * ``None``, ``""``, ``":memory:"`` or ``"sqlite:///:memory:"`` -> a new
      :class:`InMemoryStorage`;
    * ``"sqlite:///relative/path.db"``, ``"sqlite:////absolute/path.db"`` or a
      plain path (``"runs.db"``) -> :class:`~einnas.study.sqlite_storage.SQLiteStorage`;
    * a :class:`Storage` instance is returned as is.
    """
    if isinstance(spec, Storage):
        return spec
    if spec is None:
        return InMemoryStorage()
    text = os.fspath(spec)
    if text in ("", ":memory:"):
        return InMemoryStorage()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "sqlite":
            raise ValueError(
                f"unsupported storage URL {text!r}: use a path, 'sqlite:///path' or ':memory:'"
            )
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"malformed SQLite URL {text!r}: expected 'sqlite:///path'")
        text = rest[1:]
        if text == ":memory:":
            return InMemoryStorage()
    from einnas.study.sqlite_storage import SQLiteStorage

    return SQLiteStorage(text)
