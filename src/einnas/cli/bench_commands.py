"""CLI verbs that compare strategies and summarise studies: ``bench`` and ``report``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from einnas.cli import mo_commands
from einnas.cli.space_help import space_help, strategy_help
from einnas.strategies import STRATEGY_NAMES
from einnas.study.trial import Trial, TrialState

DEFAULT_STORAGE = "runs.db"


def add_parsers(sub: Any) -> None:
    b = sub.add_parser(
        "bench",
        help="compare strategies over many seeds and budgets on a tabular benchmark",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Run every strategy once per seed (one study per strategy and seed, named
bench-<space>-<dataset>-<strategy>-s<seed>) up to the largest budget, in parallel
worker processes, and report for each strategy and budget B the test accuracy of
the architecture each seed selects (best validation among its first B queries):
mean and standard deviation over seeds, the share of seeds that found the
validation-optimal architecture (up to isomorphism), and the strategy + storage
time per query (the table lookup excluded).

Simulated time (--simulate-time): every lookup takes the benchmark's training
time on one of --workers simulated workers (asynchronously: a worker gets a new
candidate the moment it is free), and the report adds, per strategy, the
simulated time at which the best-by-validation architecture's test accuracy
first reaches the reference's mean test accuracy at the largest budget.
Multi-fidelity strategies are written NAME+asha or NAME+hyperband (rungs: the
fidelities the table records, e.g. 12 and 200 epochs on nb201); they propose
--mf-factor times as many candidates as the largest budget.

Examples:
  einnas bench --space nb201 --dataset cifar10 --strategies rs,re,ls \\
      --budgets 50,100,150 --seeds 100 --json out.json --plot out.png
  einnas bench --space transnas-micro --dataset class_scene --seeds 20 --storage bench.db
  einnas bench --space nb201 --dataset cifar10 --simulate-time --workers 4 \\
      --strategies re,re+asha,delta-nas+asha --budgets 150 --seeds 100 --json sim.json
  einnas bench --space synthetic --slots 48 --choices 4 --interaction 0.5 \\
      --noise 0.1 --strategies re,ls,bananas,delta-nas --budgets 100 --seeds 20
  einnas bench --space nb201 --dataset cifar100 --strategies re,ls,delta-nas \\
      --compare delta-nas --seeds 50     # + mean paired difference to delta-nas, ± SE
""",
    )
    b.add_argument(
        "--space",
        default="nb201",
        help=space_help(
            "tabular search space (default nb201), or synthetic / synthetic:MxK (--slots, "
            "--choices, --interaction, --noise)",
            ("tabular",),
        ),
    )
    b.add_argument(
        "--slots", type=int, default=None, help="synthetic space: number of slots M (default 8)"
    )
    b.add_argument(
        "--choices", type=int, default=None, help="synthetic space: choices per slot K (default 4)"
    )
    b.add_argument(
        "--interaction",
        type=float,
        default=0.0,
        help="synthetic space: scale of the pairwise part relative to the additive (default 0)",
    )
    b.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="synthetic space: SD of the validation noise (fixed per architecture; test is "
        "noiseless; f itself has SD about sqrt(1 + interaction^2)) (default 0)",
    )
    b.add_argument(
        "--objective-seed",
        type=int,
        default=0,
        help="synthetic space: seed of the objective's random effects (default 0)",
    )
    b.add_argument(
        "--dataset",
        "--task",
        dest="dataset",
        default=None,
        help="dataset (nb201: cifar10, cifar100, imagenet) or TransNAS task (class_scene, ...)",
    )
    b.add_argument(
        "--strategies",
        default=",".join(STRATEGY_NAMES),
        help=strategy_help(f"comma-separated (default: the built-ins {', '.join(STRATEGY_NAMES)})"),
    )
    b.add_argument(
        "--budgets", default="50,100,150", help="comma-separated query budgets (default 50,100,150)"
    )
    b.add_argument(
        "--seeds", type=int, default=100, help="number of seeds per strategy (default 100)"
    )
    b.add_argument(
        "--first-seed", type=int, default=0, help="seeds are FIRST .. FIRST+SEEDS-1 (default 0)"
    )
    b.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="processes running studies in parallel (default 2; 1 = in this process)",
    )
    b.add_argument(
        "--workers",
        type=int,
        default=1,
        help="simulated workers per study, with --simulate-time (default 1)",
    )
    b.add_argument(
        "--simulate-time",
        action="store_true",
        help="each lookup takes the benchmark's training time on a simulated worker; report "
        "the simulated time to reach the reference's accuracy",
    )
    b.add_argument(
        "--eta",
        type=float,
        default=3.0,
        help="reduction factor of NAME+asha / NAME+hyperband: the top 1/eta are promoted "
        "(default 3)",
    )
    b.add_argument(
        "--mf-factor",
        type=int,
        default=4,
        help="multi-fidelity strategies propose this many times the largest budget (default 4)",
    )
    b.add_argument(
        "--reference",
        default=None,
        help="strategy whose mean test accuracy at the largest budget is the simulated-time "
        "target (default re, else the first)",
    )
    b.add_argument(
        "--compare",
        default=None,
        metavar="STRATEGY",
        help="print (and put in --json as 'paired' rows) each other strategy's mean paired "
        "difference to STRATEGY per budget (same seeds), with its standard error",
    )
    b.add_argument(
        "--storage",
        default=None,
        help="SQLite file receiving every study (default: in-memory storages, nothing kept)",
    )
    b.add_argument(
        "--sqlite-sync",
        choices=("normal", "full"),
        default="normal",
        help="SQLite synchronous mode of --storage: normal (default; no fsync per commit, "
        "survives a process crash) or full (fsync every trial start and finish)",
    )
    b.add_argument(
        "--benchmark-dir",
        default=None,
        help="folder of the tabular benchmarks (or set EINNAS_BENCHMARK_DIR)",
    )
    b.add_argument(
        "--json",
        dest="json_path",
        default=None,
        metavar="FILE",
        help="write the results table as JSON",
    )
    b.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="plot mean test accuracy vs queries (± standard error)",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    mo_commands.add_bench_arguments(b)
    b.set_defaults(func=cmd_bench)

    r = sub.add_parser(
        "report",
        help="summarise one study: counts, best trial, time; optionally a progress plot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Summarise one study of a trial log: trial counts by state, the best trial (accuracies rounded
to 2 decimals; --json keeps the exact values) and the time spent; optionally a plot of the
best-so-far validation accuracy against the trial number.

