"""Compute to reach a target on a real task: full-fidelity RE against multi-fidelity strategies.

Runs, for each seed, einspace searches on a real task (MNIST-1D by default, or an AddNIST-style
folder with ``--task addnist --data DIR``), all asynchronous on ``--workers`` worker processes:

* ``re`` -- regularised evolution, every candidate trained for ``--epochs`` (the reference);
* ``re+asha``, ``rs+asha``, ``delta-nas+asha`` -- the same strategies with asynchronous
  successive halving (rungs ``--min-epochs``, x ``--eta``, ..., ``--epochs``), promoted candidates
  continuing from their checkpoints.

Every search starts from the default job's seed network and limits (``--seed-archs cnn1d``,
3M multiply-accumulates, 60 s per job) and is logged to one SQLite file (``--storage``), so an
interrupted benchmark resumes where it stopped.

Cost is CPU time: every job records the CPU seconds of the process that ran it, and a run's cost
at a moment is the sum over the jobs finished by then (summed over workers).  The target is the
reference's final best validation accuracy, averaged over seeds; for each strategy and seed the
benchmark finds the CPU seconds at which the best *fully trained* candidate first reached it (a
seed that never does counts with all it spent, and is reported as unreached).  The last line of
stdout is one JSON object::

    {"target": ..., "strategies": {NAME: {"cpu_to_target": mean, "cpu_to_target_se": se,
     "unreached": k, "final_best": mean, "cpu_total": mean}}, "ratio_best": ...,
     "best_multi_fidelity": NAME, "seeds": [...], ...}

``ratio_best`` is the best multi-fidelity strategy's mean CPU seconds divided by the reference's.

Usage::

    python benchmarks/compute_efficiency.py --task mnist1d --seeds 10
    python benchmarks/compute_efficiency.py --task addnist --data data/addnist --seeds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from einnas.api import study_for_spec
from einnas.executors import make_executor
from einnas.experiment import SearchSpec, build_search
from einnas.fidelity import make_fidelity
from einnas.study.trial import Trial, TrialState

REFERENCE = "re"


def _split(label: str) -> tuple[str, str]:
    name, _, fidelity = label.partition("+")
    return name, fidelity or "full"


def _events(trials: list[Trial], max_epochs: int) -> list[tuple[float, float, float | None]]:
    """``(time, cpu seconds of the job, val if it completed a full training)`` per finished job."""
    events: list[tuple[float, float, float | None]] = []
    for t in trials:
        if t.reports:  # multi-fidelity: one event per rung job
            for r in t.reports:
                m = r.metrics or {}
                if "at" not in m:
                    continue
                full = r.step >= max_epochs and t.state is TrialState.COMPLETE
                cpu = float(m.get("cpu_seconds") or m.get("seconds") or 0.0)  # type: ignore[arg-type]
                events.append((float(m["at"]), cpu, t.val if full else None))  # type: ignore[arg-type]
            if t.state is TrialState.FAILED and t.finished_at is not None:
                cpu = float(t.metrics.get("cpu_seconds") or t.duration or 0.0)  # type: ignore[arg-type]
                events.append((t.finished_at, cpu, None))
        elif t.is_finished and not t.interrupted and t.finished_at is not None:
            cpu = float(t.metrics.get("cpu_seconds") or t.duration or 0.0)  # type: ignore[arg-type]
            val = t.val if t.state is TrialState.COMPLETE else None
            events.append((t.finished_at, cpu, val))
    return sorted(events, key=lambda e: e[0])


def _to_target(
    events: list[tuple[float, float, float | None]], target: float
) -> tuple[float, bool]:
    spent = 0.0
    best = -math.inf
    for _, cpu, val in events:
        spent += cpu
        if val is not None:
            best = max(best, val)
            if best >= target - 1e-9:
                return spent, True
    return spent, False


def _final_best(events: list[tuple[float, float, float | None]]) -> float:
    vals = [v for _, _, v in events if v is not None]
    return max(vals) if vals else math.nan


def _se(xs: list[float]) -> float | None:
    return float(np.std(xs, ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    dataset = "mnist1d" if args.task == "mnist1d" else args.data
    if dataset is None:
        raise SystemExit(
            "--task addnist needs --data DIR (make it with: einnas make-dataset addnist)"
        )
    space = "einspace1d" if args.task == "mnist1d" else "einspace"
    seed_archs = ["cnn1d"] if args.task == "mnist1d" else []
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if REFERENCE not in strategies:
        strategies.insert(0, REFERENCE)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    trials: dict[tuple[str, int], list[Trial]] = {}
    t0 = time.perf_counter()
    for seed in seeds:
        for label in strategies:
            name, fid_name = _split(label)
            spec = SearchSpec(
                space=space,
                dataset=dataset,
                strategy=name,
                budget=args.budget if fid_name == "full" else args.budget * args.mf_factor,
                seed=seed,
                workers=args.workers,
                seed_archs=list(seed_archs),
                epochs=args.epochs,
                max_macs=args.max_macs,
                max_trial_seconds=args.max_trial_seconds,
            )
            space_obj, evaluator, strategy = build_search(spec)
            fidelity = make_fidelity(
                fid_name, min_step=args.min_epochs, max_step=args.epochs, eta=args.eta
            )
            study = study_for_spec(
                spec,
                (space_obj, evaluator, strategy),
                storage=args.storage,
                study_name=f"ce-{args.task}-{label}-s{seed}",
                fidelity=fidelity,
            )
            with make_executor("pool", evaluator, args.workers, None) as executor:
                study.search(spec.budget, executor=executor)
            trials[(label, seed)] = study.trials
            print(
                f"[{time.perf_counter() - t0:7.0f} s] {label} seed {seed}: "
                f"best {_final_best(_events(study.trials, args.epochs)):.2f}",
                file=sys.stderr,
                flush=True,
            )
    finals = [_final_best(_events(trials[(REFERENCE, s)], args.epochs)) for s in seeds]
    target = float(np.nanmean(finals))
    out: dict[str, Any] = {}
    for label in strategies:
        costs: list[float] = []
        unreached = 0
        bests: list[float] = []
        totals: list[float] = []
        for seed in seeds:
            ev = _events(trials[(label, seed)], args.epochs)
            cost, ok = _to_target(ev, target)
            costs.append(cost)
            unreached += 0 if ok else 1
            bests.append(_final_best(ev))
            totals.append(sum(e[1] for e in ev))
        out[label] = {
            "cpu_to_target": round(float(np.mean(costs)), 1),
            "cpu_to_target_se": None if (se := _se(costs)) is None else round(se, 1),
            "unreached": unreached,
            "final_best": round(float(np.nanmean(bests)), 2),
            "cpu_total": round(float(np.mean(totals)), 1),
        }
    mf = [s for s in strategies if _split(s)[1] != "full"]
    best_mf = min(mf, key=lambda s: out[s]["cpu_to_target"]) if mf else None
    ratio = (
        None
        if best_mf is None
        else round(out[best_mf]["cpu_to_target"] / out[REFERENCE]["cpu_to_target"], 3)
    )
    return {
        "task": args.task,
        "target": round(target, 3),
        "strategies": out,
        "best_multi_fidelity": best_mf,
        "ratio_best": ratio,
        "seeds": seeds,
        "workers": args.workers,
        "budget": args.budget,
        "mf_factor": args.mf_factor,
        "epochs": args.epochs,
        "min_epochs": args.min_epochs,
        "eta": args.eta,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", choices=("mnist1d", "addnist"), default="mnist1d")
    p.add_argument("--data", default=None, help="AddNIST-style folder (--task addnist)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--strategies", default="re,re+asha,rs+asha,delta-nas+asha")
    p.add_argument("--budget", type=int, default=30, help="candidates of full-fidelity runs")
    p.add_argument(
        "--mf-factor",
        type=int,
        default=2,
        help="multi-fidelity runs propose this many times --budget",
    )
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--min-epochs", type=int, default=3)
    p.add_argument("--eta", type=float, default=3.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-macs", type=int, default=3_000_000)
    p.add_argument("--max-trial-seconds", type=float, default=60.0)
    p.add_argument("--storage", default="compute_efficiency.db")
    args = p.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
