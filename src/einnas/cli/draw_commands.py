"""CLI verb ``draw``: a picture of an architecture (operation graph or derivation tree)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from einnas.cli.grammar_commands import _shape
from einnas.cli.train_commands import looks_like_path, read_arch

DEFAULT_INPUT_SHAPE = (1, 40)  # the default job's MNIST-1D sequences
SEED_IMAGE_SHAPE = (3, 28, 28)  # an image seed named without --input-shape (as `einnas seeds`)

DESCRIPTION = """\
Draw an architecture as a graph of its operations, top to bottom: every computation, the split
and the merge of every branching module (branches side by side), the routing operations
(im2col, col2im, permute), and on every edge the exact shape of the tensor it carries, without
the batch dimension (64x40, 64x14x14, or (S=49, D=64) for token features).  Identity
operations are left out, so a residual shortcut is a plain edge beside the block; a b = 4/8
branching whose branches share one structure is drawn once in a dashed frame marked "x b".

With --tree, draw the derivation tree instead (modules and terminals, root on the left); it
needs no input shape.

The picture's format follows the -o extension: .png, .svg or .pdf (matplotlib only).
--format dot prints Graphviz DOT text instead (or writes it to -o), for `dot -Tsvg`.

--arch takes a file (its first non-empty, non-# line), an architecture text, or a seed name
(resnet18, wrn16_4, vit, mlp_mixer, cnn1d).  Without --input-shape the graph is drawn for the
default job's input 1,40 (3,28,28 for the image seeds named resnet18, wrn16_4, vit, mlp_mixer);
a tree that does not type-check on it needs --input-shape.

Examples:
  einnas draw --arch cnn1d -o cnn1d.png
  einnas draw --arch resnet18 -o resnet18.png --title "ResNet-18"     # input 3,28,28
  einnas draw --arch runs/einspace1d-mnist1d-re-seed0/best.txt -o best.svg
  einnas draw --arch "sequential[computation[conv1d(3,64)], computation[leakyrelu]]" -o a.pdf
  einnas draw --arch vit --input-shape 3,32,32 -o vit32.png --expand-shared
  einnas draw --arch resnet18 --tree -o resnet18-tree.png
  einnas draw --arch resnet18 --format dot | dot -Tsvg > resnet18.svg
"""


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "draw",
        help="draw an architecture: its graph of operations with shapes, or its derivation tree",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
    )
    p.add_argument(
        "--arch",
        required=True,
        help="architecture file, architecture text, or seed name (resnet18, cnn1d, ...)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="picture to write: .png, .svg or .pdf (or .dot); needed unless --format dot",
    )
    p.add_argument(
        "--input-shape",
        type=_shape,
        default=None,
        help="input shape without batch, C,L or C,H,W, e.g. 3,28,28 "
        "(default 1,40; 3,28,28 for the image seeds)",
    )
    p.add_argument("--tree", action="store_true", help="draw the derivation tree instead")
    p.add_argument(
        "--title", default=None, help="title (default: the seed name, file name or 'architecture')"
    )
    p.add_argument(
        "--format",
        choices=("picture", "dot"),
        default="picture",
        help="picture (by the -o extension; default) or dot (Graphviz text, to stdout without -o)",
    )
    p.add_argument(
        "--expand-shared",
        action="store_true",
        help="draw the b copies of a shared b = 4/8 structure side by side instead of once",
    )
    p.add_argument(
        "--keep-identity",
        action="store_true",
        help="also draw identity operations (left out by default)",
    )
    p.set_defaults(func=cmd_draw)


def _is_seed(arch: str) -> bool:
    from einnas.seeds import SEED_NAMES, SEED_NAMES_1D

    return arch in SEED_NAMES + SEED_NAMES_1D and not Path(arch).exists()


def _arch_text(arch: str) -> tuple[str, str]:
    """The architecture text of ``--arch`` (file, seed name or text) and a default title."""
    from einnas.seeds import SEED_NAMES, SEED_NAMES_1D, seed_text

    if _is_seed(arch):
        return seed_text(arch), arch
    if looks_like_path(arch) and not Path(arch).exists():
        raise FileNotFoundError(
            f"no such file: {arch} (nor a seed name: {', '.join(SEED_NAMES + SEED_NAMES_1D)})"
        )
    text = read_arch(arch)
    try:
        is_file = Path(arch).is_file()
    except OSError:  # a very long architecture text
        is_file = False
    return text, Path(arch).name if is_file else "architecture"


def _default_shape(arch: str) -> tuple[int, ...]:
    from einnas.seeds import SEED_NAMES

    return SEED_IMAGE_SHAPE if _is_seed(arch) and arch in SEED_NAMES else DEFAULT_INPUT_SHAPE


def cmd_draw(args: argparse.Namespace) -> int:
    from einnas.grammar import InvalidArchitecture, parse
    from einnas.viz.drawing import (
        DRAWING_FORMATS,
        draw_graph,
        draw_tree,
        graph_dot,
        operation_graph,
        tree_dot,
    )

    out: str | None = args.output
    ext = os.path.splitext(out)[1].lower().lstrip(".") if out else ""
    dot = args.format == "dot" or ext == "dot"
    if out is None and not dot:
        raise ValueError("give the picture to write with -o (e.g. -o arch.png), or --format dot")
    if out is not None and not dot and ext not in DRAWING_FORMATS:
        raise ValueError(
            f"-o {out}: cannot write a picture of format {ext or '(none)'!r}; end the file name "
            f"with {', '.join('.' + f for f in (*DRAWING_FORMATS, 'dot'))}"
        )
    text, default_title = _arch_text(args.arch)
    tree = parse(text)
    title = default_title if args.title is None else args.title

    if args.tree:
        if dot:
            return _emit_dot(tree_dot(tree, title), out)
        print(f"wrote {draw_tree(tree, out or '', title)}")
        return 0

    shape = args.input_shape or _default_shape(args.arch)
    try:
        graph = operation_graph(
            tree, shape, expand_shared=args.expand_shared, keep_identity=args.keep_identity
        )
    except InvalidArchitecture as e:
        where = ",".join(map(str, shape))
        if args.input_shape is None:
            raise ValueError(
                f"the architecture does not type-check on the default input shape {where} "
                f"({e}); pass --input-shape, e.g. --input-shape 3,28,28 for an image network"
            ) from None
        raise ValueError(
            f"the architecture does not type-check on input shape {where}: {e}"
        ) from None
    if dot:
        return _emit_dot(graph_dot(graph, title), out)
    print(f"wrote {draw_graph(graph, out or '', title)}")
    return 0


def _emit_dot(text: str, out: str | None) -> int:
    if out is None:
        sys.stdout.write(text)
        return 0
    parent = os.path.dirname(out)
    if parent:
        os.makedirs(parent, exist_ok=True)
    Path(out).write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0