Examples:
  einnas report --storage runs.db --study s1
  einnas report --storage runs.db --study s1 --plot progress.png
  einnas report --storage runs.db --json      # the file's only study
""",
    )
    r.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help=f"trial log: SQLite file or .jsonl journal (default {DEFAULT_STORAGE})",
    )
    r.add_argument(
        "--study", default=None, help="study name (may be left out when the file holds one study)"
    )
    r.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="best-so-far validation (and its test) vs trial number",
    )
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    mo_commands.add_report_arguments(r)
    r.set_defaults(func=cmd_report)


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"--{what} is empty")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(x.strip().lower() for x in text.split(",") if x.strip())
    if not names:
        raise ValueError("--strategies is empty")
    return names


def cmd_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from einnas.bench import BenchConfig, RunRecord, format_paired, format_table, run_bench

    if getattr(args, "objectives", None):
        return mo_commands.cmd_mo_bench(args)
    space, dataset = args.space, args.dataset
    synthetic = space.strip().lower().partition(":")[0] == "synthetic"
    if synthetic and ":" not in space and dataset is None:
        dataset = f"{args.slots or 8}x{args.choices or 4}"
    elif not synthetic and (args.slots is not None or args.choices is not None):
        raise ValueError("--slots and --choices are for --space synthetic")
    elif synthetic and (args.slots is not None or args.choices is not None):
        raise ValueError("give the shape once: synthetic:MxK or --slots/--choices")
    config = BenchConfig(
        space=space,
        dataset=dataset,
        strategies=_name_list(args.strategies),
        budgets=_int_list(args.budgets, "budgets"),
        seeds=args.seeds,
        first_seed=args.first_seed,
        workers=args.jobs,
        storage=args.storage,
        benchmark_dir=args.benchmark_dir,
        sqlite_synchronous=args.sqlite_sync,
        simulate_time=args.simulate_time,
        sim_workers=args.workers,
        eta=args.eta,
        mf_factor=args.mf_factor,
        reference=args.reference,
        compare=args.compare,
        interaction=args.interaction,
        noise=args.noise,
        objective_seed=args.objective_seed,
    )
    total = len(config.strategies) * config.seeds
    bar = tqdm(total=total, desc="bench", unit="study", disable=args.no_progress, file=sys.stderr,
               dynamic_ncols=True)  # fmt: skip

    def on_run(run: RunRecord) -> None:
        bar.update(1)

    try:
        result = run_bench(config, on_run)
    finally:
        bar.close()
    rows = result.summary()
    seeds = f"{config.first_seed}..{config.first_seed + config.seeds - 1}"
    print(
        f"{config.space} / {result.dataset}: {len(config.strategies)} strategies x "
        f"{config.seeds} seeds ({seeds}), budgets {','.join(map(str, config.budgets))}; "
        f"{config.workers} process(es); storage: {result.storage_note}"
    )
    print(format_table(rows))
    if config.compare is not None:
        print(format_paired(result.paired()))
    if config.simulate_time:
        sim = result.sim_summary()
        target = sim["target"]
        print(
            f"simulated time ({config.sim_workers} worker(s)) to reach "
            f"{config.reference_strategy}'s mean test accuracy at "
            f"{config.target_budget or config.max_budget} evaluations"
            + (f" ({target:.2f})" if target is not None else "")
            + ":"
        )
        for strategy, row in sim["by_strategy"].items():
            se = row["sim_time_to_target_se"]
            print(
                f"  {strategy:<18} {row['sim_time_to_target'] / 3600:8.2f} h "
                f"± {0.0 if se is None else se / 3600:.2f}  "
                f"(unreached {row['sim_unreached']}/{config.seeds}; "
                f"ran {row['sim_total'] / 3600:.1f} h)"
            )
    if args.json_path:
        parent = os.path.dirname(args.json_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump(result.to_json(), fh, indent=2)
            fh.write("\n")
        print(f"results written to {args.json_path}")
    if args.plot:
        from einnas.viz.plots import plot_strategy_comparison

        title = f"{config.space} / {result.dataset}: {config.seeds} seeds"
        from einnas.registry import load_space

        if config.space == "synthetic":
            ylabel = "objective f (noiseless test value)"
        else:
            ylabel = load_space(config.space, config.dataset, config.benchmark_dir).report_label()
        plot_strategy_comparison(result.curves(), args.plot, title, ylabel=ylabel)
        print(f"plot written to {args.plot}")
    print(
        f"total wall time: {result.wall_seconds:.1f} s "
        f"(CPU time in the studies: {result.cpu_seconds:.1f} s over {config.workers} process(es))"
    )
    return 0


def _trial_json(t: Trial | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"number": t.number, "arch": t.arch, "val": t.val, "test": t.test}


def _summary(study: Any, storage: str) -> dict[str, Any]:
    trials: list[Trial] = study.trials()
    counts = {s.value: 0 for s in TrialState}
    interrupted = 0
    for t in trials:
        if t.interrupted:
            interrupted += 1
        else:
            counts[t.state.value] += 1
    reasons: dict[str, int] = {}
    for t in trials:
        if t.state is TrialState.FAILED and not t.interrupted:
            why = (
                (t.error or "unknown").strip().splitlines()[0]
                if (t.error or "").strip()
                else "unknown"
            )
            why = why if len(why) <= 160 else why[:157] + "..."
            reasons[why] = reasons.get(why, 0) + 1
    durations = [t.duration for t in trials if t.duration is not None]
    starts = [t.started_at for t in trials if t.started_at is not None]
    ends = [t.finished_at for t in trials if t.finished_at is not None]
    return {
        "study": study.name,
        "storage": storage,
        "budget": study.budget,
        "trials": len(trials),
        "finished": counts["complete"] + counts["failed"] + counts["pruned"],
        "complete": counts["complete"],
        "failed": counts["failed"],
        "pruned": counts["pruned"],
        "interrupted": interrupted,
        "running": counts["running"],
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "best": _trial_json(study.best_trial()),
        "evaluation_seconds": sum(durations) if durations else None,
        "wall_seconds": (max(ends) - min(starts)) if starts and ends else None,
        "config": study.config,
    }


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def cmd_report(args: argparse.Namespace) -> int:
    from einnas.cli.logs import load_study_for_reading

    study = load_study_for_reading(args.storage, args.study)
    name = study.name
    if getattr(args, "objectives", None) or getattr(args, "pick", None):
        return mo_commands.cmd_mo_report(args, study, name)
    summary = _summary(study, args.storage)
    if args.plot:
        from einnas.viz.plots import plot_study_progress

        cfg = study.config
        what = " / ".join(str(cfg[k]) for k in ("space", "dataset") if cfg.get(k))
        strategy = cfg.get("strategy")
        if isinstance(strategy, dict):
            strategy = strategy.get("name")
        title = f"study {name}" + (f" ({what}, {strategy})" if what else "")
        plot_study_progress(study.trials(), args.plot, title)
        summary["plot"] = args.plot
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    best = summary["best"]
    print(f"study {name} in {args.storage}")
    print(f"  budget:      {summary['budget']}")
    print(
        f"  trials:      {summary['trials']} = {summary['finished']} finished "
        f"({summary['complete']} complete, {summary['failed']} failed, {summary['pruned']} pruned)"
        f" + {summary['interrupted']} interrupted + {summary['running']} running"
    )
    for i, (why, n) in enumerate(summary["failure_reasons"].items()):
        print(f"  {'failures:' if i == 0 else '':<12} {n} x {why}")
    if best is None:
        print("  best:        no successful trial")
    else:
        print(f"  best:        trial {best['number']}: {best['arch']}")
        print(f"               validation {_fmt(best['val'])}  test {_fmt(best['test'])}")
    print(
        f"  time:        {_fmt(summary['wall_seconds'], 1)} s wall (first start to last finish), "
        f"{_fmt(summary['evaluation_seconds'], 1)} s of evaluation"
    )
    if args.plot:
        print(f"  plot:        {args.plot}")
    return 0
