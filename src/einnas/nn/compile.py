"""Compile einspace trees to PyTorch modules (einspace.md §2.6, §2.7; DECISIONS.md §1).

``compile_backbone(tree, input_shape)`` builds the backbone, ``compile_network(tree, input_shape,
num_classes)`` adds the paper's head.  The compiler reads every node's context (input feature,
fold shape, ...) from :func:`einnas.grammar.analyze`, so no forward pass is needed to build a
network, and the result has exactly the inferred shapes and parameter count
(``network_params(analyze(tree, shape), num_classes)``).

What the compiled module looks like:

* chains of ``sequential`` and ``routing`` modules are flattened into one ``nn.Sequential``
  (identity terminals are dropped; a chain of one module is that module);
* ``routing[im2col(k,s,p), computation[linear*], col2im]`` becomes one ``nn.Conv2d`` (``nn.Conv1d``
  on 1D inputs) with the same parameters as the linear (``fuse=True``, the default);
* a branching module applies its branching function, one compiled inner module per branch and its
  aggregation; for b = 4 / 8 the one shared inner structure of the tree is compiled ``b`` times,
  each copy with its own independently initialised parameters.  ``clone(2)`` branchings skip the
  list (:class:`Fork2`), and ``clone(2)`` + ``add`` is a residual sum (:class:`Residual2`);
* with ``inplace=True`` (default) a LeakyReLU that directly follows an operation with a fresh
  output (conv, linear, norm, an aggregation) runs in place, and a residual sum accumulates into
  its first branch's output when that is fresh — as torchvision does.  A tensor that another
  branch may still read is never modified.

Parameters are initialised by PyTorch's default initialisers in a fixed order, so the network is
deterministic given ``torch.manual_seed``.

Before anything is allocated, the exact size of the tree (parameters, the largest per-example
tensor, compiled nodes) is checked against :class:`einnas.grammar.SizeLimits` (``limits``, else
the defaults and the ``EINNAS_MAX_*`` environment variables): a tree over a limit raises
:class:`einnas.grammar.SizeLimitError` instead of asking PyTorch for gigabytes.
"""

from __future__ import annotations

from torch import Tensor, nn

from einnas.grammar.features import Feature
from einnas.grammar.inference import Analysis, NodeInfo, analyze, head_params
from einnas.grammar.limits import SizeLimits
from einnas.grammar.terminals import Terminal
from einnas.grammar.tree import Branching, Computation, Module, Path, Routing, Sequential
from einnas.nn.ops import (
    Add,
    Cat,
    Clone,
    Conv1dSame,
    MatMul,
    aggregate_module,
    branch_module,
    compute_module,
    post_module,
    pre_module,
)

__all__ = [
    "Branch2",
    "BranchN",
    "Fork2",
    "Head",
    "Network",
    "Residual2",
    "compile_backbone",
    "compile_network",
]

_LINEAR_FAMILIES = ("linear", "linear_x", "linear_div")


class Branch2(nn.Module):
    """A two-way branching module: ``aggregate(first(x0), second(x1))`` with ``x0, x1 = branch(x)``."""

    def __init__(
        self, branch: nn.Module, first: nn.Module, second: nn.Module, aggregate: nn.Module
    ) -> None:
        super().__init__()
        self.branch = branch
        self.first = first
        self.second = second
        self.aggregate = aggregate

    def forward(self, x: Tensor) -> Tensor:
        x0, x1 = self.branch(x)
        y: Tensor = self.aggregate(self.first(x0), self.second(x1))
        return y


class Fork2(Branch2):
    """``clone(2)`` branching: both inner modules read ``x`` itself (no list is built)."""

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.aggregate(self.first(x), self.second(x))
        return y


class Residual2(Branch2):
    """``clone(2)`` + ``add`` (a residual block): ``first(x) + second(x)``.

    With ``inplace`` the sum is accumulated into ``first``'s output; the compiler sets it only
    when that output is a fresh tensor that its producer does not keep for backward.
    """

    def __init__(
        self,
        branch: nn.Module,
        first: nn.Module,
        second: nn.Module,
        aggregate: nn.Module,
        inplace: bool,
    ) -> None:
        super().__init__(branch, first, second, aggregate)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.first(x)
        if self.inplace:
            y += self.second(x)
            return y
        z: Tensor = y + self.second(x)
        return z

    def extra_repr(self) -> str:
        return f"inplace={self.inplace}"


