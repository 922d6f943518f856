"""Gain of Delta-NAS over RE / LS / BANANAS as the number of slots grows (synthetic spaces).

For each ``m`` in ``--slots`` (default 6, 12, 24, 48, 96) this runs ``einnas bench`` (the
library's :func:`einnas.bench.run_bench`) on the synthetic slot space ``m x --choices`` (additive
+ pairwise objective with ``--interaction``, validation noise ``--noise``, test noiseless; see
:mod:`einnas.spaces.synthetic`) with the strategies re, ls, bananas and delta-nas (defaults) for
``--seeds`` seeds, and records, per ``m`` and budget, the **paired** difference
``delta-nas - other`` of the selected architecture's test value ``f`` (same seeds, so the same
first random architectures), its mean and standard error.  The objective has standard deviation
about ``sqrt(1 + interaction^2)`` whatever ``m``, so gains are comparable across ``m``.

Writes ``--out`` (JSON: settings, the per-seed selected test values, and the table) and
``--plot`` (gain vs m, ± 1 SE).  ``--merge A.json B.json ...`` recomputes table and plot from
earlier outputs with disjoint seeds (to add seeds in several runs).

Usage::

    python benchmarks/fig5.py --seeds 10 --jobs 2 --out docs/figures/fig5.json \
        --plot docs/figures/fig5.png
    python benchmarks/fig5.py --seeds 10 --first-seed 10 --out /tmp/fig5b.json
    python benchmarks/fig5.py --merge docs/figures/fig5.json /tmp/fig5b.json \
        --out docs/figures/fig5.json --plot docs/figures/fig5.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from einnas.bench import BenchConfig, best_so_far, run_bench

STRATEGIES = ("re", "ls", "bananas", "delta-nas")
OTHERS = ("re", "ls", "bananas")


def run(args: argparse.Namespace) -> dict[str, Any]:
    budgets = tuple(int(b) for b in args.budgets.split(","))
    per_seed: dict[str, dict[str, dict[str, list[float]]]] = {}
    timing: dict[str, float] = {}
    for m in (int(x) for x in args.slots.split(",")):
        t0 = time.perf_counter()
        cfg = BenchConfig(
            space=f"synthetic:{m}x{args.choices}",
            strategies=STRATEGIES,
            budgets=budgets,
            seeds=args.seeds,
            first_seed=args.first_seed,
            workers=args.jobs,
            interaction=args.interaction,
            noise=args.noise,
            objective_seed=args.objective_seed,
        )
        result = run_bench(cfg)
        rows: dict[str, dict[str, list[float]]] = {}
        for r in result.runs:
            curve = best_so_far(r, max(budgets))[0]
            rows.setdefault(r.strategy, {})[str(r.seed)] = [float(curve[b - 1]) for b in budgets]
        per_seed[str(m)] = rows
        timing[str(m)] = round(time.perf_counter() - t0, 1)
        print(f"m={m}: {timing[str(m)]} s", file=sys.stderr, flush=True)
    return {
        "choices": args.choices,
        "interaction": args.interaction,
        "noise": args.noise,
        "objective_seed": args.objective_seed,
        "budgets": list(budgets),
        "seeds": sorted({int(s) for m in per_seed.values() for s in m["delta-nas"]}),
        "per_seed": per_seed,
        "wall_seconds": timing,
    }


def table(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired gain of delta-nas over each other strategy, per m and budget."""
    out = []
    for m, rows in sorted(data["per_seed"].items(), key=lambda kv: int(kv[0])):
        ref = rows["delta-nas"]
        for i, b in enumerate(data["budgets"]):
            for other in OTHERS:
                seeds = sorted(set(ref) & set(rows.get(other, {})), key=int)
                d = np.array([ref[s][i] - rows[other][s][i] for s in seeds])
                d = d[np.isfinite(d)]
                se = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else None
                out.append(
                    {
                        "slots": int(m),
                        "budget": b,
                        "versus": other,
                        "gain": round(float(np.mean(d)), 4) if d.size else None,
                        "se": None if se is None else round(se, 4),
                        "seeds": int(d.size),
                        "mean_delta_nas": round(float(np.mean([ref[s][i] for s in seeds])), 4),
                        "mean_other": round(float(np.mean([rows[other][s][i] for s in seeds])), 4),
                    }
                )
    return out


def merge(paths: list[str]) -> dict[str, Any]:
    datas = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    base = datas[0]
    for d in datas[1:]:
        for key in ("choices", "interaction", "noise", "objective_seed", "budgets"):
            if d[key] != base[key]:
                raise SystemExit(f"cannot merge: {key} differs ({d[key]} vs {base[key]})")
        for m, rows in d["per_seed"].items():
            for strat, seeds in rows.items():
                target = base["per_seed"].setdefault(m, {}).setdefault(strat, {})
                if set(target) & set(seeds):
                    raise SystemExit(f"cannot merge: seeds overlap for m={m} {strat}")
                target.update(seeds)
    base["seeds"] = sorted({int(s) for m in base["per_seed"].values() for s in m["delta-nas"]})
    base.pop("wall_seconds", None)
    return base


def plot(data: dict[str, Any], rows: list[dict[str, Any]], path: str, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, other in enumerate(OTHERS):
        sel = [r for r in rows if r["versus"] == other and r["budget"] == budget]
        ms = np.array([r["slots"] for r in sel], dtype=float) * (1 + 0.03 * (k - 1))
        ax.errorbar(ms, [r["gain"] for r in sel], yerr=[r["se"] or 0 for r in sel],
                    marker="o", capsize=3, label=f"vs {other}")  # fmt: skip
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ms = sorted({r["slots"] for r in rows})
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.set_xlabel("slots m")
    ax.set_ylabel(f"paired gain of delta-nas in f at {budget} queries")
    ax.set_title(
        f"synthetic {data['choices']}-choice slots, interaction {data['interaction']:g}, "
        f"noise {data['noise']:g}: {len(data['seeds'])} seeds"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slots", default="6,12,24,48,96")
    p.add_argument("--choices", type=int, default=4)
    p.add_argument("--interaction", type=float, default=0.5)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--objective-seed", type=int, default=0)
    p.add_argument("--budgets", default="25,50,100")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON")
    p.add_argument("--out", required=True)
    p.add_argument("--plot", default=None)
    args = p.parse_args()
    data = merge(args.merge) if args.merge else run(args)
    rows = table(data)
    data["table"] = rows
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    budget = max(data["budgets"]) if 100 not in data["budgets"] else 100
    print(f"{'m':>4} {'versus':>8} {'budget':>7} {'gain':>8} {'se':>7} {'seeds':>6}")
    for r in rows:
        print(f"{r['slots']:>4} {r['versus']:>8} {r['budget']:>7} {r['gain']:>+8.3f} "
              f"{r['se'] or 0:>7.3f} {r['seeds']:>6}")  # fmt: skip
    if args.plot:
        plot(data, rows, args.plot, budget)


if __name__ == "__main__":
    main()
