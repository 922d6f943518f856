"""The public Python API: studies you ask for architectures and tell results to.

>>> import einnas
>>> space = einnas.spaces.SlotSpace([3, 3, 3, 3], name="toy")
>>> study = einnas.create_study(space, strategy="re", seed=0)
>>> study.optimize(lambda trial: float(sum(trial.arch)), n_trials=20)
>>> study.best_trial.arch
(2, 2, 2, 2)

A :class:`Study` couples a search space, a strategy and a trial log (a storage: in memory by
default, an SQLite file, or a JSON-lines journal).  :meth:`Study.ask` makes the strategy's next
decision from everything told so far and logs its start; :meth:`Study.tell` logs the result.
:meth:`Study.optimize` runs the loop for you with any callable -- your own training code --
on ``n_workers`` threads (or an executor of your choice); an exception or a NaN marks that trial
failed and the search goes on.  For a registered space with an evaluator of its own (a tabular
benchmark, einspace with training) ``optimize()`` needs no objective, and :meth:`Study.search`
runs the full search loop (process pool or Ray, multi-fidelity).

Decisions are a pure function of the log: decision ``k`` sees the results in the order they were
told (recorded as the trial's ``history``), the architectures proposed before it and an RNG seeded
from ``(seed, k)``.  ``load_study`` / ``create_study(..., load_if_exists=True)`` on an existing
log continue where it stopped.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from einnas.spaces.base import SearchSpace, SearchSpaceError
from einnas.strategies.base import Strategy
from einnas.study.events import TrialOutcome, TrialStart
from einnas.study.factory import open_storage
from einnas.study.runner import SearchOutcome, _better, _Search, run_search, trial_seed
from einnas.study.storage import Storage, UnknownStudyError
from einnas.study.study import IncompatibleStudyError
from einnas.study.study import Study as StudyLog
from einnas.study.trial import Trial as FrozenTrial
from einnas.study.trial import TrialState

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from einnas.evaluators.base import Evaluator
    from einnas.executors.base import Executor
    from einnas.experiment import SearchSpec
    from einnas.fidelity import FidelityPolicy

__all__ = ["AskedTrial", "FrozenTrial", "Study", "TrialFailed", "create_study", "load_study"]

Objective = Callable[["AskedTrial"], "float | Mapping[str, Any] | None"]

_RESERVED = ("val", "value", "test")


class TrialFailed(Exception):
    """Raise this from an objective to fail the trial with a message (the search continues)."""


@dataclass(frozen=True)
class AskedTrial:
    """A trial handed out by :meth:`Study.ask`: evaluate ``arch`` and tell the result.

    Attributes:
        number: the trial's number in its study.
        arch: the architecture object (an einspace tree, a tuple of choice indices, ...).
        arch_text: its canonical text (what the log stores).
        seed: a seed for the evaluation (weights, data order), fixed by the study's seed.
        parent: the number of the trial it was derived from, if any.
        study_name: the study it belongs to.
    """

    number: int
    arch: Any
    arch_text: str
    seed: int
    parent: int | None
    study_name: str


def _value_to_outcome(value: Any, duration: float | None) -> TrialOutcome:
    """A told value as an outcome: a float, a mapping, an exception, or None (failed)."""
    if isinstance(value, BaseException):
        return TrialOutcome.failed(f"{type(value).__name__}: {value}", duration=duration)
    if isinstance(value, TrialOutcome):
        return value
    if value is None:
        return TrialOutcome.failed("the objective returned None", duration=duration)
    if isinstance(value, Mapping):
        metrics = {str(k): v for k, v in value.items() if k not in _RESERVED}
        val = value.get("val", value.get("value"))
        if val is None:
            return TrialOutcome.failed(
                "the objective's mapping has no 'val' (the validation accuracy to maximise)",
                metrics,
                duration,
            )
        test = value.get("test")
        try:
            fval = float(val)
            ftest = None if test is None else float(test)
        except (TypeError, ValueError):
            return TrialOutcome.failed(f"'val' is not a number: {val!r}", metrics, duration)
        if not math.isfinite(fval):
            return TrialOutcome.failed(f"non-finite objective: {fval!r}", metrics, duration)
        return TrialOutcome.complete(fval, ftest, metrics, duration)
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            fval = float(value)
        except (TypeError, ValueError):
            return TrialOutcome.failed(
                f"the objective returned {type(value).__name__}, expected a number or a mapping",
                duration=duration,
            )
    else:
        fval = float(value)
    if not math.isfinite(fval):
        return TrialOutcome.failed(f"non-finite objective: {fval!r}", duration=duration)
    return TrialOutcome.complete(fval, None, None, duration)


class Study:
    """A search: a space, a strategy and a trial log (see the module docstring).

    Build with :func:`create_study` or :func:`load_study`.
    """

    def __init__(
        self,
        log: StudyLog,
        space: SearchSpace[Any],
        strategy: Strategy,
        *,
        seed: int,
        workers: int,
        evaluator: Evaluator | None = None,
        fidelity: FidelityPolicy | None = None,
    ) -> None:
        self._log = log
        self.space = space
        self.strategy = strategy
        self.seed = seed
        self.workers = workers
        self.evaluator = evaluator
        self.fidelity = fidelity
        self._lock = threading.RLock()
        self._search: _Search | None = None
        self._asked: dict[int, Any] = {}

    # -- what it is ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The study's unique name in its storage."""
        return self._log.name

    @property
    def storage(self) -> Storage:
        """The trial log."""
        return self._log.storage

    @property
    def config(self) -> dict[str, Any]:
        """The config recorded at creation (with later budget extensions)."""
        return self._log.config

    def __repr__(self) -> str:
        return f"Study({self.name!r}, space={self.space.name!r}, strategy={self.strategy.name!r})"

    # -- ask and tell ----------------------------------------------------------------------

    def _state(self) -> _Search:
        if self._search is None:
            self._search = _Search(
                self.storage, self.name, self.space, self.strategy, self.seed, None
            )
        return self._search

    def ask(self) -> AskedTrial:
        """The strategy's next architecture, logged as a running trial.

        The decision sees every result told so far (in the order they were told).
        """
        with self._lock:
            s = self._state()
            while s.next_k in s.decided:
                s.next_k += 1
            k = s.next_k
            proposal, h = s.propose(k)
            text = self.space.to_text(proposal.arch)
            ident = self.space.identity(proposal.arch)
            start = TrialStart(
                text,
                ident,
                parent=proposal.parent,
                mutation=proposal.mutation,
                seed=trial_seed(self.seed, k),
                proposal=k,
                history=h,
            )
            trial = self.storage.start_trial(self.name, start)
            s.seen.add(ident)
            s.decided.add(k)
            s.next_k += 1
            self._asked[trial.number] = proposal.arch
            return AskedTrial(
                trial.number, proposal.arch, text, int(start.seed or 0), proposal.parent, self.name
            )

    def tell(
        self,
        trial: AskedTrial | int,
        value: float | Mapping[str, Any] | BaseException | None,
        *,
        duration: float | None = None,
    ) -> FrozenTrial:
        """Log the result of an asked trial and return the finished trial.

        ``value``: the validation accuracy (higher is better); or a mapping with ``val`` (the
        objective) and optionally ``test``, ``params``, ``macs`` and anything else (kept in the
        trial's metrics); or an exception / ``None`` / NaN, which marks the trial failed.
        """
        number = trial.number if isinstance(trial, AskedTrial) else int(trial)
        outcome = _value_to_outcome(value, duration)
        with self._lock:
            s = self._state()
            finished = self.storage.finish_trial(self.name, number, outcome)
            arch = self._asked.pop(number, None)
            val = finished.val if finished.state is TrialState.COMPLETE else None
            s._observe(finished, val, arch)
            s.done.add(finished.proposal)
            if _better(finished, s.best):
                s.best = finished
            return finished

    def optimize(
        self,
        objective: Objective | None = None,
        n_trials: int = 100,
        *,
        n_workers: int | None = None,
        executor: Executor | None = None,
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]] = (),
    ) -> None:
        """Evaluate ``n_trials`` more architectures with ``objective(trial) -> float | mapping``.

        ``objective`` is any callable taking an :class:`AskedTrial` (your training loop); with
        ``n_workers`` > 1 it runs on that many threads at once (a new architecture is asked for
        the moment one finishes).  Without an objective, the space's own evaluator is used
        (registered tabular spaces; einspace training) through :meth:`search`, on ``executor``
        or a process pool of ``n_workers``.  An exception (other than ``KeyboardInterrupt``) or a
        NaN from the objective fails that trial only.
        """
        if n_trials < 0:
            raise ValueError(f"n_trials must be >= 0, got {n_trials}")
        workers = self.workers if n_workers is None else n_workers
        if workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {workers}")
        if objective is None:
            done = self._finished_decisions()
            self.search(done + n_trials, executor=executor, workers=workers)
            return
        from einnas.study.lease import study_lease

        with study_lease(self.storage, self.name):
            self._optimize(objective, n_trials, workers, callbacks)

    def _optimize(
        self,
        objective: Objective,
        n_trials: int,
        workers: int,
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]],
    ) -> None:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="einnas-objective")
        running: dict[Future[tuple[Any, float]], AskedTrial] = {}
        asked = 0
        try:
            while True:
                while len(running) < workers and asked < n_trials:
                    trial = self.ask()
                    asked += 1
                    running[pool.submit(_call, objective, trial)] = trial
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in sorted(finished, key=lambda f: running[f].number):
                    trial = running.pop(fut)
                    value, seconds = fut.result()
                    frozen = self.tell(trial, value, duration=seconds)
                    for callback in callbacks:
                        callback(self, frozen)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- the full search loop ----------------------------------------------------------------

    def search(
        self,
        budget: int,
        *,
        executor: Executor | None = None,
        workers: int | None = None,
        on_trial: Callable[[FrozenTrial, FrozenTrial | None], None] | None = None,
        checkpoint_dir: str | None = None,
    ) -> SearchOutcome:
        """Run the search loop until ``budget`` decisions have finished (resumes a stopped one).

        Uses the space's evaluator (a registered space; einspace training) on ``executor``
        (default: in-process for one worker, else a process pool of ``workers``).
        """
        if self.evaluator is None:
            raise ValueError(
                f"study {self.name!r} has no evaluator of its own (its space was given as an "
                "object): pass an objective to optimize(), or ask() and tell()"
            )
        from einnas.executors import make_executor

        n = self.workers if workers is None else workers
        own = executor is None
        ex = executor or make_executor("inline" if n == 1 else "pool", self.evaluator, n, None)
        try:
            outcome = run_search(
                self.storage,
                self.name,
                self.space,
                self.strategy,
                ex,
                budget,
                self.seed,
                n,
                on_trial,
                fidelity=self.fidelity,
                checkpoint_dir=checkpoint_dir,
            )
        except BaseException:
            if own:  # Ctrl-C or an error: do not wait for the running evaluations
                ex.terminate()
            raise
        else:
            if own:
                ex.shutdown()
        self._search = None  # the log moved on without this object: re-read it when asked
        return outcome

    # -- results ---------------------------------------------------------------------------

    def _finished_decisions(self) -> int:
        return len({t.proposal for t in self.trials if t.is_finished and not t.interrupted})

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, ordered by number (running, complete, failed and pruned)."""
        return self._log.trials()

    @property
    def best_trial(self) -> FrozenTrial:
        """The complete trial with the highest validation value (``ValueError`` if none).

        Pruned candidates (stopped early by a multi-fidelity policy) and failed trials never
        count, whatever value they reported.
        """
        best = self._log.best_trial()
        if best is None:
            raise ValueError(f"study {self.name!r} has no complete trial yet")
        return best

    def trials_dataframe(self) -> pd.DataFrame:
        """The trials as a pandas DataFrame (``pip install einnas[pandas]``).

        One row per trial: number, state, val, test, arch, parent, proposal, duration, error,
        started_at, finished_at, then one ``metrics.<name>`` column per scalar metric.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "trials_dataframe() needs pandas: pip install 'einnas[pandas]'"
            ) from exc
        from einnas.run_outputs import trial_table_rows

        return pd.DataFrame(trial_table_rows(self.trials))


