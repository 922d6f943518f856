"""Multi-objective benchmark on a tabular space: hypervolume against queries, over seeds.

Each (strategy, seed) study runs a multi-objective strategy (``mo-rs``, ``mo-re``,
``mo-delta-nas`` or any strategy; the objectives are passed as its ``objectives`` option) through
the real search loop on an in-memory log, and the values of its trials (``val`` plus the table's
costs in the lookup's metrics) are read back in decision order.

Hypervolume is computed on *normalised* minimised objectives: each objective is scaled to
[0, 1] by its best and worst value over the whole table (so every architecture lies in the unit
box), the reference point is ``(1, ..., 1)``, and the true front's hypervolume is computed
exactly, the same way, from every architecture of the table (:func:`true_front`).  A study's
hypervolume after ``B`` queries is that of its first ``B`` trials; the report gives the mean and
standard error over seeds and the ratio of the mean to the true front's hypervolume.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.objectives import Objective, objective_values, parse_objectives, to_minimisation
from einnas.pareto import hypervolume, pareto_front
from einnas.spaces.tabular import TabularBenchmark

__all__ = [
    "MOBenchConfig",
    "MOBenchResult",
    "MORun",
    "TrueFront",
    "format_mo_table",
    "run_mo_bench",
    "run_mo_one",
    "table_values",
    "true_front",
]

FloatArray = npt.NDArray[np.float64]


def table_values(table: TabularBenchmark, objectives: Sequence[Objective]) -> FloatArray:
    """Every architecture's objective values (rows in :meth:`SlotSpace.index` order).

    Raises:
        ValueError: the table records no value of some objective.
    """
    val, _ = table.values()
    space = table.space
    rows = np.empty((len(table), len(objectives)))
    for i in range(len(table)):
        metrics = table.metrics_of(space.from_index(i))
        v = objective_values(objectives, float(val[i]), metrics)
        if v is None:
            names = ", ".join(o.name for o in objectives)
            have = ", ".join(["val", *metrics]) or "val"
            raise ValueError(f"{table.name} does not record all of {names} (it has {have})")
        rows[i] = v
    return rows


@dataclass(frozen=True)
class TrueFront:
    """The table's exact Pareto front and the normalisation used for hypervolume."""

    objectives: tuple[Objective, ...]
    ideal: FloatArray  # per objective, best minimised value over the table
    nadir: FloatArray  # worst
    front: FloatArray  # the front's values as recorded (not minimised), sorted by objective 0
    hypervolume: float  # normalised, reference (1, ..., 1)

    def normalise(self, values: npt.ArrayLike) -> FloatArray:
        """Recorded values -> minimised values scaled to [0, 1] over the table."""
        m = to_minimisation(np.asarray(values, dtype=np.float64), self.objectives)
        span = np.where(self.nadir > self.ideal, self.nadir - self.ideal, 1.0)
        return np.asarray((m - self.ideal) / span, dtype=np.float64)

    def hv(self, values: npt.ArrayLike) -> float:
        arr = np.asarray(values, dtype=np.float64)
        if arr.size == 0:
            return 0.0
        return hypervolume(self.normalise(arr), np.ones(len(self.objectives)))


def true_front(table: TabularBenchmark, objectives: Sequence[Objective]) -> TrueFront:
    objs = tuple(objectives)
    values = table_values(table, objs)
    m = to_minimisation(values, objs)
    ideal, nadir = m.min(axis=0), m.max(axis=0)
    idx = pareto_front(m)
    front = values[idx]
    front = front[np.argsort(to_minimisation(front, objs)[:, 0], kind="stable")]
    tf = TrueFront(objs, ideal, nadir, front, 0.0)
    return TrueFront(objs, ideal, nadir, front, tf.hv(front))


@dataclass(frozen=True)
class MOBenchConfig:
    space: str = "nb201"
    dataset: str | None = None
    objectives: str = "val:max,latency:min"
    strategies: tuple[str, ...] = ("mo-rs", "mo-re", "mo-delta-nas")
    budgets: tuple[int, ...] = (50, 100, 150)
    seeds: int = 10
    first_seed: int = 0
    workers: int = 2
    benchmark_dir: str | None = None

    def __post_init__(self) -> None:
        parse_objectives(self.objectives)
        if not self.strategies:
            raise ValueError("give at least one strategy")
        if not self.budgets or any(b < 1 for b in self.budgets):
            raise ValueError(f"budgets must be positive integers, got {list(self.budgets)}")
        if self.seeds < 1 or self.first_seed < 0 or self.workers < 1:
            raise ValueError("seeds and workers must be >= 1 and the first seed >= 0")
        object.__setattr__(self, "budgets", tuple(sorted(set(self.budgets))))

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


@dataclass(frozen=True)
class MORun:
    """One study: its trials' objective values by decision (``None``: failed / not recorded)."""

    strategy: str
    seed: int
    values: tuple[tuple[float, ...] | None, ...]
    seconds: float


def _evaluator(space: str, dataset: str | None, benchmark_dir: str | None) -> Any:
    from einnas.evaluators.tabular import TabularEvaluator

    return TabularEvaluator(space, dataset, benchmark_dir)


