"""What an evaluator is: a picklable object that turns an architecture's text into a score.

Evaluators run wherever the executor puts them (this process, a pool worker, a Ray worker), so
they receive the canonical text, never a live object, and load what they need lazily.  An
evaluation that raises, returns a non-finite validation score, or breaks a limit is reported as a
failed trial by :func:`run_evaluation`; the search goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class EvalResult:
    """Outcome of one evaluation.  ``val`` is the search objective (higher is better)."""

    val: float | None
    test: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None  # seconds of evaluation (may be simulated)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.val is not None and math.isfinite(self.val)


@runtime_checkable
class Evaluator(Protocol):
    """Scores architectures given as canonical text."""

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        """Evaluate one architecture; may raise (the caller turns that into a failed trial)."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able description recorded in the study config."""
        ...


@dataclass(frozen=True)
class EvalTask:
    """One unit of work for an executor: who evaluates what, with which seed.

    Multi-fidelity jobs (see :mod:`einnas.fidelity`) also say which steps (epochs) to train:
    from ``from_step`` (0: from scratch; else continue from the ``checkpoint`` file written when
    the candidate reached that step) up to ``to_step``, writing a new ``checkpoint`` there unless
    it is the last step.  ``to_step`` None is an ordinary, full evaluation.
    """

    proposal: int
    arch: str
    seed: int
    from_step: int = 0
    to_step: int | None = None
    checkpoint: str | None = None


@runtime_checkable
class MultiFidelityEvaluator(Evaluator, Protocol):
    """An evaluator that can train a candidate in steps (epochs) and continue from a checkpoint.

    ``evaluate_steps`` returns the value at ``task.to_step`` as ``val`` and the values at the
    steps in between as ``metrics["curve"]`` (a mapping ``{step: value}``, JSON keys as text).
    """

    max_step: int

    def evaluate_steps(self, task: EvalTask) -> EvalResult:
        """Train ``task.arch`` from ``task.from_step`` to ``task.to_step``."""
        ...


def run_evaluation(evaluator: Evaluator, task: EvalTask) -> EvalResult:
    """Evaluate ``task`` and never raise: failures come back as results with ``error`` set.

    The result's metrics also record ``cpu_seconds``: the CPU time of the evaluating process
    during the evaluation (all its threads), the cost measure of compute-efficiency benchmarks,
    and ``eval_start`` / ``eval_end``: wall-clock times (epoch seconds) of the evaluation in the
    worker, from which worker utilisation is measured.
    """
    began = time.time()
    start = time.perf_counter()
    cpu0 = time.process_time()
    result = _evaluate(evaluator, task, start)
    metrics = {
        **result.metrics,
        "cpu_seconds": time.process_time() - cpu0,
        "eval_start": began,
        "eval_end": time.time(),
    }
    return EvalResult(result.val, result.test, metrics, result.duration, result.error)


def _evaluate(evaluator: Evaluator, task: EvalTask, start: float) -> EvalResult:
    try:
        if task.to_step is not None:
            if not isinstance(evaluator, MultiFidelityEvaluator):
                raise TypeError(
                    f"{type(evaluator).__name__} cannot train in steps (multi-fidelity); "
                    "use --fidelity full"
                )
            result = evaluator.evaluate_steps(task)
        else:
            result = evaluator.evaluate(task.arch, task.seed)
    except Exception as e:  # any failure of one trial must not stop the search
        tb = traceback.format_exc(limit=3)
        return EvalResult(
            None, None, {"traceback": tb}, time.perf_counter() - start, f"{type(e).__name__}: {e}"
        )
    if result.error is None and (result.val is None or not math.isfinite(result.val)):
        return EvalResult(
            None,
            result.test,
            result.metrics,
            result.duration,
            f"non-finite objective {result.val!r}",
        )
    if result.duration is None:
        return EvalResult(
            result.val, result.test, result.metrics, time.perf_counter() - start, result.error
        )
    return result