def _call(objective: Objective, trial: AskedTrial) -> tuple[Any, float]:
    import time

    t0 = time.perf_counter()
    try:
        value: Any = objective(trial)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one trial's failure must not stop the search
        value = exc
    return value, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Creating and loading


def _strategy_name(strategy: str | Strategy) -> str:
    return strategy if isinstance(strategy, str) else strategy.name


def create_study(
    space: SearchSpace[Any] | str,
    strategy: str | Strategy = "delta-nas",
    *,
    storage: str | os.PathLike[str] | Storage | None = None,
    study_name: str | None = None,
    seed: int = 0,
    workers: int = 1,
    load_if_exists: bool = True,
    dataset: str | None = None,
    benchmark_dir: str | None = None,
    fidelity: FidelityPolicy | None = None,
    **strategy_options: Any,
) -> Study:
    """Create a study, or load it when it exists (``load_if_exists``).

    Args:
        space: a search space object (e.g. :class:`einnas.spaces.SlotSpace`, an einspace
            :class:`~einnas.spaces.einspace.EinSpace`) or the name of a registered space
            (``"nb201"``, a plug-in's name, ``"einspace1d"``) with its ``dataset``.
        strategy: a registered strategy name (``rs``, ``re``, ``ls``, ``delta-nas``,
            ``bananas``, a plug-in's) or a :class:`~einnas.strategies.base.Strategy` object.
        storage: a path (SQLite), ``"journal:///path"`` / ``*.jsonl`` (JSON-lines journal), a
            storage object, or None (in memory).
        study_name: default ``<space>-<strategy>-seed<seed>``.
        seed: fixes every decision (and each trial's evaluation seed).
        workers: evaluations in flight in :meth:`Study.optimize` / :meth:`Study.search`
            (recorded; a resumed study keeps its recorded number unless you pass another to
            ``optimize``).
        load_if_exists: continue an existing study of that name (its space, strategy and seed
            must match: :class:`~einnas.study.study.IncompatibleStudyError` otherwise); False
            raises :class:`~einnas.study.storage.DuplicateStudyError` instead.
        fidelity: a multi-fidelity policy (:mod:`einnas.fidelity`) for :meth:`Study.search`.
        strategy_options: passed to the strategy's factory (e.g. ``population=50``).
    """
    from einnas.experiment import resolve_space_and_strategy

    resolved = resolve_space_and_strategy(
        space,
        strategy,
        dataset=dataset,
        benchmark_dir=benchmark_dir,
        strategy_options=strategy_options,
    )
    log_storage = open_storage(storage)
    name = study_name or f"{resolved.space_name}-{_strategy_name(strategy)}-seed{seed}"
    config: dict[str, Any] = {
        "space": resolved.space_name,
        "dataset": resolved.dataset,
        "strategy": resolved.strategy.describe(),
        "seed": seed,
        "workers": workers,
        "api": {"strategy": _strategy_name(strategy), "options": _jsonable(strategy_options)},
    }
    if fidelity is not None:
        config["fidelity"] = fidelity.describe()
    if resolved.evaluator is not None:
        config["evaluator"] = resolved.evaluator.describe()
    exists = log_storage.get_study(name) is not None
    if exists and not load_if_exists:
        from einnas.study.storage import DuplicateStudyError

        raise DuplicateStudyError(
            f"a study named {name!r} already exists in {log_storage!r}; pass load_if_exists=True "
            "to continue it or choose another study_name"
        )
    log = StudyLog.create_or_load(log_storage, name, config)
    recorded_workers = int(log.config.get("workers", workers))
    return Study(
        log,
        resolved.space,
        resolved.strategy,
        seed=seed,
        workers=recorded_workers,
        evaluator=resolved.evaluator,
        fidelity=fidelity,
    )


