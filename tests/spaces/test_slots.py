"""The generic slot space: sampling, mutation, neighbours, encodings, enumeration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einnas.spaces.base import FiniteSearchSpace, SearchSpace, SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace


class ToySpace(SlotSpace):
    """A slot space with arbitrary cardinalities and a digit-string text form."""

    def __init__(self, cardinalities: Sequence[int] = (2, 3, 1, 4)) -> None:
        super().__init__(cardinalities, name="toy")

    def to_text(self, arch: Sequence[int]) -> str:
        return "-".join(str(v) for v in self.validate(arch))

    def from_text(self, text: str) -> SlotArch:
        try:
            return self.validate(tuple(int(p) for p in text.split("-")))
        except ValueError as exc:
            raise SearchSpaceError(f"toy: cannot parse {text!r}; expected 'a-b-c-d'") from exc

    def identity(self, arch: Sequence[int]) -> str:
        return self.to_text(arch)


def test_satisfies_protocols() -> None:
    space = ToySpace()
    assert isinstance(space, SearchSpace)
    assert isinstance(space, FiniteSearchSpace)
    typed: FiniteSearchSpace[SlotArch] = space
    assert typed.name == "toy"


def test_shape() -> None:
    space = ToySpace()
    assert space.cardinalities == (2, 3, 1, 4)
    assert space.num_slots == 4
    assert space.size() == 24
    assert space.encoding_length == 10


def test_constructor_rejects_bad_cardinalities() -> None:
    with pytest.raises(SearchSpaceError):
        ToySpace(())
    with pytest.raises(SearchSpaceError):
        ToySpace((3, 0))


def test_enumeration_is_lexicographic_and_complete() -> None:
    space = ToySpace()
    archs = list(space.all_archs())
    assert len(archs) == space.size() == len(set(archs))
    assert archs == sorted(archs)
    for i, arch in enumerate(archs):
        assert space.index(arch) == i
        assert space.from_index(i) == arch
    with pytest.raises(SearchSpaceError):
        space.from_index(space.size())


def test_validate_errors_name_the_problem() -> None:
    space = ToySpace()
    assert space.validate([1, 2, 0, 3]) == (1, 2, 0, 3)
    assert space.validate(np.array([1, 2, 0, 3])) == (1, 2, 0, 3)  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError, match="expected 4 slots"):
        space.validate((0, 0, 0))
    with pytest.raises(SearchSpaceError, match="slot 1"):
        space.validate((0, 3, 0, 0))
    with pytest.raises(SearchSpaceError, match="slot 0"):
        space.validate((-1, 0, 0, 0))
    with pytest.raises(SearchSpaceError, match="integer"):
        space.validate((0.0, 0, 0, 0))  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError, match="from_text"):
        space.validate("0-0-0-0")  # type: ignore[arg-type]
    assert not space.contains((0, 0, 0, 9))
    assert space.contains((1, 2, 0, 3))


def test_same_seed_same_samples() -> None:
    space = ToySpace()
    a = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    rng1, rng2 = np.random.default_rng(123), np.random.default_rng(123)
    s1 = [space.sample(rng1) for _ in range(50)]
    s2 = [space.sample(rng2) for _ in range(50)]
    assert s1 == s2
    assert a[0] == a[1] == a[2]
    assert all(isinstance(v, int) for v in s1[0])


def test_sample_is_uniform() -> None:
    space = ToySpace()
    rng = np.random.default_rng(0)
    n = 12_000
    counts = Counter(space.sample(rng) for _ in range(n))
    assert set(counts) == set(space.all_archs())
    expected = n / space.size()
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 60  # 23 degrees of freedom; p < 1e-5 beyond this


def test_rng_must_be_a_generator() -> None:
    space = ToySpace()
    with pytest.raises(TypeError, match="Generator"):
        space.sample(np.random.RandomState(0))  # type: ignore[arg-type]


def test_mutate_changes_exactly_one_mutable_slot() -> None:
    space = ToySpace()
    rng = np.random.default_rng(1)
    slot_counts: Counter[int] = Counter()
    for _ in range(3000):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert child != parent
        assert space.edit_distance(parent, child) == 1
        assert space.contains(child)
        slot_counts[next(j for j in range(4) if parent[j] != child[j])] += 1
    assert 2 not in slot_counts  # the slot with a single choice never changes
    assert set(slot_counts) == {0, 1, 3}
    assert min(slot_counts.values()) > 850  # ~1000 each


def test_mutate_value_is_uniform_over_other_choices() -> None:
    space = ToySpace((5,))
    rng = np.random.default_rng(2)
    values = Counter(space.mutate((2,), rng)[0] for _ in range(4000))
    assert set(values) == {0, 1, 3, 4}
    assert min(values.values()) > 850


def test_mutate_without_mutable_slot_raises() -> None:
    space = ToySpace((1, 1))
    with pytest.raises(SearchSpaceError, match="no slot"):
        space.mutate((0, 0), np.random.default_rng(0))


def test_neighbours() -> None:
    space = ToySpace()
    arch = (1, 0, 0, 2)
    nbrs = space.neighbours(arch)
    assert len(nbrs) == sum(k - 1 for k in space.cardinalities) == 6
    assert len(set(nbrs)) == len(nbrs)
    assert arch not in nbrs
    assert all(space.edit_distance(arch, n) == 1 for n in nbrs)
    assert nbrs == [
        (0, 0, 0, 2),
        (1, 1, 0, 2),
        (1, 2, 0, 2),
        (1, 0, 0, 0),
        (1, 0, 0, 1),
        (1, 0, 0, 3),
    ]
    assert space.neighbours(arch) == nbrs


def test_encode() -> None:
    space = ToySpace()
    x = space.encode((1, 2, 0, 3))
    assert x.dtype == np.float32
    assert x.shape == (10,)
    assert x.tolist() == [0, 1, 0, 0, 1, 1, 0, 0, 0, 1]
    codes = {space.encode(a).tobytes() for a in space.all_archs()}
    assert len(codes) == space.size()


def test_edit_distance() -> None:
    space = ToySpace()
    assert space.edit_distance((0, 0, 0, 0), (0, 0, 0, 0)) == 0
    assert space.edit_distance((0, 0, 0, 0), (1, 2, 0, 3)) == 3
    with pytest.raises(SearchSpaceError):
        space.edit_distance((0, 0, 0, 0), (0, 0, 0))


@settings(max_examples=60, deadline=None)
@given(
    cards=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_properties(cards: list[int], seed: int) -> None:
    space = ToySpace(cards)
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    assert space.contains(arch)
    assert space.from_index(space.index(arch)) == arch
    assert space.from_text(space.to_text(arch)) == arch
    enc = space.encode(arch)
    assert enc.sum() == len(cards)
    nbrs = space.neighbours(arch)
    assert len(nbrs) == sum(k - 1 for k in cards)
    if any(k > 1 for k in cards):
        child = space.mutate(arch, rng)
        assert child != arch
        assert space.edit_distance(arch, child) == 1
        assert child in nbrs
