"""Multi-objective additions to ``bench`` and ``report``: ``--objectives`` (and ``--pick``).

``einnas bench --objectives val:max,latency:min`` compares multi-objective strategies by
hypervolume against queries (:mod:`einnas.mo_bench`); ``einnas report --objectives
val:max,params:min`` prints a study's Pareto front (``--plot``: the first objective against the
second, dominated trials grey) and ``--pick knee`` / ``--pick "max val under params<=0.5"``
selects one trade-off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from einnas.objectives import Objective, objective_values, parse_objectives, to_minimisation
from einnas.pareto import (
    best_under_constraints,
    knee_point,
    non_dominated_sort,
    parse_pick,
)
from einnas.study.trial import Trial, TrialState

__all__ = [
    "add_bench_arguments",
    "add_report_arguments",
    "cmd_mo_bench",
    "cmd_mo_report",
    "pareto_rows",
    "pick_trial",
]


def add_bench_arguments(b: Any) -> None:
    b.add_argument(
        "--objectives",
        default=None,
        help="multi-objective benchmark, e.g. val:max,latency:min (nb201 cifar10: latency, "
        "flops, params; nasbench-macro: params, flops): report the normalised hypervolume "
        "(± standard error over seeds) of each strategy's trials next to the true front's, "
        "computed exactly from the table; --strategies defaults to mo-rs,mo-re,mo-delta-nas",
    )


def add_report_arguments(r: Any) -> None:
    r.add_argument(
        "--objectives",
        default=None,
        help="show the Pareto front of these objectives, e.g. val:max,params:min (with --plot: "
        "the first against the second, dominated trials grey)",
    )
    r.add_argument(
        "--pick",
        default=None,
        help="with --objectives: select a trade-off: 'knee' or e.g. 'max val under "
        "params<=0.5' (constraints on recorded metrics, joined by ',' or 'and')",
    )


# --------------------------------------------------------------------------- bench


def cmd_mo_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from einnas.mo_bench import MOBenchConfig, MORun, format_mo_table, run_mo_bench
    from einnas.strategies import MO_STRATEGY_NAMES, STRATEGY_NAMES

    unsupported = [
        flag
        for flag, on in (
            ("--storage", args.storage is not None),
            ("--simulate-time", args.simulate_time),
            ("--workers", args.workers != 1),
            ("--reference", args.reference is not None),
        )
        if on
    ]
    if unsupported:
        raise ValueError(
            f"{', '.join(unsupported)} not supported with --objectives (multi-objective studies "
            "run on in-memory logs, one evaluation at a time)"
        )
    strategies = tuple(s.strip().lower() for s in args.strategies.split(",") if s.strip())
    if args.strategies == ",".join(STRATEGY_NAMES):  # the single-objective default
        strategies = MO_STRATEGY_NAMES
    budgets = tuple(int(x) for x in args.budgets.split(",") if x.strip())
    config = MOBenchConfig(
        space=args.space,
        dataset=args.dataset,
        objectives=args.objectives,
        strategies=strategies,
        budgets=budgets,
        seeds=args.seeds,
        first_seed=args.first_seed,
        workers=args.jobs,
        benchmark_dir=args.benchmark_dir,
    )
    bar = tqdm(total=len(strategies) * config.seeds, desc="bench", unit="study",
               disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)  # fmt: skip

    def on_run(run: MORun) -> None:
        bar.update(1)

    try:
        result = run_mo_bench(config, on_run)
    finally:
        bar.close()
    objs = ", ".join(str(o) for o in result.truth.objectives)
    last = config.first_seed + config.seeds - 1
    print(
        f"{config.space} / {result.dataset}: objectives {objs}; {len(strategies)} strategies x "
        f"{config.seeds} seeds ({config.first_seed}..{last}); normalised hypervolume "
        "(objectives scaled to [0,1] over the table, reference point 1) mean ± SE (ratio to "
        "the true front)"
    )
    print(format_mo_table(result))
    if args.json_path:
        parent = os.path.dirname(args.json_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump(result.to_json(), fh, indent=2)
            fh.write("\n")
    if args.plot:
        _plot_hv(result, args.plot)
        print(f"plot: {args.plot}")
    return 0


def _plot_hv(result: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    budget = max(result.config.budgets)
    qs = np.arange(1, budget + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    step = max(1, budget // 30)
    for strategy in result.config.strategies:
        group = [r for r in result.runs if r.strategy == strategy]
        curves = np.asarray([[result.hv(r, int(q)) for q in qs[::step]] for r in group])
        mean = curves.mean(axis=0)
        se = curves.std(axis=0, ddof=1) / np.sqrt(len(group)) if len(group) > 1 else 0 * mean
        ax.plot(qs[::step], mean, label=strategy)
        ax.fill_between(qs[::step], mean - se, mean + se, alpha=0.2)
    ax.axhline(result.truth.hypervolume, color="k", ls="--", lw=1, label="true front")
    ax.set_xlabel("queries")
    ax.set_ylabel("normalised hypervolume")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- report


def pareto_rows(
    trials: list[Trial], objectives: tuple[Objective, ...]
) -> tuple[list[Trial], list[tuple[float, ...]], list[int]]:
    """Complete trials with every objective, their values, and each one's front rank (0 = front)."""
    kept: list[Trial] = []
    values: list[tuple[float, ...]] = []
    for t in trials:
        if t.state is not TrialState.COMPLETE or t.interrupted:
            continue
        v = objective_values(objectives, t.val, t.metrics)
        if v is not None:
            kept.append(t)
            values.append(v)
    rank = [0] * len(kept)
    if kept:
        for r, front in enumerate(non_dominated_sort(to_minimisation(values, objectives))):
            for i in front:
                rank[i] = r
    return kept, values, rank


