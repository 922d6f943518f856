"""CLI verbs that run and inspect searches: ``search`` and ``trials``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from einnas.cli.space_help import space_help, strategy_help
from einnas.experiment import SearchSpec, build_search
from einnas.study.trial import Trial

DEFAULT_STORAGE = "runs.db"


# The default job (``einnas search`` with no --space): Delta-NAS-guided evolution on einspace1d /
# MNIST-1D from the cnn1d seed, sized to finish in about a minute on 2 idle CPU cores.  cnn1d costs
# ~1M multiply-accumulates per example; einspace1d's default cap of 10M let candidates train up
# to 10x slower than the seed (the former RE default job took ~16 min on a loaded machine), so
# the job caps candidates at 3M (3x the seed) and trains the winner for 32 final epochs instead
# of the protocol's 64.  Cost is not only MACs: a mutation can nest b = 4/8 branchings into
# thousands of tiny compiled ops (one such 1.6M-MAC network took 70 s per epoch), so a candidate
# still training after 60 s fails (the seed trains its 8 epochs in ~12 s on a loaded machine).
# --max-macs, --max-trial-seconds and --final-epochs change each.
DEFAULT_JOB: dict[str, Any] = {
    "space": "einspace1d",
    "dataset": "mnist1d",
    "strategy": "delta-nas",
    "budget": 30,
    "workers": 2,
    "seed_archs": "cnn1d",
    "max_macs": 3_000_000,
    "max_trial_seconds": 60.0,
    "final_epochs": 32,
}
FINAL_EPOCHS = 64  # the einspace protocol's final training (every job but the default one)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="run (or resume) a search; rerunning the same command continues it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Run a neural architecture search and log every trial to an SQLite file.

With no --space, runs the default job: Delta-NAS-guided evolution over einspace (1D) on
MNIST-1D, started from a small CNN written in the grammar (--seed-archs cnn1d). The first 4
candidates are the seed and small mutations of it; each later one is the mutation of one of the 3
best networks so far that a ridge predictor of accuracy *differences* (trained on pairs of
similar evaluated networks) scores highest. Every candidate (at most 3M multiply-accumulates,
--max-macs) trains for --epochs epochs on 2 workers, budget 30, and fails if still training
after 60 s (--max-trial-seconds); then the best architecture is trained from scratch on
train+val for 32 epochs (--final-epochs) and its test accuracy reported. About a minute on 2
idle CPU cores (66 s measured; several times longer on a loaded machine). The progress bar shows the best validation accuracy so far; each new best is
printed with its architecture.

The study is resumable: run the same command again after an interruption (Ctrl-C, a killed
job) and it continues where it stopped, making exactly the decisions the uninterrupted search
would have made. Raise --budget on a finished study to extend it.

Examples:
  einnas search                                   # the default job (about a minute on 2 idle cores)
  einnas search --strategy re --population 20 --tournament 5   # the same job, plain evolution
  einnas search --space einspace1d --strategy delta-nas --seed-archs cnn1d --budget 60 --workers 2
  einnas search --space nb201 --dataset cifar10 --strategy re --budget 150 --seed 0 \\
      --storage runs.db --study s1
  einnas search --space transnas-micro --dataset class_scene --strategy ls --budget 100
  einnas search --space einspace --dataset path/to/unseen_nas_folder --seed-archs resnet18 \\
      --max-params 12000000 --workers 2     # a seed must fit --max-params (ResNet-18: 11.2M)
""",
    )
    p.add_argument(
        "--space",
        default=None,
        help=space_help(
            "search space (default: the default job's einspace1d), a tabular benchmark or an "
            "einspace; plug-ins add theirs",
            ("tabular", "training"),
        ),
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
        "--strategy",
        default=None,
        help=strategy_help("search strategy (default re; delta-nas for the default job)"),
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
        help=(
            f"trial log: a SQLite file, or a .jsonl journal for shared file systems"
            f" (default {DEFAULT_STORAGE}); ':memory:' for none"
        ),
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
        help="comma-separated seed architectures for re, delta-nas and bananas: einspace seed "
        "names (resnet18,wrn16_4,vit,mlp_mixer; cnn1d for 1D) or architecture texts "
        "(default cnn1d for the default job)",
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
    f = p.add_argument_group("multi-fidelity (stop hopeless candidates early)")
    f.add_argument(
        "--fidelity",
        choices=("full", "asha", "hyperband"),
        default=None,
        help="full: every candidate trains all --epochs (default); asha: asynchronous "
        "successive halving, candidates train --min-epochs first and only the best 1/--eta of "
        "each rung go on (continuing from a checkpoint); hyperband: ASHA brackets that start at "
        "different rungs. Tabular spaces use the fidelities the table records (nb201: 12, 200)",
    )
    f.add_argument(
        "--min-epochs",
        type=int,
        default=None,
        help="epochs of the first rung (default: --epochs / --eta rounded up, i.e. two rungs, "
        "3 and 8 epochs for the defaults; on MNIST-1D a 1-epoch rung ranks candidates no better "
        "than chance, see docs/compute.md)",
    )
    f.add_argument(
        "--eta", type=float, default=3.0, help="reduction factor: the top 1/eta go on (default 3)"
    )
    g = p.add_argument_group("training (einspace searches)")
    g.add_argument(
        "--epochs", type=int, default=8, help="training epochs per candidate (default 8)"
    )
    g.add_argument(
        "--final-epochs",
        type=int,
        default=None,
        help=f"epochs of the final training on train+val (default {FINAL_EPOCHS}; "
        f"{DEFAULT_JOB['final_epochs']} for the default job; 0 skips it)",
    )
    g.add_argument(
        "--max-trial-seconds",
        type=float,
        default=None,
        help="a candidate still training after this fails (default 120; 60 for the default job)",
    )
    g.add_argument(
        "--max-params",
        type=int,
        default=None,
        help="parameter budget of sampled networks (backbone; default 1M for 1D, 5M for 2D); "
        "a --seed-archs architecture over it is refused before anything trains",
    )
    g.add_argument(
        "--max-macs",
        type=int,
        default=None,
        help="multiply-accumulates per example (default 10M for 1D, 200M for 2D; "
        "3M for the default job)",
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

    t = sub.add_parser(
        "trials",
        help="print the trials of a study in order",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Print every trial of a study in order: number, state, validation and test accuracy (rounded
to 2 decimals; --json keeps the exact values), parent and architecture; under a failed trial,
why it failed ("interrupted": the search was stopped while it ran; it is re-run on resume).

Examples:
  einnas trials --storage runs.db --study s1
  einnas trials --storage runs.db --study s1 --json > s1_trials.json
  einnas report --storage runs.db          # names the studies when the file holds several
""",
    )
    t.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help=f"trial log: SQLite file or .jsonl journal (default {DEFAULT_STORAGE})",
    )
    t.add_argument(
        "--study",
        required=True,
        help="study name (`einnas report --storage F` names the studies in F)",
    )
    t.add_argument(
        "--json",
        action="store_true",
        help='a JSON list of {"number","proposal","arch","hash","parent","state","val","test",'
        '"error"} (error: why a failed trial failed, else null)',
    )
    t.add_argument(
        "--csv",
        action="store_true",
        help="CSV with a header: number, state, val, test, arch, parent, proposal, duration, "
        "error, times, then one metrics.<name> column per scalar metric",
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
        "max_macs": args.max_macs,
        "max_trial_seconds": args.max_trial_seconds,
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
        max_macs=preset.get("max_macs"),
        max_trial_seconds=preset.get("max_trial_seconds", 120.0),
        device=args.device,
    )


def _final_epochs(args: argparse.Namespace) -> int:
    if args.final_epochs is not None:
        return int(args.final_epochs)
    return int(DEFAULT_JOB["final_epochs"]) if args.space is None else FINAL_EPOCHS


def _fidelity(args: argparse.Namespace, spec: SearchSpec, evaluator: Any) -> Any:
    """The multi-fidelity policy of ``--fidelity`` (None for full fidelity)."""
    from einnas.fidelity import make_fidelity

    name = args.fidelity or "full"
    if name == "full":
        return None
    if spec.tabular:
        rungs = tuple(evaluator.rungs())
        if len(rungs) < 2:
            raise ValueError(
                f"{spec.space} records results at one fidelity only: --fidelity {name} needs a "
                "table with several (e.g. nb201: 12 and 200 epochs)"
            )
        return make_fidelity(name, min_step=rungs[0], max_step=rungs[-1], eta=args.eta, rungs=rungs)
    min_epochs = args.min_epochs
    if min_epochs is None:
        min_epochs = max(1, math.ceil(spec.epochs / args.eta)) if args.eta > 1 else 1
    if not 1 <= min_epochs <= spec.epochs:
        raise ValueError(
            f"--min-epochs must be between 1 and --epochs ({spec.epochs}), got {min_epochs}"
        )
    return make_fidelity(name, min_step=min_epochs, max_step=spec.epochs, eta=args.eta)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the search stops and records its running trials."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def cmd_search(args: argparse.Namespace) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return _cmd_search(args)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _cmd_search(args)


def _cmd_search(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from einnas.api import study_for_spec
    from einnas.executors import make_executor

    spec = _spec(args)
    final_epochs = _final_epochs(args)
    if not spec.tabular:
        print(f"preparing {spec.space} search on {spec.dataset} ...", file=sys.stderr)
    space, evaluator, strategy = build_search(spec)
    fidelity = _fidelity(args, spec, evaluator)
    name = args.study or spec.default_study_name()
    study = study_for_spec(
        spec, (space, evaluator, strategy), storage=args.storage, study_name=name,
        fidelity=fidelity,
    )  # fmt: skip
    workers = study.workers
    if workers != spec.workers:
        print(
            f"resuming {name!r} with its recorded --workers {workers}",
            file=sys.stderr,
        )
    done_before = sum(1 for t in study.trials if t.is_finished and not t.interrupted)
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
        # the postfix first, so that the update's refresh shows the best including this trial
        if best is not None:
            bar.set_postfix(
                best_val=_fmt(best.val), test=_fmt(best.test), last=_fmt(trial.val), refresh=False
            )
        bar.update(1)
        if not spec.tabular and best is not None and best.number == trial.number:
            bar.write(f"new best: trial {trial.number}, val {_fmt(trial.val)}: {trial.arch}")

    kind = args.executor or ("inline" if workers == 1 else "pool")
    with make_executor(kind, evaluator, workers, args.ray_address) as executor:
        outcome = study.search(spec.budget, executor=executor, on_trial=on_trial)
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
    if not spec.tabular and final_epochs > 0:
        from einnas.final_training import final_train

        assert spec.dataset is not None
        out = args.out or str(Path("runs") / name)
        print(f"final training: {final_epochs} epochs on train+val ...", file=sys.stderr)
        final = final_train(
            study.storage,
            name,
            best.arch,
            spec.dataset,
            final_epochs,
            spec.seed,
            out,
            spec.device,
            progress=not args.no_progress,
        )
        if final.error is not None:
            print(f"final training failed: {final.error}")
            return 1
        if final.reused:
            print(
                f"final training: reusing the result recorded earlier in {args.storage} and "
                f"{final.out_dir}/model.pt (same architecture, epochs and seed; delete the run "
                "directory to train again)",
                file=sys.stderr,
            )
        again = " (recorded earlier)" if final.reused else ""
        print(
            f"final test accuracy ({final_epochs} epochs, train+val): {_fmt(final.test_acc)}{again}"
        )
        from einnas.run_outputs import write_run_outputs

        outputs = write_run_outputs(
            study.storage, name, final, spec.dataset, storage_path=args.storage
        )
        print("\n".join(outputs.summary_lines()) + f"\ntrial log (SQLite): {args.storage}")
    return 0


TRIAL_ROW_KEYS = (
    "number", "proposal", "arch", "hash", "parent", "state", "val", "test", "error",
)  # fmt: skip


def trial_row(t: Trial) -> dict[str, Any]:
    """The ``trials --json`` row: the first columns of the run directory's ``trials.json``."""
    from einnas.run_outputs import trial_record

    record = trial_record(t)
    return {key: record[key] for key in TRIAL_ROW_KEYS}


def cmd_trials(args: argparse.Namespace) -> int:
    from einnas.cli.logs import load_study_for_reading

    study = load_study_for_reading(args.storage, args.study)
    if getattr(args, "csv", False):
        import csv

        from einnas.run_outputs import trial_table_rows

        table = trial_table_rows(study.trials())
        fields = list(table[0]) if table else ["number", "state", "val", "test", "arch"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        return 0
    rows = [trial_row(t) for t in study.trials()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            f"{r['number']:>5} {r['state']:<9} val={_fmt(r['val']):>6} test={_fmt(r['test']):>6} "
            f"parent={'-' if r['parent'] is None else r['parent']:>5} {r['arch']}"
        )
        if r["error"]:
            print(f"{'':>5} error: {r['error']}")
    return 0
