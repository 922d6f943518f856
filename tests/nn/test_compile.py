"""The tree -> PyTorch compiler: exact parameter counts, exact shapes, fusion, copies, head."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from einnas.grammar import (
    Budget,
    Grammar,
    analyze,
    input_feature,
    network_params,
    parse,
    sample_tree,
)
from einnas.nn.compile import Branch2, BranchN, compile_backbone, compile_network

INPUTS = [(3, 28, 28), (3, 64, 64), (1, 24, 24), (1, 27, 18), (12, 18, 18), (1, 40)]
SAMPLES = 50
# Small enough that all compiled networks build and run in a few seconds on 2 CPU cores
# (most samples of the PCFG are small anyway: the median tree has ~8 nodes).
BUDGET = Budget(max_nodes=1000, max_params=2_000_000, max_macs=40_000_000, max_activation=1 << 18)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny networks: one intra-op thread is fastest and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("shape", INPUTS, ids=lambda s: "x".join(map(str, s)))
def test_random_trees_params_and_shapes(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    grammar = Grammar.for_input(shape)
    feature = input_feature(shape)
    x = torch.randn(2, *shape)
    for seed in range(SAMPLES):
        tree = sample_tree(grammar, feature, np.random.default_rng(seed), BUDGET)
        analysis = analyze(tree, shape)
        net = compile_network(tree, shape, 10, fuse=seed % 4 != 3)
        assert _count(net) == network_params(analysis, 10), seed
        assert _count(net.backbone) == analysis.params, seed
        with torch.no_grad():
            y = net.backbone(x)
            assert tuple(y.shape) == (2, *analysis.output.shape), seed
            logits = net.head(y)
        assert tuple(logits.shape) == (2, 10)


def test_backward_through_random_trees() -> None:
    shape = (3, 28, 28)
    grammar = Grammar.for_input(shape)
    torch.manual_seed(0)
    for seed in range(8):
        tree = sample_tree(grammar, input_feature(shape), np.random.default_rng(100 + seed), BUDGET)
        net = compile_network(tree, shape, 5)
        net(torch.randn(2, *shape)).sum().backward()


def test_seeds_compile_exactly() -> None:
    seeds = pytest.importorskip("einnas.seeds")
    for name in ("resnet18", "wrn16_4", "vit", "mlp_mixer"):
        tree = seeds.seed_tree(name)
        shape = (3, 64, 64)
        analysis = analyze(tree, shape)
        net = compile_network(tree, shape, 10)
        assert _count(net) == network_params(analysis, 10), name
        with torch.no_grad():
            assert tuple(net.backbone(torch.randn(2, *shape)).shape) == (2, *analysis.output.shape)


def test_deterministic_given_manual_seed() -> None:
    tree = parse(
        "sequential[routing[im2col(3,1,1), computation[linear16], col2im], "
        "branching(4)[clone(4), computation[linear8], cat(4,1)]]"
    )
    torch.manual_seed(3)
    a = compile_network(tree, (3, 8, 8), 4).state_dict()
    torch.manual_seed(3)
    b = compile_network(tree, (3, 8, 8), 4).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


CONV = "routing[im2col({k},{s},{p}), computation[linear16], col2im]"


@pytest.mark.parametrize(("k", "s", "p"), [(3, 1, 1), (3, 2, 1), (4, 4, 0), (1, 2, 0)])
def test_fused_conv_equals_unfused_2d(k: int, s: int, p: int) -> None:
    tree = parse(f"sequential[{CONV.format(k=k, s=s, p=p)}, computation[leakyrelu]]")
    shape = (5, 12, 12)
    torch.manual_seed(0)
    unfused = compile_backbone(tree, shape, fuse=False)
    fused = compile_backbone(tree, shape, fuse=True)
    linear = next(m for m in unfused.modules() if isinstance(m, nn.Linear))
    conv = next(m for m in fused.modules() if isinstance(m, nn.Conv2d))
    assert _count(fused) == _count(unfused) == _count(linear) == 5 * k * k * 16 + 16
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(16, 5, k, k))
        assert conv.bias is not None
        conv.bias.copy_(linear.bias)
        x = torch.randn(2, *shape)
        torch.testing.assert_close(fused(x), unfused(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("k", "s", "p"), [(3, 1, 1), (3, 2, 1), (8, 8, 0), (1, 1, 0)])
def test_fused_conv_equals_unfused_1d(k: int, s: int, p: int) -> None:
    tree = parse(f"sequential[{CONV.format(k=k, s=s, p=p)}, computation[norm]]")
    shape = (4, 40)
    torch.manual_seed(0)
    unfused = compile_backbone(tree, shape, fuse=False)
    fused = compile_backbone(tree, shape, fuse=True)
    linear = next(m for m in unfused.modules() if isinstance(m, nn.Linear))
    conv = next(m for m in fused.modules() if isinstance(m, nn.Conv1d))
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(16, 4, k))
        assert conv.bias is not None
        conv.bias.copy_(linear.bias)
        x = torch.randn(2, *shape)
        out = fused(x)
        assert tuple(out.shape) == (2, *analyze(tree, shape).output.shape)
        torch.testing.assert_close(out, unfused(x), atol=1e-5, rtol=1e-5)


def test_branching_copies_have_separate_parameters() -> None:
    tree = parse("branching(4)[clone(4), computation[linear16], cat(4,2)]")
    shape = (3, 8, 8)
    torch.manual_seed(0)
    net = compile_network(tree, shape, 10)
    (branch,) = [m for m in net.modules() if isinstance(m, BranchN)]
    linears = [m for m in branch.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4
    assert len({lin.weight.data_ptr() for lin in linears}) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(linears[i].weight, linears[j].weight)
    assert (
        _count(net) == network_params(analyze(tree, shape), 10) == 4 * (8 * 16 + 16) + 3 * 10 + 10
    )
    y = net.backbone(torch.randn(2, *shape))
    assert tuple(y.shape) == (2, 3, 8 * 4, 16)


def test_group_branching_splits_and_rejoins() -> None:
    tree = parse("branching(2)[group(2,1), computation[identity], computation[identity], cat(2,1)]")
    net = compile_backbone(tree, (4, 6, 6))
    assert isinstance(net, Branch2)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(net(x), x)
    tree = parse("branching(8)[group(8,3), computation[leakyrelu], cat(8,3)]")
    x = torch.randn(2, 4, 6, 16)
    torch.testing.assert_close(compile_backbone(tree, (4, 6, 16))(x), nn.functional.leaky_relu(x))


def test_attention_aggregations() -> None:
    tree = parse(
        "branching(2)[clone(2), computation[identity], "
        "routing[permute(1,3,2), computation[identity], identity], scaled_dot_product]"
    )
    net = compile_backbone(tree, (3, 8, 5))  # im (C, H, W) @ (C, W, H) -> (C, H, H)
    x = torch.randn(2, 3, 8, 5)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x @ x.transpose(2, 3) / 5**0.5)


def test_head_col_output_averages_token_features() -> None:
    tree = parse("routing[im2col(4,4,0), computation[linear32], identity]")
    shape = (3, 28, 28)
    net = compile_network(tree, shape, 10)
    assert analyze(tree, shape).output.shape == (49, 32)
    assert net.head.fc.in_features == 49  # paper head: mean over D, linear over S tokens
    x = torch.randn(2, *shape)
    with torch.no_grad():
        feats = net.backbone(x)
        torch.testing.assert_close(net(x), net.head.fc(feats.mean(dim=2)))


def test_head_im_output_averages_space() -> None:
    tree = parse(f"sequential[{CONV.format(k=3, s=2, p=1)}, computation[norm]]")
    net = compile_network(tree, (3, 9, 9), 7)
    assert net.head.fc.in_features == 16
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.head.fc(net.backbone(x).mean(dim=(2, 3))))
    assert net.tree == tree and net.input_shape == (3, 9, 9) and net.num_classes == 7


def test_sequential_chains_are_flat() -> None:
    tree = parse(
        "sequential[sequential[computation[norm], routing[identity, computation[leakyrelu], "
        "identity]], sequential[computation[identity], computation[linear8]]]"
    )
    net = compile_backbone(tree, (3, 8, 8))
    assert isinstance(net, nn.Sequential)
    assert [type(m) for m in net] == [nn.BatchNorm2d, nn.LeakyReLU, nn.Linear]


def _outputs_and_grads(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    net.train()
    x = x.clone().requires_grad_(True)
    y = net(x)
    y.square().sum().backward()
    assert x.grad is not None
    return [y.detach(), x.grad, *(p.grad for p in net.parameters() if p.grad is not None)]


INPLACE_CASES = [
    # residual with a fresh first branch (norm), then an activation: both in place
    "sequential[branching(2)[clone(2), sequential[{conv}, computation[norm]], computation[identity], add], "
    "computation[leakyrelu]]",
    # first branch is the identity: the sum must not overwrite the shared input
    "sequential[branching(2)[clone(2), computation[identity], {conv}, add], computation[leakyrelu]]",
    # first branch ends in an activation whose backward needs its output
    "sequential[branching(2)[clone(2), sequential[{conv}, computation[leakyrelu]], "
    "computation[leakyrelu], add], computation[leakyrelu]]",
    # an activation at the start of a branch reads the shared input
    "branching(2)[clone(2), sequential[computation[leakyrelu], computation[norm]], "
    "sequential[computation[norm], computation[leakyrelu]], cat(2,1)]",
    "sequential[branching(4)[clone(4), computation[linear8], add], computation[leakyrelu]]",
]


@pytest.mark.parametrize("text", INPLACE_CASES)
def test_inplace_matches_out_of_place(text: str) -> None:
    tree = parse(text.format(conv=CONV.format(k=3, s=1, p=1).replace("linear16", "linear4")))
    shape = (4, 6, 6)
    x = torch.randn(2, *shape)
    torch.manual_seed(0)
    a = _outputs_and_grads(compile_network(tree, shape, 3, inplace=True), x)
    torch.manual_seed(0)
    b = _outputs_and_grads(compile_network(tree, shape, 3, inplace=False), x)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 40)], ids=lambda s: "x".join(map(str, s)))
def test_inplace_matches_out_of_place_random(shape: tuple[int, ...]) -> None:
    grammar = Grammar.for_input(shape)
    x = torch.randn(2, *shape)
    budget = Budget(max_nodes=300, max_params=300_000, max_macs=3_000_000, max_activation=1 << 15)
    for seed in range(30):
        tree = sample_tree(grammar, input_feature(shape), np.random.default_rng(seed), budget)
        torch.manual_seed(seed)
        a = _outputs_and_grads(compile_network(tree, shape, 3, inplace=True), x)
        torch.manual_seed(seed)
        b = _outputs_and_grads(compile_network(tree, shape, 3, inplace=False), x)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, equal_nan=True)


def test_fused_relative_width_linear() -> None:
    tree = parse("routing[im2col(3,2,1), computation[linear_div3], col2im]")
    shape = (4, 10, 10)
    net = compile_network(tree, shape, 2)
    conv = net.backbone
    assert isinstance(conv, nn.Conv2d) and conv.out_channels == 4 * 9 // 3
    assert _count(net) == network_params(analyze(tree, shape), 2)
    assert tuple(conv(torch.randn(2, *shape)).shape) == (2, *analyze(tree, shape).output.shape)