def pick_trial(trials: list[Trial], objectives: tuple[Objective, ...], pick: str) -> Trial | None:
    """The trial a ``--pick`` selects (``knee`` or ``max val under params<=0.5``)."""
    how, target, constraints = parse_pick(pick)
    kept, values, _ = pareto_rows(trials, objectives)
    if not kept:
        return None
    if how == "knee":
        return kept[knee_point(to_minimisation(values, objectives))]
    rows: list[dict[str, float | None]] = []
    names = {target, *(c[0] for c in constraints)}
    for t in trials:
        if t.state is not TrialState.COMPLETE or t.interrupted:
            rows.append({})
            continue
        row: dict[str, float | None] = {}
        for n in names:
            row[n] = Objective(n).value(t.val, t.metrics)
        rows.append(row)
    i = best_under_constraints(rows, how, target, constraints)
    return None if i is None else trials[i]


def cmd_mo_report(args: argparse.Namespace, study: Any, name: str) -> int:
    objectives = parse_objectives(args.objectives or "val:max,params:min")
    trials: list[Trial] = study.trials()
    kept, values, rank = pareto_rows(trials, objectives)
    front = sorted(
        (i for i in range(len(kept)) if rank[i] == 0),
        key=lambda i: to_minimisation([values[i]], objectives)[0, 0],
    )
    picked = pick_trial(trials, objectives, args.pick) if args.pick else None
    out: dict[str, Any] = {
        "study": name,
        "storage": args.storage,
        "objectives": [str(o) for o in objectives],
        "trials_with_values": len(kept),
        "front": [
            {
                "number": kept[i].number,
                "arch": kept[i].arch,
                **{o.name: v for o, v in zip(objectives, values[i])},
                "test": kept[i].test,
            }
            for i in front
        ],
    }
    if args.pick:
        out["pick"] = args.pick
        out["picked"] = (
            None
            if picked is None
            else {
                "number": picked.number,
                "arch": picked.arch,
                "val": picked.val,
                "test": picked.test,
                "metrics": dict(picked.metrics),
            }
        )
    if args.plot:
        _plot_front(objectives, values, rank, args.plot, f"study {name}")
        out["plot"] = args.plot
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"study {name} in {args.storage}: {len(kept)} trials with "
        f"{', '.join(str(o) for o in objectives)}; Pareto front of {len(front)}"
    )
    header = f"  {'trial':>6}  " + "  ".join(f"{o.name:>12}" for o in objectives) + "  arch"
    print(header)
    for i in front:
        cells = "  ".join(f"{v:>12.6g}" for v in values[i])
        print(f"  {kept[i].number:>6}  {cells}  {kept[i].arch}")
    if args.pick:
        if picked is None:
            print(f"  pick {args.pick!r}: no trial qualifies")
        else:
            print(f"  pick {args.pick!r}: trial {picked.number}: {picked.arch}")
    if args.plot:
        print(f"  plot: {args.plot}")
    return 0


def _plot_front(
    objectives: tuple[Objective, ...],
    values: list[tuple[float, ...]],
    rank: list[int],
    path: str,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if len(objectives) < 2:
        raise ValueError("--plot with --objectives needs two objectives")
    # accuracy on the y axis when it is an objective, the other objective on x
    yi = next((i for i, o in enumerate(objectives) if o.name == "val"), 0)
    xi = next(i for i in range(len(objectives)) if i != yi)
    v = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    on = np.asarray(rank) == 0
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(v[~on, xi], v[~on, yi], c="0.75", s=12, label="dominated")
    f = v[on][np.argsort(v[on, xi])]
    ax.plot(f[:, xi], f[:, yi], "o-", c="C3", ms=4, drawstyle="steps-post", label="Pareto front")
    ax.set_xlabel(f"{objectives[xi].name} ({objectives[xi].direction})")
    ax.set_ylabel(f"{objectives[yi].name} ({objectives[yi].direction})")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
