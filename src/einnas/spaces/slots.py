"""Search spaces made of fixed decision slots (the cell benchmarks).

A slot space has ``m`` decision slots; slot ``j`` takes one of ``K_j`` choices.  An architecture is
a ``tuple[int, ...]`` holding one choice index per slot.  :class:`SlotSpace` implements everything
that follows from that shape (sampling, mutation, neighbours, one-hot encoding, edit distance,
enumeration); subclasses add the text form and the identity (deduplication key).

All randomness comes from the :class:`numpy.random.Generator` passed in; nothing here touches a
global random state.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.spaces.base import SearchSpaceError

__all__ = ["SlotArch", "SlotSpace"]

SlotArch = tuple[int, ...]
"""An architecture of a slot space: one choice index per slot."""


class SlotSpace(ABC):
    """Base class for spaces of ``m`` slots with ``K_j`` choices each.

    Satisfies :class:`einnas.spaces.base.FiniteSearchSpace` for ``tuple[int, ...]``
    architectures once a subclass provides :meth:`to_text`, :meth:`from_text` and
    :meth:`identity`.

    Attributes:
        name: short name of the space (used in logs and the trial store).
        cardinalities: ``(K_0, ..., K_{m-1})``.
    """

    name: str
    cardinalities: tuple[int, ...]

    def __init__(self, cardinalities: Sequence[int], name: str) -> None:
        cards = tuple(operator.index(k) for k in cardinalities)
        if not cards:
            raise SearchSpaceError(f"{name}: a slot space needs at least one slot")
        if any(k < 1 for k in cards):
            raise SearchSpaceError(f"{name}: every slot needs at least one choice, got {cards}")
        self.name = name
        self.cardinalities = cards
        offsets = [0]
        for k in cards:
            offsets.append(offsets[-1] + k)
        self._offsets: tuple[int, ...] = tuple(offsets[:-1])
        self._encoding_length = offsets[-1]
        # Mixed-radix place values, slot 0 most significant (index order = lexicographic order).
        strides = [1] * len(cards)
        for j in range(len(cards) - 2, -1, -1):
            strides[j] = strides[j + 1] * cards[j + 1]
        self._strides: tuple[int, ...] = tuple(strides)
        self._mutable_slots: tuple[int, ...] = tuple(j for j, k in enumerate(cards) if k > 1)

    # -- shape ------------------------------------------------------------------------------

    @property
    def num_slots(self) -> int:
        """Number of decision slots ``m``."""
        return len(self.cardinalities)

    @property
    def encoding_length(self) -> int:
        """Length of :meth:`encode`'s vector, ``sum_j K_j``."""
        return self._encoding_length

    def size(self) -> int:
        """Number of architectures, ``prod_j K_j`` (before deduplication)."""
        return math.prod(self.cardinalities)

    def validate(self, arch: Sequence[int]) -> SlotArch:
        """Return ``arch`` as a canonical tuple of ints, or raise :class:`SearchSpaceError`."""
        if isinstance(arch, (str, bytes)):
            raise SearchSpaceError(
                f"{self.name}: expected a tuple of {self.num_slots} choice indices, got the "
                f"string {arch!r} (use from_text to parse text)"
            )
        try:
            values = tuple(operator.index(v) for v in arch)
        except TypeError as exc:
            raise SearchSpaceError(
                f"{self.name}: expected a tuple of {self.num_slots} integer choice indices, "
                f"got {arch!r}"
            ) from exc
        if len(values) != self.num_slots:
            raise SearchSpaceError(
                f"{self.name}: expected {self.num_slots} slots, got {len(values)} in {arch!r}"
            )
        for j, (v, k) in enumerate(zip(values, self.cardinalities)):
            if not 0 <= v < k:
                raise SearchSpaceError(
                    f"{self.name}: slot {j} of {values!r} is {v}, expected 0 <= value < {k}"
                )
        return values

    def contains(self, arch: Any) -> bool:
        """Whether ``arch`` is a valid architecture of this space."""
        try:
            self.validate(arch)
        except SearchSpaceError:
            return False
        return True

    # -- enumeration ------------------------------------------------------------------------

    def index(self, arch: Sequence[int]) -> int:
        """Position of ``arch`` in lexicographic order, in ``[0, size())``."""
        values = self.validate(arch)
        return sum(v * s for v, s in zip(values, self._strides))

    def from_index(self, index: int) -> SlotArch:
        """Inverse of :meth:`index`."""
        i = operator.index(index)
        if not 0 <= i < self.size():
            raise SearchSpaceError(f"{self.name}: index {i} outside [0, {self.size()})")
        return tuple((i // s) % k for s, k in zip(self._strides, self.cardinalities))

    def all_archs(self) -> Iterator[SlotArch]:
        """Every architecture, in lexicographic (= :meth:`index`) order."""
        for i in range(self.size()):
            yield self.from_index(i)

    # -- search operators -------------------------------------------------------------------

    @staticmethod
    def _check_rng(rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"expected a numpy.random.Generator (np.random.default_rng(seed)), got "
                f"{type(rng).__name__}"
            )

    def sample(self, rng: np.random.Generator) -> SlotArch:
        """Draw an architecture uniformly at random (each slot independently uniform)."""
        self._check_rng(rng)
        draws = rng.integers(0, np.asarray(self.cardinalities, dtype=np.int64))
        return tuple(int(v) for v in draws)

    def mutate(self, arch: Sequence[int], rng: np.random.Generator) -> SlotArch:
        """Change one slot (uniform over slots with ``K_j > 1``) to a different uniform value.

        The child always differs from the parent in exactly one slot.
        """
        self._check_rng(rng)
        parent = self.validate(arch)
        if not self._mutable_slots:
            raise SearchSpaceError(f"{self.name}: no slot has more than one choice to mutate")
        slot = self._mutable_slots[int(rng.integers(len(self._mutable_slots)))]
        value = int(rng.integers(self.cardinalities[slot] - 1))
        if value >= parent[slot]:
            value += 1
        return (*parent[:slot], value, *parent[slot + 1 :])

    def neighbours(self, arch: Sequence[int]) -> list[SlotArch]:
        """All architectures at edit distance one.

        Order: slot by slot (0 first), and within a slot by increasing choice index.
        """
        parent = self.validate(arch)
        out: list[SlotArch] = []
        for slot, k in enumerate(self.cardinalities):
            for value in range(k):
                if value != parent[slot]:
                    out.append((*parent[:slot], value, *parent[slot + 1 :]))
        return out

    def encode(self, arch: Sequence[int]) -> npt.NDArray[np.float32]:
        """One-hot encoding: concatenation of one one-hot block of length ``K_j`` per slot."""
        values = self.validate(arch)
        out = np.zeros(self._encoding_length, dtype=np.float32)
        for offset, v in zip(self._offsets, values):
            out[offset + v] = 1.0
        return out

    def edit_distance(self, a: Sequence[int], b: Sequence[int]) -> int:
        """Number of slots in which ``a`` and ``b`` differ (Hamming distance)."""
        va, vb = self.validate(a), self.validate(b)
        return sum(x != y for x, y in zip(va, vb))

    # -- hooks for subclasses ---------------------------------------------------------------

    @abstractmethod
    def to_text(self, arch: Sequence[int]) -> str:
        """Canonical text; ``from_text(to_text(a)) == a``."""

    @abstractmethod
    def from_text(self, text: str) -> SlotArch:
        """Parse text; raise :class:`SearchSpaceError` naming the text and the expected form."""

    @abstractmethod
    def identity(self, arch: Sequence[int]) -> str:
        """Key equal for architectures that compute the same function."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, cardinalities={self.cardinalities})"
