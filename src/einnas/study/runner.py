"""The search loop: strategy -> executor -> evaluator -> storage, asynchronous and resumable.

Asynchronous: the moment a worker is free it gets work -- a promotion (multi-fidelity) or a new
candidate proposed by the strategy from *everything finished so far*.  No worker waits for
another.

Deterministic given the log: decision ``k`` (the ``k``-th new candidate) sees

* the history of finished results in the order they arrived -- the first ``h`` of them, where
  ``h`` is recorded in the trial's start event (:attr:`~einnas.study.events.TrialStart.history`);
* the identities of every candidate proposed before it;
* an RNG seeded from ``(seed, k)``;

so replaying a log reproduces every decision (:func:`replay_decisions` checks this), whichever
executor ran it.  With one worker the arrival order is the decision order, and runs are exactly
reproducible from the seed alone.

Results are written the moment they arrive; the storage is the only state.  Resume: a
single-fidelity search closes the trials a killed process left running as ``interrupted`` and
evaluates the same architectures again (same decision index, same recorded history); a
multi-fidelity search keeps its running candidates and continues each from its last rung
checkpoint.  Raising the budget of a finished study makes more decisions.

Multi-fidelity (``fidelity``, see :mod:`einnas.fidelity`): a trial is one candidate.  Each job
trains it to the next rung; the values at every step come back as the trial's *reports* (its
learning curve), and the candidate waits at the rung (its checkpoint on disk) until the policy
promotes it or it can no longer be promoted, when it ends ``pruned``.  A candidate that reaches
the last rung ends ``complete``.  The strategy's history is the candidates' first-rung results
in arrival order (``arrival`` is recorded in the metrics of that report).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.executors.base import Executor, InlineExecutor
from einnas.fidelity import Candidate, FidelityPolicy
from einnas.spaces.base import SearchSpace
from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy
from einnas.study.events import TrialOutcome, TrialReport, TrialStart
from einnas.study.lease import owned_study
from einnas.study.storage import Storage
from einnas.study.trial import Trial, TrialState

__all__ = [
    "ProgressHook",
    "SearchOutcome",
    "decision_rng",
    "replay_decisions",
    "run_search",
    "trial_seed",
]

ARRIVAL_KEY = "arrival"
"""Metric of a first-rung report: its position in the strategy's history (multi-fidelity)."""


@dataclass(frozen=True)
class SearchOutcome:
    """Summary of a finished ``run_search`` call."""

    study: str
    budget: int
    finished: int  # decisions with a finished trial
    evaluated_now: int  # jobs evaluated by this call (the rest were replayed from the log)
    best: Trial | None
    search_seconds: float  # time spent deciding and logging (strategy + storage), not evaluating
    wall_seconds: float
    busy_seconds: float = 0.0  # evaluation time of this call's jobs, summed over workers
    sim_seconds: float | None = None  # simulated time at the end (simulated executors only)


ProgressHook = Callable[[Trial, "Trial | None"], None]


def decision_rng(seed: int, index: int) -> np.random.Generator:
    """The RNG of decision ``index`` of a study seeded with ``seed``."""
    return np.random.default_rng([seed, index])


def trial_seed(seed: int, index: int) -> int:
    """The seed handed to the evaluator for decision ``index`` (weights init, data order)."""
    return int(np.random.SeedSequence([seed, index, 1]).generate_state(1)[0] & 0x7FFFFFFF)


def _better(trial: Trial, best: Trial | None) -> bool:
    """Is ``trial`` a new best (complete, higher val; the earlier trial wins ties)?"""
    if trial.state is not TrialState.COMPLETE or trial.val is None:
        return False
    return best is None or best.val is None or trial.val > best.val


def _outcome(res: EvalResult) -> TrialOutcome:
    if res.ok and res.val is not None:
        return TrialOutcome.complete(res.val, res.test, res.metrics, res.duration)
    return TrialOutcome.failed(res.error or "failed", res.metrics, res.duration)


def _curve(res: EvalResult, to_step: int) -> dict[int, float]:
    raw = res.metrics.get("curve")
    out: dict[int, float] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            with contextlib.suppress(TypeError, ValueError):
                out[int(k)] = float(v)
    if res.val is not None:
        out[to_step] = float(res.val)
    return dict(sorted(out.items()))


@dataclass
class _Cand:
    """A multi-fidelity candidate as the loop tracks it."""

    trial: Trial
    arch: Any
    bracket: int
    values: dict[int, float] = field(default_factory=dict)  # rung step -> value
    busy: bool = False
    done: bool = False

    def view(self) -> Candidate:
        return Candidate(self.trial.number, self.bracket, dict(self.values), self.busy, self.done)


