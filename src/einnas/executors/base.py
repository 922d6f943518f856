"""Executors decide *where* evaluations run; strategies decide *what* to evaluate.

Every executor takes an :class:`~einnas.evaluators.base.EvalTask` and returns a
``concurrent.futures.Future`` of an :class:`~einnas.evaluators.base.EvalResult`.  The search
loop only waits on futures, so an in-process run, a local process pool and a Ray cluster are
interchangeable, and the order in which results are *used* is fixed by the search loop, not by
which worker finishes first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Future, wait

from einnas.evaluators.base import EvalResult, EvalTask, Evaluator, run_evaluation


class Executor(ABC):
    """Runs evaluations of one evaluator."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many evaluations can usefully run at once."""

    @abstractmethod
    def submit(self, task: EvalTask) -> Future[EvalResult]:
        """Start evaluating ``task``."""

    def wait_first(self, futures: Collection[Future[EvalResult]]) -> set[Future[EvalResult]]:
        """Block until at least one of ``futures`` is done; return the done ones.

        The search loop waits only through this, so an executor with its own notion of time
        (:class:`~einnas.executors.simulated.SimulatedExecutor`) decides which evaluation ends
        first.
        """
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        return set(done)

    def poll_done(self, futures: Collection[Future[EvalResult]]) -> set[Future[EvalResult]]:
        """The ones of ``futures`` already done, without waiting (the loop records them before
        its next decision, so a decision sees every result that has arrived)."""
        return {f for f in futures if f.done()}

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release workers (no-op by default)."""

    def terminate(self) -> None:
        """Release workers now, without waiting for running evaluations (default: shutdown)."""
        self.shutdown()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # leaving on an exception (Ctrl-C, SIGTERM, an error): do not wait for running work
        if exc_type is None:
            self.shutdown()
        else:
            self.terminate()


class InlineExecutor(Executor):
    """Evaluates in the calling process, at submission time."""

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, task: EvalTask) -> Future[EvalResult]:
        fut: Future[EvalResult] = Future()
        fut.set_result(run_evaluation(self.evaluator, task))
        return fut
