"""Derivation trees of einspace as immutable values.

The four module productions of the grammar (einspace.md §1.1) are four node classes:

* ``Sequential(first, second)``         — ``M -> M M``
* ``Branching(branch, inners, aggregate)`` — ``M -> B M A``; ``inners`` holds two independent
  modules for b = 2 and ONE shared structure for b = 4 / 8 (repeated b times with separate
  weights when compiled).  The canonical tree therefore shows a shared structure once.
* ``Routing(pre, inner, post)``         — ``M -> P M R``
* ``Computation(op)``                    — ``M -> C``

Terminals are :class:`~einnas.grammar.terminals.Terminal` values.  Trees are frozen dataclasses:
equal trees compare equal and hash equal, and edits build new trees (``replace_at``).

A node is addressed by its *path*: the child indices from the root, where the children of a
module are listed in the grammar's order (``children``): sequential (first, second); branching
(B, inner..., A); routing (P, inner, R); computation (C).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from einnas.grammar.terminals import Terminal, branching_factor


@dataclass(frozen=True, slots=True)
class Sequential:
    first: Module
    second: Module

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.first, self.second)


@dataclass(frozen=True, slots=True)
class Branching:
    branch: Terminal
    inners: tuple[Module, ...]
    aggregate: Terminal

    @property
    def factor(self) -> int:
        return branching_factor(self.branch)

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.branch, *self.inners, self.aggregate)

    def branch_modules(self) -> tuple[Module, ...]:
        """The b modules applied to the b branches (shared structure repeated)."""
        if len(self.inners) == 1:
            return self.inners * self.factor
        return self.inners


@dataclass(frozen=True, slots=True)
class Routing:
    pre: Terminal
    inner: Module
    post: Terminal

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.pre, self.inner, self.post)


@dataclass(frozen=True, slots=True)
class Computation:
    op: Terminal

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.op,)


Module = Sequential | Branching | Routing | Computation
Node = Module | Terminal
Path = tuple[int, ...]

MODULE_TYPES: tuple[str, ...] = ("sequential", "branching", "routing", "computation")


def module_type(m: Module) -> str:
    if isinstance(m, Sequential):
        return "sequential"
    if isinstance(m, Branching):
        return "branching"
    if isinstance(m, Routing):
        return "routing"
    return "computation"


def children(node: Node) -> tuple[Node, ...]:
    return () if isinstance(node, Terminal) else node.children


def iter_nodes(root: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Pre-order traversal of the canonical tree (a shared b = 4/8 structure appears once)."""
    stack: list[tuple[Path, Node]] = [(path, root)]
    while stack:
        p, node = stack.pop()
        yield p, node
        kids = children(node)
        for i in range(len(kids) - 1, -1, -1):
            stack.append(((*p, i), kids[i]))


def count_nodes(root: Node) -> int:
    """Number of nodes (modules and terminals) of the canonical tree."""
    return sum(1 for _ in iter_nodes(root))


def node_at(root: Node, path: Path) -> Node:
    node = root
    for i in path:
        node = children(node)[i]
    return node


def replace_at(root: Node, path: Path, new: Node) -> Node:
    """A copy of ``root`` with the node at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(root, Terminal):
        raise IndexError("path goes below a terminal")
    kids = list(root.children)
    kids[head] = replace_at(kids[head], rest, new)
    return rebuild(root, tuple(kids))


def rebuild(module: Module, kids: tuple[Node, ...]) -> Module:
    """A module of the same type as ``module`` with the given children."""
    if isinstance(module, Sequential):
        a, b = kids
        assert not isinstance(a, Terminal) and not isinstance(b, Terminal)
        return Sequential(a, b)
    if isinstance(module, Branching):
        branch, agg = kids[0], kids[-1]
        inners = kids[1:-1]
        assert isinstance(branch, Terminal) and isinstance(agg, Terminal)
        mods = tuple(m for m in inners if not isinstance(m, Terminal))
        assert len(mods) == len(inners)
        return Branching(branch, mods, agg)
    if isinstance(module, Routing):
        pre, inner, post = kids
        assert isinstance(pre, Terminal) and isinstance(post, Terminal)
        assert not isinstance(inner, Terminal)
        return Routing(pre, inner, post)
    (op,) = kids
    assert isinstance(op, Terminal)
    return Computation(op)


def tree_depth(root: Node) -> int:
    """Depth of the deepest node, counting every derivation level (root = 0)."""
    return max(len(p) for p, _ in iter_nodes(root))