@dataclass(frozen=True)
class _Job:
    number: int  # trial number
    proposal: int
    arch: Any
    task: EvalTask


class _Search:
    """The state of one search over its log; every decision goes through here."""

    def __init__(
        self,
        storage: Storage,
        study: str,
        space: SearchSpace[Any],
        strategy: Strategy,
        seed: int,
        fidelity: FidelityPolicy | None,
        rungs_of: Callable[[Trial], dict[int, float]] | None = None,
    ) -> None:
        self.storage = storage
        self.study = study
        self.space = space
        self.strategy = strategy
        self.seed = seed
        self.fidelity = fidelity
        self.history: list[Observation] = []
        self.seen: set[str] = set()
        self.decided: set[int] = set()  # proposal indices with a live or finished trial
        self.done: set[int] = set()  # proposal indices with a finished (not interrupted) trial
        self.redo: list[Trial] = []  # interrupted trials to run again (single fidelity)
        self.cands: dict[int, _Cand] = {}
        self.next_k = 0
        self.best: Trial | None = None
        self._parsed: dict[str, Any] = {}
        self._load()

    # -- the log -------------------------------------------------------------------------

    def arch(self, text: str) -> Any:
        hit = self._parsed.get(text)
        if hit is None:
            hit = self._parsed[text] = self.space.from_text(text)
        return hit

    def _observe(self, trial: Trial, val: float | None, arch: Any | None = None) -> None:
        arch = arch if arch is not None else self.arch(trial.arch)
        self.history.append(
            Observation(
                trial.proposal,
                trial.number,
                arch,
                trial.arch_hash,
                val,
                trial.parent,
                dict(trial.metrics),
            )
        )

    def _load(self) -> None:
        if self.fidelity is None:
            self.storage.abandon_running(self.study)
        trials = self.storage.trials(self.study)
        for t in trials:
            self.seen.add(t.arch_hash)
            self.next_k = max(self.next_k, t.proposal + 1)
            if t.is_finished and not t.interrupted:
                self.done.add(t.proposal)
            if not t.interrupted:
                self.decided.add(t.proposal)
            if _better(t, self.best):
                self.best = t
        if self.fidelity is None:
            finished = [t for t in trials if t.is_finished and not t.interrupted]
            finished.sort(key=lambda t: (t.finish_order is None, t.finish_order, t.number))
            for t in finished:
                self._observe(t, t.val if t.state is TrialState.COMPLETE else None)
            redo: dict[int, Trial] = {}
            for t in trials:
                if t.interrupted and t.proposal not in self.decided:
                    redo.setdefault(t.proposal, t)
            self.redo = [redo[k] for k in sorted(redo)]
            return
        arrivals: list[tuple[int, Trial, float]] = []
        for t in trials:
            if t.interrupted:
                continue
            cand = _Cand(t, self.arch(t.arch), self.fidelity.bracket_of(t.proposal))
            cand.values = {s: v for s, v in t.intermediate.items() if s in self.fidelity.rungs}
            cand.done = t.is_finished
            self.cands[t.number] = cand
            first = self._first_report(t)
            if first is not None:
                arrivals.append((first[0], t, first[1]))
        for _, t, val in sorted(arrivals, key=lambda a: a[0]):
            self._observe(t, val)

    def _first_report(self, t: Trial) -> tuple[int, float] | None:
        for r in t.reports:
            arrival = (r.metrics or {}).get(ARRIVAL_KEY)
            if isinstance(arrival, int):
                return arrival, r.val
        arrival = t.metrics.get(ARRIVAL_KEY)
        if t.state is TrialState.FAILED and isinstance(arrival, int):
            return arrival, math.nan
        return None

    # -- decisions -----------------------------------------------------------------------

    def propose(self, k: int) -> tuple[Proposal, int]:
        """Decision ``k`` from the whole history available now; returns it and the history length."""
        visible = list(self.history)
        ctx = ProposalContext(
            k, self.seed, visible, self.seen, self.space, decision_rng(self.seed, k)
        )
        return self.strategy.propose(ctx), len(visible)


def _checkpoint_root(storage: Storage, study: str, given: str | None) -> tuple[Path, bool]:
    """Where a multi-fidelity study keeps its checkpoints, and whether it is a temporary folder."""
    if given is not None:
        return Path(given) / study, False
    path = getattr(storage, "path", None)
    if isinstance(path, str) and path and path != ":memory:":
        return Path(path + ".checkpoints") / study, False
    return Path(tempfile.mkdtemp(prefix="einnas-ckpt-")), True


