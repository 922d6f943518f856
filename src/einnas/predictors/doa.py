"""The difference-of-architecture (DoA) dataset of Delta-NAS, built incrementally.

Members are the successfully evaluated architectures of the history, one per identity (isomorphic
cells share an identity -- NB201's ``UniqueString`` -- and the search never evaluates two of a
class, so a later duplicate is ignored).  When member ``b`` arrives, the dataset adds

* every pair ``(a, b)`` with an earlier member ``a`` within edit distance ``radius`` (default 2;
  1 is the pure single-edit form), and
* the lineage pair ``(parent, b)`` when ``b``'s parent trial is a member (whatever the distance),

each in both orders: the row ``delta(a, b) = e(b) - e(a)`` with target ``f(b) - f(a)`` and the row
``-delta`` with target ``-(f(b) - f(a))``.  ``N`` members give up to ``N (N - 1)`` rows: this
quadratic amplification is where Delta-NAS's sample efficiency comes from, and restricting to
nearby pairs keeps the rows in the low-dimensional set of small deltas where prediction is easy
(the paper's Fig. 3: error rises sharply past one edit).

Rows are appended in a fixed order (members in history order; for each new member, earlier
members in order, then the lineage pair), so a dataset grown one observation at a time is
identical, row for row, to one built from the whole history at once.  :meth:`DoADataset.sync`
exploits that: a strategy, which is a pure function of the history, keeps one dataset and, at each
decision, appends only the observations that extend the history it saw last -- or rebuilds from
scratch when the history is not an extension (a new study, a resumed one).

The dataset also keeps the sufficient statistics of a linear model (``X^T X``, ``X^T y``,
``y^T y``), updated pair by pair, so ridge regression refits in ``O(d^3)`` whatever the number of
pairs (:meth:`DoADataset.sufficient_statistics`).

Edit distances: slot spaces (archs are tuples of ints with ``space.cardinalities``) use a
vectorised Hamming distance; other spaces with ``space.edit_distance`` call it pair by pair; an
explicit ``edit_distance`` callable overrides both (einspace: the production-count distance of
:meth:`~einnas.predictors.tree_features.TreeFeatures.edit_size`, where the feature delta of a
subtree mutation is what is sparse); without any, only lineage pairs are added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from einnas.predictors.encodings import Encoder, FloatArray

if TYPE_CHECKING:  # no runtime import: einnas.strategies imports this package
    from einnas.strategies.base import Observation

__all__ = ["DoADataset", "history_key"]

_Key = tuple[int, int, str, float | None, int | None]


def history_key(obs: Observation) -> _Key:
    """What identifies an observation for the incremental cache (not the arch object itself)."""
    return (obs.proposal, obs.trial, obs.identity, obs.val, obs.parent)


class _Buffer:
    """A growable 2-D array (capacity doubles) with a cheap view of the filled rows."""

    def __init__(self, width: int, dtype: npt.DTypeLike) -> None:
        self._data = np.zeros((16, width), dtype=dtype)
        self.n = 0

    def append(self, rows: npt.ArrayLike) -> None:
        rows = np.asarray(rows, dtype=self._data.dtype).reshape(-1, self._data.shape[1])
        need = self.n + rows.shape[0]
        if need > self._data.shape[0]:
            cap = self._data.shape[0]
            while cap < need:
                cap *= 2
            grown = np.zeros((cap, self._data.shape[1]), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : need] = rows
        self.n = need

    def view(self) -> npt.NDArray[Any]:
        out = self._data[: self.n]
        out.flags.writeable = False
        return out


class DoADataset:
    """Pairs of evaluated architectures, their DoA vectors and accuracy differences.

    Args:
        encoder: the architecture encoding ``e`` (one-hot slots, or a tree feature map).
        space: the search space (for edit distances; see the module docstring).
        radius: pairs up to this edit distance are added (>= 1).
        lineage: also add every (parent, child) pair.
        edit_distance: ``edit_distance(a, b) -> int`` of two architectures, instead of the
            space's (see the module docstring).

    Attributes (read-only views, one row per ordered pair): :attr:`x` (DoA vectors),
    :attr:`y` (targets), :attr:`first` / :attr:`second` (member indices of ``a`` and ``b``),
    :attr:`distance` (edit distance, ``-1`` when unknown), :attr:`is_lineage`.
    """

    def __init__(
        self,
        encoder: Encoder,
        space: Any = None,
        radius: int = 2,
        lineage: bool = True,
        edit_distance: Callable[[Any, Any], int] | None = None,
    ) -> None:
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        self.encoder = encoder
        self.space = space
        self.radius = radius
        self.lineage = lineage
        self._slot_space = (
            edit_distance is None and space is not None and hasattr(space, "cardinalities")
        )
        self._edit_distance = edit_distance or getattr(space, "edit_distance", None)
        self.reset()

    def reset(self) -> None:
        """Forget every member and pair."""
        d = self.encoder.dim
        self.members: list[Observation] = []
        self._member_of_trial: dict[int, int] = {}
        self._identities: set[str] = set()
        self._enc = _Buffer(d, np.float64)
        self._vals: list[float] = []
        self._codes: _Buffer | None = None
        if self._slot_space:
            self._codes = _Buffer(len(self.space.cardinalities), np.int64)
        self._x = _Buffer(d, np.float64)
        self._meta = _Buffer(4, np.int64)  # first, second, distance, lineage
        self._y: list[float] = []
        self._keys: list[_Key] = []
        # Sufficient statistics of the DoA rows for linear models (X^T X, X^T y, y^T y).
        self._gram = np.zeros((d, d), dtype=np.float64)
        self._xty = np.zeros(d, dtype=np.float64)
        self._yty = 0.0
        # (X^T X + alpha I)^{-1}, kept up to date by rank-one updates (see regularised_inverse)
        self._inv: FloatArray | None = None
        self._inv_alpha = 0.0
        self._inv_rows = 0  # pairs (row couples) folded into _inv
        self._pair_rows: list[tuple[npt.NDArray[np.intp], FloatArray]] = []

    # -- growing --------------------------------------------------------------------------------

    def _distances(self, arch: Any) -> npt.NDArray[np.int64] | None:
        """Edit distance from ``arch`` to every member, or ``None`` when the space has none."""
        if self._codes is not None:
            codes = self._codes.view()
            diff = codes != np.asarray(arch, dtype=np.int64)
            out: npt.NDArray[np.int64] = np.count_nonzero(diff, axis=1).astype(np.int64)
            return out
        if self._edit_distance is not None:
            return np.array(
                [self._edit_distance(m.arch, arch) for m in self.members], dtype=np.int64
            )
        return None

    def _add_pair(self, i: int, j: int, dist: int, is_lineage: bool) -> None:
        enc = self._enc.view()
        row = enc[j] - enc[i]
        diff = self._vals[j] - self._vals[i]
        self._x.append(np.stack([row, -row]))
        self._y.extend((diff, -diff))
        # both orders: (-row)(-row)^T = row row^T and (-row)(-diff) = row diff; only the
        # non-zero block changes (adding the zeros elsewhere would change no value)
        nz = np.flatnonzero(row)
        block = np.ix_(nz, nz)
        self._gram[block] += 2.0 * np.outer(row[nz], row[nz])
        self._xty[nz] += (2.0 * diff) * row[nz]
        self._yty += 2.0 * diff * diff
        self._pair_rows.append((nz, row[nz].copy()))
        flag = int(is_lineage)
        self._meta.append([[i, j, dist, flag], [j, i, dist, flag]])

    def add(self, obs: Observation) -> int:
        """Add one finished observation; returns the number of rows added (0 if not a member).

        Failed trials and architectures whose identity is already a member add nothing.
        """
        self._keys.append(history_key(obs))
        if obs.val is None or obs.identity in self._identities:
            return 0
        before = self._x.n
        dists = self._distances(obs.arch)
        j = len(self.members)
        self.members.append(obs)
        self._member_of_trial[obs.trial] = j
        self._identities.add(obs.identity)
        self._enc.append(self.encoder.encode(obs.arch))
        self._vals.append(float(obs.val))
        if self._codes is not None:
            self._codes.append(np.asarray(obs.arch, dtype=np.int64))
        parent = (
            self._member_of_trial.get(obs.parent)
            if (self.lineage and obs.parent is not None)
            else None
        )
        if dists is not None:
            for near in np.flatnonzero(dists <= self.radius).tolist():
                self._add_pair(near, j, int(dists[near]), near == parent)
        if parent is not None and (dists is None or dists[parent] > self.radius):
            self._add_pair(parent, j, -1 if dists is None else int(dists[parent]), True)
        return self._x.n - before

    def extend(self, history: Sequence[Observation]) -> int:
        """Add observations in order; returns the number of rows added."""
        return sum(self.add(o) for o in history)

    def sync(self, history: Sequence[Observation]) -> bool:
        """Make the dataset equal to one built from ``history``; ``True`` if it only appended.

        When the observations consumed so far are a prefix of ``history`` (the common case: the
        history of decision ``k`` extends that of decision ``k - 1``), only the new ones are
        added; otherwise the dataset is rebuilt.  Either way the result is the same.
        """
        n = len(self._keys)
        incremental = n <= len(history) and all(
            history_key(history[i]) == self._keys[i] for i in range(n)
        )
        if not incremental:
            self.reset()
            n = 0
        for obs in history[n:]:
            self.add(obs)
        return incremental

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of rows (ordered pairs)."""
        return self._x.n

    @property
    def consumed(self) -> int:
        """Number of history observations consumed (members, failures and duplicates)."""
        return len(self._keys)

    @property
    def x(self) -> FloatArray:
        """DoA vectors ``e(b) - e(a)``, one row per ordered pair."""
        return self._x.view()

    @property
    def y(self) -> FloatArray:
        """Targets ``f(b) - f(a)``."""
        return np.asarray(self._y, dtype=np.float64)

    @property
    def first(self) -> npt.NDArray[np.int64]:
        """Member index of ``a`` (the pair's origin) per row."""
        return self._meta.view()[:, 0]

    @property
    def second(self) -> npt.NDArray[np.int64]:
        """Member index of ``b`` (the pair's destination) per row."""
        return self._meta.view()[:, 1]

    @property
    def distance(self) -> npt.NDArray[np.int64]:
        """Edit distance of each row's pair (``-1`` when the space has no edit distance)."""
        return self._meta.view()[:, 2]

    @property
    def is_lineage(self) -> npt.NDArray[np.bool_]:
        """Whether each row's pair is a (parent, child) pair."""
        return self._meta.view()[:, 3].astype(bool)

    @property
    def encodings(self) -> FloatArray:
        """Member encodings ``e(a)``, one row per member."""
        return self._enc.view()

    @property
    def values(self) -> FloatArray:
        """Member objective values ``f(a)``."""
        return np.asarray(self._vals, dtype=np.float64)

    def sufficient_statistics(self) -> tuple[FloatArray, FloatArray, float, int]:
        """``(X^T X, X^T y, y^T y, n)`` of the DoA rows, maintained as pairs are added.

        Lets a linear model refit in ``O(d^3)`` whatever the number of pairs (see
        :meth:`einnas.predictors.ridge.RidgePredictor.fit_statistics`).
        """
        return self._gram.copy(), self._xty.copy(), self._yty, len(self)

    def regularised_inverse(self, alpha: float) -> FloatArray:
        """``(X^T X + alpha I)^{-1}``, updated incrementally (``alpha > 0``).

        The first call inverts (``O(d^3)``); later calls fold in only the pairs added since, each
        a rank-one Sherman-Morrison update ``C -= 2 C r r^T C / (1 + 2 r^T C r)`` (a pair adds
        ``2 r r^T``: its row in both orders), ``O(d^2)`` per pair with the sparse ``r``.  So a
        ridge refit per decision costs ``O(d^2)`` per new pair instead of ``O(d^3)``.  Equal to a
        fresh inverse up to rounding; the matrix is returned read-only (the cache).
        """
        if alpha <= 0:
            raise ValueError(f"the incremental inverse needs alpha > 0, got {alpha}")
        if self._inv is None or alpha != self._inv_alpha:
            reg = self._gram.copy()
            reg[np.diag_indices(reg.shape[0])] += alpha
            inv: FloatArray = np.asarray(np.linalg.inv(reg), dtype=np.float64)
            self._inv = inv
            self._inv_alpha, self._inv_rows = alpha, len(self._pair_rows)
        else:
            inv = self._inv
            inv.flags.writeable = True
            for nz, vals in self._pair_rows[self._inv_rows :]:
                u = inv[:, nz] @ vals  # C r (C is symmetric)
                inv -= np.outer(u, u) * (2.0 / (1.0 + 2.0 * float(vals @ u[nz])))
            self._inv_rows = len(self._pair_rows)
        inv.flags.writeable = False
        return inv

    @property
    def codes(self) -> npt.NDArray[np.int64] | None:
        """Member architectures as a ``(members, slots)`` int matrix (slot spaces; else ``None``)."""
        return None if self._codes is None else self._codes.view()

    def member_index(self, trial: int) -> int | None:
        """The member index of a trial number, if that trial is a member."""
        return self._member_of_trial.get(trial)

    def features(self, context: bool = False) -> FloatArray:
        """Predictor inputs: the DoA vectors, followed by ``e(a)`` when ``context`` is set."""
        if not context:
            return self.x
        return np.concatenate([self.x, self.encodings[self.first]], axis=1)
