"""Encoders: one-hot slots, NB201 paths, and the DoA vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from einnas.predictors import Encoder, OneHotEncoder, PathEncoder, make_encoder
from einnas.predictors.encodings import delta, deltas, encode_many
from einnas.spaces.nb201 import NB201Space
from einnas.spaces.slots import SlotArch, SlotSpace


class ToySpace(SlotSpace):
    def __init__(self) -> None:
        super().__init__([3, 2, 4], name="toy")

    def to_text(self, arch: Sequence[int]) -> str:
        return "-".join(map(str, self.validate(arch)))

    def from_text(self, text: str) -> SlotArch:
        return self.validate(tuple(int(t) for t in text.split("-")))

    def identity(self, arch: Sequence[int]) -> str:
        return self.to_text(arch)


def test_one_hot_matches_the_space() -> None:
    space = ToySpace()
    enc = OneHotEncoder(space)
    assert isinstance(enc, Encoder)
    assert enc.dim == 9
    vec = enc.encode((2, 0, 3))
    assert vec.dtype == np.float64
    np.testing.assert_array_equal(vec, space.encode((2, 0, 3)))
    assert enc.encode((2, 0, 3)) is vec  # cached ...
    with pytest.raises(ValueError):
        vec[0] = 5.0  # ... and read-only


def test_delta_is_sparse_and_signed() -> None:
    space = ToySpace()
    enc = OneHotEncoder(space)
    a, b = (0, 0, 0), (2, 0, 1)  # two edits
    d = delta(enc, a, b)
    assert set(np.unique(d)) <= {-1.0, 0.0, 1.0}
    assert np.count_nonzero(d) == 2 * space.edit_distance(a, b)
    np.testing.assert_array_equal(d, enc.encode(b) - enc.encode(a))
    np.testing.assert_array_equal(delta(enc, b, a), -d)
    stacked = deltas(enc, [(a, b), (b, a)])
    np.testing.assert_array_equal(stacked, np.stack([d, -d]))
    assert encode_many(enc, [a, b]).shape == (2, 9)


def test_path_encoding_for_nb201() -> None:
    space = NB201Space()
    enc = PathEncoder(space)
    assert enc.dim == 155
    arch = space.from_text(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    np.testing.assert_array_equal(enc.encode(arch), space.path_encoding(arch))
    assert PathEncoder(space, include_none=False).dim == 84
    assert isinstance(make_encoder(space, "auto"), PathEncoder)
    assert isinstance(make_encoder(space, "onehot"), OneHotEncoder)


def test_make_encoder_choices() -> None:
    toy = ToySpace()
    assert isinstance(make_encoder(toy, "auto"), OneHotEncoder)
    with pytest.raises(TypeError, match="path encoding"):
        make_encoder(toy, "path")
    with pytest.raises(ValueError, match="unknown encoding"):
        make_encoder(toy, "graph")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one-hot"):
        OneHotEncoder(object())


def test_encode_codes_equals_encode_row_by_row() -> None:
    from einnas.predictors.encodings import make_encoder
    from einnas.spaces.synthetic import SyntheticSlotSpace

    rng = np.random.default_rng(0)
    for cards in [(4,) * 7, (2, 3, 5, 2)]:
        space = SyntheticSlotSpace(cards)
        archs = [space.sample(rng) for _ in range(20)]
        codes = np.array(archs, dtype=np.int64)
        kinds = ["onehot", "onehot+counts"] if len(set(cards)) == 1 else ["onehot"]
        for kind in kinds:
            enc = make_encoder(space, kind)  # type: ignore[arg-type]
            assert enc.vectorised  # type: ignore[attr-defined]
            rows = np.array([enc.encode(a) for a in archs])
            np.testing.assert_array_equal(enc.encode_codes(codes), rows)  # type: ignore[attr-defined]


def test_ridge_predict_mean_is_the_mean_of_predict() -> None:
    from einnas.predictors.ridge import RidgePredictor

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal(40)
    gram, xty = x.T @ x, x.T @ y
    for support in (False, True):
        model = RidgePredictor(1.0).fit_statistics(
            gram, xty, float(y @ y), 40, support_only=support
        )
        q = rng.standard_normal((5, 6))
        np.testing.assert_allclose(model.predict_mean(q), model.predict(q).mean, rtol=1e-12)
        ref = RidgePredictor(1.0).fit(x, y)
        np.testing.assert_allclose(model.predict(q).std, ref.predict(q).std, rtol=1e-8)
