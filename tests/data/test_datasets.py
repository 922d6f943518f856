"""Data loaders: Unseen-NAS folders (happy path and malformed folders), MNIST-1D, Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from einnas.data import (
    FASHION_MNIST_DIR,
    Dataset,
    DatasetError,
    canonical_dataset_name,
    load_dataset,
    load_fashion_mnist,
    load_folder,
    load_mnist1d,
)


def _write_folder(
    root: Path,
    shape: tuple[int, ...] = (3, 8, 8),
    sizes: tuple[int, int, int] = (40, 10, 12),
    classes: int = 4,
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), sizes):
        x = rng.normal(3.0, 2.0, size=(n, *shape)).astype(np.float32)
        x[:, 0] *= 10.0  # channels with very different scales
        y = np.arange(n) % classes
        np.save(root / f"{split}_x.npy", x)
        np.save(root / f"{split}_y.npy", y)
    return root


@pytest.fixture(scope="session")
def mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache directory for the whole session (shared with tests/evaluators by path).
    return tmp_path_factory.getbasetemp() / "einnas_cache"


@pytest.fixture(scope="session")
def mnist1d(mnist1d_cache: Path) -> Dataset:
    return load_mnist1d(cache=mnist1d_cache)


# ----------------------------------------------------------------------------------------------
# Unseen-NAS folders


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 30)], ids=["2d", "1d"])
def test_folder_happy_path(tmp_path: Path, shape: tuple[int, ...]) -> None:
    root = _write_folder(tmp_path / "task", shape=shape)
    data = load_dataset(str(root))
    assert data.name == "task"
    assert data.input_shape == shape
    assert data.num_classes == 4
    assert data.sizes == (40, 10, 12)
    assert data.train_x.dtype == np.float32 and data.train_y.dtype == np.int64
    # normalised per channel with the train statistics
    axes = (0, *range(2, data.train_x.ndim))
    np.testing.assert_allclose(data.train_x.mean(axis=axes), 0.0, atol=1e-4)
    np.testing.assert_allclose(data.train_x.std(axis=axes), 1.0, atol=1e-4)
    raw = np.load(root / "valid_x.npy")
    train_raw = np.load(root / "train_x.npy")
    mean = train_raw.mean(axis=axes, keepdims=True)
    std = train_raw.std(axis=axes, keepdims=True)
    np.testing.assert_allclose(data.val_x, (raw - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(data.test_y, np.arange(12) % 4)


def test_folder_without_normalisation_is_as_is(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "raw")
    data = load_folder(root, normalise=False)
    np.testing.assert_array_equal(data.train_x, np.load(root / "train_x.npy"))


def test_folder_accepts_integral_float_and_column_labels(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "t")
    np.save(root / "train_y.npy", (np.arange(40) % 4).astype(np.float64)[:, None])
    data = load_folder(root)
    assert data.train_y.dtype == np.int64
    np.testing.assert_array_equal(data.train_y, np.arange(40) % 4)


def _missing(root: Path) -> None:
    (root / "valid_y.npy").unlink()


def _length_mismatch(root: Path) -> None:
    np.save(root / "train_y.npy", np.arange(39) % 4)


def _wrong_rank(root: Path) -> None:
    np.save(root / "test_x.npy", np.zeros((12, 64), dtype=np.float32))


def _float_labels(root: Path) -> None:
    np.save(root / "train_y.npy", np.linspace(0, 3, 40))


def _shape_mismatch(root: Path) -> None:
    np.save(root / "valid_x.npy", np.zeros((10, 3, 9, 9), dtype=np.float32))


def _negative_labels(root: Path) -> None:
    np.save(root / "test_y.npy", np.arange(12) - 1)


def _not_npy(root: Path) -> None:
    (root / "train_x.npy").write_text("not an array")


def _nan_inputs(root: Path) -> None:
    x = np.zeros((40, 3, 8, 8), dtype=np.float32)
    x[3, 1, 2, 2] = np.nan
    np.save(root / "train_x.npy", x)


def _matrix_labels(root: Path) -> None:
    np.save(root / "train_y.npy", np.zeros((40, 4), dtype=np.int64))


@pytest.mark.parametrize(
    ("corrupt", "file", "what"),
    [
        (_missing, "valid_y.npy", "missing file"),
        (_length_mismatch, "train_y.npy", "39 labels but train_x.npy has 40"),
        (_wrong_rank, "test_x.npy", "rank 2"),
        (_float_labels, "train_y.npy", "non-integer"),
        (_shape_mismatch, "valid_x.npy", "per-example shape"),
        (_negative_labels, "test_y.npy", "negative labels"),
        (_not_npy, "train_x.npy", "cannot read"),
        (_nan_inputs, "train_x.npy", "NaN"),
        (_matrix_labels, "train_y.npy", "must be a vector"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_malformed_folder_errors(
    tmp_path: Path, corrupt: Callable[[Path], None], file: str, what: str
) -> None:
    root = _write_folder(tmp_path / "bad")
    corrupt(root)
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    message = str(info.value)
    assert file in message, message
    assert what in message, message


def test_unknown_name_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("cifar-1000")
    with pytest.raises(DatasetError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_canonical_names(tmp_path: Path) -> None:
    assert canonical_dataset_name("MNIST-1D") == "mnist1d"
    assert canonical_dataset_name("fashion_mnist") == "fashion-mnist"
    assert canonical_dataset_name(str(tmp_path)) == str(tmp_path.resolve())


# ----------------------------------------------------------------------------------------------
# MNIST-1D


def test_mnist1d_shapes_and_splits(mnist1d: Dataset) -> None:
    assert mnist1d.name == "mnist1d"
    assert mnist1d.input_shape == (1, 40)
    assert mnist1d.num_classes == 10
    assert mnist1d.sizes == (3200, 800, 1000)
    assert mnist1d.train_x.shape == (3200, 1, 40)
    assert mnist1d.train_x.dtype == np.float32 and mnist1d.train_y.dtype == np.int64
    for y in (mnist1d.train_y, mnist1d.val_y, mnist1d.test_y):
        assert set(np.unique(y)) == set(range(10))
    x, y = mnist1d.train_val()
    assert x.shape == (4000, 1, 40) and y.shape == (4000,)


def test_mnist1d_is_cached_and_deterministic(mnist1d: Dataset, mnist1d_cache: Path) -> None:
    files = list(mnist1d_cache.glob("mnist1d-*.npz"))
    assert len(files) == 1
    state = np.random.get_state()
    again = load_mnist1d(cache=mnist1d_cache)  # from the cache: fast
    np.testing.assert_array_equal(again.val_x, mnist1d.val_x)
    np.testing.assert_array_equal(again.train_y, mnist1d.train_y)
    # a different split seed holds out different examples from the same generated set
    other = load_mnist1d(cache=mnist1d_cache, split_seed=1)
    assert not np.array_equal(other.val_y, mnist1d.val_y)
    np.testing.assert_array_equal(other.test_x, mnist1d.test_x)
    # loading does not disturb the global numpy random state
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_mnist1d_cache_dir_from_env(
    mnist1d_cache: Path, mnist1d: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(mnist1d_cache))
    data = load_dataset("mnist1d")
    np.testing.assert_array_equal(data.test_y, mnist1d.test_y)


def test_subset(mnist1d: Dataset) -> None:
    small = mnist1d.subset(100)
    assert small.sizes == (100, 100, 100)
    assert small.input_shape == mnist1d.input_shape


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)


def test_fashion_mnist_missing_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_from_debian_package() -> None:
    data = load_dataset("fashion-mnist")
    assert data.input_shape == (1, 28, 28)
    assert data.num_classes == 10
    assert data.sizes == (50_000, 10_000, 10_000)
    assert abs(float(data.train_x.mean())) < 1e-3
    assert abs(float(data.train_x.std()) - 1.0) < 1e-3
    assert set(np.unique(data.test_y)) == set(range(10))