def study_for_spec(
    spec: SearchSpec,
    built: tuple[SearchSpace[Any], Evaluator, Strategy] | None = None,
    *,
    storage: str | os.PathLike[str] | Storage | None,
    study_name: str | None = None,
    fidelity: FidelityPolicy | None = None,
) -> Study:
    """The study of a full :class:`~einnas.experiment.SearchSpec` (what ``einnas search`` runs).

    Created, or resumed when it exists with the same space, dataset, strategy, seed and
    fidelity; a resumed study keeps its recorded number of workers.  ``built`` is the spec's
    ``build_search`` result when the caller has it already.
    """
    from einnas.experiment import build_search

    space, evaluator, strategy = built if built is not None else build_search(spec)
    config = spec.config(evaluator, strategy)
    if fidelity is not None:
        config["fidelity"] = fidelity.describe()
    name = study_name or spec.default_study_name()
    log = StudyLog.create_or_load(open_storage(storage), name, config)
    recorded = log.config.get("fidelity")
    if recorded is not None and fidelity is None:
        from einnas.fidelity import fidelity_from_config

        fidelity = fidelity_from_config(recorded)
    return Study(
        log,
        space,
        strategy,
        seed=spec.seed,
        workers=int(log.config.get("workers", spec.workers)),
        evaluator=evaluator,
        fidelity=fidelity,
    )


