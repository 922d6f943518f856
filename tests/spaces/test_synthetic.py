"""Synthetic slot spaces and their additive + pairwise objective."""

from __future__ import annotations

import numpy as np
import pytest

from einnas.spaces.base import FiniteSearchSpace, SearchSpaceError
from einnas.spaces.slots import SlotArch
from einnas.spaces.synthetic import SyntheticObjective, SyntheticSlotSpace, parse_shape_spec


def test_shape_spec() -> None:
    assert parse_shape_spec("3x4") == (4, 4, 4)
    assert parse_shape_spec("21x2+5x3") == (2,) * 21 + (3,) * 5
    for bad in ("", "3", "x4", "3x0", "3y4"):
        with pytest.raises(SearchSpaceError, match="MxK"):
            parse_shape_spec(bad)


def test_space_text_and_identity() -> None:
    space = SyntheticSlotSpace((3, 12, 2))
    typed: FiniteSearchSpace[SlotArch] = space
    assert isinstance(typed, FiniteSearchSpace) and space.name == "synthetic-3"
    assert space.to_text((2, 11, 0)) == "2-11-0" == space.identity((2, 11, 0))
    assert space.from_text("2-11-0") == (2, 11, 0)
    with pytest.raises(SearchSpaceError):
        space.from_text("2-a-0")
    with pytest.raises(SearchSpaceError):
        space.from_text("2-12-0")


def test_additive_objective_has_context_free_edit_effects() -> None:
    cards = (3,) * 6
    f = SyntheticObjective(cards, 0.0, seed=1)
    space = SyntheticSlotSpace(cards)
    rng = np.random.default_rng(0)
    effects = set()
    for _ in range(20):
        a = list(space.sample(rng))
        a[2] = 0
        b = [*a[:2], 1, *a[3:]]
        effects.add(round(f.value(b) - f.value(a), 9))
    assert len(effects) == 1  # slot 2: 0 -> 1 changes f by the same amount everywhere


def test_interactions_and_determinism() -> None:
    cards = (4,) * 10
    codes = np.random.default_rng(0).integers(0, 4, (2000, 10))
    additive = SyntheticObjective(cards, 0.0, seed=3).values(codes)
    mixed = SyntheticObjective(cards, 1.0, seed=3).values(codes)
    assert 0.6 < additive.std() < 1.4 and 1.0 < mixed.std() < 2.0
    assert np.array_equal(mixed, SyntheticObjective(cards, 1.0, seed=3).values(codes))
    assert not np.allclose(mixed, SyntheticObjective(cards, 1.0, seed=4).values(codes))
    assert SyntheticObjective(cards, 1.0, seed=3).value(codes[0]) == pytest.approx(mixed[0])
    with pytest.raises(ValueError, match="interaction"):
        SyntheticObjective(cards, -1.0)


def test_identity_fast_path_agrees_with_the_text() -> None:
    from einnas.spaces.base import SearchSpaceError
    from einnas.spaces.synthetic import SyntheticSlotSpace

    space = SyntheticSlotSpace((3, 4, 2))
    for arch in [(2, 3, 1), (0, 0, 0), [1, 2, 0]]:
        assert space.identity(arch) == space.to_text(arch)
    for arch in space.neighbours((1, 1, 1)):
        assert space.identity(arch) == space.to_text(arch)
    for bad in [(2, 4, 1), (3, 0, 0), (0, 0, -1), (0, 0), (0.0, 0, 0)]:
        with pytest.raises(SearchSpaceError):
            space.identity(bad)
