"""Terminal operations of einspace: their names, text form and exact shape semantics.

A terminal is a family name plus integer arguments, e.g. ``Terminal("im2col", (3, 1, 1))``.
Every terminal plays one *role* in a module: branching (B), aggregation (A), pre-routing (P),
post-routing (R) or computation (C).  This module says, for each, how it transforms a
:class:`~einnas.grammar.features.Feature`, how many parameters and multiply-accumulates it costs,
and how it is written.  It is pure Python: nothing here builds a tensor (``einnas.nn`` does).

Shape rules follow einspace.md §2.4 with the clean-version fixes of DECISIONS.md §1:
``col2im`` requires ``L == H'*W'`` of the im2col that opened the routing module, ``group``
requires exact divisibility, and aggregations are checked against the branching factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from einnas.grammar.features import Feature, ShapeError


class Role(str, Enum):
    """The slot a terminal fills inside its module."""

    BRANCH = "B"
    AGGREGATE = "A"
    PRE = "P"
    POST = "R"
    COMPUTE = "C"


@dataclass(frozen=True, slots=True)
class Terminal:
    """A terminal operation: a family name and its integer arguments."""

    family: str
    args: tuple[int, ...] = ()

    def __str__(self) -> str:
        return terminal_text(self)


# Families and the roles they may fill; argument counts are checked by ``check_terminal``.
FAMILY_ROLES: dict[str, frozenset[Role]] = {
    "clone": frozenset({Role.BRANCH}),
    "group": frozenset({Role.BRANCH}),
    "add": frozenset({Role.AGGREGATE}),
    "cat": frozenset({Role.AGGREGATE}),
    "dot_product": frozenset({Role.AGGREGATE}),
    "scaled_dot_product": frozenset({Role.AGGREGATE}),
    "identity": frozenset({Role.PRE, Role.POST, Role.COMPUTE}),
    "permute": frozenset({Role.PRE, Role.POST}),
    "im2col": frozenset({Role.PRE}),
    "col2im": frozenset({Role.POST}),
    "linear": frozenset({Role.COMPUTE}),
    "linear_x": frozenset({Role.COMPUTE}),
    "linear_div": frozenset({Role.COMPUTE}),
    "norm": frozenset({Role.COMPUTE}),
    "leakyrelu": frozenset({Role.COMPUTE}),
    "softmax": frozenset({Role.COMPUTE}),
    "pos_enc": frozenset({Role.COMPUTE}),
    "conv1d": frozenset({Role.COMPUTE}),
}

_ARITY: dict[str, tuple[int, ...]] = {
    "clone": (1,),
    "group": (2,),
    "add": (0,),
    "cat": (2,),
    "dot_product": (0,),
    "scaled_dot_product": (0,),
    "identity": (0,),
    "permute": (2, 3),
    "im2col": (3,),
    "col2im": (0,),
    "linear": (1,),
    "linear_x": (1,),
    "linear_div": (1,),
    "norm": (0,),
    "leakyrelu": (0,),
    "softmax": (0,),
    "pos_enc": (0,),
    "conv1d": (2,),
}

# Families whose single width argument is glued to the name (``linear64``, ``linear_x4``).
_GLUED = ("linear_div", "linear_x", "linear")
_GLUED_RE = re.compile(r"^(linear_div|linear_x|linear)(\d+)$")

BRANCHING_FACTORS = (2, 4, 8)
CONV1D_KERNELS = {1: (0, 0), 3: (1, 1), 5: (2, 2), 8: (3, 4)}  # kernel -> (left, right) padding


def terminal_text(t: Terminal) -> str:
    """Canonical text of a terminal (``linear64``, ``im2col(3,1,1)``, ``add``)."""
    if t.family in _GLUED:
        return f"{t.family}{t.args[0]}"
    if not t.args:
        return t.family
    return f"{t.family}({','.join(str(a) for a in t.args)})"


def split_glued(name: str) -> tuple[str, tuple[int, ...]] | None:
    """Split ``linear64`` into ``("linear", (64,))``; ``None`` if ``name`` is not glued."""
    m = _GLUED_RE.match(name)
    if m is None:
        return None
    return m.group(1), (int(m.group(2)),)


def check_terminal(t: Terminal) -> str | None:
    """Why ``t`` is not a well-formed terminal, or ``None`` if it is (independent of shapes)."""
    if t.family not in FAMILY_ROLES:
        return f"unknown operation {t.family!r}"
    if len(t.args) not in _ARITY[t.family]:
        want = " or ".join(str(n) for n in _ARITY[t.family])
        return f"{t.family} takes {want} argument(s), got {len(t.args)}"
    if any(a < 0 for a in t.args):
        return f"{terminal_text(t)}: arguments must be non-negative"
    f, a = t.family, t.args
    if f in ("clone", "group", "cat") and a[0] not in BRANCHING_FACTORS:
        return f"{terminal_text(t)}: branching factor must be one of 2, 4, 8"
    if f in ("group", "cat") and a[1] not in (1, 2, 3):
        return f"{terminal_text(t)}: dimension must be 1, 2 or 3"
    if f == "permute" and sorted(a) != list(range(1, len(a) + 1)):
        return f"{terminal_text(t)}: not a permutation of 1..{len(a)}"
    if f == "im2col" and (a[0] < 1 or a[1] < 1):
        return f"{terminal_text(t)}: kernel and stride must be >= 1"
    if f in ("linear", "linear_x", "linear_div") and a[0] < 1:
        return f"{terminal_text(t)}: width must be >= 1"
    if f == "conv1d" and (a[0] not in CONV1D_KERNELS or a[1] < 1):
        return f"{terminal_text(t)}: kernel must be one of 1, 3, 5, 8 and width >= 1"
    return None


def branching_factor(t: Terminal) -> int:
    """b of a branching (clone/group) or aggregation (cat) terminal; 2 for add/matmul."""
    if t.family in ("clone", "group", "cat"):
        return t.args[0]
    return 2


# ----------------------------------------------------------------------------------------------
# Shape semantics


def apply_branch(t: Terminal, x: Feature) -> tuple[int, Feature]:
    """Branching factor and the feature each branch receives."""
    b = t.args[0]
    if t.family == "clone":
        return b, x
    if t.family == "group":
        d = t.args[1]
        if d > x.rank:
            raise ShapeError(f"{t}: input {x} has no dimension {d}")
        n = x.shape[d - 1]
        if n % b:
            raise ShapeError(f"{t}: dimension {d} of {x} ({n}) is not divisible by {b}")
        shape = list(x.shape)
        shape[d - 1] = n // b
        return b, x.with_shape(tuple(shape))
    raise ShapeError(f"{t} is not a branching function")


def apply_aggregate(t: Terminal, b: int, xs: tuple[Feature, ...]) -> Feature:
    """Merge the ``b`` branch outputs ``xs`` (``len(xs) == b``)."""
    first = xs[0]
    if any(x.mode != first.mode or x.rank != first.rank for x in xs):
        raise ShapeError(f"{t}: branches end in different modes/ranks: {', '.join(map(str, xs))}")
    f = t.family
    if f == "add":
        if any(x.shape != first.shape for x in xs):
            raise ShapeError(f"add needs equal shapes, got {', '.join(map(str, xs))}")
        return first
    if f == "cat":
        want_b, d = t.args
        if want_b != b:
            raise ShapeError(f"{t} joins {want_b} branches but the module has {b}")
        if d > first.rank:
            raise ShapeError(f"{t}: features {first} have no dimension {d}")
        for x in xs[1:]:
            if any(i != d - 1 and x.shape[i] != first.shape[i] for i in range(first.rank)):
                raise ShapeError(f"{t}: shapes differ outside dimension {d}: {first} vs {x}")
        shape = list(first.shape)
        shape[d - 1] = sum(x.shape[d - 1] for x in xs)
        return first.with_shape(tuple(shape))
    if f in ("dot_product", "scaled_dot_product"):
        if b != 2:
            raise ShapeError(f"{f} needs exactly 2 branches, the module has {b}")
        a, c = xs
        if a.shape[:-2] != c.shape[:-2] or a.shape[-1] != c.shape[-2]:
            raise ShapeError(f"{f}: cannot multiply {a} by {c} (need (...,n,m) @ (...,m,q))")
        return a.with_shape((*a.shape[:-1], c.shape[-1]))
    raise ShapeError(f"{t} is not an aggregation function")


def im2col_output(t: Terminal, x: Feature) -> tuple[Feature, tuple[int, ...]]:
    """Output feature of ``im2col(k,s,p)`` and the spatial fold shape it opens."""
    k, s, p = t.args
    if x.mode != "im":
        raise ShapeError(f"{t} needs an image feature, got {x}")
    spatial = x.shape[1:]
    if any(n + 2 * p < k for n in spatial):
        raise ShapeError(
            f"{t}: padded spatial size {tuple(n + 2 * p for n in spatial)} is smaller than the kernel {k}"
        )
    fold = tuple((n + 2 * p - k) // s + 1 for n in spatial)
    length = 1
    for n in fold:
        length *= n
    return Feature("col", (length, x.shape[0] * k ** len(spatial))), fold


def permute_output(t: Terminal, x: Feature) -> Feature:
    order = t.args
    if len(order) != x.rank:
        raise ShapeError(f"{t} needs a rank-{len(order)} feature, got {x}")
    if x.mode == "col" and len(order) != 2:
        raise ShapeError(f"{t} cannot permute a token feature {x}")
    return x.with_shape(tuple(x.shape[i - 1] for i in order))


def apply_pre(t: Terminal, x: Feature) -> tuple[Feature, tuple[int, ...] | None]:
    """Pre-routing: output feature and, for im2col, the fold shape that col2im must restore."""
    if t.family == "identity":
        return x, None
    if t.family == "permute":
        return permute_output(t, x), None
    if t.family == "im2col":
        return im2col_output(t, x)
    raise ShapeError(f"{t} cannot be a pre-routing function")


def apply_post(t: Terminal, x: Feature, fold: tuple[int, ...] | None) -> Feature:
    """Post-routing; ``fold`` is the spatial shape opened by this routing module's im2col."""
    if t.family == "identity":
        return x
    if t.family == "permute":
        return permute_output(t, x)
    if t.family == "col2im":
        if fold is None:
            raise ShapeError("col2im must close a routing module whose pre-routing is im2col")
        if x.mode != "col":
            raise ShapeError(f"col2im needs a token feature, got {x}")
        length = 1
        for n in fold:
            length *= n
        if x.shape[0] != length:
            raise ShapeError(
                f"col2im needs L = {'*'.join(map(str, fold))} = {length}, got L = {x.shape[0]}"
            )
        return Feature("im", (x.shape[1], *fold))
    raise ShapeError(f"{t} cannot be a post-routing function")


