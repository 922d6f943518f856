"""Trials, their states, and the records a storage hands back.

A :class:`Trial` is an immutable *view* of one evaluation. It is never stored as
such: storages keep an append-only log of events (a *start* event when the
evaluation begins, a *finish* event when it ends) and derive the ``Trial`` by
replaying the events that concern it (see :mod:`einnas.study.storage`). Because a
finished trial can never change again (finishing twice is an error and the log
is never updated), a ``Trial`` in a terminal state may be cached forever.

Values that travel through the log are JSON: ``metrics``, study configs and
study-event payloads are stored as JSON text and decoded on every read, in the
in-memory storage as well as in SQLite, so that both storages return exactly
the same values. ``NaN`` and infinities *inside metrics* round-trip (Python's
JSON dialect writes them as ``NaN`` / ``Infinity``). The scalar columns ``val``
and ``test`` never hold non-finite numbers: see
:func:`normalise_outcome` for the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # events.py imports this module; the annotation is only a string here
    from einnas.study.events import TrialReport

__all__ = [
    "INTERRUPTED",
    "JSONValue",
    "Metrics",
    "StudyEvent",
    "StudyRecord",
    "Trial",
    "TrialState",
    "check_metrics",
    "json_dumps",
    "json_loads",
    "normalise_outcome",
]

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""A value that survives a JSON round trip (NaN / infinities included)."""

Metrics: TypeAlias = "dict[str, JSONValue]"
"""Free-form per-trial measurements: parameter counts, learning curves, ..."""

INTERRUPTED = "interrupted"
"""The ``error`` of a trial that a killed process left running.

:meth:`~einnas.study.storage.Storage.abandon_running` records such trials as
``FAILED`` with this error text (there is no separate state); use
:attr:`Trial.interrupted` to recognise them. A resumed search re-proposes them.
"""


class TrialState(str, Enum):
    """Life-cycle state of a trial. Only ``RUNNING`` is not terminal."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def is_finished(self) -> bool:
        """True for the terminal states ``COMPLETE``, ``FAILED`` and ``PRUNED``."""
        return self is not TrialState.RUNNING


@dataclass(frozen=True)
class Trial:
    """One evaluation of one architecture, as derived from the storage's log.

    Attributes:
        number: 0-based position in its study, assigned by the storage in order
            of creation (the order of *start* events).
        arch: canonical text form of the architecture.
        arch_hash: stable content hash of ``arch``.
        parent: number of the trial this one was derived from, if any.
        mutation: a (JSON or free text) record of the edit that produced it.
        state: current state (``RUNNING`` until a finish event exists).
        val: the search objective, higher is better (``None`` unless reported).
        test: the reported metric (``None`` unless reported).
        metrics: free-form JSON-able measurements.
        seed: the seed the evaluation used.
        started_at: wall-clock time (epoch seconds) of the start event.
        finished_at: wall-clock time of the finish event, ``None`` while running.
        duration: the evaluation's own time in seconds (may be simulated).
        error: why the trial failed (``"interrupted"`` for abandoned trials).
        proposal: index of the strategy decision that proposed this trial; used
            for deterministic replay (defaults to ``number``).
        history: how many finished trials (in finish order, interrupted ones
            excluded) the proposing decision could see; ``None`` if unknown.
        finish_order: 0-based position of this trial's finish event among the
            study's finish events (interrupted ones included); ``None`` while
            running.
        intermediate: ``step -> val`` of its reports, in the order reported.
        reports: the reports themselves (with their metrics), in order.
    """

    number: int
    arch: str
    arch_hash: str
    parent: int | None = None
    mutation: str | None = None
    state: TrialState = TrialState.RUNNING
    val: float | None = None
    test: float | None = None
    metrics: Metrics = field(default_factory=dict, hash=False)
    seed: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None
    error: str | None = None
    proposal: int = -1
    history: int | None = None
    finish_order: int | None = None
    intermediate: dict[int, float] = field(default_factory=dict, hash=False)
    reports: tuple[TrialReport, ...] = field(default=(), hash=False)

    def __post_init__(self) -> None:
        if self.proposal < 0:
            object.__setattr__(self, "proposal", self.number)

    @property
    def is_finished(self) -> bool:
        """True once a finish event has been recorded."""
        return self.state.is_finished

    @property
    def interrupted(self) -> bool:
        """True for a trial abandoned by :meth:`Storage.abandon_running`."""
        return self.state is TrialState.FAILED and self.error == INTERRUPTED


@dataclass(frozen=True)
class StudyRecord:
    """A study as created: its unique name and the config it was created with."""

    id: int
    name: str
    config: dict[str, Any] = field(hash=False)
    created_at: float


@dataclass(frozen=True)
class StudyEvent:
    """An entry of a study's own append-only log (e.g. a budget extension).

    ``index`` is 0-based within the study, in order of recording.
    """

    index: int
    kind: str
    payload: dict[str, Any] = field(hash=False)
    created_at: float


def _json_default(obj: object) -> Any:
    """Convert numpy-like scalars/arrays (anything with ``item``/``tolist``)."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(allow_nan=True, default=_json_default, separators=(",", ":"))


def json_dumps(value: object) -> str:
    """Encode ``value`` as the JSON text stored in the log.

    NaN and infinities are allowed (Python's JSON dialect); numpy scalars and
    arrays are converted to plain numbers / lists. Raises ``TypeError`` for
    anything else that JSON cannot represent.
    """
    return _ENCODER.encode(value)


def json_loads(text: str) -> Any:
    """Decode JSON text written by :func:`json_dumps`."""
    return json.loads(text)


def _finite_or_none(x: float | None, what: str) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a real number or None, got {x!r}") from exc
    return f if math.isfinite(f) else None


def normalise_outcome(
    state: TrialState,
    val: float | None,
    test: float | None,
    error: str | None,
) -> tuple[TrialState, float | None, float | None, str | None]:
    """Apply the storage's rules for a finish event; both storages use this.

    * ``state`` must be terminal (``ValueError`` otherwise).
    * A ``COMPLETE`` trial must report ``val`` (``ValueError`` if it is None).
    * A ``COMPLETE`` trial whose ``val`` is NaN or infinite is recorded as
      ``FAILED`` with error ``"non-finite objective: nan"`` (a NaN objective is
      a failed evaluation, e.g. a diverged loss) and ``val`` ``None``.
    * In any other case a non-finite ``val`` or ``test`` is stored as ``None``
      (SQLite cannot store NaN in a REAL column). Put raw values in
      ``metrics`` if they matter: NaN round-trips there.
    """
    state = TrialState(state)
    if not state.is_finished:
        raise ValueError(f"a trial can only be finished as COMPLETE, FAILED or PRUNED, not {state}")
    fval = _finite_or_none(val, "val")
    ftest = _finite_or_none(test, "test")
    if state is TrialState.COMPLETE:
        if val is None:
            raise ValueError("a COMPLETE trial must report its objective `val`")
        if fval is None:
            state = TrialState.FAILED
            reason = f"non-finite objective: {float(val)!r}"
            error = reason if error is None else f"{reason}; {error}"
    return state, fval, ftest, error


def check_metrics(metrics: Mapping[str, object] | None) -> str:
    """Validate ``metrics`` (a mapping with string keys) and return its JSON text."""
    if metrics is None:
        return "{}"
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping, got {type(metrics).__name__}")
    for key in metrics:
        if not isinstance(key, str):
            raise TypeError(f"metric names must be strings, got {key!r}")
    return json_dumps(dict(metrics))
