"""CLI verbs for one architecture: ``train`` (final training of any tree) and ``export`` (a
study's best network as ONNX or a PyTorch file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from einnas.cli.grammar_commands import add_size_limit_args, size_limits
from einnas.cli.search_commands import DEFAULT_STORAGE

if TYPE_CHECKING:
    from einnas.data.datasets import Dataset
    from einnas.grammar import Module


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train one architecture from scratch on train+val and report its test accuracy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Final training of any einspace architecture: train from scratch on train + validation with the
einspace protocol (SGD, cosine schedule, batch 256) and report the test accuracy after the last
epoch.  With --with-val, a search-phase run (train split only, same epochs and seed) also
reports the validation accuracy.

Examples:
  einnas train --arch best.txt --dataset mnist1d --epochs 64 --seed 0
  einnas train --arch "sequential[computation[conv1d(3,64)], computation[leakyrelu]]" \\
      --dataset mnist1d --epochs 4 --json
  einnas train --arch big.txt --dataset path/to/folder --max-params 200000000
""",
    )
    p.add_argument(
        "--arch",
        required=True,
        help="architecture text, or a file whose first non-empty, non-# line is one",
    )
    p.add_argument(
        "--dataset",
        default="mnist1d",
        help="mnist1d, fashion-mnist or a folder of {train,valid,test}_{x,y}.npy (default mnist1d)",
    )
    p.add_argument("--epochs", type=int, default=64, help="training epochs (default 64)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="training device (default cpu)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's, one per core). A seed's result is exactly "
        "reproducible for the same thread count on the same kind of CPU; other thread counts "
        "sum in another order and may end a few tenths of a point apart",
    )
    p.add_argument(
        "--with-val",
        action="store_true",
        help="also run a search-phase training (train split) and report its validation accuracy",
    )
    p.add_argument(
        "--out",
        default=None,
        help="folder for arch.txt, model.pt (state_dict) and result.json (default: none written)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON line {"test_acc", "val_acc", "params", "seconds"}',
    )
    add_size_limit_args(p)
    p.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "export",
        help="export a study's best network as ONNX or a PyTorch file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Export the network of a study: the final-training model in the run directory (runs/<study>/
model.pt, with its best.txt) when it exists, else the best trial's architecture untrained.
ONNX files are checked with onnxruntime against PyTorch (max |logit difference| <= 1e-4).

Examples:
  einnas export --storage runs.db --study s1 --format onnx -o s1.onnx
  einnas export --storage runs.db --study s1 --format torch --weights runs/s1/model.pt
