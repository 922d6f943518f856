"""Random search: every decision draws a fresh architecture from the space's prior."""

from __future__ import annotations

from einnas.strategies.base import Proposal, ProposalContext, Strategy


class RandomSearch(Strategy):
    name = "rs"

    def propose(self, ctx: ProposalContext) -> Proposal:
        return ctx.fresh_sample()
