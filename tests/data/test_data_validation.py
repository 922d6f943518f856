"""Unseen-NAS folders with hostile contents: every problem is a DatasetError naming the file.

Regressions first (one label 2,000,000 used to make 2,000,001 classes; values near float32's
limit became inf or zeros), then a hypothesis test over generated folders (random dtypes,
shapes, values, labels, missing and corrupt files): loading raises nothing but DatasetError,
and a folder that loads holds finite float32 inputs and labels in ``[0, num_classes)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einnas.data import DatasetError, load_folder
from einnas.data.datasets import MAX_CLASSES

SIZES = {"train": 12, "valid": 6, "test": 6}


def _folder(root: Path, **override: Any) -> Path:
    """A valid 1D folder (2 classes); ``override`` replaces files, e.g. ``train_y=array``."""
    rng = np.random.default_rng(0)
    for split, n in SIZES.items():
        arrays = {
            f"{split}_x": rng.normal(size=(n, 1, 8)).astype(np.float32),
            f"{split}_y": np.arange(n) % 2,
        }
        for key, value in arrays.items():
            np.save(root / f"{key}.npy", override.get(key, value))
    return root


def _error(root: Path, **kw: bool) -> str:
    with pytest.raises(DatasetError) as info:
        load_folder(root, **kw)
    return str(info.value)


def test_one_huge_label_is_refused_not_two_million_classes(tmp_path: Path) -> None:
    y = np.arange(12) % 2
    y[5] = 2_000_000
    msg = _error(_folder(tmp_path, train_y=y))
    assert "train_y.npy" in msg and "2000000" in msg and f"{MAX_CLASSES:,}" in msg


def test_sparse_labels_are_refused(tmp_path: Path) -> None:
    y = np.arange(12) % 2
    y[5] = 50_000
    msg = _error(_folder(tmp_path, train_y=y))
    assert "train_y.npy uses 3 distinct labels but the largest is 50000" in msg


def test_label_beyond_the_training_classes_is_refused(tmp_path: Path) -> None:
    msg = _error(_folder(tmp_path, test_y=np.arange(6) % 3))
    assert "test_y.npy contains the label 2" in msg and "train_y.npy" in msg


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("valid_y", -np.ones(6, dtype=np.int64), "negative labels"),
        ("train_y", np.full(12, 1e300), "contains the label"),
        ("train_y", np.array(["a", "b"] * 6), "labels must be integer"),
        ("train_y", (np.arange(12) % 2).astype(np.complex64), "labels must be integer"),
        ("train_x", np.full((12, 1, 8), "x"), "inputs must be numeric"),
        ("train_x", np.zeros((12, 1, 8), dtype=np.complex128), "inputs must be numeric"),
        ("train_x", np.zeros((12, 1, 8), dtype="datetime64[s]"), "inputs must be numeric"),
        ("test_x", np.full((6, 1, 8), np.inf), "NaN or infinite"),
    ],
)
def test_bad_dtypes_and_values_name_the_file(
    tmp_path: Path, key: str, value: Any, needle: str
) -> None:
    msg = _error(_folder(tmp_path, **{key: value}))
    assert f"{key}.npy" in msg and needle in msg, msg


@pytest.mark.parametrize("scale", [3e38, 1e300, 1e-40, 1e-300])
def test_values_near_or_beyond_float32_limits_are_standardised_not_inf_or_zero(
    tmp_path: Path, scale: float
) -> None:
    rng = np.random.default_rng(1)
    xs = {f"{s}_x": rng.normal(size=(n, 1, 8)) * scale for s, n in SIZES.items()}
    data = load_folder(_folder(tmp_path, **xs))
    for x in (data.train_x, data.val_x, data.test_x):
        assert x.dtype == np.float32 and np.isfinite(x).all() and np.abs(x).max() > 0.1
    assert abs(float(data.train_x.std()) - 1.0) < 1e-3


@pytest.mark.parametrize(("scale", "needle"), [(1e300, "beyond float32"), (1e-300, "zero")])
def test_without_normalisation_float32_overflow_is_refused(
    tmp_path: Path, scale: float, needle: str
) -> None:
    xs = {"train_x": np.ones((12, 1, 8)) * scale}
    msg = _error(_folder(tmp_path, **xs), normalise=False)
    assert "train_x.npy" in msg and needle in msg


def test_split_far_beyond_train_scale_is_refused(tmp_path: Path) -> None:
    msg = _error(_folder(tmp_path, valid_x=np.full((6, 1, 8), 1e300)))
    assert "valid_x.npy" in msg and "overflow float32" in msg


# ---------------------------------------------------------------------------------------------
# The kind of fault: any folder


DTYPES = st.sampled_from(
    [
        "float32",
        "float64",
        "float16",
        "int8",
        "uint8",
        "int64",
        "uint64",
        "bool",
        "complex64",
        "U3",
        "datetime64[s]",
        "object",
    ]
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 3.4e38, -3.4e38, 1e-45, 1e-300, 1e300, 2.0**63, 2e6]),
    st.integers(-(2**70), 2**70),
)


@st.composite
def arrays(draw: st.DrawFn, kind: str, n: int) -> np.ndarray:
    dtype = draw(DTYPES)
    if kind == "x":
        shape = draw(st.sampled_from([(n, 1, 4), (n, 2, 3, 3), (n, 4), (n, 1, 0), (n - 1, 1, 4)]))
    else:
        shape = draw(st.sampled_from([(n,), (n, 1), (n, 2), (n + 1,)]))
    base = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 3, size=shape)
    values = base.astype(np.float64)
    for _ in range(draw(st.integers(0, 3))):  # a few hostile values
        if values.size:
            idx = draw(st.integers(0, values.size - 1))
            values.flat[idx] = float(draw(VALUES)) if values.size else 0.0
    try:
        with np.errstate(all="ignore"):
            return values.astype(dtype)
    except (ValueError, OverflowError, TypeError):
        return values


@st.composite
def folders(draw: st.DrawFn) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for split, n in SIZES.items():
        for kind in ("x", "y"):
            choice = draw(
                st.sampled_from(["valid", "valid", "valid", "hostile", "missing", "junk"])
            )
            files[f"{split}_{kind}"] = (choice, draw(arrays(kind, n)))
    return files


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(folders(), st.booleans())
def test_any_folder_loads_or_raises_dataset_error(files: dict[str, Any], normalise: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _folder(Path(tmp))
        for key, (choice, array) in files.items():
            path = root / f"{key}.npy"
            if choice == "hostile":
                np.save(path, array, allow_pickle=True)
            elif choice == "missing":
                path.unlink()
            elif choice == "junk":
                path.write_bytes(b"\x93NUMPY\x01\x00garbage")
        try:
            data = load_folder(root, normalise=normalise)
        except DatasetError:
            return
        assert 2 <= data.num_classes <= MAX_CLASSES
        for x, y in (
            (data.train_x, data.train_y),
            (data.val_x, data.val_y),
            (data.test_x, data.test_y),
        ):
            assert x.dtype == np.float32 and np.isfinite(x).all()
            assert y.dtype == np.int64 and y.min() >= 0 and y.max() < data.num_classes