class BranchN(nn.Module):
    """A b-way branching module (b = 4 / 8): ``aggregate(*(m_i(x_i)))`` with ``x_i = branch(x)[i]``."""

    def __init__(self, branch: nn.Module, inners: list[nn.Module], aggregate: nn.Module) -> None:
        super().__init__()
        self.branch = branch
        self.inners = nn.ModuleList(inners)
        self.aggregate = aggregate

    def forward(self, x: Tensor) -> Tensor:
        xs = self.branch(x)
        y: Tensor = self.aggregate(*[m(xi) for m, xi in zip(self.inners, xs)])
        return y


class Head(nn.Module):
    """The paper's head (einspace.md §2.6): mean over every dimension after the first, then linear.

    Im output ``(B, C, *spatial)``: global average over space, ``Linear(C, classes)``.
    Col output ``(B, S, D)``: average over the token features D, ``Linear(S, classes)``.
    """

    def __init__(self, output: Feature, num_classes: int) -> None:
        super().__init__()
        self.dims = tuple(range(2, output.rank + 1))
        self.fc = nn.Linear(output.shape[0], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.fc(x.mean(dim=self.dims))
        return y


class Network(nn.Module):
    """A compiled einspace network: ``head(backbone(x))``, plus the tree it was built from."""

    def __init__(
        self,
        backbone: nn.Module,
        head: Head,
        tree: Module,
        input_shape: tuple[int, ...],
        num_classes: int,
        analysis: Analysis,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.tree = tree
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.analysis = analysis

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.head(self.backbone(x))
        return y


# ----------------------------------------------------------------------------------------------
# The compiler


def _chain(mods: list[nn.Module]) -> nn.Module:
    """One module for a flat list: the module itself, an ``nn.Sequential`` or ``nn.Identity``."""
    if not mods:
        return nn.Identity()
    if len(mods) == 1:
        return mods[0]
    return nn.Sequential(*mods)


def _is_identity(t: Terminal) -> bool:
    return t.family == "identity"


# Modules whose output is a fresh tensor (never a view of their input, never shared) that their
# backward does not need: the next operation may overwrite it in place.
_FRESH = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, Conv1dSame)


def _fresh_output(m: nn.Module) -> bool:
    """Whether ``m``'s output may be modified in place by its consumer."""
    if isinstance(m, nn.Sequential):
        return len(m) > 0 and _fresh_output(m[-1])
    if isinstance(m, Residual2) and m.inplace:  # the sum lives in ``first``'s output
        return _fresh_output(m.first)
    if isinstance(m, (Branch2, BranchN)):  # add / cat / matmul results are fresh, not saved
        return isinstance(m.aggregate, (Add, Cat, MatMul))
    return isinstance(m, _FRESH)


class _Compiler:
    def __init__(self, analysis: Analysis, fuse: bool, inplace: bool) -> None:
        self.info: dict[Path, NodeInfo] = {i.path: i for i in analysis.nodes}
        self.fuse = fuse
        self.inplace = inplace

    def feature(self, path: Path) -> Feature:
        return self.info[path].input

    def module(self, m: Module, path: Path) -> nn.Module:
        out: list[nn.Module] = []
        self.flatten(m, path, out)
        if self.inplace:
            # An activation right after a fresh-output producer (conv/linear/norm/residual add)
            # runs in place, as in torchvision's networks.  The chain's first module never does:
            # its input may be shared with another branch.
            for i in range(1, len(out)):
                if isinstance(out[i], nn.LeakyReLU) and _fresh_output(out[i - 1]):
                    out[i] = nn.LeakyReLU(inplace=True)
        return _chain(out)

    def flatten(self, m: Module, path: Path, out: list[nn.Module]) -> None:
        """Append the modules of ``m`` (input context at ``path``) to the chain ``out``."""
        # Iterative over the right spine of sequential chains, recursive elsewhere.
        while isinstance(m, Sequential):
            self.flatten(m.first, (*path, 0), out)
            m, path = m.second, (*path, 1)
        if isinstance(m, Computation):
            if not _is_identity(m.op):
                out.append(compute_module(m.op, self.feature((*path, 0))))
        elif isinstance(m, Routing):
            fused = self.fused_conv(m, path)
            if fused is not None:
                out.append(fused)
                return
            if not _is_identity(m.pre):
                out.append(pre_module(m.pre, self.feature((*path, 0))))
            self.flatten(m.inner, (*path, 1), out)
            if not _is_identity(m.post):
                post = self.info[(*path, 2)]
                out.append(post_module(m.post, post.input, post.fold))
        else:
            out.append(self.branching(m, path))

    def fused_conv(self, m: Routing, path: Path) -> nn.Module | None:
        """``routing[im2col(k,s,p), computation[linear*], col2im]`` as a convolution, else None."""
        if not (
            self.fuse
            and m.pre.family == "im2col"
            and m.post.family == "col2im"
            and isinstance(m.inner, Computation)
            and m.inner.op.family in _LINEAR_FAMILIES
        ):
            return None
        x = self.info[path].input
        y = self.info[path].output
        k, s, p = m.pre.args
        conv = nn.Conv1d if x.rank == 2 else nn.Conv2d
        return conv(x.shape[0], y.shape[0], k, stride=s, padding=p, bias=True)

    def branching(self, m: Branching, path: Path) -> nn.Module:
        x = self.feature((*path, 0))
        branch = branch_module(m.branch, x)
        agg_path = (*path, 1 + len(m.inners))
        aggregate = aggregate_module(m.aggregate, self.info[agg_path].input)
        if len(m.inners) == 2:
            first = self.module(m.inners[0], (*path, 1))
            second = self.module(m.inners[1], (*path, 2))
            if not isinstance(branch, Clone):
                return Branch2(branch, first, second, aggregate)
            if isinstance(aggregate, Add):
                inplace = self.inplace and _fresh_output(first)
                return Residual2(branch, first, second, aggregate, inplace)
            return Fork2(branch, first, second, aggregate)
        inners = [self.module(m.inners[0], (*path, 1)) for _ in range(m.factor)]
        return BranchN(branch, inners, aggregate)


def compile_backbone(
    tree: Module,
    input_shape: tuple[int, ...],
    *,
    fuse: bool = True,
    inplace: bool = True,
    analysis: Analysis | None = None,
    limits: SizeLimits | None = None,
) -> nn.Module:
    """Build the backbone of ``tree`` for inputs of shape ``input_shape`` (batch excluded).

    The module maps ``(B, *input_shape)`` to ``(B, *analyze(tree, input_shape).output.shape)``.
    ``fuse=False`` keeps im2col -> linear -> col2im unfused (same function and parameter count).
    ``inplace=False`` disables the in-place activations and residual adds (same function).
    Raises :class:`einnas.grammar.InvalidArchitecture` for a tree invalid on this input and
    :class:`einnas.grammar.SizeLimitError` for one over ``limits`` (default
    ``SizeLimits.from_env()``), before anything is allocated.
    """
    a = analysis if analysis is not None else analyze(tree, tuple(input_shape))
    (limits if limits is not None else SizeLimits.from_env()).check(a)
    return _Compiler(a, fuse, inplace).module(tree, ())


def compile_network(
    tree: Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    fuse: bool = True,
    inplace: bool = True,
    limits: SizeLimits | None = None,
) -> Network:
    """Build the full network (backbone + the paper's head) of ``tree``.

    Its parameter count is exactly ``network_params(analyze(tree, input_shape), num_classes)``.
    A tree over ``limits`` (default ``SizeLimits.from_env()``: 100 M parameters, 256 MiB per
    example for the largest tensor, 200,000 compiled nodes) raises
    :class:`einnas.grammar.SizeLimitError` before anything is allocated.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    shape = tuple(int(d) for d in input_shape)
    a = analyze(tree, shape)
    limits = limits if limits is not None else SizeLimits.from_env()
    limits.check(a, num_classes)
    backbone = compile_backbone(tree, shape, fuse=fuse, inplace=inplace, analysis=a, limits=limits)
    head = Head(a.output, num_classes)
    assert sum(p.numel() for p in head.parameters()) == head_params(a.output, num_classes)
    return Network(backbone, head, tree, shape, num_classes, a)
