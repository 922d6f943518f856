"""CLI verbs that work on einspace trees: ``sample``, ``check`` and ``seeds``."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from einnas.grammar import (
    Budget,
    InvalidArchitecture,
    ParseError,
    SizeLimitError,
    SizeLimits,
    network_params,
    parse,
    parse_shape,
    pretty,
)
from einnas.grammar.limits import (
    DEFAULT_MAX_ACTIVATION_BYTES,
    DEFAULT_MAX_PARAMS,
    ENV_MAX_ACTIVATION_BYTES,
    ENV_MAX_PARAMS,
)
from einnas.spaces.einspace import SPACE_NAMES, EinSpace


def _shape(text: str) -> tuple[int, ...]:
    try:
        return parse_shape(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_budget_args(p: argparse.ArgumentParser) -> None:
    d = Budget()
    g = p.add_argument_group("budget (every emitted tree satisfies these exactly)")
    g.add_argument(
        "--max-params",
        type=int,
        default=d.max_params,
        help="backbone parameters (default %(default)s)",
    )
    g.add_argument(
        "--max-nodes",
        type=int,
        default=d.max_nodes,
        help="canonical tree nodes (default %(default)s)",
    )
    g.add_argument(
        "--max-compiled-nodes",
        type=int,
        default=d.max_compiled_nodes,
        help="nodes of the compiled network, shared b = 4/8 structures counted b times (default %(default)s)",
    )
    g.add_argument(
        "--max-macs",
        type=int,
        default=d.max_macs,
        help="multiply-accumulates per example (default %(default)s)",
    )
    g.add_argument(
        "--max-activation",
        type=int,
        default=d.max_activation,
        help="largest tensor per example, elements (default %(default)s)",
    )


def _budget(args: argparse.Namespace) -> Budget:
    return Budget(
        args.max_nodes, args.max_params, args.max_macs, args.max_activation, args.max_compiled_nodes
    )


def add_size_limit_args(p: argparse.ArgumentParser) -> None:
    """``--max-params`` and ``--max-activation-bytes``: the largest network that may be built."""
    g = p.add_argument_group(
        "size limits (checked from the tree's exact sizes before anything is allocated)"
    )
    g.add_argument(
        "--max-params",
        type=int,
        default=None,
        help=f"refuse a network (backbone + head) with more parameters (default "
        f"${ENV_MAX_PARAMS} or {DEFAULT_MAX_PARAMS:,})",
    )
    g.add_argument(
        "--max-activation-bytes",
        type=int,
        default=None,
        help=f"refuse a network whose largest tensor per example is larger, in bytes of float32 "
        f"(default ${ENV_MAX_ACTIVATION_BYTES} or {DEFAULT_MAX_ACTIVATION_BYTES:,} = 256 MiB)",
    )


def size_limits(args: argparse.Namespace) -> SizeLimits:
    """The limits of ``--max-params`` / ``--max-activation-bytes`` over the environment's."""
    return SizeLimits.from_env(args.max_params, args.max_activation_bytes)


SAMPLE_EXAMPLES = """\
Examples:
  einnas sample --space einspace --input-shape 3,28,28 --num-classes 10 -n 5 --seed 0
  einnas sample --space einspace1d --input-shape 1,40 -n 5 | einnas check --input-shape 1,40 -
  einnas sample --space einspace1d --input-shape 1,40 -n 3 --pretty --max-params 100000
"""

CHECK_EXAMPLES = """\
Examples:
  einnas sample --space einspace1d --input-shape 1,40 -n 5 | einnas check --input-shape 1,40 -
  einnas check --input-shape 3,28,28 --num-classes 10 trees.txt
  einnas seeds --show resnet18 > r18.txt && einnas check --input-shape 3,28,28 r18.txt
  einnas check --input-shape 1,40 --max-params 1000000 --max-activation-bytes 100000000 trees.txt
"""

