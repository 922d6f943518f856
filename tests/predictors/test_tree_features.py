"""The tree feature map phi(tree): names, purity, and the sparsity of mutation deltas."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from einnas.grammar import Budget, Module, Terminal, count_nodes, node_at
from einnas.predictors import Encoder
from einnas.predictors.tree_features import ROOT, TreeFeatures, parent_label
from einnas.seeds import seed_text
from einnas.spaces.einspace import EinSpace

SPACE_1D = EinSpace((1, 40), budget=Budget(max_params=1_000_000, max_macs=10_000_000))
SPACE_2D = EinSpace((3, 28, 28))
CNN1D = SPACE_1D.from_text(seed_text("cnn1d"))


def _named(features: TreeFeatures, vec: np.ndarray) -> dict[str, float]:
    names = features.feature_names()
    return {names[i]: float(vec[i]) for i in np.flatnonzero(vec)}


def _difference(a: Counter[str], b: Counter[str]) -> dict[str, int]:
    """``a - b`` with negative counts kept, zeros dropped."""
    out = {k: a[k] - b[k] for k in a.keys() | b.keys()}
    return {k: v for k, v in out.items() if v}


def test_is_an_encoder_with_a_fixed_named_vocabulary() -> None:
    tf = TreeFeatures.for_space(SPACE_1D)
    assert isinstance(tf, Encoder)
    names = tf.feature_names()
    assert len(names) == tf.dim == len(set(names))
    assert 500 < tf.dim < 1000  # moderate: ridge solves are O(d^3)
    assert TreeFeatures.for_space(SPACE_1D).feature_names() == names  # a function of the grammar
    assert TreeFeatures(SPACE_1D.grammar, depth_buckets=3).dim > tf.dim
    assert TreeFeatures.for_space(SPACE_2D).dim < tf.dim  # no conv1d terminals in 2D
    with pytest.raises(TypeError, match="grammar"):
        TreeFeatures.for_space(object())


def test_counts_productions_generalisations_and_pairs() -> None:
    tf = TreeFeatures.for_space(SPACE_1D)
    vec = tf.encode(CNN1D)
    assert vec.dtype == np.float64 and not vec.flags.writeable
    named = _named(tf, vec)
    assert named["C:conv1d(3,64)"] == 3 and named["C:norm"] == 3 and named["computation"] == 9
    assert named["sequential"] == 8
    assert (
        named["C:conv1d(*)"] == 3 and named["C:conv1d(3,_)"] == 3 and named["C:conv1d(_,64)"] == 3
    )
    assert named["ROOT>sequential"] == 1 and named["sequential>computation[conv1d(3,64)]"] == 3
    assert not any(n.startswith("overflow") for n in named)  # the seed is in the grammar

    # conv1d(3,64) -> conv1d(5,64): kernel features change, width and family features do not
    wider = SPACE_1D.from_text(seed_text("cnn1d").replace("conv1d(3,64)", "conv1d(5,64)", 1))
    delta = _named(tf, tf.encode(wider) - vec)
    assert delta == {
        "C:conv1d(3,64)": -1,
        "C:conv1d(5,64)": 1,
        "C:conv1d(3,_)": -1,
        "C:conv1d(5,_)": 1,
        "sequential>computation[conv1d(3,64)]": -1,
        "sequential>computation[conv1d(5,64)]": 1,
    }
    assert tf.edit_size(CNN1D, wider) == tf.edit_size(wider, CNN1D) == 2
    assert tf.edit_size(CNN1D, CNN1D) == 0


def test_a_pure_function_of_the_tree() -> None:
    rng = np.random.default_rng(0)
    trees = [SPACE_1D.sample(rng) for _ in range(20)]
    forward = TreeFeatures.for_space(SPACE_1D)
    backward = TreeFeatures.for_space(SPACE_1D, max_cache=3)  # a cache cleared along the way
    first = [forward.encode(t) for t in trees]
    last = [backward.encode(t) for t in reversed(trees)][::-1]
    for a, b in zip(first, last):
        np.testing.assert_array_equal(a, b)
    again = SPACE_1D.from_text(SPACE_1D.to_text(trees[0]))
    np.testing.assert_array_equal(forward.encode(again), first[0])


def test_terminals_outside_the_grammar_use_stable_overflow_columns() -> None:
    tf = TreeFeatures.for_space(SPACE_2D)
    mixer = SPACE_2D.from_text(seed_text("mlp_mixer"))
    named = _named(tf, tf.encode(mixer))
    assert named["C:linear_x(*)"] > 0 and named["C:linear_div(*)"] > 0  # family features
    half = tf.overflow // 2
    bucket = int.from_bytes(hashlib.blake2b(b"C:linear_x4", digest_size=8).digest(), "big") % half
    assert named[f"overflow:production:{bucket}"] >= named["C:linear_x(*)"]
    # the seed's off-grammar productions count in edit sizes too
    child, _ = SPACE_2D.mutate_with_record(mixer, np.random.default_rng(1))
    assert tf.edit_size(mixer, child) >= 1


def _subtree_module(tree: Module, path: tuple[int, ...]) -> tuple[tuple[int, ...], Module]:
    """The module a mutation at ``path`` resampled (the holder of a resampled terminal)."""
    node = node_at(tree, path)
    if isinstance(node, Terminal):
        path = path[:-1]
        node = node_at(tree, path)
    assert not isinstance(node, Terminal)
    return path, node


@pytest.mark.parametrize("depth_buckets", [0, 3])
@pytest.mark.parametrize("space", [SPACE_1D, SPACE_2D], ids=["1d", "2d"])
def test_a_mutation_changes_only_the_features_of_its_subtree(
    space: EinSpace, depth_buckets: int
) -> None:
    """phi(child) - phi(parent) == phi(new subtree in place) - phi(old subtree in place)."""
    tf = TreeFeatures(space.grammar, depth_buckets=depth_buckets, depth_step=2)
    rng = np.random.default_rng(7)
    seed = CNN1D if space is SPACE_1D else space.from_text(seed_text("wrn16_4"))
    for parent in [seed, *(space.sample(rng) for _ in range(8))]:
        for _ in range(6):
            child, record = space.mutate_with_record(parent, rng)
            path, old = _subtree_module(parent, record.path)
            new = node_at(child, path)
            assert not isinstance(new, Terminal)
            above = ROOT if not path else parent_label(node_at(parent, path[:-1]))  # type: ignore[arg-type]
            whole = [_difference(c, p) for c, p in zip(tf.features(child), tf.features(parent))]
            in_place = zip(tf.features(new, above, len(path)), tf.features(old, above, len(path)))
            local = [_difference(n, o) for n, o in in_place]
            assert whole == local
            delta = tf.encode(child) - tf.encode(parent)
            assert np.count_nonzero(delta) <= sum(len(d) for d in local)
            assert tf.edit_size(parent, child) <= count_nodes(old) + count_nodes(new)


@pytest.mark.parametrize("seed", ["cnn1d", "wrn16_4"])
def test_mutation_deltas_of_a_seed_are_sparse(seed: str) -> None:
    space = SPACE_1D if seed == "cnn1d" else SPACE_2D
    tf = TreeFeatures.for_space(space)
    tree = space.from_text(seed_text(seed))
    rng = np.random.default_rng(3)
    nnz = [
        np.count_nonzero(tf.encode(space.mutate(tree, rng)) - tf.encode(tree)) for _ in range(40)
    ]
    assert np.median(nnz) <= 8 < np.count_nonzero(tf.encode(tree))  # most edits swap a terminal
