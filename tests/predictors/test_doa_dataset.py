"""The DoA dataset: which pairs it holds, and incremental growth == building from scratch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from einnas.predictors import DoADataset, OneHotEncoder
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.strategies.base import Observation


class Toy(SlotSpace):
    """3 slots x 3 choices; archs (1, x, y) and (2, x, y) are 'isomorphic' when x == 0."""

    def __init__(self) -> None:
        super().__init__([3, 3, 3], name="toy")

    def to_text(self, arch: Sequence[int]) -> str:
        return "".join(map(str, self.validate(arch)))

    def from_text(self, text: str) -> SlotArch:
        return self.validate(tuple(int(c) for c in text))

    def identity(self, arch: Sequence[int]) -> str:
        a = self.validate(arch)
        if a[1] == 0 and a[0] == 2:
            a = (1, *a[1:])
        return self.to_text(a)


SPACE = Toy()


def obs(k: int, arch: SlotArch, val: float | None, parent: int | None = None) -> Observation:
    return Observation(k, 100 + k, arch, SPACE.identity(arch), val, parent)


# A = 000, B = 001 (1 edit from A), C = 011 (2 from A, 1 from B), D = 222 (3 from all; child of A),
# E failed, F = 201 is isomorphic to 101 = G ... G comes first, so F is ignored.
HISTORY = [
    obs(0, (0, 0, 0), 50.0),
    obs(1, (0, 0, 1), 52.0),
    obs(2, (0, 1, 1), 51.0, parent=101),
    obs(3, (2, 2, 2), 40.0, parent=100),
    obs(4, (1, 1, 1), None),
    obs(5, (1, 0, 1), 55.0),
    obs(6, (2, 0, 1), 55.0),
]


def build(radius: int = 2, lineage: bool = True) -> DoADataset:
    doa = DoADataset(OneHotEncoder(SPACE), SPACE, radius=radius, lineage=lineage)
    doa.extend(HISTORY)
    return doa


def test_pairs_on_a_hand_made_history() -> None:
    doa = build()
    assert [o.proposal for o in doa.members] == [0, 1, 2, 3, 5]  # failure and duplicate skipped
    pairs = {(int(a), int(b)) for a, b in zip(doa.first, doa.second)}
    # within 2 edits: A-B, A-C, B-C, A-G (101 vs 000: 2), B-G (1), C-G (2); lineage: A-D
    expected = {(0, 1), (0, 2), (1, 2), (0, 4), (1, 4), (2, 4), (0, 3)}
    assert pairs == expected | {(b, a) for a, b in expected}
    assert len(doa) == 14
    lineage = {(int(a), int(b)) for a, b, f in zip(doa.first, doa.second, doa.is_lineage) if f}
    assert lineage == {(0, 3), (3, 0), (1, 2), (2, 1)}  # C's parent is B (trial 101)
    assert (
        dict(zip(zip(doa.first.tolist(), doa.second.tolist()), doa.distance.tolist()))[(0, 3)] == 3
    )
    # rows and targets
    enc, vals = doa.encodings, doa.values
    np.testing.assert_array_equal(doa.x, enc[doa.second] - enc[doa.first])
    np.testing.assert_array_equal(doa.y, vals[doa.second] - vals[doa.first])
    assert doa.features(context=True).shape == (14, 18)


def test_radius_and_lineage_switches() -> None:
    assert len(build(radius=1)) == 2 * 4  # A-B, B-C, B-G, C-G... and lineage A-D
    assert len(build(radius=1, lineage=False)) == 2 * 3
    assert len(build(radius=3)) == 2 * 10  # every pair of the 5 members
    with pytest.raises(ValueError):
        DoADataset(OneHotEncoder(SPACE), SPACE, radius=-1)


def _same(a: DoADataset, b: DoADataset) -> None:
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.first, b.first)
    np.testing.assert_array_equal(a.second, b.second)
    np.testing.assert_array_equal(a.distance, b.distance)
    for s, t in zip(a.sufficient_statistics(), b.sufficient_statistics()):
        np.testing.assert_array_equal(s, t)


def test_incremental_equals_from_scratch() -> None:
    scratch = build()
    grown = DoADataset(OneHotEncoder(SPACE), SPACE)
    for end in range(len(HISTORY) + 1):
        assert grown.sync(HISTORY[:end]) is True
    assert grown.consumed == len(HISTORY)
    _same(grown, scratch)
    # sufficient statistics are those of the rows
    gram, xty, yty, n = scratch.sufficient_statistics()
    np.testing.assert_allclose(gram, scratch.x.T @ scratch.x)
    np.testing.assert_allclose(xty, scratch.x.T @ scratch.y)
    assert yty == pytest.approx(float(scratch.y @ scratch.y)) and n == len(scratch)


def test_a_history_that_is_not_an_extension_rebuilds() -> None:
    doa = DoADataset(OneHotEncoder(SPACE), SPACE)
    other = [obs(0, (1, 2, 2), 10.0), obs(1, (1, 2, 0), 11.0)]
    doa.sync(other)
    assert doa.sync(HISTORY) is False
    _same(doa, build())
    assert doa.sync(HISTORY[:3]) is False  # a shorter history is not an extension either
    ref = DoADataset(OneHotEncoder(SPACE), SPACE)
    ref.extend(HISTORY[:3])
    _same(doa, ref)


def test_spaces_without_edit_distance_use_lineage_only() -> None:
    doa = DoADataset(OneHotEncoder(SPACE), space=None)
    doa.extend(HISTORY)
    assert len(doa) == 4  # the two lineage pairs, both orders
    assert set(doa.distance.tolist()) == {-1}


def test_regularised_inverse_is_updated_incrementally() -> None:
    from einnas.predictors.encodings import make_encoder
    from einnas.spaces.synthetic import SyntheticObjective, SyntheticSlotSpace
    from einnas.strategies.base import Observation

    space = SyntheticSlotSpace((3,) * 8)
    objective = SyntheticObjective(space.cardinalities, 0.5, 0)
    doa = DoADataset(make_encoder(space, "onehot+counts"), space, radius=2)
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for k in range(40):
        arch = space.neighbours(arch)[int(rng.integers(16))] if k % 5 else space.sample(rng)
        obs = Observation(k, k, arch, space.identity(arch), objective.value(arch), None)
        doa.add(obs)
        if k in (3, 20, 39):  # first call inverts, later ones fold in the new pairs
            gram = doa.sufficient_statistics()[0]
            ref = np.linalg.inv(gram + 2.0 * np.eye(gram.shape[0]))
            np.testing.assert_allclose(doa.regularised_inverse(2.0), ref, atol=1e-10)
    with pytest.raises(ValueError):
        doa.regularised_inverse(0.0)
