"""A feature map of einspace trees for predictors: ``phi(tree)``, a sparse count vector.

Delta-NAS needs an encoding whose *difference* between a tree and its mutated child is sparse
(``spec/delta-nas.md``, "Delta-NAS on einspace trees").  :class:`TreeFeatures` counts named
grammar features of the canonical derivation tree:

* **productions** -- one count per module rule (``sequential``, ``branching``, ``routing``,
  ``computation``) and per terminal *with its parameters* and role (``C:conv1d(3,64)``,
  ``P:im2col(3,1,1)``, ``A:add``);
* **generalisations** -- the terminal's family without parameters where a role has several
  terminals of that family (``C:conv1d(*)``, ``C:linear(*)``), and, for families with two or
  more parameters, each parameter on its own (``C:conv1d(3,_)``, ``C:conv1d(_,64)``).  With a few
  dozen evaluations most edits are new, but "a wider conv1d" or "another kernel-5 conv" has
  been seen: these features let a linear model share evidence across related terminals (the
  tree analogue of the value counts of the slot encodings);
* **pairs** ``parent -> child`` for every module and each of its module children, the parent
  labelled by its rule and its *selecting* terminal (``routing[im2col(3,1,1)]``,
  ``branching[clone(2)]``, ``sequential``, ``ROOT`` above the root), the child by its rule, a
  computation child by its operation: ``routing[im2col(3,1,1)]>computation[linear64]`` is a
  3-wide convolution, ``branching[clone(2)]>routing`` a routed branch;
* optionally (``depth_buckets > 0``) the productions again, per depth bucket
  (``C:norm@0``: depth 0 .. ``depth_step - 1``, ...; the last bucket is open): where in the
  network a production sits.  The unbucketed counts stay, so a ridge model keeps a shared effect
  per production plus depth-specific corrections.

Sparsity.  A mutation resamples one node (einspace.md §4.3): a module with its subtree, or one
terminal.  Nodes outside the resampled subtree keep their productions, parents and depths, so
``phi(child) - phi(parent)`` is non-zero only on the features of the old and new subtree, plus
the pair that links the subtree's root to its parent (for a terminal: the features of the module
that holds it).  :meth:`TreeFeatures.edit_size` -- the L1 norm of the difference of the
production counts, i.e. the number of productions removed plus added -- is the matching edit
distance proxy: 2 for a terminal swap, about the sizes of the two subtrees for a resample.

Vocabulary (a fixed one, not a hashed one).  Every feature has a name, and the names of this
grammar's options (its terminals, families, parameters, parent and child labels) are
enumerated once, in the grammar's own order, into a vocabulary: indices are a pure function of
the grammar (the input's dimensionality) and the knobs, never of the order in which a search met
the trees, features never collide, and every column can be named (:meth:`feature_names`) for
diagnostics.  With hashing, the few hundred features a search meets would share columns (in
1024 buckets about a quarter of them would collide) at a larger ``d``, and ridge solves cost
``O(d^3)``.  Trees can hold
terminals outside the sampled grammar -- the seeds' ``linear_x4``, ``im2col(7,2,3)`` (see
:mod:`einnas.seeds`) -- and mutations only ever remove those; their names go to a small
*overflow* block of ``overflow`` columns indexed by a stable hash (``hashlib.blake2b`` of the
name, never Python's salted ``hash``), productions and other features in separate halves, so
``edit_size`` still sees them.

Size: 777 columns in 1D einspace (MNIST-1D), 599 in 2D (``depth_buckets=3`` adds 189); a
search meets a few hundred of them, so the strategies fit on the used columns only (exactly, for
ridge: :meth:`~einnas.predictors.ridge.RidgePredictor.fit_statistics` with ``support_only``).
Counts are of the canonical tree: the shared structure of a b = 4/8 branching once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np

from einnas.grammar.pcfg import Grammar
from einnas.grammar.terminals import FAMILY_ROLES, Terminal, terminal_text
from einnas.grammar.tree import (
    MODULE_TYPES,
    Branching,
    Computation,
    Module,
    Routing,
    Sequential,
    module_type,
)
from einnas.predictors.encodings import CachedEncoder, FloatArray

__all__ = ["ROOT", "TreeFeatures", "parent_label"]

ROOT = "ROOT"


def _terminal_name(role: str, t: Terminal) -> str:
    return f"{role}:{terminal_text(t)}"


def _family_name(role: str, family: str) -> str:
    return f"{role}:{family}(*)"


def _argument_name(role: str, t: Terminal, position: int) -> str:
    args = ",".join(str(a) if i == position else "_" for i, a in enumerate(t.args))
    return f"{role}:{t.family}({args})"


def parent_label(m: Module) -> str:
    """How a module is named as the parent of a pair feature (``routing[im2col(3,1,1)]``)."""
    if isinstance(m, Routing):
        return f"routing[{terminal_text(m.pre)}]"
    if isinstance(m, Branching):
        return f"branching[{terminal_text(m.branch)}]"
    return module_type(m)


def _child_label(m: Module) -> str:
    if isinstance(m, Computation):
        return f"computation[{terminal_text(m.op)}]"
    return module_type(m)


def _module_children(m: Module) -> tuple[Module, ...]:
    if isinstance(m, Sequential):
        return (m.first, m.second)
    if isinstance(m, Branching):
        return m.inners
    if isinstance(m, Routing):
        return (m.inner,)
    return ()


def _terminals(m: Module) -> tuple[tuple[str, Terminal], ...]:
    """The terminals a module holds, with their roles."""
    if isinstance(m, Branching):
        return (("B", m.branch), ("A", m.aggregate))
    if isinstance(m, Routing):
        return (("P", m.pre), ("R", m.post))
    if isinstance(m, Computation):
        return (("C", m.op),)
    return ()


def _stable_bucket(name: str, buckets: int) -> int:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


class TreeFeatures(CachedEncoder):
    """``phi(tree)``: counts of grammar features of an einspace tree (see the module docstring).

    Columns: the productions, the production overflow (together: what :meth:`edit_size`
    compares), the depth-bucketed productions, the other features, the other overflow.

    Args:
        grammar: the space's grammar (``EinSpace.grammar``); its options fix the vocabulary.
        depth_buckets: extra copies of the production counts per depth bucket (0: none).
        depth_step: depths per bucket (a module's depth in the canonical tree, root = 0; its
            terminals count with it).
        overflow: columns for names outside the vocabulary (half productions, half the rest).
        max_cache: encodings kept in memory (the cache is cleared when full).
    """

    def __init__(
        self,
        grammar: Grammar,
        depth_buckets: int = 0,
        depth_step: int = 4,
        overflow: int = 32,
        max_cache: int = 4096,
    ) -> None:
        super().__init__(max_cache=max_cache)
        if depth_buckets < 0 or depth_step < 1 or overflow < 2:
            raise ValueError("depth_buckets must be >= 0, depth_step >= 1 and overflow >= 2")
        self.dims = grammar.dims
        self.depth_buckets = depth_buckets
        self.depth_step = depth_step
        self.overflow = overflow
        productions, others = self._vocabulary(grammar)
        bucketed = [f"{n}@{b}" for b in range(depth_buckets) for n in productions]
        n_prod, n_other = overflow // 2, overflow - overflow // 2
        names = [
            *productions,
            *(f"overflow:production:{i}" for i in range(n_prod)),
            *bucketed,
            *others,
            *(f"overflow:other:{i}" for i in range(n_other)),
        ]
        self._names = tuple(names)
        self._index = {n: i for i, n in enumerate(names)}
        if len(self._index) != len(names):  # pragma: no cover - a vocabulary bug
            raise AssertionError("duplicate feature names in the tree vocabulary")
        self._overflow_production = (len(productions), n_prod)
        self._overflow_other = (len(names) - n_other, n_other)
        self._edit_columns = len(productions) + n_prod
        self._dim = len(names)

    @classmethod
    def for_space(cls, space: Any, **kwargs: Any) -> TreeFeatures:
        """The feature map of an einspace space (anything with a ``grammar``)."""
        grammar = getattr(space, "grammar", None)
        if not isinstance(grammar, Grammar):
            raise TypeError(
                f"tree features need an einspace grammar; {getattr(space, 'name', space)!r} "
                "has none"
            )
        return cls(grammar, **kwargs)

    def __repr__(self) -> str:
        return (
            f"TreeFeatures({self.dims}D, dim={self._dim}, depth_buckets={self.depth_buckets}, "
            f"depth_step={self.depth_step})"
        )

    # -- vocabulary ---------------------------------------------------------------------------

    @staticmethod
    def _vocabulary(g: Grammar) -> tuple[list[str], list[str]]:
        """(production names, other names), each in a fixed order derived from ``g``."""
        by_role: dict[str, tuple[Terminal, ...]] = {
            "B": g.branch,
            "A": g.aggregate,
            "P": g.pre,
            "R": g.post,
            "C": g.compute,
        }
        productions = [
            *MODULE_TYPES,
            *(_terminal_name(r, t) for r, ts in by_role.items() for t in ts),
        ]
        others: list[str] = []
        for role, options in by_role.items():
            families = Counter(t.family for t in options)
            others += (_family_name(role, f) for f, n in families.items() if n > 1)
            others += (  # families the grammar never samples (seed extensions)
                _family_name(role, f)
                for f, roles in FAMILY_ROLES.items()
                if f not in families and any(r.value == role for r in roles)
            )
            for t in options:
                for i in range(len(t.args)) if len(t.args) > 1 else ():
                    name = _argument_name(role, t, i)
                    if name not in others:
                        others.append(name)
        parents = [
            ROOT,
            "sequential",
            *(f"routing[{terminal_text(t)}]" for t in g.pre),
            *(f"branching[{terminal_text(t)}]" for t in g.branch),
        ]
        kids = [
            "sequential",
            "branching",
            "routing",
            *(f"computation[{terminal_text(t)}]" for t in g.compute),
        ]
        others += (f"{p}>{c}" for p in parents for c in kids)
        return productions, others

    def feature_names(self) -> tuple[str, ...]:
        """The name of every column, in order."""
        return self._names

    # -- features -----------------------------------------------------------------------------

    def features(
        self, tree: Module, parent: str = ROOT, depth: int = 0
    ) -> tuple[Counter[str], Counter[str]]:
        """``(productions, other features)`` of ``tree`` by name, with their counts.

        ``parent`` (a :func:`parent_label`) and ``depth`` place ``tree`` as a subtree: the
        features of a subtree in place, which is all a subtree resample can change.

        Depth-bucketed copies are among the other features; names outside the vocabulary are
        kept (they go to the overflow columns), except generalisations, which are dropped.
        """
        prods: Counter[str] = Counter()
        others: Counter[str] = Counter()
        stack: list[tuple[Module, str, int]] = [(tree, parent, depth)]
        while stack:
            m, parent, depth = stack.pop()
            here = [module_type(m)]
            others[f"{parent}>{_child_label(m)}"] += 1
            for role, t in _terminals(m):
                here.append(_terminal_name(role, t))
                general = [_family_name(role, t.family)]
                if len(t.args) > 1:
                    general += (_argument_name(role, t, i) for i in range(len(t.args)))
                # a generalisation outside the vocabulary generalises nothing: dropped
                others.update(g for g in general if g in self._index)
            prods.update(here)
            if self.depth_buckets:
                bucket = min(depth // self.depth_step, self.depth_buckets - 1)
                others.update(f"{p}@{bucket}" for p in here)
            label = parent_label(m)
            stack.extend((child, label, depth + 1) for child in _module_children(m))
        return prods, others

    def _column(self, name: str, overflow: tuple[int, int]) -> int:
        hit = self._index.get(name)
        if hit is not None:
            return hit
        start, size = overflow
        return start + _stable_bucket(name, size)

    def _compute(self, arch: Any) -> FloatArray:
        vec = np.zeros(self._dim, dtype=np.float64)
        prods, others = self.features(arch)
        for name, count in prods.items():
            vec[self._column(name, self._overflow_production)] += count
        for name, count in others.items():
            vec[self._column(name, self._overflow_other)] += count
        return vec

    def encode(self, arch: Any) -> FloatArray:
        if len(self._cache) >= self._max_cache:
            self._cache.clear()  # bounded: parents are re-encoded at every decision
        return super().encode(arch)

    # -- distances ----------------------------------------------------------------------------

    @property
    def production_columns(self) -> slice:
        """The unbucketed production counts with their overflow (what :meth:`edit_size` reads)."""
        return slice(0, self._edit_columns)

    def edit_size(self, a: Any, b: Any) -> int:
        """Productions removed plus added from ``a`` to ``b`` (L1 of the production counts).

        0 for equal trees, 2 for a terminal swap, at most the node counts of the old and the
        new subtree for a subtree resample; independent of ``depth_buckets``.
        """
        n = self._edit_columns
        return round(float(np.abs(self.encode(b)[:n] - self.encode(a)[:n]).sum()))