def run_mo_one(
    space: str,
    dataset: str | None,
    benchmark_dir: str | None,
    objectives: str,
    strategy: str,
    seed: int,
    budget: int,
) -> MORun:
    """Run one (strategy, seed) study on an in-memory log and read its values back."""
    from einnas.executors import InlineExecutor
    from einnas.strategies import make_strategy
    from einnas.study import InMemoryStorage
    from einnas.study.runner import run_search

    t0 = time.perf_counter()
    evaluator = _evaluator(space, dataset, benchmark_dir)
    table = evaluator.table
    objs = parse_objectives(objectives)
    strat = make_strategy(strategy, tabular=True, objectives=objectives)
    storage = InMemoryStorage()
    name = f"mo-bench-{strategy}-s{seed}"
    storage.create_study(name, {"objectives": objectives, "strategy": strat.describe()})
    run_search(storage, name, table.space, strat, InlineExecutor(evaluator), budget, seed)
    values: list[tuple[float, ...] | None] = [None] * budget
    for t in storage.trials(name):
        if 0 <= t.proposal < budget and t.is_finished and not t.interrupted:
            values[t.proposal] = objective_values(objs, t.val, t.metrics)
    storage.close()
    return MORun(strategy, seed, tuple(values), time.perf_counter() - t0)


def _run_job(args: tuple[Any, ...]) -> MORun:
    return run_mo_one(*args)


@dataclass
class MOBenchResult:
    config: MOBenchConfig
    dataset: str
    truth: TrueFront
    runs: list[MORun]
    wall_seconds: float
    _hv: dict[tuple[str, int, int], float] = field(default_factory=dict, repr=False)

    def hv(self, run: MORun, budget: int) -> float:
        key = (run.strategy, run.seed, budget)
        if key not in self._hv:
            pts = [v for v in run.values[:budget] if v is not None]
            self._hv[key] = self.truth.hv(pts)
        return self._hv[key]

    def summary(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for strategy in self.config.strategies:
            group = [r for r in self.runs if r.strategy == strategy]
            row: dict[str, Any] = {"strategy": strategy, "seeds": len(group)}
            for b in self.config.budgets:
                hv = np.asarray([self.hv(r, b) for r in group if len(r.values) >= b])
                mean = float(hv.mean()) if hv.size else math.nan
                se = float(hv.std(ddof=1) / math.sqrt(hv.size)) if hv.size > 1 else math.nan
                row[f"hv@{b}"] = round(mean, 5)
                row[f"hv_se@{b}"] = None if math.isnan(se) else round(se, 5)
                row[f"hv_ratio@{b}"] = round(mean / self.truth.hypervolume, 4)
            row["seconds_per_study"] = round(float(np.mean([r.seconds for r in group])), 3)
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "space": cfg.space,
            "dataset": self.dataset,
            "objectives": [str(o) for o in self.truth.objectives],
            "seeds": cfg.seeds,
            "first_seed": cfg.first_seed,
            "budgets": list(cfg.budgets),
            "normalisation": "minimised objectives scaled to [0,1] by the table's best and "
            "worst values; reference point (1,...,1)",
            "true_front_hypervolume": round(self.truth.hypervolume, 6),
            "true_front_size": int(self.truth.front.shape[0]),
            "true_front": self.truth.front.tolist(),
            "results": self.summary(),
            "wall_seconds": round(self.wall_seconds, 2),
        }


def run_mo_bench(
    config: MOBenchConfig, on_run: Callable[[MORun], None] | None = None
) -> MOBenchResult:
    t0 = time.perf_counter()
    evaluator = _evaluator(config.space, config.dataset, config.benchmark_dir)
    table = evaluator.table
    objs = parse_objectives(config.objectives)
    truth = true_front(table, objs)
    budget = max(config.budgets)
    jobs = [
        (config.space, table.dataset, config.benchmark_dir, config.objectives, s, seed, budget)
        for seed in config.seed_list
        for s in config.strategies
    ]
    runs: list[MORun] = []
    if config.workers == 1:
        for job in jobs:
            runs.append(_run_job(job))
            if on_run is not None:
                on_run(runs[-1])
    else:
        from einnas.bench import BLAS_THREAD_VARIABLES, _mp_context

        for var in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(var, "1")
        with ProcessPoolExecutor(max_workers=config.workers, mp_context=_mp_context()) as pool:
            futures = [pool.submit(_run_job, job) for job in jobs]
            for fut in as_completed(futures):
                runs.append(fut.result())
                if on_run is not None:
                    on_run(runs[-1])
    order = {s: i for i, s in enumerate(config.strategies)}
    runs.sort(key=lambda r: (order[r.strategy], r.seed))
    return MOBenchResult(config, table.dataset, truth, runs, time.perf_counter() - t0)


def format_mo_table(result: MOBenchResult) -> str:
    """Mean normalised hypervolume ± standard error per strategy and budget."""
    budgets = result.config.budgets
    head = f"{'strategy':<16}" + "".join(f"  {'HV@' + str(b):>24}" for b in budgets)
    lines = [head]
    for row in result.summary():
        cells = ""
        for b in budgets:
            se = row[f"hv_se@{b}"]
            cell = f"{row[f'hv@{b}']:.4f} ± {0.0 if se is None else se:.4f} ({row[f'hv_ratio@{b}']:.3f})"
            cells += f"  {cell:>24}"
        lines.append(f"{row['strategy']:<16}" + cells)
    lines.append(
        f"{'true front':<16}{result.truth.hypervolume:>10.4f} "
        f"({result.truth.front.shape[0]} architectures; (ratio) = mean HV / true front's HV)"
    )
    return "\n".join(lines)
