"""Synthetic slot spaces with a known objective: additive slot effects plus pairwise interactions.

For tests and measurements that need a slot space of any shape (the overhead-vs-slots benchmark,
the DoA diagnostic's sanity check) without a benchmark table.

* :class:`SyntheticSlotSpace` -- ``m`` slots with ``K_j`` choices; text ``"v0-v1-...-v{m-1}"``;
  identity = the text (no two architectures are equivalent).
* :class:`SyntheticObjective` -- a fixed random function of the slots, drawn from a seed::

      f(a) = (sum_j w_j[a_j] + interaction * c * sum_{j<k} V_jk[a_j, a_k]) / sqrt(m)

  with every ``w`` and ``V`` entry standard normal and ``c = sqrt(m / #pairs)``, so the pairwise
  part has ``interaction**2`` times the variance of the additive part and ``f`` has standard
  deviation about ``sqrt(1 + interaction**2)`` whatever ``m``.  ``interaction = 0`` is purely
  additive: then a linear model on one-hot deltas (ridge DoA) is exact at every edit distance.

Same cardinalities, interaction and seed give the same function.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace

__all__ = ["SyntheticObjective", "SyntheticSlotSpace", "parse_shape_spec"]


def parse_shape_spec(text: str) -> tuple[int, ...]:
    """Cardinalities from ``"MxK"`` (``M`` slots of ``K`` choices), joined by ``+``.

    ``"8x3"`` -> eight 3-way slots; ``"21x2+5x3"`` -> the NAS-Bench-101 shape (26 slots).
    """
    cards: list[int] = []
    for part in text.replace(" ", "").split("+"):
        slots, sep, choices = part.lower().partition("x")
        try:
            m, k = int(slots), int(choices)
        except ValueError:
            m = k = 0
        if not sep or m < 1 or k < 1:
            raise SearchSpaceError(
                f"cannot read the slot shape {text!r}: expected MxK (M slots of K choices), "
                "several joined by '+', e.g. 8x3 or 21x2+5x3"
            )
        cards.extend([k] * m)
    return tuple(cards)


class SyntheticSlotSpace(SlotSpace):
    """A slot space of any shape; text ``"v0-v1-..."``, identity = text."""

    def __init__(self, cardinalities: Sequence[int], name: str | None = None) -> None:
        cards = tuple(int(k) for k in cardinalities)
        super().__init__(cards, name=name or f"synthetic-{len(cards)}")

    def to_text(self, arch: Sequence[int]) -> str:
        """Choice indices joined by ``-``, e.g. ``0-2-1``."""
        return "-".join(str(v) for v in self.validate(arch))

    def from_text(self, text: str) -> SlotArch:
        """Parse ``v0-v1-...``."""
        if not isinstance(text, str):
            raise SearchSpaceError(f"{self.name}: expected text, got {type(text).__name__}")
        try:
            values = tuple(int(p) for p in text.strip().split("-"))
        except ValueError:
            raise SearchSpaceError(
                f"{self.name}: cannot parse {text!r}; expected {self.num_slots} choice indices "
                "joined by '-', e.g. 0-2-1"
            ) from None
        return self.validate(values)

    def identity(self, arch: Sequence[int]) -> str:
        """The text (every architecture is its own class).

        A tuple of in-range ints (what ``neighbours``/``sample`` return) takes a C-level path:
        searches ask for the identity of every neighbour of a parent, and the per-slot
        validation in Python made that O(m) interpreted steps per neighbour.
        """
        if (
            type(arch) is tuple
            and len(arch) == self.num_slots
            and set(map(type, arch)) == {int}
            and min(arch) >= 0
            and all(map(operator.lt, arch, self.cardinalities))
        ):
            return "-".join(map(str, arch))
        return self.to_text(arch)


class SyntheticObjective:
    """A fixed random additive + pairwise function of the slots (see the module docstring).

    Args:
        cardinalities: ``K_j`` per slot.
        interaction: scale of the pairwise part relative to the additive part (>= 0).
        seed: draws the effects.
    """

    def __init__(
        self, cardinalities: Sequence[int], interaction: float = 0.0, seed: int = 0
    ) -> None:
        cards = tuple(int(k) for k in cardinalities)
        if not cards or min(cards) < 1:
            raise ValueError(f"cardinalities must be positive, got {cards}")
        if not (interaction >= 0.0 and math.isfinite(interaction)):
            raise ValueError(f"interaction must be a finite number >= 0, got {interaction}")
        self.cardinalities = cards
        self.interaction = float(interaction)
        self.seed = int(seed)
        m = len(cards)
        rng = np.random.default_rng([self.seed, m, 0x5E7])
        k_max = max(cards)
        # additive effects w[j, v] (zero-padded past K_j; padding is never read)
        self._w = rng.standard_normal((m, k_max))
        rows, cols = np.triu_indices(m, 1)
        self._pair_rows, self._pair_cols = rows, cols
        self._v = rng.standard_normal((rows.size, k_max, k_max)) if self.interaction else None
        self._pair_scale = math.sqrt(m / rows.size) if rows.size else 0.0
        self._norm = 1.0 / math.sqrt(m)

    def __repr__(self) -> str:
        return (
            f"SyntheticObjective({len(self.cardinalities)} slots, "
            f"interaction={self.interaction}, seed={self.seed})"
        )

    def values(self, codes: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``f`` of each row of an ``(n, m)`` matrix of choice indices."""
        a = np.asarray(codes, dtype=np.int64)
        if a.ndim == 1:
            a = a[None, :]
        m = len(self.cardinalities)
        if a.shape[1] != m:
            raise ValueError(f"expected {m} slots per row, got shape {a.shape}")
        out = self._w[np.arange(m)[None, :], a].sum(axis=1)
        if self._v is not None and self._pair_rows.size:
            pairs = np.arange(self._pair_rows.size)[None, :]
            inter = self._v[pairs, a[:, self._pair_rows], a[:, self._pair_cols]].sum(axis=1)
            out = out + self.interaction * self._pair_scale * inter
        result: npt.NDArray[np.float64] = out * self._norm
        return result

    def value(self, arch: Sequence[int]) -> float:
        """``f(arch)``."""
        return float(self.values(np.asarray(arch, dtype=np.int64)[None, :])[0])
