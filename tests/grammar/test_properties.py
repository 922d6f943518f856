"""Property tests: every sampled or mutated tree is valid by construction.

For every input shape, a hypothesis integer seeds a numpy ``default_rng`` that drives the
sampler (and the mutation operator), so a failure is reproduced exactly from the printed seed.
Each tree must

* round-trip through its canonical text and through ``pretty``;
* compile, and its backbone's forward pass on a random batch of 2 must yield exactly the
  analytically inferred output shape;
* have a compiled parameter count equal to ``network_params(analyze(tree, shape), 10)``.

Mutants (a sampled tree mutated once, and that child mutated again) must in addition differ
from their parent.

``EINNAS_HYPOTHESIS_EXAMPLES`` sets the total number of examples per property, spread evenly
over the input shapes (default 300: a few hundred each, about a minute for the file on 2 cores).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from einnas.grammar import (
    Budget,
    Grammar,
    Module,
    Node,
    Terminal,
    analyze,
    arch_hash,
    input_feature,
    mutate_tree,
    network_params,
    node_at,
    parse,
    pretty,
    sample_tree,
    terminal_text,
    to_text,
)
from einnas.nn.compile import compile_network

SHAPES: tuple[tuple[int, ...], ...] = (
    (3, 28, 28),
    (3, 64, 64),
    (1, 24, 24),
    (1, 27, 18),
    (12, 18, 18),
    (1, 40),
)
NUM_CLASSES = 10
BATCH = 2

TOTAL_EXAMPLES = int(os.environ.get("EINNAS_HYPOTHESIS_EXAMPLES", "300"))
PER_SHAPE = max(1, math.ceil(TOTAL_EXAMPLES / len(SHAPES)))

PROPERTY_SETTINGS = settings(
    max_examples=PER_SHAPE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)

GRAMMARS = {shape: Grammar.for_input(shape) for shape in SHAPES}
BUDGET = Budget()


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks run faster on one thread; restore the setting for other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shape_id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_tree(tree: Module, shape: tuple[int, ...]) -> None:
    """Round trips, compilation, exact forward shape and exact parameter count."""
    text = to_text(tree)
    note(f"tree on {_shape_id(shape)}: {text}")
    assert parse(text) == tree
    assert to_text(parse(text)) == text
    assert parse(pretty(tree)) == tree
    assert parse(pretty(tree, width=40)) == tree

    analysis = analyze(tree, shape)
    assert not BUDGET.violations(analysis)
    net = compile_network(tree, shape, NUM_CLASSES)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == network_params(analysis, NUM_CLASSES)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, *shape, generator=gen)
    with torch.no_grad():
        y = net.backbone(x)
        assert tuple(y.shape) == (BATCH, *analysis.output.shape)
        logits = net.head(y)
    assert tuple(logits.shape) == (BATCH, NUM_CLASSES)


def _text(node: Node) -> str:
    return terminal_text(node) if isinstance(node, Terminal) else to_text(node)


def check_mutation(parent: Module, shape: tuple[int, ...], rng: np.random.Generator) -> Module:
    """Mutate ``parent`` once; the child differs, is valid, and the record describes the edit."""
    grammar = GRAMMARS[shape]
    child, record = mutate_tree(parent, input_feature(shape), grammar, rng, BUDGET)
    note(f"mutation at {record.path}: {record.before} -> {record.after}")
    assert child != parent
    assert to_text(child) != to_text(parent)
    assert arch_hash(child) != arch_hash(parent)
    assert record.before != record.after
    assert _text(node_at(parent, record.path)) == record.before
    assert _text(node_at(child, record.path)) == record.after
    check_tree(child, shape)
    return child


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_sampled_trees_are_valid(shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = sample_tree(GRAMMARS[shape], input_feature(shape), rng, BUDGET)
    check_tree(tree, shape)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_mutated_trees_are_valid_and_differ(shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    parent = sample_tree(GRAMMARS[shape], input_feature(shape), rng, BUDGET)
    note(f"parent: {to_text(parent)}")
    child = check_mutation(parent, shape, rng)
    grandchild = check_mutation(child, shape, rng)
    assert grandchild != child
