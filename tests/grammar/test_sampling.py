"""Sampling, the PCFG's probabilities and consistency, and the mutation record."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from einnas.grammar import (
    Branching,
    Budget,
    Computation,
    Grammar,
    Node,
    SamplingError,
    Terminal,
    analyze,
    count_nodes,
    input_feature,
    iter_nodes,
    mutate_tree,
    node_at,
    parse,
    replace_at,
    sample_tree,
    terminal_text,
    to_text,
    tree_depth,
)

SHAPE_2D = (3, 28, 28)
SHAPE_1D = (1, 40)
BOTH = [SHAPE_2D, SHAPE_1D]

P_C = 0.32
P_OTHER = (1 - P_C) / 3  # each of sequential / branching / routing at M


def _id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _texts(
    shape: tuple[int, ...], seed: int, n: int = 50, grammar: Grammar | None = None
) -> list[str]:
    g = grammar or Grammar.for_input(shape)
    rng = np.random.default_rng(seed)
    x = input_feature(shape)
    return [to_text(sample_tree(g, x, rng)) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Reproducibility


@pytest.mark.parametrize("shape", BOTH, ids=_id)
def test_same_seed_same_trees(shape: tuple[int, ...]) -> None:
    first = _texts(shape, seed=123)
    assert _texts(shape, seed=123) == first
    # the grammar's option cache must not influence the draws
    warm = Grammar.for_input(shape)
    _texts(shape, seed=7, grammar=warm)
    assert _texts(shape, seed=123, grammar=warm) == first
    # different seeds give different lists (and the list is not one tree repeated)
    assert _texts(shape, seed=124) != first
    assert len(set(first)) > 25


@pytest.mark.parametrize("shape", BOTH, ids=_id)
def test_same_seed_same_mutants(shape: tuple[int, ...]) -> None:
    g = Grammar.for_input(shape)
    x = input_feature(shape)
    parent = sample_tree(g, x, np.random.default_rng(5))

    def children(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        return [to_text(mutate_tree(parent, x, g, rng)[0]) for _ in range(20)]

    assert children(9) == children(9)
    assert children(9) != children(10)


# ---------------------------------------------------------------------------------------------
# Budgets and depth


@pytest.mark.parametrize("shape", [*BOTH, (1, 27, 18)], ids=_id)
def test_budget_is_respected(shape: tuple[int, ...]) -> None:
    budget = Budget(max_params=20_000, max_nodes=25, max_macs=2_000_000, max_activation=50_000)
    g = Grammar.for_input(shape)
    x = input_feature(shape)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(150):
        tree = sample_tree(g, x, rng, budget)
        a = analyze(tree, shape)
        assert a.n_nodes <= 25
        assert a.params <= 20_000
        assert a.macs <= 2_000_000
        assert a.max_activation <= 50_000
        assert not budget.violations(a)
        sizes.append(a.n_nodes)
        child, _ = mutate_tree(tree, x, g, rng, budget)
        ca = analyze(child, shape)
        assert not budget.violations(ca)
    # the budget binds, but does not collapse the distribution to the smallest trees
    assert max(sizes) > 12


def test_budget_violations_are_reported() -> None:
    tree = parse("sequential[computation[linear16], computation[norm]]")
    a = analyze(tree, SHAPE_2D)
    exact = Budget(a.n_nodes, a.params, a.macs, a.max_activation, a.compiled_nodes)
    assert exact.violations(a) == []
    tight = Budget(
        a.n_nodes - 1, a.params - 1, a.macs - 1, a.max_activation - 1, a.compiled_nodes - 1
    )
    msgs = tight.violations(a)
    assert len(msgs) == 5
    assert f"{a.n_nodes} nodes > {a.n_nodes - 1}" in msgs[0]


def test_compiled_nodes_count_shared_structures_b_times() -> None:
    tree = parse("branching(8)[clone(8), branching(8)[clone(8), computation[norm], add], add]")
    a = analyze(tree, SHAPE_2D)
    # canonical: 2 branchings x 2 terminals + 1 computation + 1 norm = 8; compiled: the inner
    # branching is built 8 times, its computation 64 times
    assert a.n_nodes == 8
    assert a.compiled_nodes == 1 + 1 + 1 + 8 * (1 + 1 + 1) + 64 * 2


def test_impossible_budget_raises_sampling_error() -> None:
    # the smallest network (e.g. sequential[computation[x], computation[y]]) has 5 nodes
    g = Grammar()
    with pytest.raises(SamplingError, match="raise the budget"):
        sample_tree(
            g,
            input_feature(SHAPE_2D),
            np.random.default_rng(0),
            Budget(max_nodes=4),
            max_attempts=50,
        )
    tree = sample_tree(g, input_feature(SHAPE_2D), np.random.default_rng(0), Budget(max_nodes=5))
    assert count_nodes(tree) == 5


@pytest.mark.parametrize("shape", BOTH, ids=_id)
@pytest.mark.parametrize("max_depth", [1, 4])
def test_depth_rules(shape: tuple[int, ...], max_depth: int) -> None:
    """A module at depth >= max_depth is a computation, so no node is deeper than max_depth + 1."""
    g = Grammar.for_input(shape, max_depth=max_depth)
    x = input_feature(shape)
    rng = np.random.default_rng(1)
    depths = []
    for _ in range(100):
        tree = sample_tree(g, x, rng)
        a = analyze(tree, shape)
        for info in a.nodes:
            if info.role == "M" and info.depth >= max_depth:
                assert isinstance(info.node, Computation), to_text(tree)
        depths.append(tree_depth(tree))
        assert a.depth == tree_depth(tree)
        assert math.isfinite(g.log_prob(tree, shape))
    assert max(depths) == max_depth + 1  # the limit is reached, never exceeded


def test_depth_limit_of_the_default_grammar() -> None:
    g = Grammar()
    assert g.max_depth == 100
    rng = np.random.default_rng(2)
    for _ in range(200):
        assert tree_depth(sample_tree(g, input_feature(SHAPE_2D), rng)) <= 101


# ---------------------------------------------------------------------------------------------
# log-probability


@pytest.mark.parametrize("shape", [*BOTH, (12, 18, 18)], ids=_id)
def test_log_prob_is_finite_for_sampled_trees(shape: tuple[int, ...]) -> None:
    g = Grammar.for_input(shape)
    rng = np.random.default_rng(3)
    for _ in range(100):
        tree = sample_tree(g, input_feature(shape), rng)
        lp = g.log_prob(tree, shape)
        assert math.isfinite(lp)
        assert lp < 0


@pytest.mark.parametrize(
    "text",
    [
        "sequential[computation[linear_x4], computation[norm]]",
        "sequential[computation[linear_div2], computation[norm]]",
        "routing[im2col(7,2,3), computation[linear64], col2im]",
        "routing[im2col(5,1,2), computation[linear64], col2im]",
        "sequential[computation[linear100], computation[norm]]",
    ],
)
def test_log_prob_is_minus_inf_for_extension_terminals(text: str) -> None:
    tree = parse(text)
    analyze(tree, SHAPE_2D)  # a valid tree, just not one the PCFG can derive
    assert Grammar().log_prob(tree, SHAPE_2D) == -math.inf


def test_log_prob_is_minus_inf_beyond_the_depth_limit() -> None:
    tree = parse("sequential[computation[norm], sequential[computation[norm], computation[norm]]]")
    assert math.isfinite(Grammar(max_depth=2).log_prob(tree, SHAPE_2D))
    # with max_depth = 1 the inner sequential (depth 1) would have to be a computation
    assert Grammar(max_depth=1).log_prob(tree, SHAPE_2D) == -math.inf


def test_log_prob_of_conv1d_in_the_1d_space_only() -> None:
    tree = parse("sequential[computation[conv1d(3,64)], computation[norm]]")
    # 1D computation options: 13 of the 2D space + 4 kernels x 4 widths of conv1d
    expected = math.log(1 / 3) + math.log(P_C / 29) + math.log(P_C / 29)
    assert Grammar(dims=1).log_prob(tree, SHAPE_1D) == pytest.approx(expected, rel=1e-12)


def test_log_prob_by_hand_sequential() -> None:
    # S -> M M: 1/3; each M -> C: 0.32; each C: 1/13 (all 13 computations are valid)
    tree = parse("sequential[computation[identity], computation[norm]]")
    expected = math.log(1 / 3) + 2 * (math.log(0.32) + math.log(1 / 13))
    assert Grammar().log_prob(tree, SHAPE_2D) == pytest.approx(expected, rel=1e-12)


def test_log_prob_by_hand_routing_depends_on_the_shape() -> None:
    tree = parse("routing[im2col(3,1,1), computation[linear64], col2im]")
    # P on im[3,28,28]: identity, 5 image permutes, 7 im2cols = 13 options;
    # R on col[784,64] with a fold: identity, permute(2,1), col2im = 3 options
    expected = math.log(1 / 3) + math.log(1 / 13) + math.log(0.32 / 13) + math.log(1 / 3)
    assert Grammar().log_prob(tree, SHAPE_2D) == pytest.approx(expected, rel=1e-12)
    # on a 12x12 image, im2col(16,16,0) is not valid: 12 pre-routing options
    expected_small = expected - math.log(1 / 13) + math.log(1 / 12)
    assert Grammar().log_prob(tree, (3, 12, 12)) == pytest.approx(expected_small, rel=1e-12)


def test_log_prob_by_hand_branching() -> None:
    tree = parse(
        "branching(2)[clone(2), computation[identity], "
        "sequential[computation[norm], computation[leakyrelu]], add]"
    )
    # B on im[3,28,28]: clone(2,4,8), group(2,2), group(2,3), group(4,2), group(4,3) = 7
    # (3 channels divide by nothing; 28 does not divide by 8)
    # A for b = 2 on two im[3,28,28]: dot_product, scaled_dot_product, add, cat(2,1..3) = 6
    expected = (
        math.log(1 / 3)
        + math.log(1 / 7)
        + math.log(0.32 / 13)  # computation[identity]
        + math.log(P_OTHER)  # M -> M M
        + 2 * math.log(0.32 / 13)
        + math.log(1 / 6)
    )
    assert Grammar().log_prob(tree, SHAPE_2D) == pytest.approx(expected, rel=1e-12)


def test_log_prob_by_hand_shared_branching() -> None:
    tree = parse(
        "sequential[branching(4)[clone(4), computation[softmax], cat(4,1)], computation[norm]]"
    )
    # S -> M M; M -> B M A with B 1/7; the shared inner M counted once; A for b = 4 on
    # im[3,28,28]: add, cat(4,1), cat(4,2), cat(4,3) = 4; then computation[norm] on im[12,28,28]
    expected = (
        math.log(1 / 3)
        + math.log(P_OTHER)
        + math.log(1 / 7)
        + math.log(0.32 / 13)
        + math.log(1 / 4)
        + math.log(0.32 / 13)
    )
    assert Grammar().log_prob(tree, SHAPE_2D) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Consistency of the PCFG (einspace.md §2.9)


@pytest.mark.parametrize("dims", [1, 2])
def test_spectral_radius_and_critical_probability(dims: int) -> None:
    g = Grammar(dims=dims)
    assert g.expected_inner_modules() == pytest.approx(4 / 3, abs=1e-12)
    assert g.spectral_radius() == pytest.approx(13 * (1 - 0.32) / 9, abs=1e-9)
    assert g.spectral_radius() < 1
    assert abs(g.critical_computation_prob() - 4 / 13) < 1e-6
    assert abs(g.critical_computation_prob() - 0.3077) < 1e-4
    assert g.spectral_radius(4 / 13) == pytest.approx(1.0, abs=1e-9)
    # the radius falls as p(M -> C) rises
    assert g.spectral_radius(0.5) < g.spectral_radius(0.32) < g.spectral_radius(0.2)


@pytest.mark.parametrize("dims", [1, 2])
def test_supercritical_grammar_warns(dims: int) -> None:
    with pytest.warns(UserWarning, match=r"not sub-critical.*p\(M->C\) > 0\.307"):
        g = Grammar(dims=dims, computation_prob=0.2)
    assert g.spectral_radius() == pytest.approx(13 * 0.8 / 9, abs=1e-9)


def test_default_grammar_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Grammar()
        Grammar(dims=1)
        Grammar(computation_prob=0.31)


def test_module_weights() -> None:
    g = Grammar()
    assert g.module_weights(("sequential", "branching", "routing")) == pytest.approx([1 / 3] * 3)
    w = g.module_weights(("sequential", "branching", "routing", "computation"))
    assert w == pytest.approx([P_OTHER] * 3 + [0.32])
    # after a dead end removes an option, computation keeps 0.32 and the rest share 0.68
    assert g.module_weights(["routing", "computation"]) == pytest.approx([0.68, 0.32])


def test_invalid_grammar_parameters() -> None:
    with pytest.raises(ValueError, match="dims"):
        Grammar(dims=3)
    with pytest.raises(ValueError, match="computation_prob"):
        Grammar(computation_prob=1.0)


# ---------------------------------------------------------------------------------------------
# Mutation


def _text(node: Node) -> str:
    return terminal_text(node) if isinstance(node, Terminal) else to_text(node)


@pytest.mark.parametrize("shape", BOTH, ids=_id)
def test_mutation_record_names_the_path_and_the_edit(shape: tuple[int, ...]) -> None:
    g = Grammar.for_input(shape)
    x = input_feature(shape)
    rng = np.random.default_rng(4)
    for _ in range(60):
        parent = sample_tree(g, x, rng)
        child, record = mutate_tree(parent, x, g, rng)
        assert child != parent
        before, after = node_at(parent, record.path), node_at(child, record.path)
        assert record.before == _text(before)
        assert record.after == _text(after)
        assert record.before != record.after
        # the edit is exactly the replacement of that one node
        assert replace_at(parent, record.path, after) == child
        if not isinstance(after, Terminal):
            assert parse(record.after) == after
        assert record.to_dict() == {
            "path": list(record.path),
            "before": record.before,
            "after": record.after,
        }


def test_mutation_of_a_computation_terminal_by_hand() -> None:
    tree = parse("sequential[computation[norm], computation[leakyrelu]]")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        child, record = mutate_tree(tree, input_feature(SHAPE_2D), Grammar(), rng)
        seen.add(record.path)
        if record.path == (0, 0):
            assert record.before == "norm"
            assert record.after != "norm"
            assert (
                to_text(child) == f"sequential[computation[{record.after}], computation[leakyrelu]]"
            )
    # every node of the canonical tree can be picked: root, 2 modules, 2 terminals
    assert seen == {(), (0,), (0, 0), (1,), (1, 0)}


def test_mutation_picks_nodes_of_the_canonical_tree() -> None:
    """A b = 4 shared structure appears once: mutations address it once, never a copy."""
    tree = parse("branching(4)[clone(4), computation[norm], add]")
    canonical = {p for p, _ in iter_nodes(tree)}
    assert canonical == {(), (0,), (1,), (1, 0), (2,)}
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        child, record = mutate_tree(tree, input_feature(SHAPE_2D), Grammar(), rng)
        assert record.path in canonical
        assert child != tree
        if isinstance(child, Branching) and len(child.inners) == 1:
            assert child.factor in (4, 8)
        seen.add(record.path)
    assert seen == canonical
