"""Where evaluations run: in-process, a local process pool, or a Ray cluster."""

from __future__ import annotations

from einnas.evaluators.base import Evaluator
from einnas.executors.base import Executor, InlineExecutor

EXECUTOR_KINDS = ("inline", "pool", "ray")

__all__ = ["EXECUTOR_KINDS", "Executor", "InlineExecutor", "make_executor"]


def make_executor(
    kind: str, evaluator: Evaluator, workers: int = 1, ray_address: str | None = None
) -> Executor:
    """An executor of ``kind`` (``inline``, ``pool`` or ``ray``) for ``evaluator``."""
    if kind == "inline":
        return InlineExecutor(evaluator)
    if kind == "pool":
        from einnas.executors.pool import ProcessPoolExecutor

        return ProcessPoolExecutor(evaluator, workers)
    if kind == "ray":
        from einnas.executors.ray_executor import RayExecutor

        return RayExecutor(evaluator, workers, ray_address)
    raise ValueError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTOR_KINDS)}")
