"""Delta-NAS vs regularised evolution vs random search on MNIST-1D, at equal numbers of trained networks.

Every (strategy, seed) pair is one real einspace (1D) search on MNIST-1D: each candidate is
trained with the search protocol (8 epochs by default) and its fitness is the last-epoch
validation accuracy.  All studies go to one SQLite file, so the benchmark is resumable: rerun the
same command after an interruption and finished studies are replayed from the log, unfinished
ones continue where they stopped.

Reported per strategy: the mean (over seeds) best validation accuracy after ``n`` trained
networks for each ``n`` in ``--report-at``, and the number of evaluations the mean Delta-NAS
curve needs to reach regularised evolution's final mean best (and the same per seed).

Usage::

    python benchmarks/mnist1d_strategies.py --strategies delta-nas,re,rs --seeds 3 --budget 40 \\
        --storage mnist1d_strategies.db --json out.json --plot out.png

The last line of stdout is one JSON object with the curves' summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.executors import make_executor
from einnas.experiment import SearchSpec, build_search
from einnas.study.runner import run_search
from einnas.study.study import Study
from einnas.study.trial import TrialState


def study_name(strategy: str, seed: int) -> str:
    return f"mnist1d-{strategy}-s{seed}"


def best_so_far(storage_path: str, name: str, budget: int) -> npt.NDArray[np.float64]:
    """Best validation accuracy after each of the first ``budget`` decisions (NaN before any)."""
    study = Study.load(storage_path, name)
    by_proposal: dict[int, float | None] = {}
    for t in study.trials():
        if t.is_finished and not t.interrupted:
            by_proposal[t.proposal] = t.val if t.state is TrialState.COMPLETE else None
    out = np.full(budget, np.nan)
    best = -np.inf
    for k in range(budget):
        v = by_proposal.get(k)
        if v is not None and v > best:
            best = v
        out[k] = best if np.isfinite(best) else np.nan
    return out


def evaluations_to_reach(curve: npt.NDArray[np.float64], target: float) -> int | None:
    """First number of evaluations at which ``curve`` >= ``target`` (None if never)."""
    hits = np.nonzero(np.nan_to_num(curve, nan=-np.inf) >= target - 1e-9)[0]
    return int(hits[0]) + 1 if hits.size else None


def run_one(args: argparse.Namespace, strategy: str, seed: int) -> dict[str, Any]:
    seeds = [] if strategy == "rs" else [s for s in args.seed_archs.split(",") if s]
    spec = SearchSpec(
        space="einspace1d",
        dataset=args.dataset,
        strategy=strategy,
        budget=args.budget,
        seed=seed,
        workers=args.workers,
        seed_archs=seeds,
        epochs=args.epochs,
        max_params=args.max_params,
        max_macs=args.max_macs,
        max_trial_seconds=args.max_trial_seconds,
    )
    space, evaluator, strat = build_search(spec)
    name = study_name(strategy, seed)
    study = Study.create_or_load(args.storage, name, spec.config(evaluator, strat))
    t0 = time.perf_counter()
    kind = "inline" if args.workers == 1 else "pool"
    with make_executor(kind, evaluator, args.workers) as executor:
        outcome = run_search(
            study.storage, name, space, strat, executor, args.budget, seed, args.workers
        )
    best = outcome.best
    print(
        f"{name}: {outcome.finished} trials ({outcome.evaluated_now} trained now, "
        f"{time.perf_counter() - t0:.0f} s), best val "
        f"{'-' if best is None or best.val is None else f'{best.val:.2f}'}",
        file=sys.stderr,
        flush=True,
    )
    return {
        "study": name,
        "evaluated_now": outcome.evaluated_now,
        "best_val": None if best is None else best.val,
        "best_arch": None if best is None else best.arch,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--strategies", default="delta-nas,re,rs")
    p.add_argument("--seeds", type=int, default=3, help="search seeds 0 .. SEEDS-1 (default 3)")
    p.add_argument(
        "--budget", type=int, default=40, help="trained networks per search (default 40)"
    )
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dataset", default="mnist1d")
    p.add_argument("--seed-archs", default="cnn1d", help="seeds of delta-nas and re (rs: none)")
    p.add_argument("--max-params", type=int, default=None)
    p.add_argument("--max-macs", type=int, default=None)
    p.add_argument("--max-trial-seconds", type=float, default=120.0)
    p.add_argument("--storage", default="mnist1d_strategies.db")
    p.add_argument("--report-at", default="10,20,30,40")
    p.add_argument("--reference", default="re", help="strategy whose final best is the target")
    p.add_argument("--json", dest="json_path", default=None)
    p.add_argument("--plot", default=None)
    args = p.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    report_at = [int(x) for x in args.report_at.split(",") if int(x) <= args.budget]

    runs = [run_one(args, s, seed) for seed in range(args.seeds) for s in strategies]
    curves = {
        s: np.stack(
            [
                best_so_far(args.storage, study_name(s, seed), args.budget)
                for seed in range(args.seeds)
            ]
        )
        for s in strategies
    }
    summary: dict[str, Any] = {"budget": args.budget, "seeds": args.seeds, "epochs": args.epochs}
    table = {}
    for s, arr in curves.items():
        mean = np.nanmean(arr, axis=0)
        table[s] = {
            str(n): {
                "mean": round(float(mean[n - 1]), 3),
                "std": round(float(np.nanstd(arr[:, n - 1])), 3),
            }
            for n in report_at
        }
    summary["best_val"] = table
    if args.reference in curves:
        ref_final = float(np.nanmean(curves[args.reference][:, -1]))
        summary["reference_final_mean"] = round(ref_final, 3)
        reach = {}
        for s, arr in curves.items():
            mean_curve = np.nanmean(arr, axis=0)
            n_mean = evaluations_to_reach(mean_curve, ref_final)
            per_seed = [
                evaluations_to_reach(arr[i], float(curves[args.reference][i, -1]))
                for i in range(arr.shape[0])
            ]
            reach[s] = {
                "mean_curve_evals": n_mean,
                "mean_curve_fraction": None if n_mean is None else round(n_mean / args.budget, 3),
                "per_seed_evals_to_reach_same_seed_reference": per_seed,
            }
        summary["evaluations_to_reach_reference_final"] = reach
    summary["runs"] = runs
    header = "strategy  " + "  ".join(f"@{n:<12}" for n in report_at)
    print(header)
    for s, row in table.items():
        print(
            f"{s:<9} "
            + "  ".join(f"{row[str(n)]['mean']:6.2f} ±{row[str(n)]['std']:5.2f}" for n in report_at)
        )
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps({**summary, "curves": {s: a.tolist() for s, a in curves.items()}}, indent=1)
        )
    if args.plot:
        from einnas.viz.plots import plot_strategy_comparison

        plot_strategy_comparison(
            curves,
            args.plot,
            f"einspace1d on MNIST-1D ({args.epochs} epochs per network, {args.seeds} seeds)",
            ylabel="best validation accuracy so far (%)",
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
