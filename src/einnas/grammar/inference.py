"""Exact analytic shape inference over a whole tree.

``analyze(tree, input_shape)`` walks the canonical tree once, applies the shape rules of every
terminal (``terminals.py``) with the state propagation of einspace.md §2.2, and returns every
node's context (role, depth, input and output feature, multiplicity) together with exact totals:
parameters, multiply-accumulates per example, the largest intermediate tensor and the node count.
No module is built and no tensor is allocated.  An invalid tree raises
:class:`InvalidArchitecture` naming the node and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from einnas.grammar.features import Feature, ShapeError, input_feature
from einnas.grammar.terminals import (
    Terminal,
    aggregate_macs,
    apply_aggregate,
    apply_branch,
    apply_compute,
    apply_post,
    apply_pre,
    compute_macs,
    compute_params,
    terminal_text,
)
from einnas.grammar.tree import Branching, Computation, Module, Node, Path, Routing, Sequential

ROLE_ROOT = "S"
ROLE_MODULE = "M"


class InvalidArchitecture(ValueError):
    """A tree that does not type-check for the given input (shape, mode or branching factor)."""

    def __init__(self, path: Path, node: Node, reason: str) -> None:
        self.path = path
        self.reason = reason
        what = terminal_text(node) if isinstance(node, Terminal) else type(node).__name__.lower()
        where = "root" if not path else "node at path " + ".".join(map(str, path))
        super().__init__(f"{where} ({what}): {reason}")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Context of one node of the canonical tree."""

    path: Path
    node: Node
    role: str  # "S", "M", or a terminal role "B", "A", "P", "R", "C"
    depth: int
    multiplicity: int  # how many weight copies the node has in the compiled network
    input: Feature  # for "A": the first branch's output
    output: Feature
    fold: tuple[int, ...] | None = None  # for "R": the fold opened by this routing's im2col
    factor: int = 1  # for "A": the branching factor
    branch_outputs: tuple[Feature, ...] = ()  # for "A": the b branch outputs


@dataclass(frozen=True, slots=True)
class Analysis:
    """Shapes and exact costs of a tree for one input shape."""

    input: Feature
    output: Feature
    nodes: tuple[NodeInfo, ...]  # canonical pre-order
    params: int  # backbone parameters (the head is added by ``network_params``)
    macs: int
    max_activation: int  # largest per-example tensor (elements) between two operations
    depth: int

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def compiled_nodes(self) -> int:
        """Nodes of the compiled network (a b = 4/8 shared structure counted b times)."""
        return sum(info.multiplicity for info in self.nodes)


def head_params(output: Feature, num_classes: int) -> int:
    """Parameters of the paper's head: mean over spatial (im) or feature (col) dims, then linear."""
    features = output.shape[0]
    return features * num_classes + num_classes


def network_params(analysis: Analysis, num_classes: int) -> int:
    """Exact parameter count of the compiled network (backbone + head)."""
    return analysis.params + head_params(analysis.output, num_classes)


class _Walker:
    def __init__(self) -> None:
        self.infos: list[NodeInfo] = []
        self.params = 0
        self.macs = 0
        self.max_act = 0
        self.depth = 0

    def note(self, info: NodeInfo) -> None:
        self.infos.append(info)
        if info.depth > self.depth:
            self.depth = info.depth
        n = info.output.numel
        if n > self.max_act:
            self.max_act = n

    def module(
        self, m: Module, x: Feature, path: Path, depth: int, mult: int, role: str
    ) -> Feature:
        slot = len(self.infos)
        self.infos.append(NodeInfo(path, m, role, depth, mult, x, x))  # placeholder, fixed below
        d = depth + 1
        try:
            if isinstance(m, Sequential):
                y = self.module(m.first, x, (*path, 0), d, mult, ROLE_MODULE)
                out = self.module(m.second, y, (*path, 1), d, mult, ROLE_MODULE)
            elif isinstance(m, Computation):
                out = apply_compute(m.op, x)
                self.params += mult * compute_params(m.op, x)
                self.macs += mult * compute_macs(m.op, x)
                self.note(NodeInfo((*path, 0), m.op, "C", d, mult, x, out))
            elif isinstance(m, Routing):
                y, fold = apply_pre(m.pre, x)
                self.note(NodeInfo((*path, 0), m.pre, "P", d, mult, x, y))
                z = self.module(m.inner, y, (*path, 1), d, mult, ROLE_MODULE)
                out = self.post(m, z, fold, path, d, mult)
            else:
                out = self.branching(m, x, path, d, mult)
        except ShapeError as e:
            raise InvalidArchitecture(path, m, str(e)) from None
        self.infos[slot] = NodeInfo(path, m, role, depth, mult, x, out)
        return out

    def post(
        self, m: Routing, z: Feature, fold: tuple[int, ...] | None, path: Path, d: int, mult: int
    ) -> Feature:
        try:
            out = apply_post(m.post, z, fold)
        except ShapeError as e:
            raise InvalidArchitecture((*path, 2), m.post, str(e)) from None
        self.note(NodeInfo((*path, 2), m.post, "R", d, mult, z, out, fold=fold))
        return out

    def branching(self, m: Branching, x: Feature, path: Path, d: int, mult: int) -> Feature:
        try:
            b, y = apply_branch(m.branch, x)
        except ShapeError as e:
            raise InvalidArchitecture((*path, 0), m.branch, str(e)) from None
        self.note(NodeInfo((*path, 0), m.branch, "B", d, mult, x, y))
        if len(m.inners) not in (1, 2) or (b == 2) != (len(m.inners) == 2):
            raise ShapeError(
                f"branching({b}) needs {2 if b == 2 else 1} inner module(s), has {len(m.inners)}"
            )
        inner_mult = mult if b == 2 else mult * b
        outs = tuple(
            self.module(inner, y, (*path, 1 + i), d, inner_mult, ROLE_MODULE)
            for i, inner in enumerate(m.inners)
        )
        if b != 2:
            outs = outs * b
        agg_path = (*path, 1 + len(m.inners))
        try:
            out = apply_aggregate(m.aggregate, b, outs)
        except ShapeError as e:
            raise InvalidArchitecture(agg_path, m.aggregate, str(e)) from None
        self.macs += mult * aggregate_macs(m.aggregate, outs)
        self.note(
            NodeInfo(
                agg_path, m.aggregate, "A", d, mult, outs[0], out, factor=b, branch_outputs=outs
            )
        )
        return out


def analyze(tree: Module, input_shape: tuple[int, ...] | Feature) -> Analysis:
    """Infer every node's shapes and the exact costs; raise :class:`InvalidArchitecture` if invalid."""
    x = input_shape if isinstance(input_shape, Feature) else input_feature(tuple(input_shape))
    if isinstance(tree, Computation):
        raise InvalidArchitecture(
            (), tree, "a network cannot be a single computation (S -> M M | B M A | P M R)"
        )
    w = _Walker()
    out = w.module(tree, x, (), 0, 1, ROLE_ROOT)
    return Analysis(x, out, tuple(w.infos), w.params, w.macs, max(w.max_act, x.numel), w.depth)