@owned_study  # one process at a time; Ctrl-C / SIGTERM close running trials as interrupted
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
    *,
    fidelity: FidelityPolicy | None = None,
    checkpoint_dir: str | None = None,
) -> SearchOutcome:
    """Run (or resume) ``study`` until ``budget`` decisions have finished trials.

    ``workers`` evaluations run at once (at most the executor's capacity is useful).  With a
    ``fidelity`` policy each decision is a candidate trained rung by rung (see the module
    docstring); its checkpoints live in ``checkpoint_dir/<study>`` (default: beside an SQLite
    log, ``<file>.checkpoints/<study>``; a temporary folder for an in-memory log) and are
    deleted as soon as the candidate finishes.
    """
    if budget < 0 or workers < 1:
        raise ValueError(f"budget must be >= 0 and workers >= 1 (got {budget}, {workers})")
    t_start = time.perf_counter()
    overhead = 0.0
    busy = 0.0
    evaluated = 0
    t0 = time.perf_counter()
    s = _Search(storage, study, space, strategy, seed, fidelity)
    sim_clock = getattr(executor, "advance_to", None)
    if callable(sim_clock):
        ends = [
            float(end)
            for t in storage.trials(study)
            if isinstance(end := t.metrics.get("sim_end"), int | float)
        ]
        sim_clock(max(ends, default=0.0))
    instant = (
        fidelity is None
        and workers == 1
        and isinstance(executor, InlineExecutor)
        and getattr(executor.evaluator, "instant", False)
    )
    ckpt_root: Path | None = None
    ckpt_temp = False
    if fidelity is not None and getattr(executor.evaluator, "needs_checkpoints", True):
        ckpt_root, ckpt_temp = _checkpoint_root(storage, study, checkpoint_dir)
        ckpt_root.mkdir(parents=True, exist_ok=True)
    running: dict[Future[EvalResult], _Job] = {}
    overhead += time.perf_counter() - t0

    def checkpoint(number: int) -> str | None:
        return None if ckpt_root is None else str(ckpt_root / f"trial{number}.pt")

    def drop_checkpoint(number: int) -> None:
        path = checkpoint(number)
        if path is not None:
            with contextlib.suppress(OSError):
                Path(path).unlink()

    def finished(trial: Trial) -> None:
        s.done.add(trial.proposal)
        if _better(trial, s.best):
            s.best = trial
        if on_trial is not None:
            on_trial(trial, s.best)

    def new_decision() -> _Job | None:
        """The next job that starts a trial: a redo of an interrupted one, or a new decision."""
        while s.redo:
            old = s.redo.pop(0)
            if old.proposal in s.decided:
                continue
            start = TrialStart(
                old.arch,
                old.arch_hash,
                parent=old.parent,
                mutation=old.mutation,
                seed=old.seed,
                proposal=old.proposal,
                history=old.history,
            )
            trial = storage.start_trial(study, start)
            s.decided.add(old.proposal)
            task = EvalTask(old.proposal, old.arch, int(old.seed or 0))
            return _Job(trial.number, old.proposal, s.arch(old.arch), task)
        while s.next_k < budget and s.next_k in s.decided:
            s.next_k += 1
        if s.next_k >= budget:
            return None
        k = s.next_k
        proposal, h = s.propose(k)
        text = space.to_text(proposal.arch)
        ident = space.identity(proposal.arch)
        start = TrialStart(
            text,
            ident,
            parent=proposal.parent,
            mutation=proposal.mutation,
            seed=trial_seed(seed, k),
            proposal=k,
            history=h,
        )
        s.seen.add(ident)
        s.decided.add(k)
        s.next_k += 1
        if instant:
            # a lookup: evaluate first, then log start and finish in one write (a kill in between
            # loses nothing that a replay would not redo)
            nonlocal evaluated
            res = executor.submit(EvalTask(k, text, trial_seed(seed, k))).result()
            trial = storage.record_trial(study, start, _outcome(res))
            evaluated += 1
            val = trial.val if trial.state is TrialState.COMPLETE else None
            s._observe(trial, val, proposal.arch)
            finished(trial)
            return None
        trial = storage.start_trial(study, start)
        if fidelity is None:
            task = EvalTask(k, text, trial_seed(seed, k))
        else:
            bracket = fidelity.bracket_of(k)
            s.cands[trial.number] = _Cand(trial, proposal.arch, bracket, busy=True)
            task = EvalTask(
                k,
                text,
                trial_seed(seed, k),
                from_step=0,
                to_step=fidelity.first_step(bracket),
                checkpoint=checkpoint(trial.number),
            )
        return _Job(trial.number, k, proposal.arch, task)

    def promotion() -> _Job | None:
        if fidelity is None:
            return None
        promo = fidelity.promotion([c.view() for c in s.cands.values()])
        if promo is None:
            return None
        cand = s.cands[promo.trial]
        cand.busy = True
        t = cand.trial
        task = EvalTask(
            t.proposal,
            t.arch,
            int(t.seed or 0),
            from_step=promo.from_step,
            to_step=promo.to_step,
            checkpoint=checkpoint(t.number),
        )
        return _Job(t.number, t.proposal, cand.arch, task)

    def reserve() -> _Cand | None:
        """While no candidate has reached the last rung: the best waiting one (highest rung,
        best value there), which is never pruned and is promoted at the end if need be."""
        if fidelity is None:
            return None
        if any(c.done and fidelity.max_step in c.values for c in s.cands.values()):
            return None
        waiting = [c for c in s.cands.values() if not c.done and not c.busy and c.values]
        if not waiting:
            return None
        top = max(max(c.values) for c in waiting)
        return max(
            (c for c in waiting if max(c.values) == top),
            key=lambda c: (c.values[top], -c.trial.number),
        )

    def last_resort() -> _Job | None:
        """At the end, when no candidate has reached the last rung: promote the best waiting one.

        A small budget (or a large eta) can leave every candidate below the quota; the search
        then still ends with one fully trained network rather than none.
        """
        if fidelity is None or running or s.next_k < budget:
            return None
        best = reserve()
        if best is None:
            return None
        top = max(best.values)
        nxt = fidelity.next_step(top)
        assert nxt is not None
        best.busy = True
        t = best.trial
        task = EvalTask(
            t.proposal,
            t.arch,
            int(t.seed or 0),
            from_step=top,
            to_step=nxt,
            checkpoint=checkpoint(t.number),
        )
        return _Job(t.number, t.proposal, best.arch, task)

    def resumed_jobs() -> list[_Job]:
        """Multi-fidelity candidates a killed process left mid-job: continue them."""
        jobs: list[_Job] = []
        if fidelity is None:
            return jobs
        for cand in s.cands.values():
            if cand.done:
                continue
            t = cand.trial
            step = max(cand.values, default=0)
            ckpt = checkpoint(t.number)
            if step and ckpt is not None and not Path(ckpt).exists():
                step = 0  # the checkpoint is gone: train from scratch
            if step == 0:
                to = fidelity.first_step(cand.bracket)
            else:
                continue  # waiting at a rung: the policy decides when it is promoted
            cand.busy = True
            task = EvalTask(
                t.proposal, t.arch, int(t.seed or 0), from_step=0, to_step=to, checkpoint=ckpt
            )
            jobs.append(_Job(t.number, t.proposal, cand.arch, task))
        return jobs

    def prune(numbers: list[int]) -> None:
        for n in numbers:
            cand = s.cands[n]
            if cand.done:
                continue
            last = max(cand.values)
            trial = storage.finish_trial(
                study,
                n,
                TrialOutcome.pruned(
                    cand.values[last],
                    metrics={"step": last, "rungs": _keys(cand.values), **_costs(cand.trial)},
                ),
            )
            cand.done = True
            cand.trial = trial
            drop_checkpoint(n)
            finished(trial)

    def arrivals_left() -> int:
        """How many more rung results can still come (running jobs + decisions to make)."""
        left = sum(1 for k in range(s.next_k, budget) if k not in s.decided)
        return left + len(running)

    def record(job: _Job, res: EvalResult) -> None:
        nonlocal busy, evaluated
        evaluated += 1
        busy += float(res.duration or 0.0)
        if fidelity is None:
            trial = storage.finish_trial(study, job.number, _outcome(res))
            s._observe(trial, trial.val if trial.state is TrialState.COMPLETE else None, job.arch)
            finished(trial)
            return
        cand = s.cands[job.number]
        cand.busy = False
        to = job.task.to_step
        assert to is not None
        first = not cand.values
        if not res.ok:
            metrics = dict(res.metrics)
            if first:
                metrics[ARRIVAL_KEY] = len(s.history)
                s._observe(cand.trial, None, cand.arch)
            trial = storage.finish_trial(
                study, job.number, TrialOutcome.failed(res.error or "failed", metrics, res.duration)
            )
            cand.done = True
            cand.trial = trial
            drop_checkpoint(job.number)
            finished(trial)
            return
        curve = _curve(res, to)
        for step, val in curve.items():
            if step <= job.task.from_step or step in cand.trial.intermediate:
                continue
            extra: dict[str, Any] = {}
            if step == to:  # the rung: what the job cost, when it ended, its place in history
                extra = {"seconds": res.duration, "at": time.time()}
                if "cpu_seconds" in res.metrics:
                    extra["cpu_seconds"] = res.metrics["cpu_seconds"]
                if not cand.values:
                    extra[ARRIVAL_KEY] = len(s.history)
            cand.trial = storage.report(study, job.number, TrialReport(step, val, extra or None))
        cand.values[to] = curve[to]
        if first:
            s._observe(cand.trial, curve[to], cand.arch)
        if to >= fidelity.max_step:
            metrics = {**res.metrics, "rungs": _keys(cand.values), **_costs(cand.trial)}
            trial = storage.finish_trial(
                study,
                job.number,
                TrialOutcome.complete(curve[to], res.test, metrics, res.duration),
            )
            cand.done = True
            cand.trial = trial
            drop_checkpoint(job.number)
            finished(trial)

    def collect(done: set[Future[EvalResult]]) -> None:
        for fut in sorted(done, key=lambda f: running[f].number):
            job = running.pop(fut)
            record(job, fut.result())
        if done and fidelity is not None:
            kept = reserve()
            hopeless = fidelity.hopeless([c.view() for c in s.cands.values()], arrivals_left())
            prune([n for n in hopeless if kept is None or n != kept.trial.number])

    pending: list[_Job] = resumed_jobs()
    try:
        while True:
            t0 = time.perf_counter()
            while len(running) < workers:
                job = pending.pop(0) if pending else (promotion() or new_decision())
                if job is None:
                    job = last_resort()
                if job is None:
                    if instant and s.next_k < budget:
                        continue  # an instant evaluation was logged; decide the next one
                    break
                fut = executor.submit(job.task)
                running[fut] = job
                collect(executor.poll_done(running))  # results that are in already
            overhead += time.perf_counter() - t0
            if not running:
                break
            done = executor.wait_first(running)
            t0 = time.perf_counter()
            collect(done)
            overhead += time.perf_counter() - t0
        if fidelity is not None:
            prune([n for n, c in s.cands.items() if not c.done and c.values])
    finally:
        if ckpt_temp and ckpt_root is not None:
            shutil.rmtree(ckpt_root, ignore_errors=True)
    wall = time.perf_counter() - t_start
    return SearchOutcome(
        study=study,
        budget=budget,
        finished=len([k for k in s.done if k < budget]),
        evaluated_now=evaluated,
        best=s.best,
        search_seconds=overhead,
        wall_seconds=wall,
        busy_seconds=busy,
        sim_seconds=getattr(executor, "clock", None),
    )


