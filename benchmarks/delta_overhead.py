"""Search-side overhead of Delta-NAS per query, and how it grows with the number of slots.

Runs the real :class:`~einnas.strategies.delta_nas.DeltaNAS` (its defaults, ``predictor`` mlp or
ridge) through the real study loop (:func:`einnas.study.runner.run_search`, in-memory storage,
inline evaluation) for ``--queries`` queries per seed, on

* NAS-Bench-201 / CIFAR-10 (6 slots x 5 choices) and NAS-Bench-Macro (8 x 3), from the tables;
* an NAS-Bench-101-shaped space (26 slots: 21 binary + 5 ternary) with a **synthetic** objective
  (a fixed random additive + pairwise function, :class:`~einnas.spaces.synthetic.SyntheticObjective`):
  only 500 real NAS-Bench-101 cells exist here, too few to search;
* a sweep of synthetic spaces with ``m`` = 6, 12, 24, 48, 96 slots of ``--choices`` choices each
  (same synthetic objective), to show how the overhead grows with ``m``.

What is timed: each decision's ``strategy.propose`` (the DoA dataset update, predictor fit,
candidate generation and scoring -- everything but the evaluation), by a thin timing wrapper.
Reported per space and predictor, pooled over seeds: ``median_ms`` over all queries (random
initial / restart queries included), ``median_guided_ms`` over the predictor-guided decisions only
(proposal note ``delta``), ``p90_guided_ms``, and ``overhead_ms_per_query``: the study loop's own
strategy + storage time per query (``SearchOutcome.search_seconds / evaluated_now``, the figure
``einnas bench`` reports as ``overhead_ms/q``).  ``cpu_median_guided_ms`` is the same median in
process CPU time (less disturbed by other jobs on the machine, but it counts every BLAS thread).
For the sweep, ``slope`` is the least-squares slope of log(median_guided_ms) against log(m):
1 means linear growth in the number of slots; the summary also gives it for the CPU-time
medians (``sweep_slope_log_cpu_ms_vs_log_slots``), the figure to trust on a loaded machine.

Usage::

    python benchmarks/delta_overhead.py                      # all spaces, mlp and ridge, 3 seeds
    python benchmarks/delta_overhead.py --predictor ridge --seeds 1 --queries 150
    python benchmarks/delta_overhead.py --spaces sweep --slots 6,12,24,48,96,192 --choices 5

BLAS threads.  The script pins OpenBLAS / OpenMP / MKL to **one thread** (unless
``OPENBLAS_NUM_THREADS`` etc. are already set), because on a small machine that runs anything else
a multi-threaded BLAS is catastrophically slow for these small matrices: on 2 busy cores,
``numpy.linalg.inv`` of a 100x100 matrix (the ridge refit at 24 slots x 4 choices) took ~110 ms
with 2 threads against ~0.9 ms with one.  Set ``OPENBLAS_NUM_THREADS=2`` to see that effect.

One JSON object per (space, predictor) on stdout as it finishes, then a table; the last line is
a JSON object with the sweep's slopes.  Timings depend on the machine and on whatever else runs on
it; compare figures from one run.
"""

from __future__ import annotations

import os

# Before numpy is imported (see "BLAS threads" above).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from einnas.evaluators.base import Evaluator  # noqa: E402
from einnas.evaluators.synthetic import SyntheticEvaluator  # noqa: E402
from einnas.executors.base import InlineExecutor  # noqa: E402
from einnas.spaces.base import SearchSpace  # noqa: E402
from einnas.strategies.base import Proposal, ProposalContext, Strategy  # noqa: E402
from einnas.strategies.delta_nas import DeltaNAS, doa_encoder  # noqa: E402
from einnas.study.factory import open_storage  # noqa: E402
from einnas.study.runner import run_search  # noqa: E402

NB101_SHAPE = (2,) * 21 + (3,) * 5
SPACE_GROUPS = ("nb201", "macro", "nb101-shaped", "sweep")


