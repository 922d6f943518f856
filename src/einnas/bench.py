"""Benchmarking search strategies on tabular benchmarks: many seeds, several budgets.

:func:`run_bench` runs every strategy of a :class:`BenchConfig` once per seed, as one study per
(strategy, seed) named ``bench-<space>-<dataset>-<strategy>-s<seed>``, each up to the largest
budget, through the ordinary search loop (:func:`einnas.study.runner.run_search`).  The studies
are independent, so they run in parallel in a pool of worker processes (a ``forkserver`` /
``spawn`` context; each worker loads the table once); the results do not depend on the number
of workers.

Each study's history is then read back from its storage and evaluated *as if it had stopped
after B decisions* for every budget B: the trial with the best validation value among decisions
``0 .. B-1`` (by proposal index; the earlier one on ties, as in the search loop) is the one the
search selects, and its test value is what it reports.  :func:`summarise` gives, per strategy and
budget, the mean and (sample, ``ddof=1``) standard deviation over seeds of that test value, the
share of seeds whose first B decisions include a validation-optimal architecture (compared by the
space's identity, i.e. the isomorphism class on NAS-Bench-201), and the strategy + storage time
per query (``SearchOutcome.search_seconds`` over the queries evaluated; the table lookup is not
included).  :func:`best_so_far_curves` gives the per-seed curves behind the plot.

Synthetic spaces: ``space="synthetic"`` with ``dataset`` a shape ``MxK`` (``M`` slots of ``K``
choices; several joined by ``+``) runs the same loop on a
:class:`~einnas.spaces.synthetic.SyntheticSlotSpace` scored by a
:class:`~einnas.evaluators.synthetic.SyntheticEvaluator`: additive + pairwise objective ``f``
(``interaction``, drawn from ``objective_seed``), validation ``f + noise * z`` with ``z`` fixed
per architecture, test ``f``.  The space is registered as an ``objective`` space (the DoA
diagnostic's); bench builds it itself.  Its "dataset" label (study names, JSON) is
:func:`synthetic_label`, e.g. ``48x4_i0.5_n0.1_s0``; ``found_optimum`` is ``None`` there (the
optimum of a pairwise objective is not known).

Storage: each study logs to its own in-memory storage, or, with ``storage=PATH``, all studies
are written to one SQLite file by all workers at once (WAL mode; a writer waits for the others'
locks up to the storage's busy timeout, :data:`SQLITE_TIMEOUT`).  The file is opened with
``synchronous=NORMAL`` by default: in WAL mode a commit is then not fsync'ed (an acknowledged
trial survives a crash of the process, not a power loss), which makes the log about ten times
cheaper than the storage's default ``FULL`` (one fsync per trial start and finish); pass
``sqlite_synchronous="FULL"`` for that.  A study already present in the file is resumed (its
finished trials are replayed, not evaluated again).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.evaluators.tabular import TabularEvaluator
from einnas.experiment import SearchSpec, build_search
from einnas.registry import get_strategy, space_names
from einnas.spaces.base import SearchSpace, SearchSpaceError
from einnas.spaces.synthetic import parse_shape_spec
from einnas.strategies import STRATEGY_NAMES, Strategy
from einnas.study.factory import open_storage
from einnas.study.storage import Storage
from einnas.study.trial import TrialState

__all__ = [
    "BenchConfig",
    "BenchResult",
    "RunRecord",
    "best_so_far",
    "best_so_far_curves",
    "format_paired",
    "format_table",
    "paired_differences",
    "run_bench",
    "study_name",
    "summarise",
]

SQLITE_TIMEOUT = 60.0
"""Seconds a writer waits for another worker's lock on the shared SQLite file."""


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark.  ``dataset`` ``None`` takes the space's default (if it has one)."""

    space: str = "nb201"
    dataset: str | None = None
    strategies: tuple[str, ...] = ("rs", "re", "ls")
    budgets: tuple[int, ...] = (50, 100, 150)
    seeds: int = 100
    first_seed: int = 0
    workers: int = 2
    storage: str | None = None  # None: in-memory, one storage per study; else an SQLite file
    benchmark_dir: str | None = None
    sqlite_synchronous: str = "NORMAL"  # of the SQLite file: NORMAL (no fsync per commit) or FULL
    # simulated time (see "Simulated time" in the module docstring)
    simulate_time: bool = False
    sim_workers: int = 1
    eta: float = 3.0
    mf_factor: int = 4
    reference: str | None = None
    target_budget: int | None = None
    compare: str | None = None  # paired differences of every other strategy against this one
    # synthetic spaces (space "synthetic", dataset the shape MxK): see the module docstring
    interaction: float = 0.0
    noise: float = 0.0
    objective_seed: int = 0

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ValueError("give at least one strategy")
        for label in self.strategies:
            split_label(label)  # validates the fidelity part
        # canonical names through the registry (plug-in strategies included)
        object.__setattr__(
            self,
            "strategies",
            tuple(_canonical_label(s) for s in self.strategies),
        )
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"a strategy is listed twice in {', '.join(self.strategies)}")
        if not self.budgets or any(b < 1 for b in self.budgets):
            raise ValueError(f"budgets must be positive integers, got {list(self.budgets)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if self.first_seed < 0:
            raise ValueError(f"first seed must be >= 0, got {self.first_seed}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.sim_workers < 1:
            raise ValueError(f"simulated workers must be >= 1, got {self.sim_workers}")
        if self.sim_workers > 1 and not self.simulate_time:
            raise ValueError(
                "several simulated workers need simulated time: add --simulate-time "
                "(or use --jobs for parallel studies)"
            )
        if any(split_label(s)[1] != "full" for s in self.strategies) and not self.simulate_time:
            raise ValueError(
                "multi-fidelity strategies (NAME+asha, NAME+hyperband) are compared in simulated "
                "time: add --simulate-time"
            )
        if self.eta <= 1:
            raise ValueError(f"eta must be > 1, got {self.eta}")
        if self.mf_factor < 1:
            raise ValueError(
                f"the multi-fidelity candidate factor must be >= 1, got {self.mf_factor}"
            )
        if self.reference is not None and self.reference not in self.strategies:
            raise ValueError(
                f"the reference {self.reference!r} is not among the strategies "
                f"{', '.join(self.strategies)}"
            )
        if self.compare is not None:
            compare = _canonical_label(self.compare)
            if compare not in self.strategies:
                raise ValueError(
                    f"--compare {self.compare!r} is not among the strategies "
                    f"{', '.join(self.strategies)}"
                )
            object.__setattr__(self, "compare", compare)
        sync = self.sqlite_synchronous.upper()
        if sync not in ("NORMAL", "FULL"):
            raise ValueError(f"SQLite synchronous must be NORMAL or FULL, got {sync!r}")
        object.__setattr__(self, "sqlite_synchronous", sync)
        object.__setattr__(self, "budgets", tuple(sorted(set(self.budgets))))
        space, shape = _split_space(self.space)
        if space == SYNTHETIC:
            shape = shape or self.dataset
            if not shape:
                raise ValueError(
                    "a synthetic space needs its shape: synthetic:MxK or --dataset MxK"
                )
            shape = shape.split("_")[0]  # a label of synthetic_label (dataclasses.replace)
            parse_shape_spec(shape)  # validates
            if self.simulate_time:
                raise ValueError("synthetic spaces have no training time: drop --simulate-time")
            if not (self.interaction >= 0 and math.isfinite(self.interaction)):
                raise ValueError(f"interaction must be >= 0, got {self.interaction}")
            if not (self.noise >= 0 and math.isfinite(self.noise)):
                raise ValueError(f"noise must be >= 0, got {self.noise}")
            object.__setattr__(self, "space", SYNTHETIC)
            object.__setattr__(
                self,
                "dataset",
                synthetic_label(shape, self.interaction, self.noise, self.objective_seed),
            )
            return
        if self.interaction or self.noise or self.objective_seed:
            raise ValueError("interaction, noise and objective seed are for synthetic spaces")
        spec = SearchSpec(space=self.space, dataset=self.dataset)  # validates the space name
        if not spec.tabular:
            raise ValueError(
                f"bench needs a tabular space, not the training space {spec.space!r}; tabular "
                f"spaces: {', '.join(space_names('tabular'))}"
            )
        object.__setattr__(self, "space", spec.space)
        object.__setattr__(self, "dataset", spec.dataset)

    @property
    def max_budget(self) -> int:
        return max(self.budgets)

    def budget_of(self, label: str) -> int:
        """Decisions a strategy runs: the largest budget; ``mf_factor`` times it with fidelity."""
        return self.max_budget * (self.mf_factor if split_label(label)[1] != "full" else 1)

    @property
    def reference_strategy(self) -> str:
        """The strategy whose mean test accuracy at ``target_budget`` is the simulated target."""
        if self.reference is not None:
            return self.reference
        return "re" if "re" in self.strategies else self.strategies[0]

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


FIDELITY_SUFFIXES = ("asha", "hyperband")
SYNTHETIC = "synthetic"


def _split_space(text: str) -> tuple[str, str | None]:
    """``"synthetic:48x4"`` -> ``("synthetic", "48x4")``; other names -> ``(name, None)``."""
    name, colon, shape = text.strip().partition(":")
    if name.lower() == SYNTHETIC:
        return SYNTHETIC, shape.strip() or None if colon else None
    return text, None


def synthetic_label(shape: str, interaction: float, noise: float, objective_seed: int) -> str:
    """The "dataset" of a synthetic bench space, e.g. ``48x4_i0.5_n0.1_s0``."""
    shape = shape.replace(" ", "").lower()
    return f"{shape}_i{interaction:g}_n{noise:g}_s{objective_seed}"


def parse_synthetic_label(label: str) -> tuple[tuple[int, ...], float, float, int]:
    """Cardinalities, interaction, noise and objective seed of :func:`synthetic_label`."""
    shape, *rest = label.split("_")
    opts = {part[:1]: part[1:] for part in rest}
    try:
        return (
            parse_shape_spec(shape),
            float(opts.get("i", 0.0)),
            float(opts.get("n", 0.0)),
            int(opts.get("s", 0)),
        )
    except ValueError:
        raise SearchSpaceError(f"cannot read the synthetic space {label!r}") from None


def split_label(label: str) -> tuple[str, str]:
    """``"re+asha"`` -> ``("re", "asha")``; ``"re"`` -> ``("re", "full")``."""
    name, plus, fidelity = label.strip().lower().partition("+")
    if not plus:
        return label, "full"
    if fidelity not in FIDELITY_SUFFIXES:
        raise ValueError(
            f"unknown fidelity {fidelity!r} in {label!r}: write NAME, NAME+asha or NAME+hyperband"
        )
    return name, fidelity


def _canonical_label(label: str) -> str:
    """``label`` with its strategy's canonical registry name (``Delta_NAS+asha`` -> ``delta-nas+asha``)."""
    name, fidelity = split_label(label)
    canonical = get_strategy(name).name
    return canonical if fidelity == "full" else f"{canonical}+{fidelity}"


def study_name(space: str, dataset: str, strategy: str, seed: int) -> str:
    """The study of one (strategy, seed) run, e.g. ``bench-nb201-cifar10-re-s7``."""
    return f"bench-{space}-{dataset}-{strategy}-s{seed}"


@dataclass(frozen=True)
class RunRecord:
    """One (strategy, seed) study, by decision index ``k = 0 .. budget - 1``.

    ``val[k]`` / ``test[k]`` are ``None`` for a failed trial; ``optimal[k]`` says whether decision
    ``k`` proposed a validation-optimal architecture (by identity).
    """

    strategy: str
    seed: int
    study: str
    val: tuple[float | None, ...]
    test: tuple[float | None, ...]
    optimal: tuple[bool, ...]
    search_seconds: float  # strategy + storage time of the queries evaluated now
    evaluated_now: int  # queries evaluated by this run (the others were replayed from the log)
    wall_seconds: float
    cpu_seconds: float = 0.0  # CPU time of the worker process on this study (all of run_one)
    sim_end: tuple[float | None, ...] = ()  # simulated time each decision's trial finished

    @property
    def overhead_ms_per_query(self) -> float | None:
        if self.evaluated_now == 0:
            return None
        return 1000.0 * self.search_seconds / self.evaluated_now


@dataclass(frozen=True)
class BenchResult:
    """The outcome of :func:`run_bench`: the config, the dataset's canonical name, every run."""

    config: BenchConfig
    dataset: str
    runs: list[RunRecord]
    wall_seconds: float
    storage_note: str = field(default="")

    def summary(self) -> list[dict[str, Any]]:
        rows = summarise(self.runs, self.config.budgets, self.config.strategies)
        if self.config.space == SYNTHETIC:
            for row in rows:
                row["found_optimum"] = None  # the optimum is not known
        if self.config.simulate_time:
            sim = self.sim_summary()
            for row in rows:
                row.update(sim["by_strategy"].get(row["strategy"], {}))
        return rows

    def sim_target(self) -> float | None:
        """The reference's mean test value at the target budget (simulated-time runs)."""
        cfg = self.config
        budget = cfg.target_budget or cfg.max_budget
        curves = [
            best_so_far(r, budget)[0][budget - 1]
            for r in self.runs
            if r.strategy == cfg.reference_strategy and len(r.val) >= budget
        ]
        finite = [c for c in curves if math.isfinite(c)]
        return float(np.mean(finite)) if finite else None

    def sim_summary(self) -> dict[str, Any]:
        """Simulated time to reach :meth:`sim_target`, per strategy: mean, SE, seeds unreached."""
        target = self.sim_target()
        out: dict[str, dict[str, Any]] = {}
        for strategy in self.config.strategies:
            group = [r for r in self.runs if r.strategy == strategy]
            times: list[float] = []
            unreached = 0
            for r in group:
                t, reached = sim_time_to(r, target)
                times.append(t)
                unreached += 0 if reached else 1
            arr = np.asarray(times, dtype=np.float64)
            se = float(np.std(arr, ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else None
            out[strategy] = {
                "sim_time_to_target": _round(float(np.mean(arr)), 1) if arr.size else None,
                "sim_time_to_target_se": _round(se, 1),
                "sim_unreached": unreached,
                "sim_total": _round(float(np.mean([max_sim(r) for r in group])), 1)
                if group
                else None,
            }
        return {"target": target, "by_strategy": out}

    def paired(self) -> list[dict[str, Any]]:
        """Paired differences against ``config.compare`` (empty without it)."""
        if self.config.compare is None:
            return []
        return paired_differences(
            self.runs, self.config.budgets, self.config.compare, self.config.strategies
        )

    def curves(self) -> dict[str, npt.NDArray[np.float64]]:
        return best_so_far_curves(self.runs, self.config.max_budget, self.config.strategies)

    def to_json(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "space": cfg.space,
            "dataset": self.dataset,
            "results": self.summary(),
            "seeds": cfg.seeds,
            "first_seed": cfg.first_seed,
            "budgets": list(cfg.budgets),
            "strategies": list(cfg.strategies),
            "workers": cfg.workers,
            "storage": cfg.storage,
            "wall_seconds": round(self.wall_seconds, 3),
            "worker_cpu_seconds": round(self.cpu_seconds, 3),
            **(self._synthetic_json() if cfg.space == SYNTHETIC else {}),
            **({"compare": cfg.compare, "paired": self.paired()} if cfg.compare else {}),
            **self._sim_json(),
        }

    def _synthetic_json(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "interaction": cfg.interaction,
            "noise": cfg.noise,
            "objective_seed": cfg.objective_seed,
        }

    def _sim_json(self) -> dict[str, Any]:
        cfg = self.config
        if not cfg.simulate_time:
            return {}
        target = self.sim_target()
        return {
            "simulate_time": True,
            "sim_workers": cfg.sim_workers,
            "sim_reference": cfg.reference_strategy,
            "sim_target_budget": cfg.target_budget or cfg.max_budget,
            "sim_target": _round(target, 4),
            "eta": cfg.eta,
            "mf_factor": cfg.mf_factor,
        }

    @property
    def cpu_seconds(self) -> float:
        """CPU time the studies took in the workers (a load-independent cost measure)."""
        return sum(r.cpu_seconds for r in self.runs)


# ---------------------------------------------------------------------------------------------
# One study (runs in a worker process)


@dataclass(frozen=True)
class _Job:
    space: str
    dataset: str | None
    strategy: str
    seed: int
    budget: int
    benchmark_dir: str | None
    storage: str | None
    synchronous: str = "NORMAL"
    simulate_time: bool = False
    sim_workers: int = 1
    eta: float = 3.0


_Built = tuple[SearchSpace[Any], Any, Strategy, SearchSpec | None, frozenset[str]]
_BUILT: dict[tuple[str, str | None, str, str | None, bool], _Built] = {}
_STORAGES: dict[str, Storage] = {}
_OPTIMAL_CACHE: dict[tuple[str, str | None, str | None], dict[str, bool]] = {}


def _build(
    space: str,
    dataset: str | None,
    strategy: str,
    benchmark_dir: str | None,
    simulate_time: bool = False,
) -> _Built:
    """Space, evaluator, strategy, spec and optimal identities; cached per process."""
    key = (space, dataset, strategy, benchmark_dir, simulate_time)
    hit = _BUILT.get(key)
    if hit is None and space == SYNTHETIC:
        from einnas.evaluators.synthetic import SyntheticEvaluator
        from einnas.strategies import make_strategy

        assert dataset is not None
        cards, interaction, noise, objective_seed = parse_synthetic_label(dataset)
        synthetic = SyntheticEvaluator(cards, interaction, objective_seed, noise)
        strat = make_strategy(split_label(strategy)[0], tabular=True)
        hit = _BUILT[key] = (synthetic.space, synthetic, strat, None, frozenset())
    if hit is None:
        spec = SearchSpec(
            space=space,
            dataset=dataset,
            strategy=split_label(strategy)[0],
            benchmark_dir=benchmark_dir,
            simulate_time=simulate_time,
        )
        sp, evaluator, strat = build_search(spec)
        if not isinstance(evaluator, TabularEvaluator):  # pragma: no cover - build_search
            raise SearchSpaceError(f"bench needs a tabular space, got {space!r}")
        table = evaluator.table  # loads the table (once per process: it is cached)
        optimal = frozenset(sp.identity(a) for a in table.val_optimal_archs())
        hit = _BUILT[key] = (sp, evaluator, strat, spec, optimal)
    return hit


def _init_worker(
    space: str, dataset: str | None, benchmark_dir: str | None, simulate_time: bool = False
) -> None:
    """Pool initializer: load the table before the first job."""
    _build(space, dataset, STRATEGY_NAMES[0], benchmark_dir, simulate_time)


def _storage(path: str | None, synchronous: str) -> Storage:
    if path is None:
        return open_storage(None)  # a fresh in-memory storage for this study
    hit = _STORAGES.get(path)
    if hit is None:
        from einnas.study.sqlite_storage import SQLiteStorage

        hit = SQLiteStorage(path, synchronous=synchronous, timeout=SQLITE_TIMEOUT)
        _STORAGES[path] = hit
    return hit


def run_one(job: _Job) -> RunRecord:
    """Run (or resume) one (strategy, seed) study and read its history back."""
    from einnas.executors.base import Executor, InlineExecutor
    from einnas.study.runner import run_search
    from einnas.study.study import Study

    cpu0 = time.process_time()
    space, evaluator, strategy, base_spec, optimal = _build(
        job.space, job.dataset, job.strategy, job.benchmark_dir, job.simulate_time
    )
    fidelity_name = split_label(job.strategy)[1]
    fidelity = None
    if fidelity_name != "full":
        from einnas.fidelity import make_fidelity

        rungs = evaluator.rungs()
        if len(rungs) < 2:
            raise SearchSpaceError(
                f"{evaluator.table.name} records results at one fidelity only ({rungs[0]}); "
                f"{job.strategy} needs a table with several (e.g. nb201: 12 and 200 epochs)"
            )
        fidelity = make_fidelity(
            fidelity_name, min_step=rungs[0], max_step=rungs[-1], eta=job.eta, rungs=rungs
        )
    synthetic = job.space == SYNTHETIC
    dataset = job.dataset if synthetic else evaluator.table.dataset
    assert dataset is not None
    # is the architecture of this text validation-optimal (by identity)? cached per table
    is_optimal = _OPTIMAL_CACHE.setdefault((job.space, dataset, job.benchmark_dir), {})
    name = study_name(job.space, dataset, job.strategy, job.seed)
    storage = _storage(job.storage, job.synchronous)
    if base_spec is None:  # a synthetic space
        config: dict[str, Any] = {
            "space": job.space,
            "dataset": dataset,
            "strategy": strategy.describe(),
            "budget": job.budget,
            "seed": job.seed,
            "workers": job.sim_workers,
            "evaluator": evaluator.describe(),
        }
    else:
        spec = SearchSpec(
            space=job.space,
            dataset=base_spec.dataset,
            strategy=split_label(job.strategy)[0],
            budget=job.budget,
            seed=job.seed,
            workers=job.sim_workers,
            benchmark_dir=job.benchmark_dir,
            simulate_time=job.simulate_time,
        )
        config = spec.config(evaluator, strategy)
    if fidelity is not None:
        config["fidelity"] = fidelity.describe()
    if storage.get_study(name) is not None:
        recorded = Study.load(storage, name).budget
        if isinstance(recorded, int) and recorded > job.budget:
            config["budget"] = recorded  # a longer run exists: reuse its first decisions
    # create the study, or resume / extend it (its identity keys are checked against config)
    study = Study.create_or_load(storage, name, config)
    executor: Executor
    if job.simulate_time:
        from einnas.executors.simulated import SimulatedExecutor

        executor = SimulatedExecutor(evaluator, job.sim_workers)
    else:
        executor = InlineExecutor(evaluator)
    outcome = run_search(
        study.storage,
        name,
        space,
        strategy,
        executor,
        job.budget,
        job.seed,
        job.sim_workers,
        fidelity=fidelity,
    )
    n = job.budget
    val: list[float | None] = [None] * n
    test: list[float | None] = [None] * n
    opt = [False] * n
    seen = [False] * n
    ends: list[float | None] = [None] * n
    for t in study.storage.trials(name):
        k = t.proposal
        if not (0 <= k < n) or not t.is_finished or t.interrupted:
            continue
        seen[k] = True
        end = t.metrics.get("sim_end")
        ends[k] = float(end) if isinstance(end, int | float) else None
        if t.state is TrialState.COMPLETE:
            val[k], test[k] = t.val, t.test
        hit = False if synthetic else is_optimal.get(t.arch)
        if hit is None:
            hit = is_optimal[t.arch] = space.identity(space.from_text(t.arch)) in optimal
        opt[k] = hit
    if not all(seen):
        missing = seen.index(False)
        raise RuntimeError(f"study {name!r}: decision {missing} has no finished trial")
    if job.storage is None:
        storage.close()
    return RunRecord(
        strategy=job.strategy,
        seed=job.seed,
        study=name,
        val=tuple(val),
        test=tuple(test),
        optimal=tuple(opt),
        search_seconds=outcome.search_seconds,
        evaluated_now=outcome.evaluated_now,
        wall_seconds=outcome.wall_seconds,
        cpu_seconds=time.process_time() - cpu0,
        sim_end=tuple(ends) if job.simulate_time else (),
    )


# ---------------------------------------------------------------------------------------------
# The whole benchmark


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _mp_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_bench(
    config: BenchConfig, on_run: Callable[[RunRecord], None] | None = None
) -> BenchResult:
    """Run every (strategy, seed) study of ``config``; ``on_run`` is called as each finishes."""
    t0 = time.perf_counter()
    # Resolve the dataset name (and fail early on a missing table) in this process.
    _, evaluator, _, spec, _ = _build(
        config.space,
        config.dataset,
        config.strategies[0],
        config.benchmark_dir,
        config.simulate_time,
    )
    dataset: str = evaluator.table.dataset if spec is not None else str(config.dataset)
    job_dataset = spec.dataset if spec is not None else config.dataset
    storage = None
    if config.storage is not None:
        storage = os.path.abspath(config.storage)
        from einnas.study.sqlite_storage import SQLiteStorage

        # create the schema and switch to WAL once, before the workers open the file
        SQLiteStorage(
            storage, synchronous=config.sqlite_synchronous, timeout=SQLITE_TIMEOUT
        ).close()
    # Interleave strategies so that slow and fast studies are spread over the workers.
    jobs = [
        _Job(
            config.space,
            job_dataset,
            s,
            seed,
            config.budget_of(s),
            config.benchmark_dir,
            storage,
            config.sqlite_synchronous,
            config.simulate_time,
            config.sim_workers,
            config.eta,
        )
        for seed in config.seed_list
        for s in config.strategies
    ]
    runs: list[RunRecord] = []
    if config.workers == 1:
        try:
            for job in jobs:
                runs.append(run_one(job))
                if on_run is not None:
                    on_run(runs[-1])
        finally:
            if storage is not None and storage in _STORAGES:
                _STORAGES.pop(storage).close()
    else:
        # One BLAS thread per worker: the workers already fill the cores, and OpenBLAS threads
        # oversubscribing them slow small solves by orders of magnitude (measured: a 100x100
        # inverse 0.9 ms single-threaded vs ~110 ms with 2 threads on 2 busy cores).  The
        # variables are read when a worker imports numpy, so they are set before the pool starts.
        for var in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(var, "1")
        with ProcessPoolExecutor(
            max_workers=config.workers,
            mp_context=_mp_context(),
            initializer=_init_worker,
            initargs=(config.space, job_dataset, config.benchmark_dir, config.simulate_time),
        ) as pool:
            futures = [pool.submit(run_one, job) for job in jobs]
            for fut in as_completed(futures):
                runs.append(fut.result())
                if on_run is not None:
                    on_run(runs[-1])
    order = {s: i for i, s in enumerate(config.strategies)}
    runs.sort(key=lambda r: (order[r.strategy], r.seed))
    if storage is None:
        note = "in-memory (one storage per study)"
    else:
        note = f"SQLite {storage} (synchronous={config.sqlite_synchronous}, shared by all workers)"
    return BenchResult(config, dataset, runs, time.perf_counter() - t0, note)


# ---------------------------------------------------------------------------------------------
# Analysis


def best_so_far(run: RunRecord, n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per query count ``1 .. n``: the test value of the selected trial and "optimum found".

    The selected trial after ``q`` queries is the best by validation among decisions
    ``0 .. q-1`` (the earlier one on ties); its test value is NaN while no trial succeeded.
    """
    if n > len(run.val):
        raise ValueError(f"{run.study} has {len(run.val)} decisions, fewer than {n}")
    test = np.full(n, np.nan)
    found = np.zeros(n, dtype=bool)
    best_val = -math.inf
    best_test = math.nan
    hit = False
    for k in range(n):
        v = run.val[k]
        if v is not None and v > best_val:
            best_val = v
            t = run.test[k]
            best_test = math.nan if t is None else t
        hit = hit or run.optimal[k]
        test[k] = best_test
        found[k] = hit
    return test, found


def sim_events(run: RunRecord) -> list[tuple[float, float, float]]:
    """``(sim_end, val, test)`` of the run's complete trials, in order of simulated end time."""
    events = [
        (end, v, t)
        for end, v, t in zip(run.sim_end, run.val, run.test)
        if end is not None and v is not None and t is not None
    ]
    return sorted(events, key=lambda e: e[0])


def max_sim(run: RunRecord) -> float:
    """The simulated time the run took (its last trial's end)."""
    return max((e for e in run.sim_end if e is not None), default=0.0)


def sim_time_to(run: RunRecord, target: float | None) -> tuple[float, bool]:
    """When the best-by-validation trial's test value first reached ``target`` (simulated).

    A run that never reaches it counts with the whole time it ran (second value False).
    """
    if target is None:
        return max_sim(run), False
    best_val = -math.inf
    for end, val, test in sim_events(run):
        if val > best_val:
            best_val = val
            if test >= target - 1e-9:
                return end, True
    return max_sim(run), False


def sim_curve(run: RunRecord, times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Test value of the best-by-validation trial finished by each simulated time (NaN before)."""
    out = np.full(times.shape, np.nan)
    best_val = -math.inf
    best_test = math.nan
    events = sim_events(run)
    i = 0
    for j, t in enumerate(times):
        while i < len(events) and events[i][0] <= t:
            if events[i][1] > best_val:
                best_val, best_test = events[i][1], events[i][2]
            i += 1
        out[j] = best_test
    return out


def best_so_far_curves(
    runs: Iterable[RunRecord], n: int, strategies: Sequence[str] | None = None
) -> dict[str, npt.NDArray[np.float64]]:
    """``{strategy: array (seeds, n)}`` of best-so-far test values (see :func:`best_so_far`)."""
    rows: dict[str, list[npt.NDArray[np.float64]]] = {s: [] for s in strategies or ()}
    for run in runs:
        rows.setdefault(run.strategy, []).append(best_so_far(run, n)[0])
    return {s: np.vstack(r) if r else np.empty((0, n)) for s, r in rows.items()}


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def summarise(
    runs: Iterable[RunRecord], budgets: Sequence[int], strategies: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per (strategy, budget): see the module docstring for the fields."""
    by_strategy: dict[str, list[RunRecord]] = {s: [] for s in strategies or ()}
    for run in runs:
        by_strategy.setdefault(run.strategy, []).append(run)
    n = max(budgets)
    out: list[dict[str, Any]] = []
    for strategy, group in by_strategy.items():
        curves = [best_so_far(r, n) for r in group]
        overheads = [o for r in group if (o := r.overhead_ms_per_query) is not None]
        overhead = float(np.mean(overheads)) if overheads else None
        for b in sorted(budgets):
            tests = np.array([c[0][b - 1] for c in curves], dtype=np.float64)
            tests = tests[np.isfinite(tests)]
            found = [bool(c[1][b - 1]) for c in curves]
            out.append(
                {
                    "strategy": strategy,
                    "budget": b,
                    "seeds": int(tests.size),
                    "mean_test": _round(float(np.mean(tests)), 4) if tests.size else None,
                    "std_test": _round(float(np.std(tests, ddof=1)), 4) if tests.size > 1 else None,
                    "found_optimum": round(sum(found) / len(found), 4) if found else None,
                    "overhead_ms_per_query": _round(overhead, 4),
                }
            )
    return out


def paired_differences(
    runs: Iterable[RunRecord],
    budgets: Sequence[int],
    versus: str,
    strategies: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Mean paired difference ``strategy - versus`` per (strategy, budget), with its SE.

    For every seed run by both strategies (and with a finite selected test value for both at
    that budget), the difference of their selected test values (:func:`best_so_far`); the row
    gives the mean over those seeds, its standard error (sample SD, ``ddof=1``, over
    ``sqrt(seeds)``; ``None`` with fewer than two seeds) and the number of seeds paired.
    Pairing on seeds removes the between-seed variance the strategies share (on ``bench`` the
    same seed draws the same initial random architectures for every strategy).
    """
    by: dict[str, dict[int, RunRecord]] = {s: {} for s in strategies or ()}
    for run in runs:
        by.setdefault(run.strategy, {})[run.seed] = run
    if versus not in by:
        raise ValueError(f"no runs of {versus!r} to compare against")
    n = max(budgets)
    ref = {seed: best_so_far(r, n)[0] for seed, r in by[versus].items()}
    out: list[dict[str, Any]] = []
    for strategy, group in by.items():
        if strategy == versus:
            continue
        curves = {seed: best_so_far(r, n)[0] for seed, r in group.items() if seed in ref}
        for b in sorted(budgets):
            diffs = np.array(
                [curves[s][b - 1] - ref[s][b - 1] for s in sorted(curves)], dtype=np.float64
            )
            diffs = diffs[np.isfinite(diffs)]
            se = float(np.std(diffs, ddof=1) / math.sqrt(diffs.size)) if diffs.size > 1 else None
            out.append(
                {
                    "strategy": strategy,
                    "versus": versus,
                    "budget": b,
                    "mean_diff": _round(float(np.mean(diffs)), 4) if diffs.size else None,
                    "se_diff": _round(se, 4),
                    "seeds": int(diffs.size),
                }
            )
    return out


def format_paired(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`paired_differences` as text: ``mean ± SE`` (and ``|mean| / SE``)."""
    if not rows:
        return ""
    versus = rows[0]["versus"]
    header = f"{'strategy':<18}{'budget':>7}{'seeds':>7}{'minus ' + versus:>22}{'z':>7}"
    lines = [f"paired differences (same seeds), strategy minus {versus}:", header]
    lines.append("-" * len(header))
    for r in rows:
        mean, se = r["mean_diff"], r["se_diff"]
        text = "-" if mean is None else f"{mean:+.3f}" + ("" if se is None else f" ± {se:.3f}")
        z = "-" if mean is None or not se else f"{mean / se:+.1f}"
        lines.append(f"{r['strategy']:<18}{r['budget']:>7}{r['seeds']:>7}{text:>22}{z:>7}")
    return "\n".join(lines)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`summarise` as an aligned text table."""

    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    header = f"{'strategy':<10}{'budget':>7}{'seeds':>7}{'mean_test':>11}{'std_test':>10}"
    header += f"{'found_opt':>11}{'overhead_ms/q':>15}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['strategy']:<10}{r['budget']:>7}{r['seeds']:>7}"
            f"{num(r['mean_test'], '.2f'):>11}{num(r['std_test'], '.2f'):>10}"
            f"{num(r['found_optimum'], '.2f'):>11}{num(r['overhead_ms_per_query'], '.3f'):>15}"
        )
    return "\n".join(lines)
