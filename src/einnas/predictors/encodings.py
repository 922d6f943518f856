"""Architecture encodings for predictors, and the difference-of-architecture (DoA) vector.

An :class:`Encoder` turns an architecture into a fixed-length float vector.  Two are shipped:

* :class:`OneHotEncoder` -- the slot space's one-hot encoding ``e(a)`` (``space.encode``): one
  block of length ``K_j`` per decision slot, ``sum_j K_j`` features in all (30 on NB201).
* :class:`PathEncoder` -- BANANAS' path encoding of a NAS-Bench-201 cell (155 binary features,
  one per operation sequence along an input->output path); used by the absolute predictor of
  the ``bananas`` baseline.

Anything with a ``dim`` and an ``encode(arch) -> ndarray`` method is an encoder (a
:class:`typing.Protocol`), so einspace's tree feature map (production counts, parent->child
production pairs; :mod:`einnas.predictors.tree_features`) plugs in without touching the
predictors.

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
    "ConcatEncoder",
    "CountEncoder",
    "Encoder",
    "EncodingName",
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
            raise ValueError(
                f"{type(self).__name__}: expected a vector of length {self._dim}, got {out.shape}"
            )
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
        # the plain slot one-hot (SlotSpace.encode, not overridden): vectorised over code rows
        from einnas.spaces.slots import SlotSpace

        self._offsets: npt.NDArray[np.int64] | None = None
        if isinstance(space, SlotSpace) and type(space).encode is SlotSpace.encode:
            self._offsets = np.asarray(space._offsets, dtype=np.int64)

    @property
    def vectorised(self) -> bool:
        """Whether :meth:`encode_codes` is available (plain slot one-hot)."""
        return self._offsets is not None

    def encode_codes(self, codes: npt.NDArray[np.int64]) -> FloatArray:
        """Encodings of the rows of an ``(n, slots)`` matrix of choice indices, at once.

        The same vectors as :meth:`encode` row by row (0/1 entries), without Python per row.
        """
        if self._offsets is None:
            raise TypeError(f"{self!r}: no vectorised encoding for this space")
        n = codes.shape[0]
        out = np.zeros((n, self._dim), dtype=np.float64)
        rows = np.repeat(np.arange(n), codes.shape[1])
        out[rows, (codes + self._offsets[None, :]).reshape(-1)] = 1.0
        return out

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
            raise TypeError(
                f"space {getattr(space, 'name', space)!r} has no path encoding (NB201 only)"
            )
        self._path_encoding: Callable[..., npt.ArrayLike] = path_encoding
        self.include_none = include_none
        self._dim = int(space.path_encoding_length(include_none))

    def _compute(self, arch: Any) -> FloatArray:
        return np.asarray(
            self._path_encoding(arch, include_none=self.include_none), dtype=np.float64
        )

    def __repr__(self) -> str:
        return f"PathEncoder(dim={self._dim})"


class CountEncoder(CachedEncoder):
    """How many slots hold each choice value (slot spaces whose slots share one choice set).

    ``counts(a)[v] = #{j : a_j = v}``, a vector of length ``K`` (NB201: how many edges carry each
    of the 5 operations).  Next to the one-hot encoding it gives a linear model a *shared*
    effect per value -- "changing an edge to conv3x3 helps, whichever edge" -- that every edit
    informs, plus the slot-specific corrections of the one-hot part: hierarchical shrinkage
    that lets a few pairs say something about edits never seen.
    """

    def __init__(self, space: Any) -> None:
        super().__init__()
        cards = tuple(getattr(space, "cardinalities", ()))
        if not cards:
            raise TypeError(f"space {getattr(space, 'name', space)!r} has no decision slots")
        self._dim = max(cards)

    def _compute(self, arch: Any) -> FloatArray:
        return np.bincount(np.asarray(arch, dtype=np.int64), minlength=self._dim).astype(np.float64)

    vectorised = True

    def encode_codes(self, codes: npt.NDArray[np.int64]) -> FloatArray:
        """Counts of the rows of an ``(n, slots)`` code matrix, at once (as :meth:`encode`)."""
        n = codes.shape[0]
        flat = (codes + (np.arange(n, dtype=np.int64) * self._dim)[:, None]).reshape(-1)
        counts = np.bincount(flat, minlength=n * self._dim).reshape(n, self._dim)
        return counts.astype(np.float64)

    def __repr__(self) -> str:
        return f"CountEncoder(dim={self._dim})"


class ConcatEncoder(CachedEncoder):
    """Several encodings side by side (e.g. one-hot slots and NB201 paths)."""

    def __init__(self, parts: Sequence[Encoder]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("ConcatEncoder needs at least one encoder")
        self.parts = tuple(parts)
        self._dim = sum(p.dim for p in self.parts)

    @property
    def vectorised(self) -> bool:
        """Whether every part encodes code matrices at once (:meth:`encode_codes`)."""
        return all(getattr(p, "vectorised", False) for p in self.parts)

    def encode_codes(self, codes: npt.NDArray[np.int64]) -> FloatArray:
        """The parts' :meth:`encode_codes`, side by side."""
        return np.concatenate([p.encode_codes(codes) for p in self.parts], axis=1)  # type: ignore[attr-defined]

    def _compute(self, arch: Any) -> FloatArray:
        return np.concatenate([p.encode(arch) for p in self.parts])

    def __repr__(self) -> str:
        return f"ConcatEncoder({', '.join(map(repr, self.parts))})"


EncodingName = Literal["onehot", "path", "auto", "onehot+path", "onehot+counts"]


def make_encoder(space: Any, kind: EncodingName = "onehot") -> Encoder:
    """An encoder of ``space``: ``onehot``, ``path`` (NB201), ``auto`` (path where available) or
    ``onehot+path`` (both, concatenated).

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
    if kind == "onehot+counts":
        return ConcatEncoder([OneHotEncoder(space), CountEncoder(space)])
    if kind == "onehot+path":
        return ConcatEncoder([OneHotEncoder(space), PathEncoder(space)])
    raise ValueError(f"unknown encoding {kind!r}: choose onehot, path, auto or onehot+path")


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
