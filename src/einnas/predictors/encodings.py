"""Architecture encodings for predictors, and the difference-of-architecture (DoA) vector.

An :class:`Encoder` turns an architecture into a fixed-length float vector.  Two are shipped:

* :class:`OneHotEncoder` -- the slot space's one-hot encoding ``e(a)`` (``space.encode``): one
  block of length ``K_j`` per decision slot, ``sum_j K_j`` features in all (30 on NB201).
* :class:`PathEncoder` -- BANANAS' path encoding of a NAS-Bench-201 cell (155 binary features,
  one per operation sequence along an input->output path); used by the absolute predictor of
  the ``bananas`` baseline.

Anything with a ``dim`` and an ``encode(arch) -> ndarray`` method is an encoder (a
:class:`typing.Protocol`), so einspace's tree feature map (production counts, parent->child
production pairs) can plug in later without touching the predictors.

The DoA input of Delta-NAS is ``delta(a, b) = e(b) - e(a)`` (:func:`delta`): with one-hot slot
encodings it has entries in ``{-1, 0, 1}`` and exactly ``2 d`` non-zeros for ``d`` edits, so the
set of single-edit deltas is linear in the number of slots while the space is exponential.

Encoders cache vectors by architecture (archs of slot spaces are hashable tuples); vectors are
returned as read-only ``float64`` arrays so that a cached vector cannot be changed by a caller.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "CachedEncoder",
    "Encoder",
    "FloatArray",
    "OneHotEncoder",
    "PathEncoder",
    "delta",
    "deltas",
    "encode_many",
    "make_encoder",
]

FloatArray = npt.NDArray[np.float64]
"""The numeric array type of the predictors module (``float64``)."""


@runtime_checkable
class Encoder(Protocol):
    """Maps an architecture to a vector of length ``dim``."""

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`encode` returns."""
        ...

    def encode(self, arch: Any) -> FloatArray:
        """The feature vector of ``arch`` (shape ``(dim,)``, ``float64``)."""
        ...


class CachedEncoder:
    """Base class: memoises ``_compute(arch)`` per architecture (when the arch is hashable).

    Subclasses implement :meth:`_compute` and set ``_dim``.  Searches encode the same parents
    again and again (every decision scores their neighbours), so a cache keeps encoding cost
    negligible.  Unhashable architectures are encoded afresh each time.
    """

    _dim: int

    def __init__(self, max_cache: int = 100_000) -> None:
        self._cache: dict[Hashable, FloatArray] = {}
        self._max_cache = max_cache

    @property
    def dim(self) -> int:
        return self._dim

    def _compute(self, arch: Any) -> FloatArray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, arch: Any) -> FloatArray:
        try:
            hit = self._cache.get(arch)
        except TypeError:  # unhashable architecture
            return self._freeze(self._compute(arch))
        if hit is None:
            hit = self._freeze(self._compute(arch))
            if len(self._cache) < self._max_cache:
                self._cache[arch] = hit
        return hit

    def _freeze(self, vec: npt.ArrayLike) -> FloatArray:
        out = np.array(vec, dtype=np.float64)
        if out.shape != (self._dim,):
            raise ValueError(f"{type(self).__name__}: expected a vector of length {self._dim}, got {out.shape}")
        out.setflags(write=False)
        return out


class OneHotEncoder(CachedEncoder):
    """One-hot slot encoding ``e(a)`` from the space (``space.encode``, ``space.encoding_length``)."""

    def __init__(self, space: Any) -> None:
        super().__init__()
        encode = getattr(space, "encode", None)
        if encode is None:
            raise TypeError(
                f"space {getattr(space, 'name', space)!r} has no one-hot encoding (space.encode); "
                "pass an Encoder for it instead"
            )
        self._space_encode: Callable[[Any], npt.ArrayLike] = encode
        length = getattr(space, "encoding_length", None)
        if length is None:
            length = int(np.asarray(encode(space.sample(np.random.default_rng(0)))).shape[0])
        self._dim = int(length)
        self.space_name = str(getattr(space, "name", "?"))

    def _compute(self, arch: Any) -> FloatArray:
        return np.asarray(self._space_encode(arch), dtype=np.float64)

    def __repr__(self) -> str:
        return f"OneHotEncoder({self.space_name}, dim={self._dim})"


class PathEncoder(CachedEncoder):
    """BANANAS path encoding of a NAS-Bench-201 cell (``NB201Space.path_encoding``).

    ``include_none=True`` gives the usual 155 features; ``False`` the 84 features of paths that
    do not pass through a ``none`` edge.
    """

    def __init__(self, space: Any, include_none: bool = True) -> None:
        super().__init__()
        path_encoding = getattr(space, "path_encoding", None)
        if path_encoding is None:
            raise TypeError(f"space {getattr(space, 'name', space)!r} has no path encoding (NB201 only)")
        self._path_encoding: Callable[..., npt.ArrayLike] = path_encoding
        self.include_none = include_none
        self._dim = int(space.path_encoding_length(include_none))

    def _compute(self, arch: Any) -> FloatArray:
        return np.asarray(self._path_encoding(arch, include_none=self.include_none), dtype=np.float64)

    def __repr__(self) -> str:
        return f"PathEncoder(dim={self._dim})"


def make_encoder(space: Any, kind: Literal["onehot", "path", "auto"] = "onehot") -> Encoder:
    """An encoder of ``space``: ``onehot``, ``path`` (NB201) or ``auto`` (path where available).

    Raises:
        TypeError: the space has no such encoding.
        ValueError: unknown ``kind``.
    """
    if kind == "onehot":
        return OneHotEncoder(space)
    if kind == "path":
        return PathEncoder(space)
    if kind == "auto":
        return PathEncoder(space) if hasattr(space, "path_encoding") else OneHotEncoder(space)
    raise ValueError(f"unknown encoding {kind!r}: choose onehot, path or auto")


def encode_many(encoder: Encoder, archs: Sequence[Any]) -> FloatArray:
    """Row-stacked encodings of ``archs`` (shape ``(len(archs), encoder.dim)``)."""
    out = np.empty((len(archs), encoder.dim), dtype=np.float64)
    for i, arch in enumerate(archs):
        out[i] = encoder.encode(arch)
    return out


def delta(encoder: Encoder, a: Any, b: Any) -> FloatArray:
    """The DoA vector ``e(b) - e(a)`` (from ``a`` to ``b``)."""
    return encoder.encode(b) - encoder.encode(a)


def deltas(encoder: Encoder, pairs: Sequence[tuple[Any, Any]]) -> FloatArray:
    """Row-stacked DoA vectors of ``(a, b)`` pairs (shape ``(len(pairs), encoder.dim)``)."""
    out = np.empty((len(pairs), encoder.dim), dtype=np.float64)
    for i, (a, b) in enumerate(pairs):
        out[i] = encoder.encode(b) - encoder.encode(a)
    return out
