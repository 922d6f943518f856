"""Local search: first-improvement hill climbing with random restarts.

Start with ``n_init`` random architectures; then evaluate the not-yet-seen neighbours of the
best architecture so far, in an order shuffled once per incumbent, until one beats it (the
history's best then moves, and so does the neighbourhood).  At a local optimum (every neighbour
evaluated), evaluate random architectures until one beats the incumbent.  In spaces without a
finite neighbourhood (einspace), a neighbour is a mutation of the incumbent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from einnas.strategies.base import Proposal, ProposalContext, Strategy


class LocalSearch(Strategy):
    name = "ls"

    def __init__(self, n_init: int = 10) -> None:
        if n_init < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        self.n_init = n_init

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "n_init": self.n_init}

    def propose(self, ctx: ProposalContext) -> Proposal:
        best = ctx.best()
        if ctx.index < self.n_init or best is None:
            return ctx.fresh_sample()
        neighbours = getattr(ctx.space, "neighbours", None)
        if neighbours is None:
            child = ctx.fresh_mutation(best)
            return child if child is not None else ctx.fresh_sample()
        cands = list(neighbours(best.arch))
        order = np.random.default_rng([ctx.seed, best.proposal, 0x15]).permutation(len(cands))
        for i in order:
            cand = cands[int(i)]
            if ctx.is_new(cand):
                return Proposal(cand, parent=best.trial, note="neighbour")
        return ctx.fresh_sample()
