"""Terminal modules: each matches its einspace semantics (einspace.md §1.3, §2.4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from einnas.grammar import Feature, Terminal
from einnas.grammar.terminals import apply_compute, compute_params, im2col_output
from einnas.nn.ops import (
    Add,
    Cat,
    Clone,
    Col2Im,
    Conv1dSame,
    Group,
    Im2Col,
    Im2Col1d,
    MatMul,
    Permute,
    PositionalEncoding,
    terminal_module,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny networks: one intra-op thread is fastest and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_branching_ops() -> None:
    x = torch.randn(2, 4, 6)
    assert all(t is x for t in Clone(4)(x))
    parts = Group(2, 2, 6)(x)
    assert [tuple(p.shape) for p in parts] == [(2, 4, 3)] * 2
    torch.testing.assert_close(torch.cat(parts, 2), x)


def test_aggregation_ops() -> None:
    a, b, c = torch.randn(3, 2, 4, 4).unbind(0)
    torch.testing.assert_close(Add()(a, b, c), a + b + c)
    torch.testing.assert_close(Cat(1)(a, b), torch.cat([a, b], 1))
    torch.testing.assert_close(MatMul()(a, b), a @ b)
    torch.testing.assert_close(MatMul(0.5)(a, b), a @ b / 2)


@pytest.mark.parametrize(("k", "s", "p"), [(1, 1, 0), (3, 1, 1), (3, 2, 1), (4, 4, 0)])
def test_im2col_2d_shape_and_order(k: int, s: int, p: int) -> None:
    x = torch.randn(2, 3, 9, 8)
    y = Im2Col(k, s, p)(x)
    feat, fold = im2col_output(Terminal("im2col", (k, s, p)), Feature("im", (3, 9, 8)))
    assert tuple(y.shape) == (2, *feat.shape)
    torch.testing.assert_close(y, nn.Unfold(k, stride=s, padding=p)(x).permute(0, 2, 1))
    # col2im undoes im2col for 1x1 kernels
    if k == 1 and s == 1:
        torch.testing.assert_close(Col2Im(fold)(y), x)


@pytest.mark.parametrize(("k", "s", "p"), [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (8, 8, 0)])
def test_im2col_1d_matches_conv1d(k: int, s: int, p: int) -> None:
    x = torch.randn(2, 3, 40)
    cols = Im2Col1d(k, s, p)(x)
    feat, fold = im2col_output(Terminal("im2col", (k, s, p)), Feature("im", (3, 40)))
    assert tuple(cols.shape) == (2, *feat.shape)
    conv = nn.Conv1d(3, 5, k, stride=s, padding=p)
    linear = nn.Linear(3 * k, 5)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.reshape(5, 3 * k))
        assert conv.bias is not None
        linear.bias.copy_(conv.bias)
        out = Col2Im(fold)(linear(cols))
        torch.testing.assert_close(out, conv(x), atol=1e-5, rtol=1e-5)
        # same as the 2D unfold on a height-1 image
        ref = F.unfold(x.unsqueeze(2), (1, k), stride=(1, s), padding=(0, p)).transpose(1, 2)
        torch.testing.assert_close(cols, ref)


def test_permute() -> None:
    x = torch.randn(2, 3, 4, 5)
    assert tuple(Permute((2, 3, 1))(x).shape) == (2, 4, 5, 3)


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_conv1d_same_length(k: int) -> None:
    t = Terminal("conv1d", (k, 32))
    x = Feature("im", (6, 20))
    m = terminal_module(t, "C", x)
    assert isinstance(m, Conv1dSame)
    assert sum(p.numel() for p in m.parameters()) == compute_params(t, x)
    assert tuple(m(torch.randn(2, 6, 20)).shape) == (2, *apply_compute(t, x).shape)


@pytest.mark.parametrize(
    ("feature", "kind"),
    [
        (Feature("im", (4, 5, 6)), nn.BatchNorm2d),
        (Feature("im", (4, 6)), nn.BatchNorm1d),
        (Feature("col", (7, 9)), nn.LayerNorm),
    ],
)
def test_norm_per_mode(feature: Feature, kind: type[nn.Module]) -> None:
    t = Terminal("norm")
    m = terminal_module(t, "C", feature)
    assert isinstance(m, kind)
    assert sum(p.numel() for p in m.parameters()) == compute_params(t, feature)
    assert tuple(m(torch.randn(2, *feature.shape)).shape) == (2, *feature.shape)


def test_pos_enc_and_linears() -> None:
    x = Feature("col", (7, 12))
    pe = terminal_module(Terminal("pos_enc"), "C", x)
    assert isinstance(pe, PositionalEncoding)
    assert sum(p.numel() for p in pe.parameters()) == 7 * 12
    for t in (Terminal("linear", (16,)), Terminal("linear_x", (4,)), Terminal("linear_div", (3,))):
        m = terminal_module(t, "C", x)
        assert sum(p.numel() for p in m.parameters()) == compute_params(t, x)
        assert tuple(m(torch.randn(2, 7, 12)).shape) == (2, *apply_compute(t, x).shape)
