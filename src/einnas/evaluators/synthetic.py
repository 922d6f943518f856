"""Evaluating a synthetic objective: an instant evaluator for synthetic slot spaces.

Used by measurements that run the real search loop on slot spaces of any shape (the
overhead-vs-slots benchmark, ``einnas bench --space synthetic``).  ``test`` is
:class:`~einnas.spaces.synthetic.SyntheticObjective` of the architecture, ``f``; ``val`` is
``f + noise * z`` with ``z`` standard normal, drawn from an RNG seeded by the objective seed and
the architecture (so an architecture always gets the same validation value, as in a table, and
``noise = 0`` gives ``val = test``).  The evaluator holds only its settings (it pickles as a few
numbers) and builds the space and objective lazily.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from einnas.evaluators.base import EvalResult
from einnas.spaces.synthetic import SyntheticObjective, SyntheticSlotSpace

__all__ = ["SyntheticEvaluator"]


@dataclass(frozen=True)
class SyntheticEvaluator:
    """``f(arch)`` of a :class:`SyntheticObjective` over a :class:`SyntheticSlotSpace`."""

    cardinalities: tuple[int, ...]
    interaction: float = 0.0
    seed: int = 0
    noise: float = 0.0  # standard deviation of the validation noise (test is noiseless)
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

    def noise_of(self, text: str) -> float:
        """The validation noise of the architecture ``text`` (fixed per architecture)."""
        if not self.noise:
            return 0.0
        key = zlib.crc32(text.encode("utf-8"))
        z = np.random.default_rng([self.seed, key, 0x4015E]).standard_normal()
        return float(self.noise * z)

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        parsed = self.space.from_text(arch)
        value = self.objective.value(parsed)
        return EvalResult(value + self.noise_of(self.space.to_text(parsed)), value, {}, None)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "slots": len(self.cardinalities),
            "cardinalities": list(self.cardinalities),
            "interaction": self.interaction,
            "seed": self.seed,
            **({"noise": self.noise} if self.noise else {}),
        }
