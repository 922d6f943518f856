"""The baseline architectures of einspace (einspace.md §4.6) as real, mutable grammar trees.

Four seeds, named by :data:`SEED_NAMES`:

* ``resnet18`` — ResNet-18 "no max-pool" (the original's ``resnet18_no_maxpool``): a 3x3 stem
  whose max-pool is replaced by a stride-2 3x3 convolution, post-activation basic blocks with
  LeakyReLU, 1x1 stride-2 projection shortcuts (with norm) on stage entry.
* ``wrn16_4`` — WideResNet-16-4: widths 16 -> 64/128/256, two blocks per stage, the
  "conv-BN-ReLU-conv, add, BN-ReLU" ordering, 1x1 projection shortcuts on stage entry.
* ``vit`` — ViT with patch 4, width 512, 4 post-norm layers, 4 heads of dimension 64 (one shared
  head structure, ``branching(4)[clone(4), sdpa, cat(4,2)]``), FFN hidden width 512, a learnable
  positional encoding and no CLS token.
* ``mlp_mixer`` — MLP-Mixer with patch 4, width 512, 8 layers (one residual per layer around
  norm -> token mixing -> channel mixing).

Every seed is written with the canonical text form of :mod:`einnas.grammar.text` and built
from two macros of einspace.md §4.6::

    conv(k, s, p, d) := routing[im2col(k,s,p), computation[linear<d>], col2im]
    C(x)             := computation[x]

The nesting of ``sequential`` modules follows §4.6 exactly, so node counts and mutation
probabilities are comparable with the original.

Where the seeds leave the sampled grammar (documented grammar extensions)
------------------------------------------------------------------------
1. **Relative-width linears** — the MLP-Mixer's token-mixing MLP uses ``linear_x4`` (output width
   = 4 x input width; the original's ``linear_x4``) and ``linear_div4`` (output width = input
   width / 4; the original's ``linear_4th``).  They are terminals of :mod:`einnas.grammar`
   (``linear_x<k>``, ``linear_div<k>``) that parse, analyse and compile, but are not among the
   sampled computation options, so a mutation can replace them but never creates them, and
   ``Grammar.log_prob`` of the Mixer seed is ``-inf``.  Their size scales with the square of the
   token count (e.g. 19.2 M parameters on 1x64x128 inputs with 512 tokens).
2. **Bare terminals in module slots** — the original placed some computation terminals directly
   in a module slot (marked ``!x`` in §4.6): the ``norm`` and ``leakyrelu`` after the ResNet-18
   and WRN stems, the ``norm`` after each ViT residual, and the ViT FFN's last ``linear512``.
   Such a slot is not derivable from ``M`` (and the original could not mutate it); here each is
   wrapped as ``computation[x]``.  This is grammar-conformant and has exactly the same
   parameters and function; it adds one node per wrapped terminal.

Everything else (``clone``, ``add``, ``cat(4,2)``, (scaled) dot products, ``permute(2,1)``,
``im2col(3,1,1)`` / ``(3,2,1)`` / ``(1,1,0)`` / ``(1,2,0)`` / ``(4,4,0)``, ``linear64/256/512``,
``norm``, ``leakyrelu``, ``softmax``, ``pos_enc`` (learnable), ``identity``) is in the sampled
grammar.  The seeds' parameter counts (backbone + 10-class head) match the §4.6 table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from einnas.grammar import Module, parse

__all__ = [
    "SEED_NAMES",
    "SEED_NAMES_1D",
    "UnknownSeedError",
    "block",
    "branch2",
    "cnn1d_text",
    "comp",
    "conv",
    "mlp_mixer_text",
    "resnet18_text",
    "seed_text",
    "seed_tree",
    "seeds_for",
    "seq",
    "vit_text",
    "wrn16_4_text",
]

SEED_NAMES: tuple[str, ...] = ("resnet18", "wrn16_4", "vit", "mlp_mixer")
"""Seeds for image inputs ``(C, H, W)`` (the 2D space)."""

SEED_NAMES_1D: tuple[str, ...] = ("cnn1d",)
"""Seeds for sequence inputs ``(C, L)`` (the 1D space)."""


class UnknownSeedError(ValueError):
    """A seed name that is not one of :data:`SEED_NAMES`."""

    def __init__(self, name: str) -> None:
        self.name = name
        valid = ", ".join(SEED_NAMES + SEED_NAMES_1D)
        super().__init__(f"unknown seed architecture {name!r}; valid seeds are: {valid}")


# ----------------------------------------------------------------------------------------------
# Macros (each returns canonical text)


def conv(k: int, s: int, p: int, d: int) -> str:
    """A ``k``x``k`` convolution, stride ``s``, padding ``p``, ``d`` output channels (with bias)."""
    return f"routing[im2col({k},{s},{p}), computation[linear{d}], col2im]"


def comp(op: str) -> str:
    """``C(x)``: a computation module holding the single terminal ``op``."""
    return f"computation[{op}]"


def seq(first: str, second: str) -> str:
    """``sequential[first, second]``."""
    return f"sequential[{first}, {second}]"


def branch2(first: str, second: str, aggregate: str, branch: str = "clone(2)") -> str:
    """A two-way branching module ``branching(2)[branch, first, second, aggregate]``."""
    return f"branching(2)[{branch}, {first}, {second}, {aggregate}]"


def block(main: str, shortcut: str, after: str) -> str:
    """A residual block: ``sequential[branching(2)[clone(2), main, shortcut, add], after]``."""
    return seq(branch2(main, shortcut, "add"), after)


# ----------------------------------------------------------------------------------------------
# ResNet-18 (no max-pool)


def _rn_block(d: int, stride: int) -> str:
    """ResNet basic block; ``stride`` 2 gives the stage-entry block with a projection shortcut."""
    first = conv(3, 1, 1, d) if stride == 1 else conv(3, 2, 1, d)
    main = seq(
        seq(seq(first, comp("norm")), comp("leakyrelu")),
        seq(conv(3, 1, 1, d), comp("norm")),
    )
    shortcut = comp("identity") if stride == 1 else seq(conv(1, 2, 0, d), comp("norm"))
    return block(main, shortcut, comp("leakyrelu"))


def resnet18_text() -> str:
    """Text of ResNet-18 "no max-pool" (§4.6 ``resnet18_no_maxpool``)."""
    stem = seq(
        seq(seq(conv(3, 1, 1, 64), comp("norm")), comp("leakyrelu")),  # !norm, !leakyrelu wrapped
        conv(3, 2, 1, 64),  # replaces the stem max-pool
    )

    def stage(d: int, stride: int) -> str:
        return seq(_rn_block(d, stride), _rn_block(d, 1))

    return seq(
        seq(stem, seq(stage(64, 1), stage(128, 2))),
        seq(stage(256, 2), stage(512, 2)),
    )


# ----------------------------------------------------------------------------------------------
# WideResNet-16-4


def _bnrelu() -> str:
    return seq(comp("norm"), comp("leakyrelu"))


def _wrn_block(d: int, stride: int, projection: bool) -> str:
    """WRN block ``sc`` / ``ssc`` (projection shortcut) or ``idb`` (identity shortcut)."""
    first = conv(3, 1, 1, d) if stride == 1 else conv(3, 2, 1, d)
    main = seq(seq(first, _bnrelu()), conv(3, 1, 1, d))
    shortcut = conv(1, stride, 0, d) if projection else comp("identity")
    return block(main, shortcut, _bnrelu())


def wrn16_4_text() -> str:
    """Text of WideResNet-16-4 (§4.6 ``wideresnet16_4``)."""
    stem = seq(seq(conv(3, 1, 1, 16), comp("norm")), comp("leakyrelu"))  # !norm, !leakyrelu wrapped

    def stage(d: int, stride: int) -> str:
        return seq(_wrn_block(d, stride, projection=True), _wrn_block(d, 1, projection=False))

    return seq(stem, seq(seq(stage(64, 1), stage(128, 2)), stage(256, 2)))


# ----------------------------------------------------------------------------------------------
# ViT and MLP-Mixer


def _patch() -> str:
    """4x4 patch embedding to width 512 followed by a learnable positional encoding."""
    return seq(f"routing[im2col(4,4,0), {comp('linear512')}, identity]", comp("pos_enc"))


def _sdpa() -> str:
    """One attention head of dimension 64: softmax(Q K^T / sqrt(64)) V."""
    q = comp("linear64")
    k_t = f"routing[identity, {comp('linear64')}, permute(2,1)]"
    scores = seq(branch2(q, k_t, "scaled_dot_product"), comp("softmax"))
    v = comp("linear64")
    return branch2(scores, v, "dot_product")


def _mhsa4() -> str:
    """Four heads (one shared structure) concatenated on the feature dim, projected to 512."""
    return seq(f"branching(4)[clone(4), {_sdpa()}, cat(4,2)]", comp("linear512"))


def _ffn() -> str:
    # the last linear512 was a bare terminal in the original (!linear512): wrapped
    return seq(seq(comp("linear512"), comp("leakyrelu")), comp("linear512"))


def _vit_layer() -> str:
    """Post-norm transformer layer (each residual followed by a wrapped ``!norm``)."""
    attention = seq(branch2(_mhsa4(), comp("identity"), "add"), comp("norm"))
    ffn = seq(branch2(_ffn(), comp("identity"), "add"), comp("norm"))
    return seq(attention, ffn)


def vit_text() -> str:
    """Text of the ViT seed (§4.6 ``transformer``: patch 4, width 512, 4 layers, 4 heads)."""
    layer = _vit_layer()
    return seq(_patch(), seq(seq(layer, layer), seq(layer, layer)))


def _mixer_layer() -> str:
    """Mixer layer: residual around norm -> token mixing (S -> 4S -> S) -> channel mixing."""
    tokmix = seq(
        seq(f"routing[permute(2,1), {comp('linear_x4')}, identity]", comp("leakyrelu")),
        f"routing[identity, {comp('linear_div4')}, permute(2,1)]",
    )
    chanmix = seq(seq(comp("linear256"), comp("leakyrelu")), comp("linear512"))
    return branch2(seq(comp("norm"), seq(tokmix, chanmix)), comp("identity"), "add")


def mlp_mixer_text() -> str:
    """Text of the MLP-Mixer seed (§4.6 ``mlp_mixer``: patch 4, width 512, 8 layers)."""
    m = _mixer_layer()
    four = seq(seq(m, m), seq(m, m))
    return seq(_patch(), seq(four, four))


def cnn1d_text() -> str:
    """A plain 1D CNN for sequences: three [conv1d(3,64), norm, leakyrelu] layers.

    The length-preserving ``conv1d`` terminals are the 1D space's own (einspace.md §5.2); with
    the paper's head (mean over the length, then linear) it is the "CNN" baseline of MNIST-1D.
    """
    layer = seq(comp("conv1d(3,64)"), seq(comp("norm"), comp("leakyrelu")))
    return seq(layer, seq(layer, layer))


# ----------------------------------------------------------------------------------------------
# Registry

_BUILDERS: dict[str, Callable[[], str]] = {
    "resnet18": resnet18_text,
    "wrn16_4": wrn16_4_text,
    "vit": vit_text,
    "mlp_mixer": mlp_mixer_text,
    "cnn1d": cnn1d_text,
}


def seeds_for(input_shape: tuple[int, ...]) -> tuple[str, ...]:
    """The seed names that apply to inputs of this shape (2D images or 1D sequences)."""
    return SEED_NAMES if len(input_shape) == 3 else SEED_NAMES_1D


def seed_text(name: str) -> str:
    """Canonical text of seed ``name`` (one of :data:`SEED_NAMES`)."""
    builder = _BUILDERS.get(name)
    if builder is None:
        raise UnknownSeedError(name)
    return builder()


@cache
def _seed_tree(name: str) -> Module:
    return parse(seed_text(name))


def seed_tree(name: str) -> Module:
    """The parsed tree of seed ``name`` (cached; trees are immutable values).

    Raises :class:`UnknownSeedError` (a ``ValueError``) listing the valid names for any other
    name.
    """
    if name not in _BUILDERS:
        raise UnknownSeedError(name)
    return _seed_tree(name)
