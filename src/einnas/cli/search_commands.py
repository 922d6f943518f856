"""CLI verbs that run and inspect searches: ``search`` and ``trials``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from einnas.experiment import ALL_SPACES, SearchSpec, build_search
from einnas.strategies import STRATEGY_NAMES
from einnas.study.trial import Trial

DEFAULT_STORAGE = "runs.db"


DEFAULT_JOB = {
    "space": "einspace1d",
    "dataset": "mnist1d",
    "strategy": "re",
    "budget": 30,
    "population": 20,
    "tournament": 5,
    "workers": 2,
    "seed_archs": "cnn1d",
}


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="run (or resume) a search; rerunning the same command continues it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Run a neural architecture search and log every trial to an SQLite file.

With no --space, runs the default job: regularised evolution over einspace (1D) on MNIST-1D
seeded with a small CNN written in the grammar (--seed-archs cnn1d), training every candidate
for --epochs epochs on 2 workers (budget 30, population 20, tournament 5); then it trains the
best architecture from scratch on train+val for --final-epochs epochs and reports its test
accuracy.

The study is resumable: run the same command again after an interruption (Ctrl-C, a killed
job) and it continues where it stopped, making exactly the decisions the uninterrupted search
would have made. Raise --budget on a finished study to extend it.

Examples:
  einnas search                                   # the default job (minutes on 2 CPU cores)
  einnas search --space nb201 --dataset cifar10 --strategy re --budget 150 --seed 0 \\
      --storage runs.db --study s1
  einnas search --space transnas-micro --dataset class_scene --strategy ls --budget 100
  einnas search --space einspace --dataset path/to/unseen_nas_folder --seed-archs resnet18 --workers 2
""",
    )
    p.add_argument(
        "--space",
        choices=ALL_SPACES,
        default=None,
        help="search space (default: the default job's einspace1d)",
    )
    p.add_argument(
        "--dataset",
        "--task",
        dest="dataset",
        default=None,
        help="nb201: cifar10, cifar100, imagenet; TransNAS: class_scene, ...; einspace: mnist1d, "
        "fashion-mnist or a folder of {train,valid,test}_{x,y}.npy",
    )
    p.add_argument(
        "--strategy", choices=STRATEGY_NAMES, default=None, help="search strategy (default re)"
    )
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="number of evaluated architectures (default 150; 30 for the default job)",
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
        "--seed-archs",
        default="",
        help="comma-separated seed architectures for RE: einspace seed names "
        "(resnet18,wrn16_4,vit,mlp_mixer) or architecture texts",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="evaluations in flight (default 1; 2 for the default job); decisions depend on it",
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
    g = p.add_argument_group("training (einspace searches)")
    g.add_argument(
        "--epochs", type=int, default=8, help="training epochs per candidate (default 8)"
    )
    g.add_argument(
        "--final-epochs",
        type=int,
        default=64,
        help="epochs of the final training on train+val (default 64; 0 skips it)",
    )
    g.add_argument(
        "--max-trial-seconds",
        type=float,
        default=120.0,
        help="a candidate still training after this fails (default 120)",
    )
    g.add_argument(
        "--max-params",
        type=int,
        default=None,
        help="parameter budget of sampled networks (default 1M for 1D, 5M for 2D)",
    )
    g.add_argument(
        "--max-macs",
        type=int,
        default=None,
        help="multiply-accumulates per example (default 10M for 1D, 200M for 2D)",
    )
    g.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="training device (default cpu)",
    )
    g.add_argument(
        "--out", default=None, help="run directory for the final model (default runs/<study>)"
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


def _spec(args: argparse.Namespace) -> SearchSpec:
    preset: dict[str, Any] = dict(DEFAULT_JOB) if args.space is None else {"space": args.space}
    given = {
        "dataset": args.dataset,
        "strategy": args.strategy,
        "budget": args.budget,
        "population": args.population,
        "tournament": args.tournament,
        "workers": args.workers,
        "seed_archs": args.seed_archs or None,
    }
    preset.update({k: v for k, v in given.items() if v is not None})
    return SearchSpec(
        space=preset["space"],
        dataset=preset.get("dataset"),
        strategy=preset.get("strategy", "re"),
        budget=preset.get("budget", 150),
        seed=args.seed,
        workers=preset.get("workers", 1),
        population=preset.get("population"),
        tournament=preset.get("tournament"),
        seed_archs=[s.strip() for s in preset.get("seed_archs", "").split(",") if s.strip()],
        benchmark_dir=args.benchmark_dir,
        simulate_time=args.simulate_time,
        epochs=args.epochs,
        max_params=args.max_params,
        max_macs=args.max_macs,
        max_trial_seconds=args.max_trial_seconds,
        device=args.device,
    )


def cmd_search(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from einnas.executors import make_executor
    from einnas.study.runner import run_search
    from einnas.study.study import Study

    spec = _spec(args)
    if not spec.tabular:
        print(f"preparing {spec.space} search on {spec.dataset} ...", file=sys.stderr)
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
        if not spec.tabular and best is not None and best.number == trial.number:
            bar.write(f"new best: trial {trial.number}, val {_fmt(trial.val)}: {trial.arch}")

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
    if not spec.tabular and args.final_epochs > 0:
        from einnas.final_training import final_train

        assert spec.dataset is not None
        out = args.out or str(Path("runs") / name)
        print(f"final training: {args.final_epochs} epochs on train+val ...", file=sys.stderr)
        final = final_train(
            study.storage,
            name,
            best.arch,
            spec.dataset,
            args.final_epochs,
            spec.seed,
            out,
            spec.device,
        )
        if final.error is not None:
            print(f"final training failed: {final.error}")
            return 1
        again = " (recorded earlier)" if final.reused else ""
        print(
            f"final test accuracy ({args.final_epochs} epochs, train+val): {_fmt(final.test_acc)}{again}"
        )
        from einnas.run_outputs import write_run_outputs

        outputs = write_run_outputs(
            study.storage, name, final, spec.dataset, storage_path=args.storage
        )
        print("\n".join(outputs.summary_lines()) + f"\ntrial log (SQLite): {args.storage}")
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