def _costs(trial: Trial) -> dict[str, float]:
    """Seconds and CPU seconds over all of a candidate's jobs (from its rung reports)."""
    seconds = cpu = 0.0
    for r in trial.reports:
        m = r.metrics or {}
        seconds += float(m.get("seconds") or 0.0)  # type: ignore[arg-type]
        cpu += float(m.get("cpu_seconds") or 0.0)  # type: ignore[arg-type]
    return {"total_seconds": seconds, "total_cpu_seconds": cpu}


def _keys(values: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in sorted(values.items())}


def replay_decisions(
    storage: Storage,
    study: str,
    space: SearchSpace[Any],
    strategy: Strategy,
    seed: int,
) -> list[int]:
    """Re-make every single-fidelity decision of a finished log; return the mismatching trials.

    Decision ``k`` is re-made from the first ``history`` finished trials in finish order, the
    identities of the trials started before it, and ``decision_rng(seed, k)``; it must propose
    the recorded architecture.  An empty list means the log replays exactly.
    """
    trials = storage.trials(study)
    finished = [t for t in trials if t.is_finished and not t.interrupted]
    finished.sort(key=lambda t: (t.finish_order is None, t.finish_order, t.number))
    parsed = {t.arch: space.from_text(t.arch) for t in trials}
    obs = [
        Observation(
            t.proposal,
            t.number,
            parsed[t.arch],
            t.arch_hash,
            t.val if t.state is TrialState.COMPLETE else None,
            t.parent,
        )
        for t in finished
    ]
    bad: list[int] = []
    seen: set[str] = set()
    replayed: set[int] = set()
    for t in trials:
        if t.proposal in replayed or t.history is None:
            seen.add(t.arch_hash)
            continue
        replayed.add(t.proposal)
        ctx = ProposalContext(
            t.proposal, seed, obs[: t.history], set(seen), space, decision_rng(seed, t.proposal)
        )
        again = strategy.propose(ctx)
        if space.identity(again.arch) != t.arch_hash:
            bad.append(t.number)
        seen.add(t.arch_hash)
    return bad
