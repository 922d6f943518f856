"""Classification data sets as in-memory numpy arrays (DECISIONS.md §2 "Data", einspace.md §5.1).

A :class:`Dataset` holds the three splits (train / validation / test) as channels-first float32
inputs and int64 labels, plus the per-example input shape and the number of classes.  Loaders:

* :func:`load_mnist1d` — MNIST-1D generated locally with ``mnist1d.data.make_dataset`` (never
  downloaded): the package defaults give 4,000 train / 1,000 test sequences of length 40, fed as
  ``(N, 1, 40)``.  A fixed, seeded 20 % of train is held out as validation.  Generation takes a
  few seconds, so the generated arrays are cached as ``.npz`` in :func:`cache_dir`.
* :func:`load_folder` — an Unseen-NAS folder ``DIR/{train,valid,test}_{x,y}.npy`` (x: ``(N, C, H,
  W)`` or ``(N, C, L)``, y: integer labels), checked file by file and normalised per channel with
  the train split's mean and standard deviation (the einspace protocol).
* :func:`load_fashion_mnist` — Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package
  (idx files under ``/usr/share/datasets/fashion-mnist``); 10,000 of the 60,000 training images
  are held out as validation; normalised per channel with the train split's statistics
  (:func:`fashion_mnist_arrays` gives the raw uint8 arrays).
* :func:`load_dataset` — any of the above by name (``mnist1d``, ``fashion-mnist``) or folder path.

Every problem with the data raises :class:`DatasetError` with a message naming the file and what
is wrong.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FASHION_MNIST_DIR",
    "SPLITS",
    "Dataset",
    "DatasetError",
    "cache_dir",
    "canonical_dataset_name",
    "fashion_mnist_arrays",
    "load_dataset",
    "load_fashion_mnist",
    "load_folder",
    "load_mnist1d",
    "normalise_per_channel",
]

FloatArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.int64]

#: File stems of an Unseen-NAS folder, in the order train, validation, test.
SPLITS = ("train", "valid", "test")

#: Where Debian's ``dataset-fashion-mnist`` package installs the idx files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_ALIASES = {
    "mnist1d": "mnist1d",
    "mnist-1d": "mnist1d",
    "mnist_1d": "mnist1d",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
}

_MNIST1D_CACHE_VERSION = 1

#: Most classes a data set may have (``num_classes`` = largest label + 1).
MAX_CLASSES = 100_000

# float32 holds magnitudes up to ~3.4e38 and, at full precision, down to ~1.2e-38; the per-channel
# standardisation squares deviations, so inputs outside [_TINY, _HUGE] are standardised in float64
# (and refused without standardisation) instead of silently becoming inf or zeros.
_F32 = np.finfo(np.float32)
_HUGE = 1e18
_TINY = 1e-18


class DatasetError(ValueError):
    """A data set is missing, malformed or unknown; the message says which file and why."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Three splits of a classification task, held in memory.

    ``*_x`` are float32 arrays of shape ``(N, *input_shape)`` (channels first: ``(C, L)`` or
    ``(C, H, W)``), ``*_y`` int64 arrays of shape ``(N,)`` with labels in ``[0, num_classes)``.
    Instances compare by identity (they hold large arrays).
    """

    name: str
    train_x: FloatArray
    train_y: LabelArray
    val_x: FloatArray
    val_y: LabelArray
    test_x: FloatArray
    test_y: LabelArray
    input_shape: tuple[int, ...]
    num_classes: int

    def __post_init__(self) -> None:
        for split, x, y in self._splits():
            if x.shape[1:] != self.input_shape:
                raise DatasetError(
                    f"{self.name}: {split} inputs have per-example shape {x.shape[1:]}, "
                    f"expected {self.input_shape}"
                )
            if y.shape != (x.shape[0],):
                raise DatasetError(
                    f"{self.name}: {split} labels have shape {y.shape}, expected ({x.shape[0]},)"
                )
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise DatasetError(
                f"{self.name}: num_classes must be in 1..{MAX_CLASSES:,}, got {self.num_classes:,}"
            )

    def _splits(self) -> list[tuple[str, FloatArray, LabelArray]]:
        return [
            ("train", self.train_x, self.train_y),
            ("val", self.val_x, self.val_y),
            ("test", self.test_x, self.test_y),
        ]

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Number of examples in train, validation and test."""
        return (len(self.train_y), len(self.val_y), len(self.test_y))

    def train_val(self) -> tuple[FloatArray, LabelArray]:
        """Train and validation concatenated (the training set of the final phase)."""
        return (
            np.concatenate([self.train_x, self.val_x]),
            np.concatenate([self.train_y, self.val_y]),
        )

    def subset(self, limit: int) -> Dataset:
        """The first ``limit`` examples of every split (for smoke tests and quick searches)."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        return Dataset(
            f"{self.name}[:{limit}]",
            self.train_x[:limit],
            self.train_y[:limit],
            self.val_x[:limit],
            self.val_y[:limit],
            self.test_x[:limit],
            self.test_y[:limit],
            self.input_shape,
            self.num_classes,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: name, shapes, class count and split sizes."""
        train, val, test = self.sizes
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": train,
            "val": val,
            "test": test,
        }


