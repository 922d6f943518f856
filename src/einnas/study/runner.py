"""The search loop: strategy -> executor -> evaluator -> storage, deterministic and resumable.

Decisions are numbered ``k = 0, 1, ..., budget - 1``.  Decision ``k`` is made from

* the finished trials of decisions ``0 .. k - workers`` (a *fixed* prefix: with ``workers``
  evaluations in flight, the loop waits until that prefix is complete before deciding), and
* an RNG seeded from ``(seed, k)``,

so it never depends on which worker happened to finish first.  With the same seed and the same
``workers``, an in-process run, a process pool and a Ray cluster make the same decisions.
Results are written to the storage as soon as they arrive; the storage is the only state.

Resume: trials that a killed process left running are closed as interrupted; every decision
whose trial is not finished is made again -- from the same history prefix and the same RNG, so
it proposes the same architecture -- and evaluated.  Raising the budget of a finished study
simply makes more decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.executors.base import Executor, InlineExecutor
from einnas.spaces.base import SearchSpace
from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy
from einnas.study.events import TrialOutcome, TrialStart
from einnas.study.storage import Storage
from einnas.study.trial import Trial, TrialState


@dataclass(frozen=True)
class SearchOutcome:
    """Summary of a finished ``run_search`` call."""

    study: str
    budget: int
    finished: int  # decisions with a finished trial
    evaluated_now: int  # trials evaluated by this call (the rest were replayed from the log)
    best: Trial | None
    search_seconds: float  # time spent deciding and logging (strategy + storage), not evaluating
    wall_seconds: float


ProgressHook = Callable[[Trial, "Trial | None"], None]


def decision_rng(seed: int, index: int) -> np.random.Generator:
    """The RNG of decision ``index`` of a study seeded with ``seed``."""
    return np.random.default_rng([seed, index])


def trial_seed(seed: int, index: int) -> int:
    """The seed handed to the evaluator for decision ``index`` (weights init, data order)."""
    return int(np.random.SeedSequence([seed, index, 1]).generate_state(1)[0] & 0x7FFFFFFF)


class _History:
    """Finished trials by decision index, plus the parsed architectures (parsed once)."""

    def __init__(self, space: SearchSpace[Any]) -> None:
        self.space = space
        self.by_index: dict[int, Observation] = {}
        self.identity: dict[int, str] = {}  # decision -> identity, for every proposed decision
        self._parsed: dict[str, Any] = {}

    def arch(self, text: str) -> Any:
        hit = self._parsed.get(text)
        if hit is None:
            hit = self._parsed[text] = self.space.from_text(text)
        return hit

    def add(self, trial: Trial, arch: Any | None = None) -> Observation:
        arch = arch if arch is not None else self.arch(trial.arch)
        ident = self.space.identity(arch)
        val = trial.val if trial.state is TrialState.COMPLETE else None
        obs = Observation(trial.proposal, trial.number, arch, ident, val, trial.parent)
        self.by_index[trial.proposal] = obs
        self.identity[trial.proposal] = ident
        return obs

    def prefix(self, end: int) -> list[Observation]:
        return [self.by_index[i] for i in range(end)]


def _outcome(res: EvalResult) -> TrialOutcome:
    """The outcome to log for an evaluation's result."""
    return TrialOutcome(
        state=TrialState.COMPLETE if res.ok else TrialState.FAILED,
        val=res.val,
        test=res.test,
        metrics=res.metrics,
        duration=res.duration,
        error=res.error,
    )


def _better(trial: Trial, best: Trial | None) -> bool:
    """Is ``trial`` a new best (complete, higher val; the earlier trial wins ties)?"""
    if trial.state is not TrialState.COMPLETE or trial.val is None:
        return False
    return best is None or best.val is None or trial.val > best.val


