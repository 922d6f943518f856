"""Training throughput of an einspace search: trained networks per minute with 1 vs 2 workers.

The same ``--networks`` architectures — the ``cnn1d`` seed of the default job and seeded
single mutations of it (einspace1d, the default job's parameter and MAC budgets) — are trained
on MNIST-1D for ``--epochs`` epochs (default: the search's 8) through the real machinery of
``einnas search``: a :class:`~einnas.evaluators.training.TrainingEvaluator` with the search's
settings (1 torch thread per worker, 120 s per trial) behind the executor the search would use
(``inline`` for 1 worker, a spawned process ``pool`` otherwise; ``--executor pool`` uses the
pool for 1 worker too).  Each network gets the same training seed under every worker count.

The clock runs from creating the executor to its shutdown, so the pool's start-up (spawning
interpreters, importing torch, reading the cached data set) is counted, as it is in a search.
The data set is generated (and cached) before any clock starts.  With ``--repeats R`` the worker
counts are timed in turn R times and the median is reported.

Usage::

    python benchmarks/training_throughput.py --networks 4 --epochs 2      # a quick check
    python benchmarks/training_throughput.py --networks 24 --epochs 8     # the full figure
    python benchmarks/training_throughput.py --device cuda --executor pool --workers 1,2,4,8

Human-readable lines go to stderr; the last stdout line is one JSON object with, per worker
count, ``networks_per_min``, ``seconds``, ``train_seconds`` (the networks' own training time,
summed), ``failed`` and ``executor``, then ``speedup`` (networks_per_min of each worker count
over that of the first), ``same_results`` (every network reached the same validation accuracy
under every worker count) and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.evaluators.training import TrainingConfig, TrainingEvaluator
from einnas.executors import make_executor
from einnas.experiment import EINSPACE_DEFAULTS, SearchSpec
from einnas.grammar import Budget
from einnas.seeds import seed_tree
from einnas.spaces.einspace import EinSpace

SEED_ARCH = "cnn1d"


def architectures(n: int, seed: int, input_shape: tuple[int, ...]) -> list[str]:
    """The seed architecture and ``n - 1`` single mutations of it (seeded, all distinct)."""
    defaults = EINSPACE_DEFAULTS["einspace1d"]
    space = EinSpace.named(
        "einspace1d",
        input_shape,
        budget=Budget(max_params=defaults["max_params"], max_macs=defaults["max_macs"]),
    )
    root = seed_tree(SEED_ARCH)
    texts = [space.to_text(root)]
    rng = np.random.default_rng(seed)
    attempts = 0
    while len(texts) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(f"could not find {n} distinct mutations of the {SEED_ARCH} seed")
        text = space.to_text(space.mutate(root, rng))
        if text not in texts:
            texts.append(text)
    return texts


def time_workers(
    evaluator: TrainingEvaluator, tasks: list[EvalTask], workers: int, executor: str
) -> tuple[float, list[EvalResult]]:
    """Wall-clock seconds to evaluate every task with ``workers`` workers, and the results."""
    kind = "inline" if workers == 1 and executor == "auto" else "pool"
    start = time.perf_counter()
    with make_executor(kind, evaluator, workers) as ex:
        futures = [ex.submit(task) for task in tasks]
        results = [f.result() for f in futures]
    return time.perf_counter() - start, results


def utilisation(results: list[EvalResult], workers: int) -> float | None:
    """Busy time / (workers x span) after start-up: the span runs from the first evaluation's
    start to the last one's end in the workers (``eval_start`` / ``eval_end``), so the pool's
    start-up is excluded but every gap between evaluations counts against it."""
    spans = [
        (float(r.metrics["eval_start"]), float(r.metrics["eval_end"]))
        for r in results
        if "eval_start" in r.metrics and "eval_end" in r.metrics
    ]
    if not spans:
        return None
    busy = sum(b - a for a, b in spans)
    span = max(b for _, b in spans) - min(a for a, _ in spans)
    return round(busy / (workers * span), 4) if span > 0 else None


def main(argv: list[str] | None = None) -> int:
    search = SearchSpec(space="einspace1d")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--networks", type=int, default=16, help="architectures (default 16)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=search.epochs,
        help=f"epochs per network (default {search.epochs}, the search's)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument(
        "--executor",
        choices=("auto", "pool"),
        default="auto",
        help="auto: inline for 1 worker, pool otherwise (as einnas search); pool: always a pool",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds (median; default 1)")
    parser.add_argument("--seed", type=int, default=0, help="mutation and training seed")
    parser.add_argument(
        "--max-trial-seconds",
        type=float,
        default=search.max_trial_seconds,
        help=f"per-network time limit (default {search.max_trial_seconds}, the search's)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="training device (default cpu); with cuda every worker trains on the same GPU",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="keep the first LIMIT examples of every split (quick checks; default all)",
    )
    parser.add_argument(
        "--step-loop",
        action="store_true",
        help="force the GPU training loop (CUDA graphs on; on CPU: the same loop without "
        "graphs) — how a CPU dry run exercises the GPU path",
    )
    parser.add_argument(
        "--no-cuda-graphs",
        action="store_true",
        help="train without CUDA graphs (eager steps; to see what the graphs gain)",
    )
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.networks < 1 or args.epochs < 1 or args.repeats < 1 or not worker_counts:
        parser.error("--networks, --epochs, --repeats must be >= 1 and --workers non-empty")
    if any(w < 1 for w in worker_counts):
        parser.error(f"--workers must be positive counts, got {args.workers}")

    config = TrainingConfig(
        epochs=args.epochs,
        max_seconds=args.max_trial_seconds,
        num_threads=search.threads_per_worker,
        device=args.device,
        cuda_graphs="off" if args.no_cuda_graphs else "on" if args.step_loop else "auto",
    )
    evaluator = TrainingEvaluator("mnist1d", config, limit=args.limit)
    data = evaluator.data  # generate and cache MNIST-1D before any clock starts
    archs = architectures(args.networks, args.seed, data.input_shape)
    seeds = np.random.SeedSequence(args.seed).generate_state(len(archs)).tolist()
    tasks = [EvalTask(i, arch, int(s)) for i, (arch, s) in enumerate(zip(archs, seeds))]
    print(
        f"{len(tasks)} networks ({SEED_ARCH} + mutations), {args.epochs} epochs each, "
        f"MNIST-1D train {data.sizes[0]}; workers {worker_counts}; {os.cpu_count()} CPUs",
        file=sys.stderr,
    )

    seconds: dict[int, list[float]] = {w: [] for w in worker_counts}
    outcomes: dict[int, list[EvalResult]] = {}
    for r in range(args.repeats):
        for w in worker_counts:
            wall, results = time_workers(evaluator, tasks, w, args.executor)
            seconds[w].append(wall)
            outcomes[w] = results
            ok = sum(res.ok for res in results)
            print(
                f"round {r + 1}: {w} worker(s): {wall:.1f} s, "
                f"{60 * len(tasks) / wall:.2f} networks/min ({ok}/{len(tasks)} trained)",
                file=sys.stderr,
            )

    rows: dict[str, dict[str, Any]] = {}
    for w in worker_counts:
        wall = statistics.median(seconds[w])
        results = outcomes[w]
        rows[str(w)] = {
            "executor": "inline" if w == 1 and args.executor == "auto" else "pool",
            "seconds": round(wall, 2),
            "networks_per_min": round(60 * len(tasks) / wall, 3),
            "train_seconds": round(sum(res.metrics.get("seconds", 0.0) for res in results), 2),
            "failed": sum(not res.ok for res in results),
            "utilisation": utilisation(results, w),
            "errors": sorted({str(res.error)[:200] for res in results if not res.ok}),
            "rounds": [round(s, 2) for s in seconds[w]],
        }
    base = rows[str(worker_counts[0])]["networks_per_min"]
    vals = {w: [res.val for res in outcomes[w]] for w in worker_counts}
    summary = {
        "measure": "training_throughput",
        "device": args.device,
        "cuda_graphs": config.cuda_graphs,
        "networks": len(tasks),
        "epochs": args.epochs,
        "dataset": "mnist1d",
        "results": rows,
        "utilisation": {str(w): rows[str(w)]["utilisation"] for w in worker_counts},
        "speedup": {
            str(w): round(rows[str(w)]["networks_per_min"] / base, 3) for w in worker_counts
        },
        "same_results": all(vals[w] == vals[worker_counts[0]] for w in worker_counts),
        "params": [res.metrics.get("params") for res in outcomes[worker_counts[0]]],
        "executor": args.executor,
        "repeats": args.repeats,
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
