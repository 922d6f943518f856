"""Search strategies: each proposes the next architecture as a function of the trial history."""

from __future__ import annotations

from collections.abc import Sequence

from einnas.strategies.bananas import Bananas
from einnas.strategies.base import Observation, Proposal, ProposalContext, SpaceExhausted, Strategy
from einnas.strategies.delta_nas import DeltaNAS
from einnas.strategies.evolution import RegularisedEvolution
from einnas.strategies.local_search import LocalSearch
from einnas.strategies.random_search import RandomSearch

STRATEGY_NAMES = ("rs", "re", "ls", "delta-nas", "bananas")

__all__ = [
    "STRATEGY_NAMES",
    "Bananas",
    "DeltaNAS",
    "LocalSearch",
    "Observation",
    "Proposal",
    "ProposalContext",
    "RandomSearch",
    "RegularisedEvolution",
    "SpaceExhausted",
    "Strategy",
    "make_strategy",
]


def make_strategy(
    name: str,
    *,
    tabular: bool,
    population: int | None = None,
    tournament: int | None = None,
    seed_archs: Sequence[str] = (),
) -> Strategy:
    """A strategy by name with the defaults of its space family.

    Regularised evolution defaults to P = 30, S = 10 with the tournament drawn without
    replacement on tabular benchmarks (the setting of the reference figures in
    docs/benchmarks.md) and to einspace's P = 100, S = 10 drawn with replacement on einspace.

    ``delta-nas`` (:class:`DeltaNAS`) and ``bananas`` (:class:`Bananas`) take the defaults chosen
    by their NB201 experiments (see their modules).  On einspace Delta-NAS needs an encoder
    (``DeltaNAS(encoder=...)``) until the tree feature map lands.
    """
    key = name.strip().lower()
    if key in ("rs", "random"):
        return RandomSearch()
    if key in ("re", "evolution", "regularised-evolution"):
        return RegularisedEvolution(
            population=population or (30 if tabular else 100),
            tournament=tournament or 10,
            with_replacement=not tabular,
            seed_archs=seed_archs,
        )
    if key in ("ls", "local", "local-search"):
        return LocalSearch()
    if key in ("delta-nas", "delta", "deltanas", "delta_nas"):
        return DeltaNAS()
    if key == "bananas":
        return Bananas()
    raise ValueError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGY_NAMES)}")