def apply_compute(t: Terminal, x: Feature) -> Feature:
    f = t.family
    if f in ("identity", "norm", "leakyrelu", "softmax", "pos_enc"):
        return x
    last = x.shape[-1]
    if f == "linear":
        return x.with_shape((*x.shape[:-1], t.args[0]))
    if f == "linear_x":
        return x.with_shape((*x.shape[:-1], last * t.args[0]))
    if f == "linear_div":
        if last % t.args[0]:
            raise ShapeError(f"{t}: last dimension {last} is not divisible by {t.args[0]}")
        return x.with_shape((*x.shape[:-1], last // t.args[0]))
    if f == "conv1d":
        if x.mode != "im" or x.rank != 2:
            raise ShapeError(f"{t} needs a 1D image feature (C, L), got {x}")
        return Feature("im", (t.args[1], x.shape[1]))
    raise ShapeError(f"{t} cannot be a computation function")


def compute_params(t: Terminal, x: Feature) -> int:
    """Exact number of learnable parameters of computation ``t`` applied to ``x``."""
    f = t.family
    last = x.shape[-1]
    if f in ("linear", "linear_x", "linear_div"):
        out = apply_compute(t, x).shape[-1]
        return last * out + out
    if f == "norm":
        return 2 * (x.shape[0] if x.mode == "im" else last)
    if f == "pos_enc":
        return x.numel
    if f == "conv1d":
        k, width = t.args
        return x.shape[0] * k * width + width
    return 0


def compute_macs(t: Terminal, x: Feature) -> int:
    """Multiply-accumulates per example of computation ``t`` on ``x`` (weights only)."""
    f = t.family
    if f in ("linear", "linear_x", "linear_div"):
        out = apply_compute(t, x).shape[-1]
        return (x.numel // x.shape[-1]) * x.shape[-1] * out
    if f == "conv1d":
        k, width = t.args
        return x.shape[0] * k * width * x.shape[1]
    return 0


def aggregate_macs(t: Terminal, xs: tuple[Feature, ...]) -> int:
    if t.family in ("dot_product", "scaled_dot_product"):
        a, c = xs
        return a.numel * c.shape[-1]
    return 0


# ----------------------------------------------------------------------------------------------
# The sampled option lists (einspace.md §1.3) for a space with ``dims`` spatial dimensions.


def branch_options(dims: int) -> tuple[Terminal, ...]:
    rank = dims + 1
    clones = tuple(Terminal("clone", (b,)) for b in BRANCHING_FACTORS)
    groups = tuple(Terminal("group", (b, d)) for b in BRANCHING_FACTORS for d in range(1, rank + 1))
    return clones + groups


def aggregate_options(dims: int) -> tuple[Terminal, ...]:
    rank = dims + 1
    cats = tuple(Terminal("cat", (b, d)) for b in BRANCHING_FACTORS for d in range(1, rank + 1))
    return (Terminal("dot_product"), Terminal("scaled_dot_product"), Terminal("add"), *cats)


IM2COL_SETTINGS = ((1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (4, 4, 0), (8, 8, 0), (16, 16, 0))
_PERMUTES_2D = ((2, 1), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1))


def pre_options(dims: int) -> tuple[Terminal, ...]:
    perms = _PERMUTES_2D if dims == 2 else ((2, 1),)
    return (
        Terminal("identity"),
        *(Terminal("permute", p) for p in perms),
        *(Terminal("im2col", s) for s in IM2COL_SETTINGS),
    )


def post_options(dims: int) -> tuple[Terminal, ...]:
    perms = _PERMUTES_2D if dims == 2 else ((2, 1),)
    return (Terminal("identity"), *(Terminal("permute", p) for p in perms), Terminal("col2im"))


LINEAR_WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048)
CONV1D_WIDTHS = (32, 64, 128, 256)


def compute_options(dims: int) -> tuple[Terminal, ...]:
    base = (
        Terminal("identity"),
        *(Terminal("linear", (w,)) for w in LINEAR_WIDTHS),
        Terminal("norm"),
        Terminal("leakyrelu"),
        Terminal("softmax"),
        Terminal("pos_enc"),
    )
    if dims == 1:
        convs = tuple(Terminal("conv1d", (k, w)) for k in CONV1D_KERNELS for w in CONV1D_WIDTHS)
        return base + convs
    return base
