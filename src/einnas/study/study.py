"""The :class:`Study` façade: one search, on top of a storage.

A study is a name plus the config it was created with, and the trials logged
under that name. ``Study`` holds no state of its own besides a cache: the
storage's append-only log is the truth, and every query goes back to it. This
is what makes resuming trivial: ``Study.create_or_load`` with the same name and
config finds the existing log and the search replays it.

Config compatibility on resume: the keys that determine the search's decisions
(by default ``space``, ``dataset``, ``strategy`` and ``seed``) must be equal to
the recorded ones, otherwise :class:`IncompatibleStudyError` names the first
differing key. ``budget`` may grow: the larger budget is appended to the
study's log as a ``"budget"`` event (the creation config is never rewritten)
and :attr:`Study.config` shows the effective value. Other keys (e.g. the number
of workers) may differ freely; the recorded config stays authoritative.

The cache: finished trials never change (the log is append-only, finishing
twice is an error) and trial numbers are contiguous, so the study remembers the
longest prefix of finished trials and only asks the storage for the rest.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from einnas.study.factory import open_storage
from einnas.study.storage import DuplicateStudyError, Storage, UnknownStudyError
from einnas.study.trial import StudyEvent, StudyRecord, Trial, TrialState, json_dumps, json_loads

__all__ = ["BUDGET_EVENT", "BUDGET_KEY", "IDENTITY_KEYS", "IncompatibleStudyError", "Study"]

IDENTITY_KEYS: tuple[str, ...] = ("space", "dataset", "strategy", "seed", "fidelity")
"""Config keys that must match exactly when an existing study is loaded."""

BUDGET_KEY = "budget"
"""The config key that may grow on resume."""

BUDGET_EVENT = "budget"
"""Kind of the study event recording a budget extension (payload: budget, previous)."""

_MISSING: Any = object()


class IncompatibleStudyError(ValueError):
    """An existing study was loaded with a config that contradicts the recorded one."""

    def __init__(self, study: str, key: str, recorded: Any, given: Any, why: str = "") -> None:
        self.study = study
        self.key = key
        self.recorded = None if recorded is _MISSING else recorded
        self.given = None if given is _MISSING else given
        rec = "<absent>" if recorded is _MISSING else repr(recorded)
        giv = "<absent>" if given is _MISSING else repr(given)
        super().__init__(
            f"study {study!r} exists with a different {key!r}: recorded {rec}, given {giv}"
            + (f" ({why})" if why else "")
            + "; use another study name or the recorded setting"
        )


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _budget_order(old: Any, new: Any) -> int | None:
    """-1, 0, 1 if ``new`` is smaller, equal or larger than ``old``; None if incomparable.

    Budgets are numbers, or mappings of numbers with the same keys (e.g.
    ``{"trials": 1000, "seconds": 3600}``); a mapping is larger when no entry
    shrinks and one grows.
    """
    if old == new:
        return 0
    if _is_number(old) and _is_number(new):
        return 1 if new > old else -1
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        orders = [_budget_order(old[k], new[k]) for k in old]
        if None in orders:
            return None
        return -1 if -1 in orders else 1
    return None


class Study:
    """One search: a named study in a storage, with convenience queries.

    Build with :meth:`create`, :meth:`load` or :meth:`create_or_load`.
    """

    def __init__(self, storage: Storage, record: StudyRecord) -> None:
        self._storage = storage
        self._record = record
        self._finished: list[Trial] = []  # cache: longest all-finished prefix

    # -- construction ----------------------------------------------------------

    @classmethod
    def create(
        cls, storage: Storage | str | os.PathLike[str] | None, name: str, config: Mapping[str, Any]
    ) -> Study:
        """Create a new study (``DuplicateStudyError`` if the name is taken)."""
        st = open_storage(storage)
        st.create_study(name, config)
        return cls.load(st, name)

    @classmethod
    def load(cls, storage: Storage | str | os.PathLike[str] | None, name: str) -> Study:
        """Load an existing study (``UnknownStudyError`` if there is none)."""
        st = open_storage(storage)
        record = st.get_study(name)
        if record is None:
            raise UnknownStudyError(f"no study named {name!r} in {st!r}")
        return cls(st, record)

    @classmethod
    def create_or_load(
        cls,
        storage: Storage | str | os.PathLike[str] | None,
        name: str,
        config: Mapping[str, Any],
        *,
        identity_keys: Collection[str] = IDENTITY_KEYS,
    ) -> Study:
        """Create the study, or load it if it exists and ``config`` is compatible.

        ``identity_keys`` must be equal to the recorded values (a key absent on
        both sides is equal); ``budget`` may be equal or larger, a larger one is
        appended as a ``"budget"`` event. Raises :class:`IncompatibleStudyError`
        naming the differing key otherwise.
        """
        st = open_storage(storage)
        if st.get_study(name) is None:
            try:
                st.create_study(name, config)
            except DuplicateStudyError:
                pass  # another process created it in the meantime: check it below
            else:
                return cls.load(st, name)
        study = cls.load(st, name)
        study._check_compatible(config, identity_keys)
        return study

    def _check_compatible(self, config: Mapping[str, Any], identity_keys: Collection[str]) -> None:
        given = json_loads(json_dumps(dict(config)))  # compare as the log stores it
        recorded = self.config
        for key in identity_keys:
            old, new = recorded.get(key, _MISSING), given.get(key, _MISSING)
            if old != new:
                raise IncompatibleStudyError(self.name, key, old, new)
        if BUDGET_KEY not in given:
            return
        old, new = recorded.get(BUDGET_KEY, _MISSING), given[BUDGET_KEY]
        if old is _MISSING:
            raise IncompatibleStudyError(self.name, BUDGET_KEY, old, new, "no budget was recorded")
        order = _budget_order(old, new)
        if order is None or order < 0:
            raise IncompatibleStudyError(self.name, BUDGET_KEY, old, new, "a budget may only grow")
        if order > 0:
            self.extend_budget(new)

    # -- the study --------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        """The storage holding this study's log."""
        return self._storage

    @property
    def name(self) -> str:
        """The study's unique name."""
        return self._record.name

    @property
    def id(self) -> int:
        """The study's id in its storage."""
        return self._record.id

    @property
    def created_at(self) -> float:
        """Creation time (epoch seconds)."""
        return self._record.created_at

    @property
    def creation_config(self) -> dict[str, Any]:
        """The config exactly as recorded at creation."""
        return dict(self._record.config)

    @property
    def config(self) -> dict[str, Any]:
        """The effective config: the creation config with later budget extensions applied."""
        cfg = dict(self._record.config)
        for event in self.events():
            if event.kind == BUDGET_EVENT:
                cfg[BUDGET_KEY] = event.payload[BUDGET_KEY]
        return cfg

    @property
    def budget(self) -> Any:
        """The effective budget (``None`` if the config has none)."""
        return self.config.get(BUDGET_KEY)

    def extend_budget(self, budget: Any) -> StudyEvent:
        """Record a larger budget (``IncompatibleStudyError`` if it is not larger)."""
        old = self.budget
        order = _budget_order(old, budget)
        if order is None or order <= 0:
            raise IncompatibleStudyError(
                self.name, BUDGET_KEY, old, budget, "a budget extension must be larger"
            )
        return self._storage.append_study_event(
            self.name, BUDGET_EVENT, {BUDGET_KEY: budget, "previous": old}
        )

    def events(self) -> list[StudyEvent]:
        """The study's own event log (budget extensions, ...)."""
        return self._storage.study_events(self.name)

    def __repr__(self) -> str:
        return f"Study({self.name!r}, {self._storage!r})"

    # -- queries ----------------------------------------------------------------

    def trials(self, states: Iterable[TrialState | str] | TrialState | None = None) -> list[Trial]:
        """All trials (or those in ``states``), ordered by number."""
        cached = self._finished
        fresh = self._storage.trials(self.name, min_number=len(cached))
        i = 0
        while i < len(fresh) and fresh[i].is_finished:
            i += 1
        if i:
            cached.extend(fresh[:i])
        views = cached + fresh[i:]
        if states is None:
            return views
        wanted = {states} if isinstance(states, TrialState) else {TrialState(s) for s in states}
        return [t for t in views if t.state in wanted]

    def get_trial(self, number: int) -> Trial:
        """One trial by number."""
        if 0 <= number < len(self._finished):
            return self._finished[number]
        return self._storage.get_trial(self.name, number)

    def completed(self) -> list[Trial]:
        """The COMPLETE trials, ordered by number."""
        return self.trials(TrialState.COMPLETE)

    def running(self) -> list[Trial]:
        """The trials without a finish event."""
        return self.trials(TrialState.RUNNING)

    def best_trial(self) -> Trial | None:
        """The COMPLETE trial with the highest ``val`` (lowest number on ties)."""
        best: Trial | None = None
        for t in self.completed():
            if t.val is not None and (best is None or best.val is None or t.val > best.val):
                best = t
        return best

    def n_finished(self) -> int:
        """How many trials are finished, *not* counting interrupted ones.

        Interrupted trials (closed by :meth:`abandon_running`) are proposed
        again on resume, so they do not use up the budget.
        """
        return sum(1 for t in self.trials() if t.is_finished and not t.interrupted)

    # -- writes: through ``study.storage`` (start_trial, finish_trial, record_trial, report)

    def abandon_running(self) -> list[Trial]:
        """Close trials left RUNNING by a killed process; see :meth:`Storage.abandon_running`."""
        return self._storage.abandon_running(self.name)
