"""What a search strategy is: a function from the trial history to the next architecture.

A strategy keeps no state between decisions.  Decision ``k`` receives a
:class:`ProposalContext` with the history the search loop makes visible to it (the finished
trials of earlier decisions, in decision order), the identities already proposed, the space, and
an RNG seeded from ``(seed, k)``.  Because the same inputs give the same proposal, resuming a
study is just replaying its log: nothing about a strategy needs to be saved.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from einnas.spaces.base import SearchSpace


class SpaceExhausted(RuntimeError):
    """No architecture that has not been evaluated yet could be found."""


@dataclass(frozen=True)
class Observation:
    """A finished trial as strategies see it."""

    proposal: int
    trial: int  # the storage's trial number (used as ``parent`` by children)
    arch: Any
    identity: str
    val: float | None  # None when the evaluation failed
    parent: int | None = None
    # the trial's metrics (e.g. params, flops, latency): what multi-objective strategies read
    metrics: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ok(self) -> bool:
        return self.val is not None


@dataclass(frozen=True)
class Proposal:
    """The strategy's decision: evaluate ``arch`` (derived from trial ``parent`` by ``mutation``)."""

    arch: Any
    parent: int | None = None
    mutation: str | None = None
    note: str = ""  # e.g. "random", "mutation", "seed", "neighbour"


@dataclass
class ProposalContext:
    """Everything decision ``index`` may depend on."""

    index: int
    seed: int
    history: Sequence[Observation]
    seen: set[str]  # identities of every earlier proposal (finished or running)
    space: SearchSpace[Any]
    rng: np.random.Generator
    max_tries: int = 1000
    _by_trial: dict[int, Observation] | None = field(default=None, repr=False)

    def completed(self) -> list[Observation]:
        return [o for o in self.history if o.ok]

    def best(self) -> Observation | None:
        """Best finished trial (highest val; the earlier one on ties)."""
        best: Observation | None = None
        for o in self.history:
            if o.val is not None and (best is None or o.val > best.val):  # type: ignore[operator]
                best = o
        return best

    def is_new(self, arch: Any) -> bool:
        return self.space.identity(arch) not in self.seen

    def fresh_sample(self) -> Proposal:
        """A random architecture not proposed before."""
        for _ in range(self.max_tries):
            arch = self.space.sample(self.rng)
            if self.is_new(arch):
                return Proposal(arch, note="random")
        raise SpaceExhausted(f"no unseen architecture in {self.max_tries} random draws")

    def fresh_mutation(
        self, parent: Observation, accept: Callable[[Any, Any], bool] | None = None
    ) -> Proposal | None:
        """A mutation of ``parent`` not proposed before, or ``None`` if none was found.

        With ``accept``, the first new child with ``accept(parent.arch, child)`` true, or the
        first new child when no draw is accepted (see :meth:`fresh_mutation_of`).
        """
        return self.fresh_mutation_of(parent.arch, parent.trial, accept)

    def fresh_mutation_of(
        self,
        arch: Any,
        parent: int | None = None,
        accept: Callable[[Any, Any], bool] | None = None,
        note: str = "mutation",
    ) -> Proposal | None:
        """A new mutation of ``arch`` (recorded as a child of trial ``parent``), or ``None``.

        Draws up to ``max_tries // 10`` mutations.  ``accept(arch, child)`` restricts the
        result (e.g. to small edits) where any draw passes it; otherwise the first new child is
        returned, so a restriction never stalls the search.
        """
        mutate_with_record = getattr(self.space, "mutate_with_record", None)
        fallback: Proposal | None = None
        for _ in range(self.max_tries // 10 or 1):
            if mutate_with_record is not None:
                child, record = mutate_with_record(arch, self.rng)
                mutation = json.dumps(record.to_dict())
            else:
                child = self.space.mutate(arch, self.rng)
                mutation = None
            if not self.is_new(child):
                continue
            proposal = Proposal(child, parent=parent, mutation=mutation, note=note)
            if accept is None or accept(arch, child):
                return proposal
            fallback = fallback or proposal
        return fallback


class Strategy(ABC):
    """Chooses the next architecture from the history (see module docstring)."""

    name: str = "strategy"

    @abstractmethod
    def propose(self, ctx: ProposalContext) -> Proposal:
        """The architecture to evaluate at decision ``ctx.index``."""

    def describe(self) -> dict[str, Any]:
        """Settings recorded in the study config (JSON-able)."""
        return {"name": self.name}