# ----------------------------------------------------------------------------------------------
# Helpers


def cache_dir() -> Path:
    """The cache directory: ``$EINNAS_CACHE_DIR``, else ``~/.cache/einnas``."""
    env = os.environ.get("EINNAS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "einnas"


def canonical_dataset_name(name_or_path: str) -> str:
    """``mnist1d`` / ``fashion-mnist`` for a known name (any alias), else the absolute folder path."""
    key = name_or_path.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    return str(Path(name_or_path).expanduser().resolve())


def normalise_per_channel(
    train: FloatArray, *others: FloatArray
) -> tuple[FloatArray, tuple[FloatArray, ...]]:
    """Standardise every array per channel (axis 1) with the mean and std of ``train``.

    Channels with zero spread are only centred.  Returns ``(train, others)`` as new float32 arrays.
    """
    axes = (0, *range(2, train.ndim))
    mean = train.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    dev = train - mean  # float32 throughout: large image sets stay fast and small
    np.multiply(dev, dev, out=dev)
    std = np.sqrt(dev.mean(axis=axes, keepdims=True, dtype=np.float64)).astype(np.float32)
    del dev
    std[std == 0] = 1.0
    inv = (1.0 / std).astype(np.float32)

    def norm(a: FloatArray) -> FloatArray:
        out = a.astype(np.float32, copy=True)
        out -= mean
        out *= inv
        return out

    return norm(train), tuple(norm(a) for a in others)


def _split_holdout(
    x: FloatArray, y: LabelArray, n_val: int, seed: int
) -> tuple[FloatArray, LabelArray, FloatArray, LabelArray]:
    """Hold out ``n_val`` examples chosen by a seeded permutation: ``(train_x, train_y, val_x, val_y)``."""
    if not 0 < n_val < len(y):
        raise DatasetError(f"cannot hold out {n_val} of {len(y)} training examples as validation")
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, va = perm[:-n_val], perm[-n_val:]
    return x[tr], y[tr], x[va], y[va]


def _atomic_savez(path: Path, **arrays: npt.NDArray[Any]) -> None:
    """Write an ``.npz`` so that concurrent readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------
# MNIST-1D


def _generate_mnist1d(num_samples: int, seed: int) -> dict[str, npt.NDArray[Any]]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise DatasetError(
            "MNIST-1D needs the mnist1d package: pip install mnist1d (or einnas[data])"
        ) from e
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    # make_dataset reseeds the global ``random`` and ``numpy.random`` states: restore them.
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def _mnist1d_arrays(num_samples: int, seed: int, cache: Path | None) -> dict[str, npt.NDArray[Any]]:
    """Generated arrays ``x, y, x_test, y_test``, read from / written to the ``.npz`` cache."""
    try:
        from importlib.metadata import version

        pkg = version("mnist1d")
    except Exception:  # pragma: no cover - metadata missing
        pkg = "unknown"
    root = cache if cache is not None else cache_dir()
    path = root / f"mnist1d-v{_MNIST1D_CACHE_VERSION}-{pkg}-n{num_samples}-s{seed}.npz"
    candidates = [path]
    if pkg == "unknown":
        # mnist1d is not installed (a machine that only carries the cache, e.g. an offline GPU
        # box): any cached file of these arguments will do, as nothing could regenerate it.
        pattern = f"mnist1d-v{_MNIST1D_CACHE_VERSION}-*-n{num_samples}-s{seed}.npz"
        candidates += sorted(root.glob(pattern)) if root.is_dir() else []
    for candidate in candidates:
        if not candidate.exists():
            continue
        try:
            with np.load(candidate, allow_pickle=False) as z:
                return {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except Exception:
            pass  # a corrupt cache file is regenerated below
    import sys
    import time

    print(
        f"generating MNIST-1D ({num_samples} samples; once: cached in {path.parent}) ...",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    arrays = _generate_mnist1d(num_samples, seed)
    with contextlib.suppress(OSError):  # a read-only cache: just do not cache
        _atomic_savez(path, **arrays)
    print(f"MNIST-1D generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return arrays


def load_mnist1d(
    *,
    num_samples: int = 5000,
    generator_seed: int = 42,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    cache: str | os.PathLike[str] | None = None,
) -> Dataset:
    """MNIST-1D, generated locally: ``(N, 1, 40)`` float32 sequences, 10 classes.

    With the package defaults (``num_samples=5000``, ``train_split=0.8``, ``seed=42``) the
    generator gives 4,000 train and 1,000 test examples; ``val_fraction`` of train (800) is held
    out as validation by a permutation seeded with ``split_seed``.  The generator already
    standardises the whole set (mean 0, std 1), so no further normalisation is applied.
    ``cache`` overrides :func:`cache_dir`.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    arrays = _mnist1d_arrays(
        num_samples, generator_seed, Path(cache) if cache is not None else None
    )
    x = arrays["x"].astype(np.float32)[:, None, :]
    y = arrays["y"].astype(np.int64)
    test_x = arrays["x_test"].astype(np.float32)[:, None, :]
    test_y = arrays["y_test"].astype(np.int64)
    n_val = round(len(y) * val_fraction)
    train_x, train_y, val_x, val_y = _split_holdout(x, y, n_val, split_seed)
    return Dataset(
        "mnist1d", train_x, train_y, val_x, val_y, test_x, test_y, tuple(x.shape[1:]), 10
    )


# ----------------------------------------------------------------------------------------------
# Unseen-NAS folders


def _load_npy(path: Path) -> npt.NDArray[Any]:
    if not path.is_file():
        raise DatasetError(
            f"missing file {path}: an Unseen-NAS folder holds "
            + ", ".join(f"{s}_{v}.npy" for s in SPLITS for v in "xy")
        )
    try:
        arr: npt.NDArray[Any] = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DatasetError(f"cannot read {path} as a .npy array: {e}") from e
    return arr


def _check_x(path: Path, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Inputs checked for rank, size, dtype (bool, integer or float) and finiteness, as loaded."""
    if x.ndim not in (3, 4):
        raise DatasetError(
            f"{path} has shape {x.shape} (rank {x.ndim}): inputs must be (N, C, L) or (N, C, H, W)"
        )
    if x.shape[0] == 0 or any(d == 0 for d in x.shape[1:]):
        raise DatasetError(f"{path} has shape {x.shape}: no examples or an empty dimension")
    if x.dtype.kind not in "biuf":
        raise DatasetError(
            f"{path} has dtype {x.dtype}: inputs must be numeric (bool, integer or float)"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DatasetError(f"{path} contains NaN or infinite values")
    return x


def _magnitudes(x: npt.NDArray[Any]) -> tuple[float, float]:
    """Largest absolute value and smallest non-zero absolute value (``inf`` if all are zero)."""
    if x.dtype.kind == "b":
        return 1.0, 1.0
    a = np.abs(x if x.dtype in (np.float16, np.float32) else x.astype(np.float64))
    big = float(a.max())
    nonzero = a[a != 0]
    small = float(nonzero.min()) if nonzero.size else float("inf")
    return big, small


def _to_float32(
    root: Path, raw: list[npt.NDArray[Any]], normalise: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The three splits as float32 (standardised with the train statistics if ``normalise``),
    refusing values that float32 cannot hold instead of turning them into inf or zeros."""
    names = [root / f"{split}_x.npy" for split in SPLITS]
    mags = [_magnitudes(x) for x in raw]
    wide = any(big > _HUGE or small < _TINY for big, small in mags)
    if not normalise:
        for name, x, (big, small) in zip(names, raw, mags):
            if big > float(_F32.max):
                raise DatasetError(
                    f"{name} holds values up to {big:.3g}, beyond float32's range "
                    f"({float(_F32.max):.3g}): rescale the data (or load it with normalisation)"
                )
            if small < float(_F32.tiny) and x.dtype.kind == "f" and x.dtype.itemsize > 4:
                raise DatasetError(
                    f"{name} holds non-zero values as small as {small:.3g}, which float32 "
                    f"rounds to zero or a denormal (< {float(_F32.tiny):.3g}): rescale the data "
                    "(or load it with normalisation)"
                )
        out = [x.astype(np.float32) for x in raw]
    elif wide:  # standardise in float64, then cast: the result is O(1) whatever the scale
        scale = mags[0][0] or 1.0  # train's largest magnitude: its squares stay finite
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
            scaled = [x.astype(np.float64) / scale for x in raw]
            axes = (0, *range(2, scaled[0].ndim))
            mean = scaled[0].mean(axis=axes, keepdims=True)
            std = np.sqrt(((scaled[0] - mean) ** 2).mean(axis=axes, keepdims=True))
            std[std == 0] = 1.0
            out = [((x - mean) / std).astype(np.float32) for x in scaled]
    else:
        train, (val, test) = normalise_per_channel(*(x.astype(np.float32) for x in raw))
        out = [train, val, test]
    for name, x in zip(names, out):
        if not np.isfinite(x).all():
            raise DatasetError(
                f"{name}: values overflow float32 after standardisation with the train split's "
                "mean and std (this split's scale is far beyond train's): rescale the data"
            )
    return out[0], out[1], out[2]


def _check_y(path: Path, y: npt.NDArray[Any], n: int, x_name: str) -> LabelArray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(
            f"{path} has shape {y.shape}: labels must be a vector (N,) of class indices"
        )
    if y.dtype.kind not in "iuf":
        raise DatasetError(
            f"{path} has dtype {y.dtype}: labels must be integer class indices "
            "(an integer dtype, or floats with integral values)"
        )
    if len(y) != n:
        raise DatasetError(f"{path} has {len(y)} labels but {x_name} has {n} examples")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DatasetError(
            f"{path} has dtype {y.dtype} with non-integer values: labels must be integer class indices"
        )
    if len(y) and float(y.min()) < 0:
        raise DatasetError(f"{path} contains negative labels (min {y.min()})")
    if len(y) and float(y.max()) >= MAX_CLASSES:
        raise DatasetError(
            f"{path} contains the label {y.max():.0f}: labels are class indices 0..K-1 with at "
            f"most {MAX_CLASSES:,} classes"
        )
    return y.astype(np.int64)


def _check_classes(root: Path, ys: list[LabelArray]) -> int:
    """``num_classes`` (largest train label + 1), checked against the other splits."""
    train_path = root / "train_y.npy"
    num_classes = int(ys[0].max()) + 1
    for split, y in zip(SPLITS[1:], ys[1:]):
        if len(y) and int(y.max()) >= num_classes:
            raise DatasetError(
                f"{root / f'{split}_y.npy'} contains the label {int(y.max())}, but the labels of "
                f"{train_path} go up to {num_classes - 1} ({num_classes} classes): every class "
                "must occur in the training split"
            )
    present = len(np.unique(ys[0]))
    if present < 2:
        raise DatasetError(f"{train_path} has {present} distinct label(s): need >= 2")
    if num_classes > 2 * present:
        raise DatasetError(
            f"{train_path} uses {present} distinct labels but the largest is {num_classes - 1} "
            f"({num_classes} classes, most of them without a training example): labels must be "
            f"class indices 0..K-1; renumber them"
        )
    return num_classes


def load_folder(path: str | os.PathLike[str], *, normalise: bool = True) -> Dataset:
    """An Unseen-NAS folder: ``{train,valid,test}_{x,y}.npy``, loaded as-is and checked.

    Inputs must be ``(N, C, L)`` or ``(N, C, H, W)`` of a numeric dtype, finite, with the same
    per-example shape in every split; labels integer class indices (an integer dtype or
    integral floats), ``>= 0``, ``num_classes`` = largest train label + 1 <= ``MAX_CLASSES``,
    no larger label in validation or test, and at least half of the classes present in train.
    With ``normalise`` (the einspace protocol) every split is standardised per channel with the
    train split's mean and std (in float64 when the values are too large or too small to square
    in float32); values that would become inf or zero in float32 are refused.  Every problem
    raises :class:`DatasetError` naming the file.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a directory")
    raw: list[npt.NDArray[Any]] = []
    ys: list[LabelArray] = []
    for split in SPLITS:
        x_path, y_path = root / f"{split}_x.npy", root / f"{split}_y.npy"
        x = _check_x(x_path, _load_npy(x_path))
        y = _check_y(y_path, _load_npy(y_path), len(x), x_path.name)
        if raw and x.shape[1:] != raw[0].shape[1:]:
            raise DatasetError(
                f"{x_path} has per-example shape {x.shape[1:]} but train_x.npy has {raw[0].shape[1:]}"
            )
        raw.append(x)
        ys.append(y)
    num_classes = _check_classes(root, ys)
    xs = list(_to_float32(root, raw, normalise))
    del raw
    name = root.resolve().name or str(root)
    return Dataset(
        name, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], tuple(xs[0].shape[1:]), num_classes
    )


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian package)


def _read_idx(path: Path) -> npt.NDArray[np.uint8]:
    """Read an idx file (optionally gzipped) of unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path} is not an idx file (bad magic number)")
    if raw[2] != 0x08:
        raise DatasetError(f"{path} holds idx type 0x{raw[2]:02x}, expected unsigned bytes (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: header says shape {dims} but the file holds {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"Fashion-MNIST file {stem}(.gz) not found in {root}: "
        "install it with: apt-get install dataset-fashion-mnist"
    )


def fashion_mnist_arrays(
    root: str | os.PathLike[str] | None = None,
) -> dict[str, npt.NDArray[np.uint8]]:
    """The raw Fashion-MNIST idx arrays: ``x`` (60000, 28, 28), ``y``, ``x_test`` (10000, 28, 28)
    and ``y_test``, all uint8, as Debian's ``dataset-fashion-mnist`` installs them.

    ``root`` defaults to ``$EINNAS_FASHION_MNIST_DIR`` or :data:`FASHION_MNIST_DIR`; a missing
    file raises :class:`DatasetError` saying how to install the package.
    """
    if root is None:
        root = os.environ.get("EINNAS_FASHION_MNIST_DIR") or FASHION_MNIST_DIR
    base = Path(root)
    arrays: dict[str, npt.NDArray[np.uint8]] = {}
    for key, stem in (
        ("x", "train-images-idx3-ubyte"),
        ("y", "train-labels-idx1-ubyte"),
        ("x_test", "t10k-images-idx3-ubyte"),
        ("y_test", "t10k-labels-idx1-ubyte"),
    ):
        arrays[key] = _read_idx(_find_idx(base, stem))
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if arrays[xk].ndim != 3 or arrays[yk].ndim != 1 or len(arrays[xk]) != len(arrays[yk]):
            raise DatasetError(
                f"Fashion-MNIST in {base}: images {arrays[xk].shape} and labels {arrays[yk].shape} "
                "do not match"
            )
    return arrays


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    val_size: int = 10_000,
    split_seed: int = 0,
    normalise: bool = True,
) -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist``: ``(N, 1, 28, 28)``, 10 classes.

    ``root`` defaults to ``$EINNAS_FASHION_MNIST_DIR`` or :data:`FASHION_MNIST_DIR`.
    ``val_size`` of the 60,000 training images are held out (seeded by ``split_seed``); the
    10,000 test images are the test split.  Pixels are scaled to [0, 1], then (``normalise``)
    standardised with the train split's mean and std.
    """
    arrays = fashion_mnist_arrays(root)
    x = arrays["x"].astype(np.float32)[:, None]
    x *= np.float32(1 / 255)
    test_x = arrays["x_test"].astype(np.float32)[:, None]
    test_x *= np.float32(1 / 255)
    y = arrays["y"].astype(np.int64)
    test_y = arrays["y_test"].astype(np.int64)
    train_x, train_y, val_x, val_y = _split_holdout(x, y, val_size, split_seed)
    if normalise:
        train_x, (val_x, test_x) = normalise_per_channel(train_x, val_x, test_x)
    return Dataset(
        "fashion-mnist", train_x, train_y, val_x, val_y, test_x, test_y, tuple(x.shape[1:]), 10
    )


# ----------------------------------------------------------------------------------------------


def load_dataset(name_or_path: str, **kw: Any) -> Dataset:
    """Load ``mnist1d``, ``fashion-mnist`` or an Unseen-NAS folder; ``kw`` go to the loader."""
    key = name_or_path.strip().lower()
    if _ALIASES.get(key) == "mnist1d":
        return load_mnist1d(**kw)
    if _ALIASES.get(key) == "fashion-mnist":
        return load_fashion_mnist(**kw)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_folder(path, **kw)
    raise DatasetError(
        f"unknown dataset {name_or_path!r}: use 'mnist1d', 'fashion-mnist' or a folder holding "
        "{train,valid,test}_{x,y}.npy"
    )