SEEDS_EXAMPLES = """\
Examples:
  einnas seeds --input-shape 3,28,28 --num-classes 10     # ResNet-18, WRN-16-4, ViT, MLP-Mixer
  einnas seeds --input-shape 1,40 --json                   # the 1D seed (cnn1d)
  einnas seeds --show resnet18 --pretty
"""


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "sample",
        help="print random architectures from einspace, one canonical tree per line",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sample architectures from the einspace PCFG (valid by construction, within the\n"
        "budget). Only the trees go to stdout, one per line, so the output can be piped into\n"
        "`einnas check`.\n\n" + SAMPLE_EXAMPLES,
    )
    p.add_argument(
        "--space",
        choices=SPACE_NAMES,
        default="einspace",
        help="einspace (images C,H,W) or einspace1d (sequences C,L)",
    )
    p.add_argument(
        "--input-shape",
        type=_shape,
        default=None,
        help="input shape without batch, e.g. 3,28,28 or 1,40",
    )
    p.add_argument(
        "--num-classes", type=int, default=10, help="classes of the task (for the head; default 10)"
    )
    p.add_argument("-n", type=int, default=10, help="how many trees (default 10)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed gives the same trees (default 0)",
    )
    p.add_argument(
        "--computation-prob",
        type=float,
        default=0.32,
        help="p(M -> C), default 0.32 (sub-critical above ~0.3077)",
    )
    p.add_argument(
        "--pretty", action="store_true", help="indented multi-line trees separated by blank lines"
    )
    _add_budget_args(p)
    p.set_defaults(func=cmd_sample)

    c = sub.add_parser(
        "check",
        help="parse, compile and run trees; print 'ok <params> <shape>' or 'invalid <line>: <reason>'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Check architecture texts, one per line (blank lines and lines starting with # are skipped).
Each tree is parsed, type-checked, checked against the size limits (--max-params,
--max-activation-bytes: from its exact sizes, before anything is allocated), compiled to
PyTorch and run on a random batch of 2.  Every line gets one output line:
`ok <params> <output-shape>`, where params is the exact parameter count of the network
(backbone + classifier head) and output-shape the backbone's output with the batch, e.g.
2x512x2x2; or `invalid <line-no>: <reason>`, where a text that cannot be parsed reads
`invalid <line-no>: line <line-no> column <column>: <what was expected>`.
Exit status 1 if any line is invalid.

"""
        + CHECK_EXAMPLES,
    )
    c.add_argument("file", help="file with one tree per line, or - for stdin")
    c.add_argument(
        "--input-shape",
        type=_shape,
        required=True,
        help="input shape without batch, e.g. 3,28,28 or 1,40",
    )
    c.add_argument("--num-classes", type=int, default=10, help="classes for the head (default 10)")
    c.add_argument(
        "--seed", type=int, default=0, help="seed for weights and the random batch (default 0)"
    )
    add_size_limit_args(c)
    c.set_defaults(func=cmd_check)

    s = sub.add_parser(
        "seeds",
        help="list the baseline architectures written in the grammar (ResNet-18, WRN-16-4, ViT, MLP-Mixer)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The strong baselines expressed as einspace trees (mutable, usable with\n"
        "--seed-archs). Without --show: each seed's exact parameter count for the given input\n"
        "shape and classes.\n\n" + SEEDS_EXAMPLES,
    )
    s.add_argument(
        "--input-shape", type=_shape, default=(3, 28, 28), help="input shape (default 3,28,28)"
    )
    s.add_argument("--num-classes", type=int, default=10, help="classes (default 10)")
    s.add_argument("--json", action="store_true", help='print a JSON list of {"name", "params"}')
    s.add_argument("--show", metavar="NAME", help="print the tree text of one seed")
    s.add_argument("--pretty", action="store_true", help="with --show: indented multi-line tree")
    s.set_defaults(func=cmd_seeds)


def cmd_sample(args: argparse.Namespace) -> int:
    shape = args.input_shape or ((3, 28, 28) if args.space == "einspace" else (1, 40))
    space = EinSpace.named(
        args.space, shape, computation_prob=args.computation_prob, budget=_budget(args)
    )
    if args.n < 0:
        raise ValueError(f"-n must be >= 0, got {args.n}")
    rng = np.random.default_rng(args.seed)
    out = sys.stdout
    for _ in range(args.n):
        tree = space.sample(rng)
        out.write((pretty(tree) + "\n\n") if args.pretty else (space.to_text(tree) + "\n"))
    out.flush()
    return 0


def _lines(path: str) -> Iterator[tuple[int, str]]:
    if path != "-":
        if not Path(path).exists():
            raise FileNotFoundError(f"no such file: {path}")
        if not Path(path).is_file():
            raise ValueError(f"{path} is not a file")
    # undecodable bytes become U+FFFD, which the parser reports with its line and column
    if path == "-" and isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")
    stream: TextIO = (
        sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    )
    try:
        for no, line in enumerate(stream, start=1):
            text = line.strip()
            if text and not text.startswith("#"):
                yield no, text
    finally:
        if stream is not sys.stdin:
            stream.close()


def cmd_check(args: argparse.Namespace) -> int:
    import torch

    from einnas.grammar import analyze
    from einnas.nn.compile import compile_network

    limits = size_limits(args)
    torch.manual_seed(args.seed)
    bad = 0
    for no, text in _lines(args.file):
        try:
            tree = parse(text)
        except ParseError as e:  # the text is one line of the file: its line is ``no``
            print(f"invalid {no}: line {no + e.line - 1} column {e.column}: {e.reason}")
            bad += 1
            sys.stdout.flush()
            continue
        except Exception as e:  # never: the parser raises only ParseError; go on regardless
            print(f"invalid {no}: failed to parse: {type(e).__name__}: {e}")
            bad += 1
            sys.stdout.flush()
            continue
        try:
            analysis = analyze(tree, args.input_shape)
            limits.check(analysis, args.num_classes)
        except (InvalidArchitecture, SizeLimitError) as e:
            print(f"invalid {no}: {str(e).splitlines()[0]}")
            bad += 1
            sys.stdout.flush()
            continue
        except Exception as e:  # a failure of shape inference is a bug: report it, go on
            print(f"invalid {no}: failed to analyse: {type(e).__name__}: {e}")
            bad += 1
            sys.stdout.flush()
            continue
        try:
            net = compile_network(tree, args.input_shape, args.num_classes, limits=limits)
            net.eval()
            with torch.no_grad():
                x = torch.randn(2, *args.input_shape)
                feats = net.backbone(x)
                logits = net.head(feats)
        except (
            Exception
        ) as e:  # a compile/runtime failure of a type-checked tree is a bug: report it
            print(f"invalid {no}: failed to compile or run: {type(e).__name__}: {e}")
            bad += 1
            sys.stdout.flush()
            continue
        want = (2, *analysis.output.shape)
        params = sum(p.numel() for p in net.parameters())
        if tuple(feats.shape) != want or tuple(logits.shape) != (2, args.num_classes):
            print(f"invalid {no}: forward gave {tuple(feats.shape)}, the grammar inferred {want}")
            bad += 1
        elif params != network_params(analysis, args.num_classes):
            print(
                f"invalid {no}: {params} parameters, the grammar computed {network_params(analysis, args.num_classes)}"
            )
            bad += 1
        else:
            print(f"ok {params} {'x'.join(map(str, feats.shape))}")
        sys.stdout.flush()
    return 1 if bad else 0


def cmd_seeds(args: argparse.Namespace) -> int:
    from einnas.grammar import analyze
    from einnas.seeds import seed_tree, seeds_for

    if args.show:
        tree = seed_tree(args.show)
        print(pretty(tree) if args.pretty else EinSpace(args.input_shape).to_text(tree))
        return 0
    rows: list[dict[str, Any]] = []
    for name in seeds_for(args.input_shape):
        analysis = analyze(seed_tree(name), args.input_shape)
        rows.append({"name": name, "params": network_params(analysis, args.num_classes)})
    if args.json:
        print(json.dumps(rows))
    else:
        shape = ",".join(map(str, args.input_shape))
        print(f"seed architectures for input {shape}, {args.num_classes} classes:")
        for r in rows:
            print(f"  {r['name']:<10} {r['params']:>12,d} parameters  ({r['params'] / 1e6:.2f} M)")
    return 0