def run_search(
    storage: Storage,
    study: str,
    space: SearchSpace[Any],
    strategy: Strategy,
    executor: Executor,
    budget: int,
    seed: int,
    workers: int = 1,
    on_trial: ProgressHook | None = None,
) -> SearchOutcome:
    """Run (or resume) ``study`` until ``budget`` decisions have finished trials."""
    if budget < 0 or workers < 1:
        raise ValueError(f"budget must be >= 0 and workers >= 1 (got {budget}, {workers})")
    t_start = time.perf_counter()
    overhead = 0.0
    storage.abandon_running(study)
    hist = _History(space)
    best: Trial | None = None
    for t in storage.trials(study):
        if t.is_finished and not t.interrupted and t.proposal not in hist.by_index:
            hist.add(t)
            if _better(t, best):
                best = t

    running: dict[Future[EvalResult], tuple[int, Trial, Any]] = {}
    instant = (
        workers == 1
        and isinstance(executor, InlineExecutor)
        and getattr(executor.evaluator, "instant", False)
    )
    next_k = 0
    complete_prefix = 0  # decisions 0 .. complete_prefix - 1 are all finished
    seen: set[str] = set()
    seen_upto = 0
    evaluated = 0

    def collect(block: bool) -> None:
        nonlocal overhead
        if not running:
            return
        done, _ = wait(list(running), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        t0 = time.perf_counter()
        for fut in sorted(done, key=lambda f: running[f][0]):
            _, started, arch = running.pop(fut)
            res = fut.result()
            finished = storage.finish_trial(study, started.number, _outcome(res))
            record(finished, arch)
        overhead += time.perf_counter() - t0

    def record(finished: Trial, arch: Any) -> None:
        nonlocal best, evaluated
        evaluated += 1
        hist.add(finished, arch)
        if _better(finished, best):
            best = finished
        if on_trial is not None:
            on_trial(finished, best)

    while next_k < budget:
        if next_k in hist.by_index:
            next_k += 1
            continue
        # decision next_k may only see the finished prefix 0 .. next_k - workers
        visible = max(0, next_k - workers + 1)
        while complete_prefix < visible:
            if complete_prefix in hist.by_index:
                complete_prefix += 1
            else:
                collect(block=True)
        while len(running) >= workers:
            collect(block=True)
        t0 = time.perf_counter()
        while seen_upto < next_k:  # identities of every earlier decision, finished or running
            seen.add(hist.identity[seen_upto])
            seen_upto += 1
        ctx = ProposalContext(
            next_k, seed, hist.prefix(visible), seen, space, decision_rng(seed, next_k)
        )
        proposal: Proposal = strategy.propose(ctx)
        text = space.to_text(proposal.arch)
        ident = space.identity(proposal.arch)
        hist.identity[next_k] = ident
        task = EvalTask(next_k, text, trial_seed(seed, next_k))
        start = TrialStart(
            arch=text,
            arch_hash=ident,
            parent=proposal.parent,
            mutation=proposal.mutation,
            seed=task.seed,
            proposal=next_k,
            history=visible,
        )
        if instant:
            # a lookup: evaluate first, then log start and finish in one write (a kill in between
            # loses nothing that a replay would not redo)
            overhead += time.perf_counter() - t0
            res = executor.submit(task).result()
            t0 = time.perf_counter()
            finished = storage.record_trial(study, start, _outcome(res))
            record(finished, proposal.arch)
            overhead += time.perf_counter() - t0
            next_k += 1
            continue
        started = storage.start_trial(study, start)
        overhead += time.perf_counter() - t0
        fut = executor.submit(task)
        running[fut] = (next_k, started, proposal.arch)
        next_k += 1
        collect(block=False)
    while running:
        collect(block=True)
    wall = time.perf_counter() - t_start
    return SearchOutcome(
        study=study,
        budget=budget,
        finished=len([i for i in hist.by_index if i < budget]),
        evaluated_now=evaluated,
        best=best,
        search_seconds=overhead,
        wall_seconds=wall,
    )
