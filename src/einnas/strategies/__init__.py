"""Search strategies: each proposes the next architecture as a function of the trial history.

Strategies are found by name in :mod:`einnas.registry`: the built-ins below register themselves
(:func:`builtin_strategy_entries`), plug-ins through the ``einnas.strategies`` entry-point group
or :func:`register_strategy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einnas.strategies.bananas import Bananas
from einnas.strategies.base import Observation, Proposal, ProposalContext, SpaceExhausted, Strategy
from einnas.strategies.delta_nas import DeltaNAS
from einnas.strategies.evolution import RegularisedEvolution
from einnas.strategies.local_search import LocalSearch
from einnas.strategies.multi_objective import MODeltaNAS, MORandomSearch, MORegularisedEvolution
from einnas.strategies.random_search import RandomSearch

STRATEGY_NAMES = ("rs", "re", "ls", "delta-nas", "bananas")
"""The built-in strategies (:func:`strategy_names` adds plug-ins and in-process registrations)."""

MO_STRATEGY_NAMES = ("mo-rs", "mo-re", "mo-delta-nas")
"""The built-in multi-objective strategies (option ``objectives``; :mod:`einnas.objectives`)."""

DELTA_NAS_EINSPACE: dict[str, Any] = {
    "n_init": 10,
    "parents": 3,
    "mutations": 16,
    "eps": 0.2,
    "predictor": "ridge",
    "alpha": 1.0,
    "patience": 0,
    "radius": 12,
    "max_edit": 12,
    "seeded_init": 4,
}
"""Delta-NAS settings on einspace (why: "Delta-NAS on einspace trees" in its module)."""

BANANAS_EINSPACE: dict[str, Any] = {"n_init": 10, "parents": 3, "mutations": 16, "seeded_init": 4}
"""BANANAS settings on einspace: Delta-NAS's start and candidate pool."""

__all__ = [
    "BANANAS_EINSPACE",
    "DELTA_NAS_EINSPACE",
    "MO_STRATEGY_NAMES",
    "STRATEGY_NAMES",
    "Bananas",
    "DeltaNAS",
    "LocalSearch",
    "MODeltaNAS",
    "MORandomSearch",
    "MORegularisedEvolution",
    "Observation",
    "Proposal",
    "ProposalContext",
    "RandomSearch",
    "RegularisedEvolution",
    "SpaceExhausted",
    "Strategy",
    "builtin_strategy_entries",
    "make_strategy",
    "register_strategy",
    "strategy_names",
]


def make_strategy(
    name: str,
    *,
    tabular: bool,
    population: int | None = None,
    tournament: int | None = None,
    seed_archs: Sequence[str] = (),
    **options: Any,
) -> Strategy:
    """A strategy by name (built-in or plug-in) with the defaults of its space family.

    Built-ins: regularised evolution defaults to P = 30, S = 10 with the tournament drawn
    without replacement on tabular benchmarks (the setting of the reference figures in
    docs/benchmarks.md) and to einspace's P = 100, S = 10 drawn with replacement on einspace.

    ``delta-nas`` (:class:`DeltaNAS`) and ``bananas`` (:class:`Bananas`) take the defaults chosen
    by their NB201 experiments on tabular spaces (see their modules).  On einspace
    (``tabular=False``) they read the tree feature map
    (:class:`~einnas.predictors.tree_features.TreeFeatures`) and get budgets of 30-100 noisy
    trainings in mind (:data:`DELTA_NAS_EINSPACE`, explained in :mod:`einnas.strategies.delta_nas`):
    10 random start decisions, or with ``seed_archs`` 4: the seeds, then mutations of them
    (Delta-NAS: edits of at most 12 productions); then candidates from 16 sampled mutations of
    each of the 3 best networks; Delta-NAS scores them with a ridge difference predictor, keeps
    edits of at most 12 productions, explores with probability 0.2 and never restarts; BANANAS
    uses the same start length and candidate pool (without the edit bound).
    ``seed_archs`` are also honoured by both on tabular spaces (none by default).

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    from einnas.registry import make_strategy as _make

    return _make(
        name,
        tabular=tabular,
        population=population,
        tournament=tournament,
        seed_archs=seed_archs,
        **options,
    )


def _random_search(tabular: bool, **_: Any) -> Strategy:
    return RandomSearch()


def _evolution(
    tabular: bool,
    population: int | None = None,
    tournament: int | None = None,
    seed_archs: Sequence[str] = (),
    **_: Any,
) -> Strategy:
    return RegularisedEvolution(
        population=population or (30 if tabular else 100),
        tournament=tournament or 10,
        with_replacement=not tabular,
        seed_archs=seed_archs,
    )


def _local_search(tabular: bool, **_: Any) -> Strategy:
    return LocalSearch()


def _delta_nas(tabular: bool, seed_archs: Sequence[str] = (), **_: Any) -> Strategy:
    if tabular:
        return DeltaNAS(seed_archs=seed_archs)
    return DeltaNAS(**DELTA_NAS_EINSPACE, seed_archs=seed_archs)


def _bananas(tabular: bool, seed_archs: Sequence[str] = (), **_: Any) -> Strategy:
    if tabular:
        return Bananas(seed_archs=seed_archs)
    return Bananas(**BANANAS_EINSPACE, seed_archs=seed_archs)


def _mo_random_search(tabular: bool, objectives: Any = None, **_: Any) -> Strategy:
    return MORandomSearch(objectives)


def _mo_evolution(
    tabular: bool,
    population: int | None = None,
    tournament: int | None = None,
    objectives: Any = None,
    **_: Any,
) -> Strategy:
    return MORegularisedEvolution(
        objectives, population=population or (30 if tabular else 100), tournament=tournament or 10
    )


def _mo_delta_nas(tabular: bool, objectives: Any = None, **options: Any) -> Strategy:
    known = ("n_init", "radius", "parents", "mutations", "eps", "alpha", "encoding")
    kwargs = {k: options[k] for k in known if options.get(k) is not None}
    if not tabular:
        kwargs.setdefault("radius", 12)
        kwargs.setdefault("parents", 3)
        kwargs.setdefault("mutations", 16)
    return MODeltaNAS(objectives, **kwargs)


def builtin_strategy_entries() -> list[Any]:
    """The built-in strategies as registry entries (names and aliases as before the registry)."""
    from einnas.registry import StrategyEntry

    return [
        StrategyEntry("rs", _random_search, aliases=("random",), source="built-in"),
        StrategyEntry(
            "re",
            _evolution,
            aliases=("evolution", "regularised-evolution"),
            source="built-in",
        ),
        StrategyEntry("ls", _local_search, aliases=("local", "local-search"), source="built-in"),
        StrategyEntry("delta-nas", _delta_nas, aliases=("delta", "deltanas"), source="built-in"),
        StrategyEntry("bananas", _bananas, source="built-in"),
        StrategyEntry("mo-rs", _mo_random_search, aliases=("mors",), source="built-in"),
        StrategyEntry("mo-re", _mo_evolution, aliases=("nsga2", "mo-evolution"), source="built-in"),
        StrategyEntry("mo-delta-nas", _mo_delta_nas, aliases=("mo-delta",), source="built-in"),
    ]


from einnas.registry import register_strategy, strategy_names  # noqa: E402
