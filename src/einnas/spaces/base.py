"""The protocol every search space implements.

A search space knows how to draw an architecture, change it a little, and turn it into text and
back.  Strategies only ever talk to this protocol, so the same strategy code runs over einspace
trees and over the cells of a tabular benchmark.  Architectures are opaque to strategies except
through these methods; their canonical text is what the trial log stores.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

Arch = TypeVar("Arch")


class SearchSpaceError(ValueError):
    """An architecture, text or request that does not belong to the search space."""


@runtime_checkable
class SearchSpace(Protocol[Arch]):
    """Sampling, mutation and (de)serialisation of architectures."""

    name: str

    def sample(self, rng: np.random.Generator) -> Arch:
        """Draw one architecture from the space's prior."""
        ...

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Return a child that differs from ``arch`` (never a copy of it)."""
        ...

    def to_text(self, arch: Arch) -> str:
        """Canonical text; ``from_text(to_text(a)) == a``."""
        ...

    def from_text(self, text: str) -> Arch:
        """Parse canonical text; raise :class:`SearchSpaceError` naming what is wrong."""
        ...

    def identity(self, arch: Arch) -> str:
        """A key equal for architectures that compute the same function (used to deduplicate).

        For einspace this is the tree's content hash; for NAS-Bench-201 it is the isomorphism
        class of the cell.
        """
        ...


@runtime_checkable
class FiniteSearchSpace(SearchSpace[Arch], Protocol[Arch]):
    """A space of fixed decision slots (cell benchmarks): neighbours and one-hot encodings."""

    def neighbours(self, arch: Arch) -> list[Arch]:
        """All architectures at edit distance one, in a fixed order."""
        ...

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot slot encoding (float vector of length ``sum_j K_j``)."""
        ...

    def edit_distance(self, a: Arch, b: Arch) -> int:
        """Number of decision slots in which ``a`` and ``b`` differ."""
        ...

    def size(self) -> int:
        """Number of architectures (before deduplication of isomorphic ones)."""
        ...