def load_study(
    study_name: str,
    storage: str | os.PathLike[str] | Storage,
    *,
    space: SearchSpace[Any] | None = None,
    strategy: Strategy | None = None,
) -> Study:
    """Load an existing study to continue it or read its results.

    The space and strategy are rebuilt from the recorded config when the space is registered;
    a study created with a space *object* needs it again (``space=``).
    """
    from einnas.experiment import resolve_space_and_strategy

    log = StudyLog.load(open_storage(storage), study_name)
    cfg = log.config
    api = cfg.get("api") or {}
    name = cfg.get("space")
    if space is None and not isinstance(name, str):
        raise UnknownStudyError(f"study {study_name!r} records no space name")
    try:
        resolved = resolve_space_and_strategy(
            space if space is not None else str(name),
            strategy if strategy is not None else str(api.get("strategy") or _cfg_strategy(cfg)),
            dataset=cfg.get("dataset"),
            benchmark_dir=None,
            strategy_options=dict(api.get("options") or {}),
        )
    except SearchSpaceError as exc:
        raise SearchSpaceError(
            f"study {study_name!r} was made on space {name!r}, which is not registered here; "
            f"pass the space object: load_study({study_name!r}, storage, space=...) ({exc})"
        ) from exc
    fidelity = None
    if isinstance(cfg.get("fidelity"), dict):
        from einnas.fidelity import fidelity_from_config

        fidelity = fidelity_from_config(cfg["fidelity"])
    return Study(
        log,
        resolved.space,
        resolved.strategy,
        seed=int(cfg.get("seed", 0)),
        workers=int(cfg.get("workers", 1)),
        evaluator=resolved.evaluator,
        fidelity=fidelity,
    )


def _cfg_strategy(cfg: Mapping[str, Any]) -> str:
    strategy = cfg.get("strategy")
    if isinstance(strategy, dict):
        return str(strategy.get("name", "re"))
    return str(strategy or "re")


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    from einnas.study.trial import json_dumps, json_loads

    try:
        out: dict[str, Any] = json_loads(json_dumps(dict(options)))
    except TypeError as exc:
        raise TypeError(f"strategy options must be JSON values: {exc}") from exc
    return out


__all__ += ["IncompatibleStudyError"]
