"""Regularised (aging) evolution, optionally seeded with known architectures.

Real et al.'s aging evolution as a function of the history: the population at decision ``k`` is
the ``population`` most recent successful trials (so the oldest member leaves when a child
enters), the parent is the best of ``tournament`` members drawn at random, and the child is a
mutation of the parent that has not been evaluated before.  The first ``population`` decisions
are random samples, or, when seeds are given, each distinct seed is evaluated once and the
population starts as the evaluated seeds repeated cyclically to its full size (einspace's
RE(RN18) / RE(Mix)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy


class RegularisedEvolution(Strategy):
    name = "re"

    def __init__(
        self,
        population: int = 30,
        tournament: int = 10,
        with_replacement: bool = False,
        seed_archs: Sequence[str] = (),
    ) -> None:
        if population < 1 or tournament < 1:
            raise ValueError(
                f"population ({population}) and tournament ({tournament}) must be >= 1"
            )
        self.population = population
        self.tournament = tournament
        self.with_replacement = with_replacement
        self.seed_archs = tuple(dict.fromkeys(seed_archs))  # distinct, in the given order

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "population": self.population,
            "tournament": self.tournament,
            "with_replacement": self.with_replacement,
            "seed_archs": list(self.seed_archs),
        }

    def current_population(self, history: Sequence[Observation]) -> list[Observation]:
        ok = [o for o in history if o.ok]
        n_seeds = len(self.seed_archs)
        if n_seeds:
            seeds = [o for o in ok if o.proposal < n_seeds]
            rest = [o for o in ok if o.proposal >= n_seeds]
            start = [seeds[i % len(seeds)] for i in range(self.population)] if seeds else []
            ok = start + rest
        return ok[-self.population :]

    def propose(self, ctx: ProposalContext) -> Proposal:
        k = ctx.index
        if k < len(self.seed_archs):
            arch = ctx.space.from_text(self.seed_archs[k])
            if ctx.is_new(arch):
                return Proposal(arch, note="seed")
            return ctx.fresh_sample()
        if not self.seed_archs and k < self.population:
            return ctx.fresh_sample()
        pop = self.current_population(ctx.history)
        if not pop:
            return ctx.fresh_sample()
        size = min(self.tournament, len(pop)) if not self.with_replacement else self.tournament
        picks = ctx.rng.choice(len(pop), size=size, replace=self.with_replacement)
        # the fittest contestant wins; among equals the one proposed first
        parent = max((pop[int(i)] for i in picks), key=lambda o: (o.val, -o.proposal))
        child = ctx.fresh_mutation(parent)
        return child if child is not None else ctx.fresh_sample()
