"""Pictures of architectures: the network as a graph of operations, and the derivation tree.

Three layers, each usable on its own:

* :func:`operation_graph` (pure, no matplotlib) turns a tree and an input shape into an
  :class:`OpGraph`: one node per operation — the network input, every computation terminal, the
  split (``clone`` / ``group``) and merge (``add`` / ``cat`` / dot products) of each branching
  module, the pre- and post-routing terminals — and one edge per tensor, labelled with its exact
  shape from :func:`~einnas.grammar.inference.analyze` (batch dimension excluded: ``64x40`` for
  an ``im`` feature, ``(S=49, D=64)`` for a ``col`` one).  The graph also keeps its
  series-parallel skeleton (:class:`Chain` / :class:`Fork`), which is what the layout uses.
* :func:`layout_graph` places the nodes on layers from top to bottom: a chain stacks its
  operations, a fork puts its branches side by side between the split and the merge, so branches
  never cross.  :func:`draw_graph` renders it with matplotlib (``Agg``); the figure grows with
  the graph (a fixed size per layer and per column), so a ResNet-18 gives a tall, legible image.
* :func:`draw_tree` draws the derivation tree (modules and terminals) with a tidy layout: the
  root on the left, depth to the right, one row per leaf.  :func:`graph_dot` and
  :func:`tree_dot` give the same pictures as Graphviz DOT text.

Two choices keep big networks readable (both can be turned off):

* a b = 4 / 8 branching module whose inner structure is shared (one structure, b weight
  copies) is drawn ONCE inside a dashed frame labelled ``x b`` (``expand_shared=True`` draws the
  b copies side by side instead);
* identity operations (``computation[identity]``, identity pre/post routing) do nothing and are
  left out: a residual shortcut is then a plain edge from the split to the merge
  (``keep_identity=True`` draws them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from einnas.grammar.features import Feature
from einnas.grammar.inference import analyze
from einnas.grammar.terminals import Terminal, terminal_text
from einnas.grammar.tree import Branching, Computation, Module, Node, Path, Routing, Sequential
from einnas.viz.plots import DPI, _pyplot

__all__ = [
    "AGGREGATE",
    "BRANCH",
    "COMPUTE",
    "DRAWING_FORMATS",
    "INPUT",
    "OUTPUT",
    "POST",
    "PRE",
    "Chain",
    "Fork",
    "GraphLayout",
    "OpEdge",
    "OpGraph",
    "OpNode",
    "draw_graph",
    "draw_tree",
    "graph_dot",
    "layout_graph",
    "operation_graph",
    "shape_label",
    "tree_dot",
]

DRAWING_FORMATS = ("png", "svg", "pdf")
"""File formats of the rendered pictures (chosen by the output file's extension)."""

# Node kinds of the operation graph.
INPUT, OUTPUT = "input", "output"
COMPUTE, BRANCH, AGGREGATE, PRE, POST = "compute", "branch", "aggregate", "pre", "post"


def shape_label(f: Feature) -> str:
    """A feature's shape without the batch dimension: ``64x40``, ``3x28x28``, ``(S=49, D=64)``."""
    if f.mode == "col" and f.rank == 2:
        return f"(S={f.shape[0]}, D={f.shape[1]})"
    return "x".join(map(str, f.shape))


# ----------------------------------------------------------------------------------------------
# The operation graph


@dataclass(frozen=True, slots=True)
class OpNode:
    """One operation of the network.

    ``path`` is the tree path of its terminal (``()`` for the input and output nodes);
    ``output`` is the tensor it produces; ``copies`` is how many weight copies of it the
    compiled network has when a shared b = 4/8 structure is drawn once (1 otherwise).
    """

    id: int
    label: str
    kind: str  # input, output, compute, branch, aggregate, pre, post
    path: Path
    output: Feature
    copies: int = 1
    family: str = ""  # the terminal's family (``linear`` for ``linear64``); "" for input/output


@dataclass(frozen=True, slots=True)
class OpEdge:
    """A tensor flowing from ``source`` to ``target`` (``copies`` parallel tensors when >1)."""

    source: int
    target: int
    feature: Feature
    copies: int = 1

    @property
    def shape(self) -> str:
        return shape_label(self.feature)


@dataclass(frozen=True, slots=True)
class Fork:
    """A branching module: ``split`` node, branches side by side, ``merge`` node.

    ``copies > 1``: the single branch stands for that many copies (a shared b = 4/8 structure).
    """

    split: int
    branches: tuple[Chain, ...]
    merge: int
    copies: int = 1


@dataclass(frozen=True, slots=True)
class Chain:
    """Operations and forks applied one after the other (empty: the tensor passes unchanged)."""

    items: tuple[int | Fork, ...] = ()


@dataclass(frozen=True, slots=True)
class OpGraph:
    """Operations, tensors and the series-parallel skeleton (``body``: input ... output)."""

    nodes: tuple[OpNode, ...]
    edges: tuple[OpEdge, ...]
    body: Chain
    input: Feature
    output: Feature
    params: int  # backbone parameters

    def count(self, kind: str) -> int:
        return sum(1 for n in self.nodes if n.kind == kind)


class _GraphBuilder:
    def __init__(self, outputs: dict[Path, Feature], expand_shared: bool, keep_identity: bool):
        self.outputs = outputs
        self.expand_shared = expand_shared
        self.keep_identity = keep_identity
        self.nodes: list[OpNode] = []
        self.edges: list[OpEdge] = []

    def add(self, t: Terminal | str, kind: str, path: Path, output: Feature, copies: int) -> int:
        label, family = (t, "") if isinstance(t, str) else (terminal_text(t), t.family)
        self.nodes.append(OpNode(len(self.nodes), label, kind, path, output, copies, family))
        return len(self.nodes) - 1

    def connect(self, source: int, target: int, copies: int) -> None:
        self.edges.append(OpEdge(source, target, self.nodes[source].output, copies))

    def op(self, t: Terminal, kind: str, path: Path, src: int, copies: int) -> int | None:
        """Add terminal ``t`` after ``src``; ``None`` when it is an identity left out."""
        if t.family == "identity" and not self.keep_identity:
            return None
        n = self.add(t, kind, path, self.outputs[path], copies)
        self.connect(src, n, copies)
        return n

    def module(self, m: Module, path: Path, src: int, copies: int) -> tuple[list[int | Fork], int]:
        """Items drawn for module ``m`` fed by node ``src``, and the node producing its output."""
        if isinstance(m, Computation):
            n = self.op(m.op, COMPUTE, (*path, 0), src, copies)
            return ([], src) if n is None else ([n], n)
        if isinstance(m, Sequential):
            first, mid = self.module(m.first, (*path, 0), src, copies)
            second, end = self.module(m.second, (*path, 1), mid, copies)
            return first + second, end
        if isinstance(m, Routing):
            items: list[int | Fork] = []
            pre = self.op(m.pre, PRE, (*path, 0), src, copies)
            if pre is not None:
                items.append(pre)
            inner, end = self.module(m.inner, (*path, 1), src if pre is None else pre, copies)
            items += inner
            post = self.op(m.post, POST, (*path, 2), end, copies)
            if post is not None:
                items.append(post)
            return items, end if post is None else post
        return self.branching(m, path, src, copies)

    def branching(
        self, m: Branching, path: Path, src: int, copies: int
    ) -> tuple[list[int | Fork], int]:
        split = self.add(m.branch, BRANCH, (*path, 0), self.outputs[(*path, 0)], copies)
        self.connect(src, split, copies)
        shared = len(m.inners) == 1
        if shared and not self.expand_shared:
            drawn: tuple[tuple[int, Module], ...] = ((1, m.inners[0]),)
            inner_copies = copies * m.factor
        else:
            drawn = tuple(
                (1 if shared else 1 + i, inner) for i, inner in enumerate(m.branch_modules())
            )
            inner_copies = copies
        branches: list[Chain] = []
        ends: list[int] = []
        for child, inner in drawn:
            items, end = self.module(inner, (*path, child), split, inner_copies)
            branches.append(Chain(tuple(items)))
            ends.append(end)
        agg_path = (*path, 1 + len(m.inners))
        merge = self.add(m.aggregate, AGGREGATE, agg_path, self.outputs[agg_path], copies)
        for end in ends:
            self.connect(end, merge, inner_copies)
        fork = Fork(split, tuple(branches), merge, inner_copies // copies)
        return [fork], merge


def operation_graph(
    tree: Module,
    input_shape: tuple[int, ...] | Feature,
    *,
    expand_shared: bool = False,
    keep_identity: bool = False,
) -> OpGraph:
    """The operation graph of ``tree`` on inputs of ``input_shape`` (see the module docstring).

    Raises :class:`~einnas.grammar.inference.InvalidArchitecture` when the tree does not
    type-check on that input.
    """
    analysis = analyze(tree, input_shape)
    outputs = {info.path: info.output for info in analysis.nodes}
    b = _GraphBuilder(outputs, expand_shared, keep_identity)  # input/output: plain labels
    inp = b.add("input", INPUT, (), analysis.input, 1)
    items, end = b.module(tree, (), inp, 1)
    out = b.add("output", OUTPUT, (), analysis.output, 1)
    b.connect(end, out, 1)
    body = Chain((inp, *items, out))
    return OpGraph(
        tuple(b.nodes), tuple(b.edges), body, analysis.input, analysis.output, analysis.params
    )


# ----------------------------------------------------------------------------------------------
# Layered layout of the operation graph (units: columns across, layers down)

NODE_WIDTH = 0.8  # box width in columns
NODE_HEIGHT = 0.5  # box height in layers
NODE_MARGIN = 0.05  # free space beside a box (columns)
LANE_WIDTH = 0.3  # width of an empty branch (a tensor passing straight to the merge)
BRANCH_GAP = 0.12  # between branches side by side
FRAME_PAD = 0.1  # beside a shared-structure frame (columns)
FRAME_TOP, FRAME_BOTTOM = 0.36, 0.62  # frame edges above the first / below the last layer

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class GraphLayout:
    """Node centres ``(x, layer)``, one polyline per edge, and the ``x b`` frames.

    ``frames`` are ``(left, top, right, bottom, copies)`` rectangles in the same units.
    """

    positions: dict[int, Point]
    routes: tuple[tuple[Point, ...], ...]
    frames: tuple[tuple[float, float, float, float, int], ...]
    width: float  # columns
    layers: int


@dataclass(slots=True)
class _Extent:
    height: int  # layers
    left: float  # extent left of the anchor (columns)
    right: float
    anchors: tuple[float, ...] = ()  # for a fork: branch anchors relative to the fork's anchor


@dataclass(slots=True)
class _Placer:
    positions: dict[int, Point] = field(default_factory=dict)
    routes: list[tuple[Point, ...]] = field(default_factory=list)
    frames: list[tuple[float, float, float, float, int]] = field(default_factory=list)
    memo: dict[int, _Extent] = field(default_factory=dict)

    def measure(self, item: int | Fork | Chain) -> _Extent:
        if isinstance(item, int):
            return _Extent(1, NODE_WIDTH / 2 + NODE_MARGIN, NODE_WIDTH / 2 + NODE_MARGIN)
        key = id(item)
        if key in self.memo:
            return self.memo[key]
        if isinstance(item, Chain):
            if not item.items:
                ext = _Extent(0, LANE_WIDTH / 2, LANE_WIDTH / 2)
            else:
                parts = [self.measure(i) for i in item.items]
                ext = _Extent(
                    sum(p.height for p in parts),
                    max(p.left for p in parts),
                    max(p.right for p in parts),
                )
        else:
            ext = self._measure_fork(item)
        self.memo[key] = ext
        return ext

    def _measure_fork(self, fork: Fork) -> _Extent:
        pad = FRAME_PAD if fork.copies > 1 else 0.0
        parts = [self.measure(b) for b in fork.branches]
        anchors: list[float] = []
        x = 0.0
        for p in parts:
            x += p.left + pad
            anchors.append(x)
            x += p.right + pad + BRANCH_GAP
        # The fork's anchor (split and merge) sits above the tallest branch (the first of equals),
        # so a long main path stays a straight line and shortcuts hang beside it.
        tallest = max(range(len(parts)), key=lambda i: (parts[i].height, -i))
        axis = anchors[tallest]
        node = NODE_WIDTH / 2 + NODE_MARGIN
        left = max(node, axis - (anchors[0] - parts[0].left - pad))
        right = max(node, anchors[-1] + parts[-1].right + pad - axis)
        height = 2 + max(p.height for p in parts)
        return _Extent(height, left, right, tuple(a - axis for a in anchors))

    def place(self, item: int | Fork | Chain, x: float, layer: int) -> None:
        if isinstance(item, int):
            self.positions[item] = (x, float(layer))
        elif isinstance(item, Chain):
            for k, part in enumerate(item.items):
                self.place(part, x, layer)
                if k:  # from the previous part's last node (one layer up) to this part's first
                    self._route((x, layer - 1 + NODE_HEIGHT / 2), (x, layer - NODE_HEIGHT / 2))
                layer += self.measure(part).height
        else:
            self._place_fork(item, x, layer)

    def _route(self, *points: Point) -> None:
        kept: list[Point] = []
        for p in points:
            if not kept or kept[-1] != p:
                kept.append(p)
        self.routes.append(tuple(kept))

    def _place_fork(self, fork: Fork, x: float, layer: int) -> None:
        """Split on ``layer``, branches below side by side, merge under the tallest branch.

        The branch under the split runs straight down; the others leave the split's side on a
        horizontal bus, run down their own lane and enter the merge's side, so no edge crosses
        a node or another branch.
        """
        ext = self.measure(fork)
        inner = ext.height - 2
        merge = layer + 1 + inner
        self.positions[fork.split] = (x, float(layer))
        self.positions[fork.merge] = (x, float(merge))
        half = NODE_HEIGHT / 2
        for branch, offset in zip(fork.branches, ext.anchors):
            bx = x + offset
            h = self.measure(branch).height
            last = layer + h  # the branch's last layer (the split's layer when empty)
            if h:
                self.place(branch, bx, layer + 1)
            if offset == 0:
                if h:
                    self._route((x, layer + half), (x, layer + 1 - half))
                self._route((x, last + half), (x, merge - half))
            else:
                side = x + (NODE_WIDTH / 2 if offset > 0 else -NODE_WIDTH / 2)
                if h:
                    self._route((side, float(layer)), (bx, float(layer)), (bx, layer + 1 - half))
                    self._route((bx, last + half), (bx, float(merge)), (side, float(merge)))
                else:
                    self._route(
                        (side, float(layer)), (bx, float(layer)), (bx, float(merge)),
                        (side, float(merge)),
                    )  # fmt: skip
            if fork.copies > 1 and h:
                b = self.measure(branch)
                top, bottom = layer + 1 - FRAME_TOP, last + FRAME_BOTTOM
                self.frames.append(
                    (bx - b.left - FRAME_PAD, top, bx + b.right + FRAME_PAD, bottom, fork.copies)
                )


def layout_graph(graph: OpGraph) -> GraphLayout:
    """Layered positions of ``graph``'s nodes: x from 0 to ``width`` columns, one layer per row."""
    placer = _Placer()
    ext = placer.measure(graph.body)
    placer.place(graph.body, 0.0, 0)
    shift = ext.left
    positions = {k: (x + shift, y) for k, (x, y) in placer.positions.items()}
    routes = tuple(tuple((x + shift, y) for x, y in r) for r in placer.routes)
    frames = tuple((a + shift, b, c + shift, d, n) for a, b, c, d, n in placer.frames)
    return GraphLayout(positions, routes, frames, ext.left + ext.right, ext.height)


# ----------------------------------------------------------------------------------------------
# Rendering

COLUMN_INCHES = 1.75
LAYER_INCHES = 0.62
MARGIN_INCHES = 0.3
HEADER_INCHES = 1.05
MIN_WIDTH_INCHES = 5.0

_WEIGHTED = ("linear", "linear_x", "linear_div", "conv1d", "pos_enc", "norm")
_COLOURS = {
    "weights": "#cfe2f3",  # computation with learnable parameters
    COMPUTE: "#e8f4e0",  # parameter-free computation (activations, softmax, identity)
    BRANCH: "#fff2cc",
    AGGREGATE: "#f4cccc",
    PRE: "#e6ddf2",
    POST: "#e6ddf2",
    INPUT: "#d9d9d9",
    OUTPUT: "#d9d9d9",
}
_LEGEND = (
    ("weights", "computation with weights"),
    (COMPUTE, "computation"),
    (BRANCH, "branch"),
    (AGGREGATE, "merge"),
    (PRE, "routing"),
)


def _colour(kind: str, family: str) -> str:
    if kind == COMPUTE and family in _WEIGHTED:
        return _COLOURS["weights"]
    return _COLOURS[kind]


def _node_colour(node: OpNode) -> str:
    return _colour(node.kind, node.family)


def _check_format(out_path: str) -> None:
    ext = os.path.splitext(out_path)[1].lower().lstrip(".")
    if ext not in DRAWING_FORMATS:
        raise ValueError(
            f"{out_path}: cannot write a picture of format {ext or '(none)'!r}; "
            f"end the file name with {', '.join('.' + f for f in DRAWING_FORMATS)}"
        )


def _save(fig: Any, out_path: str | os.PathLike[str]) -> str:
    path = os.fspath(out_path)
    _check_format(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def _header(fig: Any, title: str, *lines: str) -> None:
    """Title and grey lines of facts at the top of ``fig`` (positions in inches from the top)."""
    height = fig.get_figheight()
    fig.text(0.5, 1 - 0.25 / height, title, ha="center", va="center", fontsize=12, weight="bold")
    for i, line in enumerate(lines):
        y = 1 - (0.5 + 0.17 * i) / height
        fig.text(0.5, y, line, ha="center", va="center", fontsize=8, color="0.3")


def _params_text(params: int) -> str:
    if params >= 1_000_000:
        return f"{params / 1e6:.2f} M"
    if params >= 1_000:
        return f"{params / 1e3:.1f} k"
    return str(params)


def draw_graph(graph: OpGraph, out_path: str | os.PathLike[str], title: str = "") -> str:
    """Render ``graph`` (PNG, SVG or PDF by the extension of ``out_path``); returns the path."""
    _check_format(os.fspath(out_path))
    plt = _pyplot()
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
    from matplotlib.path import Path as MplPath

    lay = layout_graph(graph)
    width = max(MIN_WIDTH_INCHES, lay.width * COLUMN_INCHES + 2 * MARGIN_INCHES)
    height = HEADER_INCHES + lay.layers * LAYER_INCHES + MARGIN_INCHES / 2
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    left = (width - lay.width * COLUMN_INCHES) / 2

    def at(p: Point) -> Point:
        return left + p[0] * COLUMN_INCHES, HEADER_INCHES + (p[1] + 0.5) * LAYER_INCHES

    for x0, y0, x1, y1, copies in lay.frames:
        (a, b), (c, d) = at((x0, y0)), at((x1, y1))
        ax.add_patch(
            Rectangle((a, b), c - a, d - b, fill=False, ls="--", lw=0.9, ec="0.45", zorder=1)
        )
        ax.text(c - 0.05, b + 0.04, f"x {copies}", ha="right", va="top", fontsize=8,
                color="0.3", weight="bold", zorder=2)  # fmt: skip
    for route in lay.routes:
        pts = [at(p) for p in route]
        codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(pts) - 1)
        ax.add_patch(
            FancyArrowPatch(
                path=MplPath(pts, codes), arrowstyle="-|>", mutation_scale=7, lw=0.8,
                color="0.35", zorder=2, shrinkA=0, shrinkB=0,
            )
        )  # fmt: skip
    box_w, box_h = NODE_WIDTH * COLUMN_INCHES, NODE_HEIGHT * LAYER_INCHES
    has_out = {e.source for e in graph.edges}
    for node in graph.nodes:
        cx, cy = at(lay.positions[node.id])
        ax.add_patch(
            FancyBboxPatch(
                (cx - box_w / 2, cy - box_h / 2), box_w, box_h,
                boxstyle="round,pad=0,rounding_size=0.06", fc=_node_colour(node), ec="0.25",
                lw=0.8, zorder=3,
            )
        )  # fmt: skip
        ax.text(cx, cy, node.label, ha="center", va="center", fontsize=8, zorder=4,
                family="DejaVu Sans Mono" if node.kind != INPUT else None)  # fmt: skip
        if node.id in has_out:
            ax.text(cx + 0.05, cy + box_h / 2 + 0.04, shape_label(node.output), ha="left",
                    va="top", fontsize=6.5, color="0.2", zorder=4,
                    bbox={"fc": "white", "ec": "none", "pad": 0.6, "alpha": 0.85})  # fmt: skip
    ops = sum(1 for n in graph.nodes if n.kind not in (INPUT, OUTPUT))
    _header(
        fig,
        title or "architecture",
        f"input {shape_label(graph.input)}  →  output {shape_label(graph.output)}",
        f"{ops} operations, {_params_text(graph.params)} backbone parameters",
    )
    handles = [Rectangle((0, 0), 1, 1, fc=_COLOURS[k], ec="0.25", lw=0.6) for k, _ in _LEGEND]
    fig.legend(handles, [t for _, t in _LEGEND], loc="upper center", ncol=len(_LEGEND),
               bbox_to_anchor=(0.5, 1 - 0.78 / height), fontsize=6.5, frameon=False,
               handlelength=1.2, columnspacing=0.8)  # fmt: skip
    return _save(fig, out_path)


# ----------------------------------------------------------------------------------------------
# The derivation tree

TREE_COLUMN_INCHES = 1.55
TREE_ROW_INCHES = 0.3
_MODULE_COLOUR = "#f3f3f3"
_ROLE_KIND = {"B": BRANCH, "A": AGGREGATE, "P": PRE, "R": POST, "C": COMPUTE}


@dataclass(frozen=True, slots=True)
class _TreeNode:
    label: str
    kind: str  # "module" or an operation-graph kind
    depth: int
    row: float
    parent: int | None
    colour: str


def _tree_label(node: Node) -> str:
    if isinstance(node, Terminal):
        return terminal_text(node)
    if isinstance(node, Branching):
        return f"branching({node.factor})"
    return type(node).__name__.lower()


def _terminal_roles(m: Module) -> tuple[str, ...]:
    if isinstance(m, Branching):
        return ("B", *("M" for _ in m.inners), "A")
    if isinstance(m, Routing):
        return ("P", "M", "R")
    if isinstance(m, Computation):
        return ("C",)
    return ("M", "M")


def _tree_nodes(tree: Module) -> list[_TreeNode]:
    """Tidy layout: leaves on consecutive rows, a parent centred on its first and last child."""
    nodes: list[_TreeNode] = []
    next_row = 0

    def visit(node: Node, depth: int, parent: int | None, role: str) -> float:
        nonlocal next_row
        slot = len(nodes)
        kind = "module" if role == "M" else _ROLE_KIND[role]
        colour = _colour(kind, node.family) if isinstance(node, Terminal) else _MODULE_COLOUR
        nodes.append(_TreeNode(_tree_label(node), kind, depth, 0.0, parent, colour))
        if isinstance(node, Terminal):
            row = float(next_row)
            next_row += 1
        else:
            rows = [
                visit(child, depth + 1, slot, r)
                for child, r in zip(node.children, _terminal_roles(node))
            ]
            row = (rows[0] + rows[-1]) / 2
        nodes[slot] = _TreeNode(nodes[slot].label, kind, depth, row, parent, colour)
        return row

    visit(tree, 0, None, "M")
    return nodes


def draw_tree(tree: Module, out_path: str | os.PathLike[str], title: str = "") -> str:
    """Render the derivation tree of ``tree`` (PNG, SVG or PDF); returns the path written."""
    _check_format(os.fspath(out_path))
    plt = _pyplot()
    from matplotlib.patches import FancyBboxPatch

    nodes = _tree_nodes(tree)
    depth = max(n.depth for n in nodes)
    rows = max(n.row for n in nodes) + 1
    width = max(MIN_WIDTH_INCHES, (depth + 1) * TREE_COLUMN_INCHES + 2 * MARGIN_INCHES)
    height = 0.7 + rows * TREE_ROW_INCHES + MARGIN_INCHES
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    box_w, box_h = 0.8 * TREE_COLUMN_INCHES, 0.72 * TREE_ROW_INCHES

    def at(n: _TreeNode) -> Point:
        return (
            MARGIN_INCHES + (n.depth + 0.5) * TREE_COLUMN_INCHES,
            0.7 + (n.row + 0.5) * TREE_ROW_INCHES,
        )

    for n in nodes:
        if n.parent is None:
            continue
        (px, py), (cx, cy) = at(nodes[n.parent]), at(n)
        bus = px + TREE_COLUMN_INCHES / 2
        ax.plot([px + box_w / 2, bus, bus, cx - box_w / 2], [py, py, cy, cy], color="0.5",
                lw=0.7, zorder=1, solid_joinstyle="miter")  # fmt: skip
    for n in nodes:
        cx, cy = at(n)
        ax.add_patch(
            FancyBboxPatch(
                (cx - box_w / 2, cy - box_h / 2), box_w, box_h,
                boxstyle="round,pad=0,rounding_size=0.04", fc=n.colour,
                ec="0.55" if n.kind == "module" else "0.25", lw=0.7, zorder=2,
            )
        )  # fmt: skip
        ax.text(cx, cy, n.label, ha="center", va="center", fontsize=7, zorder=3,
                family="DejaVu Sans Mono",
                style="italic" if n.kind == "module" else "normal")  # fmt: skip
    fig.text(0.5, 1 - 0.25 / height, title or "derivation tree", ha="center", va="center",
             fontsize=12, weight="bold")  # fmt: skip
    leaves = sum(1 for n in nodes if n.kind != "module")
    fig.text(0.5, 1 - 0.5 / height,
             f"{len(nodes)} nodes ({len(nodes) - leaves} modules, {leaves} terminals), depth {depth}",
             ha="center", va="center", fontsize=8, color="0.3")  # fmt: skip
    return _save(fig, out_path)


# ----------------------------------------------------------------------------------------------
# Graphviz DOT


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_dot(graph: OpGraph, title: str = "") -> str:
    """The operation graph as Graphviz DOT text (``dot -Tpng``); shared structures in clusters."""
    lines = [
        "digraph architecture {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    if title:
        lines.append(f"  label={_dot_quote(title)}; labelloc=t;")
    clusters = 0

    def emit(item: int | Fork | Chain, indent: str) -> None:
        nonlocal clusters
        if isinstance(item, int):
            n = graph.nodes[item]
            lines.append(
                f"{indent}n{n.id} [label={_dot_quote(n.label)}, fillcolor={_dot_quote(_node_colour(n))}];"
            )
        elif isinstance(item, Chain):
            for part in item.items:
                emit(part, indent)
        else:
            emit(item.split, indent)
            for branch in item.branches:
                if item.copies > 1 and branch.items:
                    clusters += 1
                    lines.append(f"{indent}subgraph cluster_{clusters} {{")
                    lines.append(f'{indent}  label="x {item.copies}"; style=dashed;')
                    emit(branch, indent + "  ")
                    lines.append(f"{indent}}}")
                else:
                    emit(branch, indent)
            emit(item.merge, indent)

    emit(graph.body, "  ")
    for e in graph.edges:
        label = e.shape if e.copies == 1 else f"{e.copies} x {e.shape}"
        lines.append(f"  n{e.source} -> n{e.target} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tree_dot(tree: Module, title: str = "") -> str:
    """The derivation tree as Graphviz DOT text (root on the left)."""
    lines = [
        "digraph derivation {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    ]
    if title:
        lines.append(f"  label={_dot_quote(title)}; labelloc=t;")
    nodes = _tree_nodes(tree)
    for i, n in enumerate(nodes):
        lines.append(f"  t{i} [label={_dot_quote(n.label)}, fillcolor={_dot_quote(n.colour)}];")
    for i, n in enumerate(nodes):
        if n.parent is not None:
            lines.append(f"  t{n.parent} -> t{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"