class TimedStrategy(Strategy):
    """Delegates to ``inner`` and records the wall and CPU time of every ``propose``."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.name = inner.name
        self.records: list[tuple[float, float, str]] = []  # (wall s, cpu s, note)

    def propose(self, ctx: ProposalContext) -> Proposal:
        w0, c0 = time.perf_counter(), time.process_time()
        proposal = self.inner.propose(ctx)
        self.records.append((time.perf_counter() - w0, time.process_time() - c0, proposal.note))
        return proposal

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


@dataclass(frozen=True)
class Case:
    label: str
    slots: int
    cardinalities: tuple[int, ...]
    sweep: bool
    build: Any  # () -> (space, evaluator)


def tabular_case(label: str, space: str, dataset: str, benchmark_dir: str | None) -> Case:
    from einnas.evaluators.tabular import TabularEvaluator

    def build() -> tuple[SearchSpace[Any], Evaluator]:
        evaluator = TabularEvaluator(space, dataset, benchmark_dir)
        return evaluator.table.space, evaluator

    probe = TabularEvaluator(space, dataset, benchmark_dir).table.space  # fail early
    return Case(label, probe.num_slots, probe.cardinalities, False, build)


def synthetic_case(label: str, cards: tuple[int, ...], interaction: float, sweep: bool) -> Case:
    def build() -> tuple[SearchSpace[Any], Evaluator]:
        evaluator = SyntheticEvaluator(cards, interaction, seed=0)
        return evaluator.space, evaluator

    return Case(label, len(cards), cards, sweep, build)


def run_case(case: Case, predictor: str, seeds: int, queries: int) -> dict[str, Any]:
    walls: list[float] = []
    cpus: list[float] = []
    guided: list[float] = []
    guided_cpu: list[float] = []
    overhead: list[float] = []
    t0 = time.perf_counter()
    dim = 0
    for seed in range(seeds):
        space, evaluator = case.build()
        dim = doa_encoder(space).dim
        strategy = TimedStrategy(DeltaNAS(predictor=predictor))  # type: ignore[arg-type]
        storage = open_storage(None)
        name = f"overhead-{case.label}-{predictor}-s{seed}"
        storage.create_study(name, {"space": case.label, "strategy": strategy.describe()})
        outcome = run_search(
            storage, name, space, strategy, InlineExecutor(evaluator), queries, seed
        )
        storage.close()
        for wall, cpu, note in strategy.records:
            walls.append(wall)
            cpus.append(cpu)
            if note == "delta":
                guided.append(wall)
                guided_cpu.append(cpu)
        if outcome.evaluated_now:
            overhead.append(outcome.search_seconds / outcome.evaluated_now)

    def ms(values: list[float], q: float = 50.0) -> float | None:
        return round(1e3 * float(np.percentile(values, q)), 4) if values else None

    return {
        "space": case.label,
        "predictor": predictor,
        "slots": case.slots,
        "cardinalities": sorted(set(case.cardinalities)),
        "one_hot_length": sum(case.cardinalities),
        "encoding_dim": dim,
        "seeds": seeds,
        "queries": queries,
        "median_ms": ms(walls),
        "median_guided_ms": ms(guided),
        "p90_guided_ms": ms(guided, 90.0),
        "cpu_median_guided_ms": ms(guided_cpu),
        "guided_share": round(len(guided) / max(len(walls), 1), 3),
        "overhead_ms_per_query": round(1e3 * float(np.mean(overhead)), 4) if overhead else None,
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def slope(rows: list[dict[str, Any]], key: str = "median_guided_ms") -> float | None:
    """Least-squares slope of log(``key``) (default median_guided_ms) against log(slots)."""
    pts = [(r["slots"], r[key]) for r in rows if r[key]]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def table(rows: list[dict[str, Any]]) -> str:
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.2f}"

    head = (
        f"{'space':<16}{'pred':<7}{'slots':>6}{'dim':>6}{'median':>9}{'guided':>9}"
        f"{'p90':>9}{'cpu':>9}{'loop/q':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['space']:<16}{r['predictor']:<7}{r['slots']:>6}{r['encoding_dim']:>6}"
            f"{f(r['median_ms']):>9}{f(r['median_guided_ms']):>9}{f(r['p90_guided_ms']):>9}"
            f"{f(r['cpu_median_guided_ms']):>9}{f(r['overhead_ms_per_query']):>9}"
        )
    lines.append(
        "ms per query: median (all), guided (predictor decisions), p90 guided, cpu (guided, "
        "CPU time), loop/q (study loop's strategy + storage time, mean)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=3, help="studies per space and predictor")
    ap.add_argument("--queries", type=int, default=150, help="queries per study (default 150)")
    ap.add_argument(
        "--predictor", default="mlp,ridge", help="mlp, ridge or both comma-separated (default)"
    )
    ap.add_argument(
        "--spaces",
        default=",".join(SPACE_GROUPS),
        help=f"comma-separated from {', '.join(SPACE_GROUPS)} (default: all)",
    )
    ap.add_argument("--slots", default="6,12,24,48,96", help="sweep: numbers of slots")
    ap.add_argument("--choices", type=int, default=4, help="sweep: choices per slot (default 4)")
    ap.add_argument(
        "--interaction",
        type=float,
        default=0.5,
        help="synthetic objective: pairwise scale relative to additive (default 0.5)",
    )
    ap.add_argument("--benchmark-dir", default=None, help="folder of the tabular benchmarks")
    args = ap.parse_args(argv)
    args.predictors = [p.strip() for p in args.predictor.split(",") if p.strip()]
    if not args.predictors or any(p not in ("mlp", "ridge") for p in args.predictors):
        ap.error(f"--predictor takes mlp and/or ridge, got {args.predictor!r}")
    args.groups = [s.strip() for s in args.spaces.split(",") if s.strip()]
    if not args.groups or any(s not in SPACE_GROUPS for s in args.groups):
        ap.error(f"--spaces takes {', '.join(SPACE_GROUPS)}, got {args.spaces!r}")
    try:
        args.slot_list = [int(s) for s in args.slots.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--slots must be comma-separated integers, got {args.slots!r}")
    if args.seeds < 1 or args.queries < 1 or args.choices < 2 or min(args.slot_list) < 2:
        ap.error("--seeds and --queries must be >= 1, --choices and --slots >= 2")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cases: list[Case] = []
    if "nb201" in args.groups:
        cases.append(tabular_case("nb201", "nb201", "cifar10", args.benchmark_dir))
    if "macro" in args.groups:
        cases.append(
            tabular_case("nasbench-macro", "nasbench-macro", "cifar10", args.benchmark_dir)
        )
    if "nb101-shaped" in args.groups:
        cases.append(synthetic_case("nb101-shaped", NB101_SHAPE, args.interaction, False))
    if "sweep" in args.groups:
        for m in args.slot_list:
            cards = (args.choices,) * m
            cases.append(synthetic_case(f"synth-{m}x{args.choices}", cards, args.interaction, True))
    rows: list[dict[str, Any]] = []
    for predictor in args.predictors:
        for case in cases:
            row = run_case(case, predictor, args.seeds, args.queries)
            row["sweep"] = case.sweep
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(table(rows))
    slopes = {
        p: slope([r for r in rows if r["sweep"] and r["predictor"] == p]) for p in args.predictors
    }
    cpu_slopes = {
        p: slope([r for r in rows if r["sweep"] and r["predictor"] == p], "cpu_median_guided_ms")
        for p in args.predictors
    }
    summary = {
        "sweep_slope_log_ms_vs_log_slots": slopes,
        "sweep_slope_log_cpu_ms_vs_log_slots": cpu_slopes,
        "choices": args.choices,
        "slots": args.slot_list,
        "queries": args.queries,
        "seeds": args.seeds,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
