"""Simulated workers on a simulated clock (the simulator backend of tabular benchmarks).

:class:`SimulatedExecutor` pretends to have ``workers`` workers.  An evaluation is computed at
once (a table lookup), but it *takes* its result's ``duration`` in simulated seconds: it starts
at the simulated time it was submitted and ends ``duration`` later, and :meth:`wait_first` hands
the search loop the evaluation that ends first, advancing the clock to its end.  The search loop
therefore sees exactly the completion order that ``workers`` real workers would produce, and
nothing sleeps.  Each result's metrics record ``sim_start`` and ``sim_end`` (simulated seconds
since the search began), which is what ``einnas bench --simulate-time`` plots against.

The clock starts at the latest ``sim_end`` already in the log when a study is resumed
(:meth:`advance_to`), so simulated time accumulates across resumptions.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future

from einnas.evaluators.base import EvalResult, EvalTask, Evaluator, run_evaluation
from einnas.executors.base import Executor

__all__ = ["SimulatedExecutor"]


class SimulatedExecutor(Executor):
    """``workers`` simulated workers; evaluation time is the result's ``duration``."""

    def __init__(self, evaluator: Evaluator, workers: int = 1) -> None:
        super().__init__(evaluator)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.clock = 0.0
        self._ends: dict[Future[EvalResult], tuple[float, int]] = {}
        self._submitted = 0

    @property
    def capacity(self) -> int:
        return self.workers

    def advance_to(self, time: float) -> None:
        """Move the clock forward to ``time`` (never backwards)."""
        self.clock = max(self.clock, float(time))

    def submit(self, task: EvalTask) -> Future[EvalResult]:
        if len(self._ends) >= self.workers:
            raise RuntimeError(f"all {self.workers} simulated workers are busy")
        res = run_evaluation(self.evaluator, task)
        duration = float(res.duration or 0.0)
        end = self.clock + duration
        metrics = {**res.metrics, "sim_start": self.clock, "sim_end": end}
        fut: Future[EvalResult] = Future()
        fut.set_result(EvalResult(res.val, res.test, metrics, res.duration, res.error))
        self._ends[fut] = (end, self._submitted)
        self._submitted += 1
        return fut

    def poll_done(self, futures: Collection[Future[EvalResult]]) -> set[Future[EvalResult]]:
        """Nothing ends before the clock gets there: only :meth:`wait_first` moves it."""
        return set()

    def wait_first(self, futures: Collection[Future[EvalResult]]) -> set[Future[EvalResult]]:
        if not futures:
            return set()
        first = min(futures, key=lambda f: self._ends[f])
        self.clock = max(self.clock, self._ends[first][0])
        del self._ends[first]
        return {first}
