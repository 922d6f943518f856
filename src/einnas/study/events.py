"""The events a caller writes to a study's log: value objects, validated once.

A trial's life is told by events that are only ever appended:

* :class:`TrialStart` -- the architecture, its hash, parent, mutation, seed,
  proposal index and the size of the history its decision saw; the storage
  assigns the trial ``number``;
* :class:`TrialReport` -- an intermediate result of a running trial (e.g. the
  validation accuracy after epoch ``step``): learning curves, multi-fidelity
  (ASHA-style) decisions;
* :class:`TrialOutcome` -- how the trial ended (``COMPLETE``, ``FAILED`` or
  ``PRUNED``), at most once per trial.

Each class checks and normalises its fields in ``__post_init__`` (numpy
integers become ``int``, a ``COMPLETE`` outcome with a NaN objective becomes a
``FAILED`` one, metrics are checked to be JSON), so every storage receives the
same, valid values; the checks that need the log (does the parent exist? is the
trial still running?) are made by :class:`~einnas.study.storage.Storage`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from einnas.study.trial import TrialState, check_metrics, json_loads, normalise_outcome

__all__ = [
    "TrialOutcome",
    "TrialReport",
    "TrialStart",
    "check_duration",
    "check_int",
    "check_text",
    "to_int",
]


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


def check_int(value: Any, what: str, *, minimum: int | None = None) -> int | None:
    """``value`` as an ``int`` (at least ``minimum`` if given), or None."""
    if value is None:
        return None
    n = to_int(value, what)
    if minimum is not None and n < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return n


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


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class TrialStart:
    """The start of a trial (one per trial); the storage assigns its number.

    Attributes:
        arch: canonical text form of the architecture.
        arch_hash: stable content hash (identity) of ``arch``.
        parent: number of an earlier trial of the same study it derives from.
        mutation: a (JSON or free text) record of the edit that produced it.
        seed: the seed the evaluation uses.
        proposal: index of the strategy decision that proposed it (defaults to
            the trial number).
        history: how many finished trials the decision that proposed it could
            see -- counted in *finish order* (the order finish events were
            appended to the study's log), interrupted trials excluded; ``None``
            when unknown (legacy logs, hand-written trials).
        started_at: wall-clock start time (epoch seconds); defaults to the time
            of the write (set it for evaluations logged after the fact).
    """

    arch: str
    arch_hash: str
    parent: int | None = None
    mutation: str | None = None
    seed: int | None = None
    proposal: int | None = None
    history: int | None = None
    started_at: float | None = None

    def __post_init__(self) -> None:
        check_text(self.arch, "arch", allow_none=False)
        check_text(self.arch_hash, "arch_hash", allow_none=False)
        check_text(self.mutation, "mutation", allow_none=True)
        _set(self, "parent", check_int(self.parent, "parent"))
        _set(self, "seed", check_int(self.seed, "seed"))
        _set(self, "proposal", check_int(self.proposal, "proposal", minimum=0))
        _set(self, "history", check_int(self.history, "history", minimum=0))
        if self.started_at is not None:
            at = float(self.started_at)
            if not math.isfinite(at):
                raise ValueError(f"started_at must be finite, got {self.started_at!r}")
            _set(self, "started_at", at)


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended (at most one per trial).

    Normalised on construction by :func:`~einnas.study.trial.normalise_outcome`:
    ``state`` must be terminal; ``COMPLETE`` needs ``val``; a ``COMPLETE``
    outcome with a NaN or infinite ``val`` becomes ``FAILED`` (error
    ``"non-finite objective: nan"``); other non-finite ``val`` / ``test`` become
    ``None`` (raw values belong in ``metrics``, where NaN round-trips).
    ``metrics`` must be a mapping with string keys and JSON-able values (numpy
    scalars and arrays are converted); the trial view holds its JSON round trip.

    Prefer the constructors :meth:`complete`, :meth:`failed` and :meth:`pruned`.
    """

    state: TrialState
    val: float | None = None
    test: float | None = None
    metrics: Mapping[str, object] | None = field(default=None, compare=False)
    duration: float | None = None
    error: str | None = None
    metrics_json: str = field(default="{}", init=False, repr=False)
    """The JSON text of ``metrics`` (what the log stores)."""

    def __post_init__(self) -> None:
        state, val, test, error = normalise_outcome(
            TrialState(self.state),
            self.val,
            self.test,
            check_text(self.error, "error", allow_none=True),
        )
        _set(self, "state", state)
        _set(self, "val", val)
        _set(self, "test", test)
        _set(self, "error", error)
        _set(self, "duration", check_duration(self.duration))
        _set(self, "metrics_json", check_metrics(self.metrics))

    @property
    def logged_metrics(self) -> dict[str, Any]:
        """``metrics`` as the log returns them (after the JSON round trip)."""
        out: dict[str, Any] = json_loads(self.metrics_json)
        return out

    @classmethod
    def complete(
        cls,
        val: float,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
    ) -> TrialOutcome:
        """A successful evaluation with objective ``val``."""
        return cls(TrialState.COMPLETE, val, test, metrics, duration)

    @classmethod
    def failed(
        cls,
        error: str | None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
    ) -> TrialOutcome:
        """A failed evaluation (``error`` says why)."""
        return cls(TrialState.FAILED, None, None, metrics, duration, error)

    @classmethod
    def pruned(
        cls,
        val: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
    ) -> TrialOutcome:
        """An evaluation stopped early on purpose (e.g. by a multi-fidelity rule)."""
        return cls(TrialState.PRUNED, val, None, metrics, duration, error)


@dataclass(frozen=True)
class TrialReport:
    """An intermediate result of a running trial.

    Attributes:
        step: the fidelity it was measured at (an epoch, a number of steps,
            ...), an int >= 0; a trial may report a step only once.
        val: the objective at that step (higher is better). NaN and infinities
            are kept (a diverging run may report them).
        metrics: free-form JSON-able measurements at that step.
    """

    step: int
    val: float
    metrics: Mapping[str, object] | None = field(default=None, compare=False)
    metrics_json: str = field(default="{}", init=False, repr=False)
    """The JSON text of ``metrics`` (what the log stores)."""

    def __post_init__(self) -> None:
        step = to_int(self.step, "step")
        if step < 0:
            raise ValueError(f"step must be >= 0, got {self.step!r}")
        _set(self, "step", step)
        try:
            _set(self, "val", float(self.val))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"val must be a real number, got {self.val!r}") from exc
        _set(self, "metrics_json", check_metrics(self.metrics))
