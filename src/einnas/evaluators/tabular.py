"""Tabular lookup: the evaluator of NAS benchmarks (search on validation, report test).

The table is loaded lazily and cached per process, so the evaluator pickles as a few strings and
each pool or Ray worker loads the table once, by name, through the space registry
(:func:`einnas.registry.load_space`): a plug-in space installed with an ``einnas.spaces`` entry
point is found in the worker as in the parent.  (A space registered in-process with
:func:`einnas.registry.register_space` is found in a worker only if the worker imports the module
that registers it, e.g. a ``fork``-started pool.)  ``simulate_time`` reports the benchmark's recorded
training time as the trial's duration (where the benchmark has one), so the trial log shows what
a real search would have cost; nothing sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.registry import load_space
from einnas.spaces.tabular import TabularBenchmark, normalise_space_name


@lru_cache(maxsize=16)
def _table(space: str, dataset: str | None, benchmark_dir: str | None) -> TabularBenchmark:
    return load_space(space, dataset, benchmark_dir)


@dataclass(frozen=True)
class TabularEvaluator:
    """Looks an architecture up in a tabular benchmark."""

    space: str
    dataset: str | None = None
    benchmark_dir: str | None = None
    simulate_time: bool = False
    instant = True  # a lookup: the search loop may log start and finish in one write

    def __post_init__(self) -> None:
        object.__setattr__(self, "space", normalise_space_name(self.space))
        if self.benchmark_dir is not None:
            object.__setattr__(self, "benchmark_dir", str(Path(self.benchmark_dir).resolve()))

    @property
    def table(self) -> TabularBenchmark:
        return _table(self.space, self.dataset, self.benchmark_dir)

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        table = self.table
        parsed = table.space.from_text(arch)
        result = table.lookup(parsed)
        duration = result.train_seconds if self.simulate_time else None
        return EvalResult(result.val, result.test, dict(table.metrics_of(parsed)), duration)

    needs_checkpoints = False  # a lookup continues from nothing

    @property
    def max_step(self) -> int:
        return self.table.max_step

    def rungs(self) -> tuple[int, ...]:
        """The fidelities the table records (multi-fidelity searches use them as rungs)."""
        return tuple(sorted(self.table.step_values()))

    def evaluate_steps(self, task: EvalTask) -> EvalResult:
        """The table's values at ``task.to_step``; the duration is the cost of the steps trained.

        Training from ``from_step`` on costs ``(to_step - from_step) / max_step`` of the full
        training time (a promoted candidate continues from its checkpoint).
        """
        table = self.table
        arch = table.space.from_text(task.arch)
        step = table.max_step if task.to_step is None else task.to_step
        result = table.lookup_at(arch, step)
        duration = None
        if self.simulate_time and result.train_seconds is not None:
            duration = result.train_seconds * (step - task.from_step) / step
        metrics: dict[str, Any] = {**table.metrics_of(arch), "step": step}
        if step != table.max_step:
            metrics["test_at_step"] = result.test
        test = result.test if step == table.max_step else None
        return EvalResult(result.val, test, metrics, duration)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "tabular",
            "space": self.space,
            "dataset": self.table.dataset,
            "simulate_time": self.simulate_time,
        }