""",
    )
    e.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help=f"trial log: SQLite file or .jsonl journal (default {DEFAULT_STORAGE})",
    )
    e.add_argument("--study", required=True, help="study name")
    e.add_argument("--format", choices=("onnx", "torch"), default="onnx", help="(default onnx)")
    e.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file (default <run dir>/export.onnx or <run dir>/export.pt)",
    )
    e.add_argument(
        "--weights",
        default=None,
        help="state_dict file to load (default <run dir>/model.pt when it exists)",
    )
    e.add_argument(
        "--run-dir",
        default=None,
        help="run directory of the study's final training (default runs/<study>)",
    )
    e.add_argument(
        "--pick",
        default=None,
        help="export a trade-off instead of the best trial: 'knee' (of the Pareto front of "
        "--objectives) or e.g. 'max val under macs<=3e6' (untrained unless --weights)",
    )
    e.add_argument(
        "--objectives",
        default=None,
        help="objectives of --pick knee (default val:max,params:min)",
    )
    e.set_defaults(func=cmd_export)


# ----------------------------------------------------------------------------------------------
# train


def looks_like_path(arch: str) -> bool:
    """Whether ``--arch`` names a file rather than holding a text: every architecture text has
    a ``[`` (each module is written ``name[...]``), a file name (almost) never does."""
    return bool(arch.strip()) and "[" not in arch


def read_arch(arch: str) -> str:
    """The architecture text of ``--arch``: a file's first non-empty, non-# line, or ``arch``.

    A value without ``[`` cannot be an architecture text, so it is read as a file name and a
    missing file raises ``FileNotFoundError("no such file: PATH")``.
    """
    path = Path(arch)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # e.g. a very long architecture text, a NUL character
        is_file = False
    if not is_file:
        if looks_like_path(arch):
            if path.is_dir():
                raise ValueError(f"--arch {arch}: is a directory, not an architecture file")
            raise FileNotFoundError(f"no such file: {arch}")
        return arch.strip()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise ValueError(f"{arch}: no architecture line (all lines empty or comments)")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def cmd_train(args: argparse.Namespace) -> int:
    from einnas.data.datasets import canonical_dataset_name
    from einnas.evaluators.training import cached_dataset
    from einnas.grammar import analyze, parse, to_text

    tree = parse(read_arch(args.arch))
    arch = to_text(tree)
    limits = size_limits(args)
    data = cached_dataset(canonical_dataset_name(args.dataset), None)
    limits.check(analyze(tree, data.input_shape), data.num_classes)  # before anything trains
    with limits.in_env():  # the compiler inside the training refuses above the same limits
        return _train(args, tree, arch, data)


def _train(args: argparse.Namespace, tree: Module, arch: str, data: Dataset) -> int:
    import torch

    from einnas.evaluators.training import TrainingConfig, train_and_evaluate

    config = TrainingConfig(epochs=args.epochs, device=args.device, num_threads=args.threads)
    val_acc: float | None = None
    extra_seconds = 0.0
    if args.with_val:
        if not args.json:
            print(f"search-phase training: {args.epochs} epochs on train ...", file=sys.stderr)
        search = train_and_evaluate(tree, data, config, args.seed, final=False)
        if search.error is not None:
            print(f"search-phase training failed: {search.error}", file=sys.stderr)
            return 1
        val_acc, extra_seconds = search.val, search.seconds
    if not args.json:
        print(f"final training: {args.epochs} epochs on train+val ...", file=sys.stderr)
    result = train_and_evaluate(tree, data, config, args.seed, final=True)
    if result.error is not None:
        print(f"training failed: {result.error}", file=sys.stderr)
        return 1
    row = {
        "test_acc": result.test,
        "val_acc": val_acc,
        "params": result.params,
        "seconds": result.seconds + extra_seconds,
    }
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "arch.txt").write_text(arch + "\n", encoding="utf-8")
        if result.model is not None:
            torch.save(result.model.state_dict(), out / "model.pt")
        record = {
            "arch": arch,
            "dataset": args.dataset,
            "epochs": args.epochs,
            "seed": args.seed,
            **row,
        }
        (out / "result.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(row))
        return 0
    print(f"architecture: {arch}")
    print(f"dataset: {args.dataset}  epochs: {args.epochs}  seed: {args.seed}")
    print(f"parameters: {result.params:,}")
    print(f"test accuracy (train+val): {_fmt(result.test)}")
    if args.with_val:
        print(f"validation accuracy (train only): {_fmt(val_acc)}")
    print(f"time: {row['seconds']:.1f} s")
    if args.out is not None:
        print(f"written to {args.out}/ (arch.txt, model.pt, result.json)")
    return 0


# ----------------------------------------------------------------------------------------------
# export


def _study_dataset(config: dict[str, Any]) -> str:
    evaluator = config.get("evaluator")
    if not isinstance(evaluator, dict) or evaluator.get("kind") != "training":
        raise ValueError("only einspace studies (trained networks) can be exported")
    dataset = evaluator.get("dataset") or config.get("dataset")
    if not dataset:
        raise ValueError("the study's config records no data set")
    return str(dataset)


def _final_arch(events: list[Any]) -> str | None:
    for event in reversed(events):
        if event.kind == "final" and event.payload.get("arch"):
            return str(event.payload["arch"])
    return None


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from einnas.cli.logs import load_study_for_reading
    from einnas.evaluators.training import cached_dataset
    from einnas.export import export_onnx, export_torch
    from einnas.grammar import parse
    from einnas.nn.compile import compile_network

    study = load_study_for_reading(args.storage, args.study)
    dataset = _study_dataset(study.config)
    run_dir = Path(args.run_dir) if args.run_dir is not None else Path("runs") / args.study
    weights: Path | None = Path(args.weights) if args.weights is not None else None
    if weights is not None and not weights.is_file():
        raise FileNotFoundError(f"no such file: {weights} (--weights)")
    if weights is None and (run_dir / "model.pt").is_file():
        weights = run_dir / "model.pt"

    arch: str | None = None
    source = ""
    if getattr(args, "pick", None):
        from einnas.cli.mo_commands import pick_trial
        from einnas.objectives import parse_objectives

        objectives = parse_objectives(args.objectives or "val:max,params:min")
        picked = pick_trial(study.trials(), objectives, args.pick)
        if picked is None:
            raise ValueError(f"no trial of study {args.study!r} satisfies --pick {args.pick!r}")
        arch, source = picked.arch, f"trial {picked.number} (--pick {args.pick!r})"
        if args.weights is None:
            weights = None  # the run directory's weights are the best trial's, not this one's
    elif weights is not None:
        best_txt = (weights.parent if args.weights else run_dir) / "best.txt"
        if best_txt.is_file():
            arch, source = read_arch(str(best_txt)), str(best_txt)
        else:
            arch = _final_arch(study.events())
            source = "the study's final training"
    if arch is None:
        best = study.best_trial()
        if best is None:
            raise ValueError(f"study {args.study!r} has no successful trial")
        arch, source = best.arch, f"best trial {best.number}"

    print(f"loading {dataset} (for the input shape and classes) ...", file=sys.stderr)
    data = cached_dataset(dataset, None)
    net = compile_network(parse(arch), data.input_shape, data.num_classes)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        print(f"architecture from {source}; weights from {weights}")
    else:
        print(
            f"architecture from {source}; no trained weights found "
            f"({run_dir / 'model.pt'} is missing): exporting an UNTRAINED network"
        )
    net.eval()
    print(f"exporting ({args.format}) ...", file=sys.stderr)
    if args.format == "onnx":
        output = Path(args.output) if args.output else run_dir / "export.onnx"
        diff = export_onnx(net, output)
        print(f"wrote {output} (ONNX opset 17; max |logit difference| vs PyTorch: {diff:.3g})")
    else:
        output = Path(args.output) if args.output else run_dir / "export.pt"
        export_torch(net, output)
        print(f"wrote {output} (arch, input_shape, num_classes, state_dict)")
    return 0
