"""CLI verb ``diagnose-doa``: the DoA predictor's error by edit distance (the paper's Fig. 3)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from einnas.cli.space_help import space_help
from einnas.diagnostics import PAIR_MODES, SAMPLING_MODES

DESCRIPTION = """\
How well does a predictor of accuracy *differences* (Delta-NAS's DoA predictor) do, by how many
edits the pair differs?  Draws N architectures (distinct up to isomorphism), fits the
DoA predictor on all ordered pairs of them within --radius edits (both orders) and an absolute
predictor of the same family on the same N architectures, then scores both on test pairs at
each edit distance: MAE of the predicted f(b) - f(a), and Spearman / Kendall rank correlation
with the true difference.  Mean ± std over --seeds.

Test pairs (--pairs): held-out (default; neither architecture is among the N) or anchored (a is
one of the N, b is not: the search's evaluated parent and unevaluated candidate).  The absolute
predictor predicts a difference as h(b) - h(a).

Neighbour ranking (the question a Delta-NAS decision asks; --parents per group, 0 to skip): for
training parents -- drawn uniformly ("random") and the best ones ("best") -- all single-edit
neighbours outside the training set, ranked by each predictor's predicted gain: Spearman's rho
per parent, and the regret of the predicted-best neighbour (true gain of the best neighbour minus
that of the chosen one), next to a uniformly random pick's.

Training set (--sampling):
  random     N uniform cells (default; the paper's Fig. 3).  Random cells are rarely close.
  walk       --starts uniform roots, then until N: mutate (one slot) a uniformly chosen cell of
             the set so far, keep the child if new -- a forest of single-edit walks, like the
             history of a search whose cells are mostly each other's neighbours.
  evolution  the cells regularised evolution visits with f as fitness: --starts random cells
             form the population; each step mutates the fittest of --tournament members drawn
             at random, a new child joins the set and the population, the oldest leaves.
walk and evolution default to --pairs anchored and need a complete table (not nb101-sample).

Spaces: nb201 (--dataset cifar10 | cifar100 | imagenet), nasbench-macro, transnas-micro
(--task class_scene | ...), nb101-sample (the 500-cell NAS-Bench-101 sample: its cells are >= 4
edits apart, so its defaults are --radius 8 --distances 4-12 --pairs anchored), and synthetic
(--dataset MxK[+MxK...], e.g. 8x3; additive slot effects plus --interaction times pairwise
ones; no data needed); any tabular space a plug-in registers works too.

Examples:
  einnas diagnose-doa --space nb201 --dataset cifar10
  einnas diagnose-doa --space nb201 --dataset cifar100 --predictor ridge --json > doa.json
  einnas diagnose-doa --space nasbench-macro --n-archs 100 --seeds 10 --plot doa.png
  einnas diagnose-doa --space transnas-micro --task class_scene --radius 1
  einnas diagnose-doa --space nb101-sample --predictor mlp
  einnas diagnose-doa --space synthetic --dataset 12x4 --interaction 0.5
  einnas diagnose-doa --space nb201 --dataset cifar10 --sampling walk --n-archs 50
  einnas diagnose-doa --space nasbench-macro --sampling evolution --starts 10 --tournament 5
"""


def add_parsers(sub: Any) -> None:
    d = sub.add_parser(
        "diagnose-doa",
        help="error of the DoA (pair-difference) vs an absolute predictor by edit distance",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
    )
    d.add_argument(
        "--space",
        default="nb201",
        help=space_help("a tabular or diagnostic space (default nb201)", ("tabular", "objective")),
    )
    d.add_argument(
        "--dataset",
        "--task",
        dest="dataset",
        default=None,
        help="dataset or TransNAS task; for synthetic the slot shape MxK (default 8x3)",
    )
    d.add_argument(
        "--n-archs", type=int, default=None, help="training architectures per seed (default 200)"
    )
    d.add_argument(
        "--radius",
        type=int,
        default=None,
        help="DoA training pairs up to this edit distance (default 2; nb101-sample 8)",
    )
    d.add_argument(
        "--predictor",
        default="mlp",
        help="model family: mlp (default), ridge or a registered predictor",
    )
    d.add_argument(
        "--encoding",
        default="default",
        help="default (one-hot + value counts where all slots share K, else one-hot), onehot, "
        "onehot+counts, path (nb201), onehot+path",
    )
    d.add_argument("--seeds", type=int, default=5, help="seeds to average over (default 5)")
    d.add_argument("--first-seed", type=int, default=0, help="seeds FIRST.. (default 0)")
    d.add_argument(
        "--held-out-pairs",
        type=int,
        default=200,
        help="test pairs per edit distance and seed (default 200)",
    )
    d.add_argument(
        "--distances",
        default=None,
        help="edit distances to test, e.g. 1-6 or 1,2,4 (default 1-6; nb101-sample 4-12)",
    )
    d.add_argument(
        "--pairs",
        choices=PAIR_MODES,
        default=None,
        help="test pairs: held-out (default) or anchored (default for nb101-sample and for "
        "walk / evolution training sets)",
    )
    d.add_argument(
        "--sampling",
        choices=SAMPLING_MODES,
        default="random",
        help="training set: random (default), walk or evolution (see above)",
    )
    d.add_argument(
        "--starts",
        type=int,
        default=None,
        help="walk: random roots; evolution: the initial random cells and the population size "
        "(default 10)",
    )
    d.add_argument(
        "--tournament",
        type=int,
        default=None,
        help="evolution: members drawn per step, the fittest is mutated (default 5)",
    )
    d.add_argument(
        "--parents",
        type=int,
        default=None,
        help="neighbour ranking: parents per group (default 20; 0: skip it)",
    )
    d.add_argument(
        "--interaction",
        type=float,
        default=0.0,
        help="synthetic only: scale of the pairwise part of the objective (default 0: additive)",
    )
    d.add_argument(
        "--benchmark-dir",
        default=None,
        help="folder of the tabular benchmarks (or set EINNAS_BENCHMARK_DIR)",
    )
    d.add_argument("--plot", default=None, metavar="PNG", help="write the figure to PNG")
    d.add_argument("--json", action="store_true", help="print the results as JSON")
    d.set_defaults(func=cmd_diagnose_doa)


def parse_distances(text: str) -> tuple[int, ...]:
    """``"1-6"`` -> (1, ..., 6); ``"1,2,4"``; ``"1-3,6"``."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise ValueError(
            f"--distances must be integers or ranges like 1-6 or 1,2,4, got {text!r}"
        ) from None
    if not out:
        raise ValueError(f"--distances is empty ({text!r})")
    return tuple(out)


def cmd_diagnose_doa(args: argparse.Namespace) -> int:
    from einnas.diagnostics import (
        default_config,
        diagnose_doa,
        format_diagnosis,
        load_objective_table,
    )

    table = load_objective_table(
        args.space, args.dataset, args.benchmark_dir, interaction=args.interaction
    )
    config = default_config(
        table,
        n_archs=args.n_archs,
        radius=args.radius,
        predictor=args.predictor,
        encoding=args.encoding,
        seeds=args.seeds,
        first_seed=args.first_seed,
        held_out_pairs=args.held_out_pairs,
        distances=parse_distances(args.distances) if args.distances else None,
        pairs=args.pairs,
        sampling=args.sampling,
        starts=args.starts,
        tournament=args.tournament,
        parents=args.parents,
    )
    too_far = [d for d in config.distances if d > table.space.num_slots]
    if too_far:
        raise ValueError(
            f"--distances {too_far} exceed the {table.space.num_slots} slots of {table.name}"
        )
    diagnosis = diagnose_doa(table, config)
    if args.plot:
        from einnas.viz.doa_plot import plot_doa_diagnostic

        plot_doa_diagnostic(diagnosis, args.plot)
    if args.json:
        out = diagnosis.to_json()
        if args.plot:
            out["plot"] = args.plot
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(format_diagnosis(diagnosis))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
