"""Budget-aware top-down sampling that is valid by construction.

The sampler derives a tree from the root, carrying the feature (mode, shape), depth and weight
multiplicity down the derivation and choosing every terminal uniformly among the options that are
valid in that context (``Grammar.valid_*``), so shapes are exact without running any module.

The only choice that can turn out impossible after the fact is a b = 2 aggregation: the two
independently sampled branches may end in shapes no aggregation can join.  Then, as in the
original einspace, the whole branching module is discarded and the parent module tries one of its
other rule options (computation always succeeds), so a dead end costs one subtree, never a
search over the whole tree.

Budgets (nodes, parameters, multiply-accumulates, activation size) are counted exactly while
deriving; a derivation that exceeds one is abandoned immediately and sampling restarts from the
root.  That makes the output distribution the PCFG's conditioned on the budget, and bounds the
work of every attempt by the budget itself.  A bounded number of attempts keeps the worst case
bounded too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from einnas.grammar.features import Feature
from einnas.grammar.inference import Analysis
from einnas.grammar.pcfg import Grammar
from einnas.grammar.terminals import Terminal, aggregate_macs, compute_macs, compute_params
from einnas.grammar.tree import Branching, Computation, Module, Routing, Sequential


@dataclass(frozen=True, slots=True)
class Budget:
    """Hard limits every sampled or mutated tree satisfies (per example, backbone only).

    ``max_nodes`` counts the canonical tree (a shared b = 4/8 structure once);
    ``max_compiled_nodes`` counts the compiled network, where that structure is built b times
    (nested b = 8 branchings multiply quickly).
    """

    max_nodes: int = 2000
    max_params: int = 25_000_000
    max_macs: int = 4_000_000_000
    max_activation: int = 1 << 23
    max_compiled_nodes: int = 20_000

    def violations(self, analysis: Analysis) -> list[str]:
        """What ``analysis`` exceeds, in words (empty when it fits)."""
        a = analysis
        checks = (
            (a.n_nodes, self.max_nodes, "nodes"),
            (a.compiled_nodes, self.max_compiled_nodes, "compiled nodes"),
            (a.params, self.max_params, "parameters"),
            (a.macs, self.max_macs, "multiply-accumulates"),
            (a.max_activation, self.max_activation, "activation elements"),
        )
        return [f"{value} {what} > {limit}" for value, limit, what in checks if value > limit]

    def covering(self, analysis: Analysis) -> Budget:
        """This budget, raised where needed so that ``analysis`` fits."""
        a = analysis
        return Budget(
            max(self.max_nodes, a.n_nodes),
            max(self.max_params, a.params),
            max(self.max_macs, a.macs),
            max(self.max_activation, a.max_activation),
            max(self.max_compiled_nodes, a.compiled_nodes),
        )


class SamplingError(RuntimeError):
    """No tree within the budget was found in the allowed number of attempts."""


class DeadEnd(Exception):
    """This rule option cannot be completed in this context; the parent tries another."""


class OverBudget(Exception):
    """The derivation exceeded a budget; the whole attempt is abandoned."""


class Derivation:
    """One sampling attempt: an RNG, running totals and the grammar's choices."""

    def __init__(
        self,
        grammar: Grammar,
        budget: Budget,
        rng: np.random.Generator,
        base_nodes: int = 0,
        base_compiled: int = 0,
        base_params: int = 0,
        base_macs: int = 0,
        max_work: int | None = None,
    ) -> None:
        self.g = grammar
        self.budget = budget
        self.rng = rng
        self.nodes = base_nodes
        self.compiled = base_compiled
        self.params = base_params
        self.macs = base_macs
        self.work = 0
        self.max_work = max_work if max_work is not None else 8 * budget.max_nodes

    # -- accounting ---------------------------------------------------------------------------
    def _charge(
        self, nodes: int, mult: int, params: int = 0, macs: int = 0, activation: int = 0
    ) -> None:
        self.nodes += nodes
        self.compiled += nodes * mult
        self.params += params
        self.macs += macs
        self.work += nodes
        b = self.budget
        if (
            self.nodes > b.max_nodes
            or self.compiled > b.max_compiled_nodes
            or self.params > b.max_params
            or self.macs > b.max_macs
            or activation > b.max_activation
            or self.work > self.max_work
        ):
            raise OverBudget

    def _pick(self, n: int) -> int:
        return min(int(self.rng.random() * n), n - 1)

    # -- modules ------------------------------------------------------------------------------
    def module(
        self, x: Feature, depth: int, mult: int, root: bool = False, exclude: str | None = None
    ) -> tuple[Module, Feature]:
        """Derive one module for input ``x``; ``exclude`` forbids a rule (mutation)."""
        options = [o for o in self.g.module_options(depth, root) if o != exclude]
        while options:
            weights = self.g.module_weights(options)
            u = self.rng.random() * sum(weights)
            k = 0
            while k < len(options) - 1 and u >= weights[k]:
                u -= weights[k]
                k += 1
            saved = (self.nodes, self.compiled, self.params, self.macs)
            try:
                return self.expand(options[k], x, depth, mult)
            except DeadEnd:
                self.nodes, self.compiled, self.params, self.macs = saved
                del options[k]
        raise DeadEnd

    def expand(self, kind: str, x: Feature, depth: int, mult: int) -> tuple[Module, Feature]:
        self._charge(1, mult)
        d = depth + 1
        if kind == "computation":
            op, y = self.compute(x, mult)
            return Computation(op), y
        if kind == "sequential":
            first, y = self.module(x, d, mult)
            second, z = self.module(y, d, mult)
            return Sequential(first, second), z
        if kind == "routing":
            pre_opts = self.g.valid_pre(x)
            pre, y, fold = pre_opts[self._pick(len(pre_opts))]
            self._charge(1, mult, activation=y.numel)
            inner, z = self.module(y, d, mult)
            post_opts = self.g.valid_post(z, fold)
            if not post_opts:
                raise DeadEnd
            post, out = post_opts[self._pick(len(post_opts))]
            self._charge(1, mult, activation=out.numel)
            return Routing(pre, inner, post), out
        branch_opts = self.g.valid_branch(x)
        branch, b, y = branch_opts[self._pick(len(branch_opts))]
        return self.branching(branch, b, y, d, mult)

    def branching(
        self, branch: Terminal, b: int, y: Feature, d: int, mult: int
    ) -> tuple[Module, Feature]:
        """Derive the rest of a branching module whose branching function is already chosen."""
        self._charge(1, mult)
        if b == 2:
            m1, o1 = self.module(y, d, mult)
            m2, o2 = self.module(y, d, mult)
            inners: tuple[Module, ...] = (m1, m2)
            outs: tuple[Feature, ...] = (o1, o2)
        else:
            m, o = self.module(y, d, mult * b)
            inners = (m,)
            outs = (o,) * b
        agg_opts = self.g.valid_aggregate(b, outs)
        if not agg_opts:
            raise DeadEnd
        agg, out = agg_opts[self._pick(len(agg_opts))]
        self._charge(1, mult, macs=mult * aggregate_macs(agg, outs), activation=out.numel)
        return Branching(branch, inners, agg), out

    def compute(
        self, x: Feature, mult: int, exclude: Terminal | None = None
    ) -> tuple[Terminal, Feature]:
        opts = self.g.valid_compute(x)
        if exclude is not None:
            opts = tuple(o for o in opts if o[0] != exclude)
            if not opts:
                raise DeadEnd
        op, y = opts[self._pick(len(opts))]
        self._charge(1, mult, mult * compute_params(op, x), mult * compute_macs(op, x), y.numel)
        return op, y


def sample_tree(
    grammar: Grammar,
    x: Feature,
    rng: np.random.Generator,
    budget: Budget | None = None,
    max_attempts: int = 10_000,
) -> Module:
    """Draw one tree for input ``x`` from the PCFG, conditioned on ``budget``."""
    budget = budget or Budget()
    for _ in range(max_attempts):
        d = Derivation(grammar, budget, rng)
        try:
            tree, _ = d.module(x, 0, 1, root=True)
        except (OverBudget, DeadEnd):
            continue
        return tree
    raise SamplingError(
        f"no tree within {budget} after {max_attempts} attempts for input {x}; raise the budget"
    )
