"""CLI verbs that run and inspect searches: ``search`` and ``trials``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from einnas.experiment import ALL_SPACES, SearchSpec, build_search
from einnas.strategies import STRATEGY_NAMES
from einnas.study.trial import Trial

DEFAULT_STORAGE = "runs.db"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="run (or resume) a search; rerunning the same command continues it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Run a neural architecture search and log every trial to an SQLite file.

The study is resumable: run the same command again after an interruption (Ctrl-C, a killed
job) and it continues where it stopped, making exactly the decisions the uninterrupted search
would have made. Raise --budget on a finished study to extend it.

Examples:
  einnas search --space nb201 --dataset cifar10 --strategy re --budget 150 --seed 0 \\
      --storage runs.db --study s1
  einnas search --space transnas-micro --dataset class_scene --strategy ls --budget 100
""",
    )
    p.add_argument(
        "--space", choices=ALL_SPACES, default="nb201", help="search space (default nb201)"
    )
    p.add_argument(
        "--dataset",
        "--task",
        dest="dataset",
        default=None,
        help="dataset (nb201: cifar10, cifar100, imagenet) or TransNAS task (class_scene, ...)",
    )
    p.add_argument(
        "--strategy",
        choices=STRATEGY_NAMES,
        default="re",
        help="rs, re (regularised evolution) or ls (default re)",
    )
    p.add_argument(
        "--budget", type=int, default=150, help="number of evaluated architectures (default 150)"
    )
    p.add_argument("--seed", type=int, default=0, help="one seed for every decision (default 0)")
    p.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help=f"SQLite file of the trial log (default {DEFAULT_STORAGE}); ':memory:' for none",
    )
    p.add_argument(
        "--study",
        default=None,
        help="study name (default: derived from space, dataset, strategy and seed)",
    )
    p.add_argument(
        "--population",
        type=int,
        default=None,
        help="RE population size (default 30 tabular / 100 einspace)",
    )
    p.add_argument("--tournament", type=int, default=None, help="RE tournament size (default 10)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="evaluations in flight (default 1); decisions depend on it",
    )
    p.add_argument(
        "--executor",
        choices=("inline", "pool", "ray"),
        default=None,
        help="where evaluations run: inline, a local process pool, or Ray (default: inline for 1 worker, else pool)",
    )
    p.add_argument(
        "--ray-address", default=None, help="address of a Ray cluster (default: start a local Ray)"
    )
    p.add_argument(
        "--benchmark-dir",
        default=None,
        help="folder of the tabular benchmarks (or set EINNAS_BENCHMARK_DIR)",
    )
    p.add_argument(
        "--simulate-time",
        action="store_true",
        help="record the benchmark's training time as each trial's duration",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)

    t = sub.add_parser("trials", help="print the trials of a study in order")
    t.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"SQLite file (default {DEFAULT_STORAGE})"
    )
    t.add_argument(
        "--study", required=True, help="study name (see `einnas trials --storage F --list`)"
    )
    t.add_argument(
        "--json",
        action="store_true",
        help='a JSON list of {"number","proposal","arch","hash","parent","state","val","test"}',
    )
    t.set_defaults(func=cmd_trials)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def cmd_search(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from einnas.executors import make_executor
    from einnas.study.runner import run_search
    from einnas.study.study import Study

    spec = SearchSpec(
        space=args.space,
        dataset=args.dataset,
        strategy=args.strategy,
        budget=args.budget,
        seed=args.seed,
        workers=args.workers,
        population=args.population,
        tournament=args.tournament,
        benchmark_dir=args.benchmark_dir,
        simulate_time=args.simulate_time,
    )
    space, evaluator, strategy = build_search(spec)
    name = args.study or spec.default_study_name()
    study = Study.create_or_load(args.storage, name, spec.config(evaluator, strategy))
    workers = int(study.config.get("workers", spec.workers))
    if workers != spec.workers:
        print(
            f"resuming {name!r} with its recorded --workers {workers} (its decisions depend on it)",
            file=sys.stderr,
        )
    done_before = sum(1 for t in study.trials() if t.is_finished and not t.interrupted)
    if done_before:
        print(
            f"resuming study {name!r}: {done_before} finished trials in {args.storage}",
            file=sys.stderr,
        )
    bar = tqdm(
        total=spec.budget,
        initial=min(done_before, spec.budget),
        desc=name,
        unit="trial",
        disable=args.no_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def on_trial(trial: Trial, best: Trial | None) -> None:
        bar.update(1)
        if best is not None:
            bar.set_postfix(best_val=_fmt(best.val), test=_fmt(best.test), refresh=False)

    kind = args.executor or ("inline" if workers == 1 else "pool")
    with make_executor(kind, evaluator, workers, args.ray_address) as executor:
        outcome = run_search(
            study.storage,
            name,
            space,
            strategy,
            executor,
            spec.budget,
            spec.seed,
            workers,
            on_trial,
        )
    bar.close()
    best = outcome.best
    if best is None:
        print(f"study {name}: no successful trial")
        return 1
    print(
        f"study {name}: {outcome.finished} trials ({outcome.evaluated_now} evaluated now) in {args.storage}"
    )
    print(f"best architecture (trial {best.number}): {best.arch}")
    print(f"validation accuracy: {_fmt(best.val)}  test accuracy: {_fmt(best.test)}")
    return 0


def trial_row(t: Trial) -> dict[str, Any]:
    return {
        "number": t.number,
        "proposal": t.proposal,
        "arch": t.arch,
        "hash": t.arch_hash,
        "parent": t.parent,
        "state": t.state.value,
        "val": t.val,
        "test": t.test,
    }


def cmd_trials(args: argparse.Namespace) -> int:
    from einnas.study.study import Study

    study = Study.load(args.storage, args.study)
    rows = [trial_row(t) for t in study.trials()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            f"{r['number']:>5} {r['state']:<9} val={_fmt(r['val']):>6} test={_fmt(r['test']):>6} "
            f"parent={'-' if r['parent'] is None else r['parent']:>5} {r['arch']}"
        )
    return 0
