"""Evaluating a synthetic objective: an instant evaluator for synthetic slot spaces.

Used by measurements that run the real search loop on slot spaces of any shape (the
overhead-vs-slots benchmark).  ``val`` and ``test`` are the same number,
:class:`~einnas.spaces.synthetic.SyntheticObjective` of the architecture.  The evaluator holds
only its settings (it pickles as a few numbers) and builds the space and objective lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from einnas.evaluators.base import EvalResult
from einnas.spaces.synthetic import SyntheticObjective, SyntheticSlotSpace

__all__ = ["SyntheticEvaluator"]


@dataclass(frozen=True)
class SyntheticEvaluator:
    """``f(arch)`` of a :class:`SyntheticObjective` over a :class:`SyntheticSlotSpace`."""

    cardinalities: tuple[int, ...]
    interaction: float = 0.0
    seed: int = 0
    instant = True  # a function evaluation: the search loop may log start and finish together
    _built: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def space(self) -> SyntheticSlotSpace:
        hit = self._built.get("space")
        if hit is None:
            hit = self._built["space"] = SyntheticSlotSpace(self.cardinalities)
        space: SyntheticSlotSpace = hit
        return space

    @property
    def objective(self) -> SyntheticObjective:
        hit = self._built.get("objective")
        if hit is None:
            hit = self._built["objective"] = SyntheticObjective(
                self.cardinalities, self.interaction, self.seed
            )
        objective: SyntheticObjective = hit
        return objective

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        value = self.objective.value(self.space.from_text(arch))
        return EvalResult(value, value, {}, None)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "slots": len(self.cardinalities),
            "cardinalities": list(self.cardinalities),
            "interaction": self.interaction,
            "seed": self.seed,
        }
