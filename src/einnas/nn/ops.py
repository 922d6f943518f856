"""The terminal operations of einspace as small PyTorch modules.

One module class per terminal family (einspace.md §1.3, DECISIONS.md §1), built from a
:class:`~einnas.grammar.terminals.Terminal` and the :class:`~einnas.grammar.features.Feature` it
receives by :func:`terminal_module`.  Tensors carry the batch as dimension 0; a feature's
dimension ``d`` (1-based, as in the grammar) is tensor dimension ``d``.

Roles and calling conventions:

* branching (B) — ``Tensor -> list[Tensor]`` (:class:`Clone`, :class:`Group`);
* aggregation (A) — ``(*Tensor) -> Tensor`` (:class:`Add`, :class:`Cat`, :class:`MatMul`);
* routing (P, R) and computation (C) — ``Tensor -> Tensor``.

No operation works in place, so a tensor may safely be shared by several branches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from einnas.grammar.features import Feature
from einnas.grammar.terminals import CONV1D_KERNELS, Terminal, apply_compute

__all__ = [
    "Add",
    "Cat",
    "Clone",
    "Col2Im",
    "Conv1dSame",
    "Group",
    "Im2Col",
    "Im2Col1d",
    "MatMul",
    "Permute",
    "PositionalEncoding",
    "aggregate_module",
    "branch_module",
    "compute_module",
    "post_module",
    "pre_module",
    "terminal_module",
]


# ----------------------------------------------------------------------------------------------
# Branching functions (B)


class Clone(nn.Module):
    """``clone(b)``: the same tensor ``b`` times (no copy: nothing downstream is in place)."""

    def __init__(self, b: int) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: Tensor) -> list[Tensor]:
        return [x] * self.b

    def extra_repr(self) -> str:
        return f"b={self.b}"


class Group(nn.Module):
    """``group(b, d)``: ``b`` equal chunks of tensor dimension ``d`` (views, via ``torch.split``)."""

    def __init__(self, b: int, dim: int, size: int) -> None:
        super().__init__()
        if size % b:
            raise ValueError(f"group({b},{dim}): size {size} is not divisible by {b}")
        self.b = b
        self.dim = dim
        self.chunk = size // b

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(torch.split(x, self.chunk, dim=self.dim))

    def extra_repr(self) -> str:
        return f"b={self.b}, dim={self.dim}, chunk={self.chunk}"


# ----------------------------------------------------------------------------------------------
# Aggregation functions (A)


class Add(nn.Module):
    """``add``: element-wise sum of all inputs."""

    def forward(self, *xs: Tensor) -> Tensor:
        if len(xs) == 2:
            return xs[0] + xs[1]
        out = xs[0] + xs[1]
        for t in xs[2:]:
            out = out + t
        return out


class Cat(nn.Module):
    """``cat(b, d)``: concatenation along tensor dimension ``d``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class MatMul(nn.Module):
    """``dot_product`` (``a @ b``) and ``scaled_dot_product`` (``a @ b / sqrt(a.shape[-1])``)."""

    def __init__(self, scale: float | None = None) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        out = torch.matmul(a, b)
        if self.scale is not None:
            out = out * self.scale
        return out

    def extra_repr(self) -> str:
        return "" if self.scale is None else f"scale={self.scale:.6g}"


# ----------------------------------------------------------------------------------------------
# Routing functions (P, R)


class Permute(nn.Module):
    """``permute(order)``: ``x.permute(0, *order)`` (the order is 1-based over feature dims)."""

    def __init__(self, order: tuple[int, ...]) -> None:
        super().__init__()
        self.order = (0, *order)

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.order)

    def extra_repr(self) -> str:
        return f"order={self.order}"


