"""Search spaces made of fixed decision slots (the cell benchmarks).

A slot space has ``m`` decision slots; slot ``j`` takes one of ``K_j`` choices.  An architecture is
a ``tuple[int, ...]`` holding one choice index per slot.  :class:`SlotSpace` implements everything
that follows from that shape (sampling, mutation, neighbours, one-hot encoding, edit distance,
enumeration), and a default text form: the choices joined by ``-`` (indices such as ``1-0-3``,
or the choice labels when the slots are given as labels, e.g. ``conv3-d2-w64-relu``), with the
text as identity (no two architectures equivalent).  The benchmarks' subclasses override the text
form and the identity (NB201's cell strings and isomorphism classes, ...).

A new slot space is one line::

    SlotSpace([3, 3, 2], name="toy")                         # texts 0-0-0 ... 2-2-1
    SlotSpace([("flat", "conv3"), ("relu", "gelu")], name="mini")  # texts flat-relu, ...

All randomness comes from the :class:`numpy.random.Generator` passed in; nothing here touches a
global random state.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.spaces.base import SearchSpaceError

__all__ = ["SlotArch", "SlotSpace"]

SlotArch = tuple[int, ...]
"""An architecture of a slot space: one choice index per slot."""


TEXT_SEPARATOR = "-"


class SlotSpace:
    """A space of ``m`` slots with ``K_j`` choices each; architectures are tuples of ints.

    Satisfies :class:`einnas.spaces.base.FiniteSearchSpace` for ``tuple[int, ...]``
    architectures.

    Args:
        choices_per_slot: per slot, either the number of choices ``K_j`` (an int) or the
            sequence of its choice labels (strings; ``K_j`` = their number).  Labels must be
            distinct within a slot, non-empty, and free of ``-`` and whitespace.
        name: short name of the space (used in logs and the trial store).

    Text form (:meth:`to_text`, overridable): one token per slot joined by ``-``; the token is
    the choice's label when the slot has labels, else its index.  :meth:`from_text` also reads
    indices in a labelled slot when the token is not one of its labels.

    Attributes:
        name: short name of the space.
        cardinalities: ``(K_0, ..., K_{m-1})``.
        labels: per slot, the choice labels (``None`` for a slot given by its count).
    """

    name: str
    cardinalities: tuple[int, ...]
    labels: tuple[tuple[str, ...] | None, ...]

    def __init__(
        self, choices_per_slot: Sequence[int | Sequence[str]], name: str = "slots"
    ) -> None:
        if isinstance(choices_per_slot, (str, bytes)):
            raise SearchSpaceError(
                f"{name}: choices_per_slot must be a sequence of ints or of label sequences, "
                f"got the string {choices_per_slot!r}"
            )
        cards_list: list[int] = []
        labels_list: list[tuple[str, ...] | None] = []
        for j, slot in enumerate(choices_per_slot):
            if isinstance(slot, str):
                raise SearchSpaceError(
                    f"{name}: slot {j} is the string {slot!r}; give a count or a sequence of labels"
                )
            if isinstance(slot, Sequence):
                labels = tuple(slot)
                for label in labels:
                    if (
                        not isinstance(label, str)
                        or not label
                        or TEXT_SEPARATOR in label
                        or any(c.isspace() for c in label)
                    ):
                        raise SearchSpaceError(
                            f"{name}: slot {j} has the label {label!r}; labels must be "
                            f"non-empty strings without {TEXT_SEPARATOR!r} or whitespace"
                        )
                if len(set(labels)) != len(labels):
                    raise SearchSpaceError(f"{name}: slot {j} repeats a label in {labels}")
                cards_list.append(len(labels))
                labels_list.append(labels)
            else:
                try:
                    cards_list.append(operator.index(slot))
                except TypeError:
                    raise SearchSpaceError(
                        f"{name}: slot {j} is {slot!r}; give a count (int) or a sequence of labels"
                    ) from None
                labels_list.append(None)
        cards = tuple(cards_list)
        self.labels = tuple(labels_list)
        self._label_index: tuple[dict[str, int] | None, ...] = tuple(
            None if ls is None else {lab: k for k, lab in enumerate(ls)} for ls in self.labels
        )
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

    # -- text and identity (overridden by the benchmarks' spaces) --------------------------

    def to_text(self, arch: Sequence[int]) -> str:
        """Canonical text: one token per slot (label, or index) joined by ``-``."""
        values = self.validate(arch)
        return TEXT_SEPARATOR.join(
            str(v) if labels is None else labels[v] for v, labels in zip(values, self.labels)
        )

    def _text_form(self) -> str:
        tokens = [
            "|".join(labels) if labels is not None else f"0..{k - 1}"
            for k, labels in zip(self.cardinalities, self.labels)
        ]
        example = self.to_text(tuple(0 for _ in self.cardinalities))
        return f"{self.num_slots} tokens joined by '-' ({' - '.join(tokens)}), e.g. {example!r}"

    def from_text(self, text: str) -> SlotArch:
        """Parse :meth:`to_text`'s form (surrounding whitespace is ignored)."""
        if not isinstance(text, str):
            raise SearchSpaceError(
                f"{self.name}: expected text, got {type(text).__name__} {text!r}"
            )
        tokens = [t.strip() for t in text.strip().split(TEXT_SEPARATOR)]
        if len(tokens) != self.num_slots:
            raise SearchSpaceError(
                f"{self.name}: cannot parse {text!r}: found {len(tokens)} tokens instead of "
                f"{self.num_slots}; expected {self._text_form()}"
            )
        values: list[int] = []
        for j, (token, k) in enumerate(zip(tokens, self.cardinalities)):
            index = self._label_index[j]
            if index is not None and token in index:
                values.append(index[token])
                continue
            if token.isdigit() and int(token) < k:
                values.append(int(token))
                continue
            expected = "|".join(self.labels[j] or ()) if index is not None else f"0..{k - 1}"
            raise SearchSpaceError(
                f"{self.name}: cannot parse {text!r}: slot {j} is {token!r}, expected one of "
                f"{expected}; the text form is {self._text_form()}"
            )
        return tuple(values)

    def identity(self, arch: Sequence[int]) -> str:
        """The canonical text (every architecture is its own class)."""
        return self.to_text(arch)

    def __repr__(self) -> str:
        if any(labels is not None for labels in self.labels):
            shape: Any = [
                k if ls is None else list(ls) for k, ls in zip(self.cardinalities, self.labels)
            ]
        else:
            shape = self.cardinalities
        return f"{type(self).__name__}(name={self.name!r}, choices_per_slot={shape})"
