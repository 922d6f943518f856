"""Subtree-resampling mutation that always changes the tree and never wastes an evaluation.

One mutation (einspace.md §4.3, with DECISIONS.md §1 fixes):

1. pick a node uniformly in the *canonical* tree (a b = 4/8 shared structure appears once, so the
   original's "mutated copy gets overwritten" bug cannot happen);
2. resample it from the grammar with its own symbol forbidden: a module gets another rule and a
   fresh subtree, a terminal another valid terminal of the same role (a branching function that
   changes b also resamples the branches and the aggregation);
3. re-infer all shapes (downstream nodes keep their choices; linear input widths etc. adapt) and
   check validity and the budget analytically; if the child is invalid, try another node.

Because the chosen node's symbol is forbidden, the child always differs from the parent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from einnas.grammar.features import Feature
from einnas.grammar.inference import ROLE_ROOT, Analysis, InvalidArchitecture, NodeInfo, analyze
from einnas.grammar.pcfg import Grammar
from einnas.grammar.sampling import Budget, DeadEnd, Derivation, OverBudget
from einnas.grammar.terminals import Terminal, branching_factor, terminal_text
from einnas.grammar.text import to_text
from einnas.grammar.tree import (
    Branching,
    Module,
    Node,
    count_nodes,
    module_type,
    node_at,
    replace_at,
)


class MutationError(RuntimeError):
    """No valid child was found within the allowed number of attempts."""


@dataclass(frozen=True, slots=True)
class MutationRecord:
    """What a mutation changed: the node's path and its text before and after."""

    path: tuple[int, ...]
    before: str
    after: str

    def to_dict(self) -> dict[str, object]:
        return {"path": list(self.path), "before": self.before, "after": self.after}


def _text(node: Node) -> str:
    return terminal_text(node) if isinstance(node, Terminal) else to_text(node)


def _other(options: list[Terminal], current: Terminal, rng: np.random.Generator) -> Terminal:
    choices = [t for t in options if t != current]
    if not choices:
        raise DeadEnd
    return choices[min(int(rng.random() * len(choices)), len(choices) - 1)]


def _resample(
    tree: Module,
    info: NodeInfo,
    analysis: Analysis,
    grammar: Grammar,
    budget: Budget,
    rng: np.random.Generator,
) -> tuple[tuple[int, ...], Node]:
    """A replacement (path, new node) for the node described by ``info``."""
    node = info.node
    rest_nodes = analysis.n_nodes - count_nodes(node)
    deriv = Derivation(
        grammar,
        budget,
        rng,
        base_nodes=rest_nodes,
        base_compiled=analysis.compiled_nodes - info.multiplicity * count_nodes(node),
    )
    if info.role in (ROLE_ROOT, "M"):
        assert not isinstance(node, Terminal)
        new, _ = deriv.module(
            info.input, info.depth, info.multiplicity, info.role == ROLE_ROOT, module_type(node)
        )
        return info.path, new
    assert isinstance(node, Terminal)
    x = info.input
    if info.role == "C":
        return info.path, deriv.compute(x, info.multiplicity, exclude=node)[0]
    if info.role == "P":
        return info.path, _other([t for t, _, _ in grammar.valid_pre(x)], node, rng)
    if info.role == "R":
        return info.path, _other([t for t, _ in grammar.valid_post(x, info.fold)], node, rng)
    if info.role == "A":
        return info.path, _other(
            [t for t, _ in grammar.valid_aggregate(info.factor, info.branch_outputs)], node, rng
        )
    # a branching function: keep the branches if b is unchanged, else derive them anew
    new_branch = _other([t for t, _, _ in grammar.valid_branch(x)], node, rng)
    parent_path = info.path[:-1]
    parent = node_at(tree, parent_path)
    assert isinstance(parent, Branching)
    if branching_factor(new_branch) == parent.factor:
        return info.path, new_branch
    b, y = next((b, y) for t, b, y in grammar.valid_branch(x) if t == new_branch)
    parent_mult = info.multiplicity
    new_parent, _ = deriv.branching(new_branch, b, y, info.depth, parent_mult)
    return parent_path, new_parent


def mutate_tree(
    tree: Module,
    x: Feature,
    grammar: Grammar,
    rng: np.random.Generator,
    budget: Budget | None = None,
    max_attempts: int = 1000,
) -> tuple[Module, MutationRecord]:
    """A valid child of ``tree`` that differs from it, and a record of the edit."""
    analysis = analyze(tree, x)
    # a child may be as large as its parent even when the parent exceeds the budget (seeds)
    budget = (budget or Budget()).covering(analysis)
    nodes = analysis.nodes
    for _ in range(max_attempts):
        info = nodes[min(int(rng.random() * len(nodes)), len(nodes) - 1)]
        try:
            path, new = _resample(tree, info, analysis, grammar, budget, rng)
        except (DeadEnd, OverBudget):
            continue
        child = replace_at(tree, path, new)
        assert not isinstance(child, Terminal)
        if child == tree:  # cannot happen (the symbol is forbidden); kept as a guard
            continue
        try:
            a = analyze(child, x)
        except InvalidArchitecture:
            continue
        if budget.violations(a):
            continue
        return child, MutationRecord(path, _text(node_at(tree, path)), _text(new))
    raise MutationError(f"no valid mutation of the tree found in {max_attempts} attempts")