class Im2Col(nn.Module):
    """``im2col(k, s, p)`` on ``(B, C, H, W)`` -> ``(B, H'*W', C*k*k)`` (``nn.Unfold`` feature order)."""

    def __init__(self, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.unfold(x, self.kernel, stride=self.stride, padding=self.padding).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


class Im2Col1d(nn.Module):
    """``im2col(k, s, p)`` on ``(B, C, L)`` -> ``(B, L', C*k)``; features channel-major, then tap."""

    def __init__(self, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        if self.padding:
            x = F.pad(x, (self.padding, self.padding))
        # (B, C, L', k) -> (B, L', C, k) -> (B, L', C*k)
        return x.unfold(2, self.kernel, self.stride).transpose(1, 2).flatten(2)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


class Col2Im(nn.Module):
    """``col2im``: ``(B, L, D)`` -> ``(B, D, *fold)`` with ``L == prod(fold)``."""

    def __init__(self, fold: tuple[int, ...]) -> None:
        super().__init__()
        self.fold = tuple(fold)

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.fold)

    def extra_repr(self) -> str:
        return f"fold={self.fold}"


# ----------------------------------------------------------------------------------------------
# Computation functions (C)


class PositionalEncoding(nn.Module):
    """``pos_enc``: ``x + P`` with a learnable ``P`` of the feature's shape, drawn from N(0, 1)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, *shape))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.weight

    def extra_repr(self) -> str:
        return f"shape={tuple(self.weight.shape[1:])}"


class Conv1dSame(nn.Module):
    """``conv1d(k, d)``: a length-preserving ``Conv1d(C, d, k)`` (padding from ``CONV1D_KERNELS``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        left, right = CONV1D_KERNELS[kernel]
        self.pad = (left, right)
        self.symmetric = left == right
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel, padding=left if self.symmetric else 0, bias=True
        )

    def forward(self, x: Tensor) -> Tensor:
        if not self.symmetric:
            x = F.pad(x, self.pad)
        y: Tensor = self.conv(x)
        return y


# ----------------------------------------------------------------------------------------------
# Factories


def branch_module(t: Terminal, x: Feature) -> nn.Module:
    """The module of branching terminal ``t`` applied to ``x``."""
    if t.family == "clone":
        return Clone(t.args[0])
    if t.family == "group":
        b, d = t.args
        return Group(b, d, x.shape[d - 1])
    raise ValueError(f"{t} is not a branching function")


def aggregate_module(t: Terminal, x: Feature) -> nn.Module:
    """The module of aggregation terminal ``t``; ``x`` is the first branch's output."""
    if t.family == "add":
        return Add()
    if t.family == "cat":
        return Cat(t.args[1])
    if t.family == "dot_product":
        return MatMul()
    if t.family == "scaled_dot_product":
        return MatMul(1.0 / math.sqrt(x.shape[-1]))
    raise ValueError(f"{t} is not an aggregation function")


def pre_module(t: Terminal, x: Feature) -> nn.Module:
    """The module of pre-routing terminal ``t`` applied to ``x``."""
    if t.family == "identity":
        return nn.Identity()
    if t.family == "permute":
        return Permute(t.args)
    if t.family == "im2col":
        k, s, p = t.args
        if x.rank == 2:
            return Im2Col1d(k, s, p)
        return Im2Col(k, s, p)
    raise ValueError(f"{t} is not a pre-routing function")


def post_module(t: Terminal, x: Feature, fold: tuple[int, ...] | None) -> nn.Module:
    """The module of post-routing terminal ``t``; ``fold`` is the routing's im2col fold shape."""
    if t.family == "identity":
        return nn.Identity()
    if t.family == "permute":
        return Permute(t.args)
    if t.family == "col2im":
        if fold is None:
            raise ValueError("col2im needs the fold shape of its routing module's im2col")
        return Col2Im(fold)
    raise ValueError(f"{t} is not a post-routing function")


def compute_module(t: Terminal, x: Feature) -> nn.Module:
    """The module of computation terminal ``t`` applied to ``x``."""
    f = t.family
    if f == "identity":
        return nn.Identity()
    if f in ("linear", "linear_x", "linear_div"):
        return nn.Linear(x.shape[-1], apply_compute(t, x).shape[-1], bias=True)
    if f == "norm":
        if x.mode == "col":
            return nn.LayerNorm(x.shape[-1])
        if x.rank == 2:
            return nn.BatchNorm1d(x.shape[0])
        return nn.BatchNorm2d(x.shape[0])
    if f == "leakyrelu":
        return nn.LeakyReLU()
    if f == "softmax":
        return nn.Softmax(dim=-1)
    if f == "pos_enc":
        return PositionalEncoding(x.shape)
    if f == "conv1d":
        k, width = t.args
        return Conv1dSame(x.shape[0], width, k)
    raise ValueError(f"{t} is not a computation function")


def terminal_module(
    t: Terminal, role: str, x: Feature, fold: tuple[int, ...] | None = None
) -> nn.Module:
    """The module of terminal ``t`` in ``role`` ("B", "A", "P", "R" or "C") with input ``x``.

    For an aggregation ``x`` is the first branch's output; for a post-routing ``fold`` is the
    spatial shape opened by the routing module's im2col (``NodeInfo.fold``).
    """
    if role == "B":
        return branch_module(t, x)
    if role == "A":
        return aggregate_module(t, x)
    if role == "P":
        return pre_module(t, x)
    if role == "R":
        return post_module(t, x, fold)
    if role == "C":
        return compute_module(t, x)
    raise ValueError(f"unknown role {role!r}")
