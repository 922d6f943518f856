"""Pareto utilities on *minimised* objective vectors (see :func:`einnas.objectives.to_minimisation`).

* :func:`dominates`, :func:`non_dominated_sort` (fronts, NSGA-II's ranks), :func:`pareto_front`;
* :func:`crowding_distance` (NSGA-II);
* :func:`hypervolume`: exact, by a sweep in 2D and by slicing along the last objective in more
  dimensions (``O(n^(d-1) log n)``: meant for small fronts and few objectives);
  :func:`hypervolume_improvement`;
* :func:`knee_point`: in 2D the front point farthest from the line through the front's two
  extremes (after scaling each objective to [0, 1] over the front); in more dimensions the point
  nearest the ideal point after the same scaling;
* :func:`best_under_constraints`: the best point on one objective among those meeting bounds on
  others (``max val under macs<=3e6``).

All functions take an ``(n, d)`` array-like; rows are points, smaller is better in every column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "best_under_constraints",
    "crowding_distance",
    "dominates",
    "hypervolume",
    "hypervolume_improvement",
    "knee_point",
    "non_dominated_sort",
    "pareto_front",
    "parse_pick",
    "reference_point",
]

FloatArray = npt.NDArray[np.float64]


def _points(points: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(0, 0) if arr.size == 0 else arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"expected an (n, d) array of points, got shape {arr.shape}")
    return arr


def dominates(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(x <= y) and np.any(x < y))


def non_dominated_sort(points: npt.ArrayLike) -> list[list[int]]:
    """Fronts of row indices: front 0 is non-dominated, front 1 is after removing it, ...

    Equal points share a front.  ``O(d n^2)``.
    """
    p = _points(points)
    n = p.shape[0]
    if n == 0:
        return []
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)  # how many dominate j
    fronts: list[list[int]] = []
    current = [int(i) for i in np.flatnonzero(count == 0)]
    while current:
        fronts.append(current)
        nxt: list[int] = []
        for i in current:
            for j in np.flatnonzero(dom[i]):
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(int(j))
        current = sorted(nxt)
    return fronts


def pareto_front(points: npt.ArrayLike) -> list[int]:
    """Indices of the non-dominated rows (in row order); equal rows are all kept.

    Sort-based, ``O(n log n + n f d)`` for a front of ``f`` points: fine for whole tables.
    """
    p = _points(points)
    n = p.shape[0]
    if n == 0:
        return []
    order = np.lexsort(p.T[::-1])  # lexicographic by column 0, then 1, ...
    kept: list[int] = []
    kept_rows = np.empty((0, p.shape[1]))
    for i in order:
        x = p[i]
        if kept_rows.shape[0]:
            dom = np.all(kept_rows <= x, axis=1) & np.any(kept_rows < x, axis=1)
            if dom.any():
                continue
        kept.append(int(i))
        kept_rows = np.vstack([kept_rows, x])
    return sorted(kept)


def crowding_distance(points: npt.ArrayLike) -> FloatArray:
    """NSGA-II crowding distance of each row within the set (extremes get ``inf``)."""
    p = _points(points)
    n, d = p.shape
    out = np.zeros(n)
    if n <= 2:
        out[:] = math.inf
        return out
    for j in range(d):
        order = np.argsort(p[:, j], kind="stable")
        lo, hi = p[order[0], j], p[order[-1], j]
        out[order[0]] = out[order[-1]] = math.inf
        if hi <= lo:
            continue
        gaps = (p[order[2:], j] - p[order[:-2], j]) / (hi - lo)
        out[order[1:-1]] += gaps
    return out


def _hv2d(p: FloatArray, ref: FloatArray) -> float:
    order = np.lexsort((p[:, 1], p[:, 0]))
    volume = 0.0
    best_y = ref[1]
    for i in order:
        x, y = p[i]
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hv(p: FloatArray, ref: FloatArray) -> float:
    n, d = p.shape
    if n == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - p[:, 0].min())
    if d == 2:
        return _hv2d(p, ref)
    order = np.argsort(p[:, -1], kind="stable")
    p = p[order]
    volume = 0.0
    for i in range(n):
        z_next = p[i + 1, -1] if i + 1 < n else ref[-1]
        height = z_next - p[i, -1]
        if height > 0:
            sub = p[: i + 1, :-1]
            volume += _hv(sub[pareto_front(sub)], ref[:-1]) * height
    return float(volume)


def hypervolume(points: npt.ArrayLike, ref: npt.ArrayLike) -> float:
    """Exact volume dominated by ``points`` and bounded by the reference point ``ref``.

    Points not strictly better than ``ref`` in every objective contribute nothing.
    """
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    p = _points(points)
    if p.size == 0:
        return 0.0
    if p.shape[1] != r.size:
        raise ValueError(f"points have {p.shape[1]} objectives, the reference point {r.size}")
    p = p[np.all(p < r, axis=1)]
    if p.shape[0] == 0:
        return 0.0
    if p.shape[1] <= 2:
        return _hv(p, r)  # the sweep skips dominated points itself
    return _hv(p[pareto_front(p)], r)


def hypervolume_improvement(
    point: npt.ArrayLike, front: npt.ArrayLike, ref: npt.ArrayLike
) -> float:
    """How much ``point`` adds to the hypervolume of ``front``."""
    f = _points(front)
    x = np.asarray(point, dtype=np.float64).reshape(1, -1)
    both = x if f.size == 0 else np.vstack([f, x])
    return hypervolume(both, ref) - hypervolume(f, ref)


def reference_point(points: npt.ArrayLike, margin: float = 0.1) -> FloatArray:
    """The worst value of each objective plus ``margin`` times its range (or 1 if flat)."""
    p = _points(points)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.asarray(hi + margin * span, dtype=np.float64)


def knee_point(points: npt.ArrayLike) -> int:
    """Index (into ``points``) of the knee of their Pareto front (see module docstring)."""
    p = _points(points)
    if p.shape[0] == 0:
        raise ValueError("no points")
    front = pareto_front(p)
    f = p[front]
    lo, hi = f.min(axis=0), f.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    z = (f - lo) / span
    if len(front) <= 2:
        return front[int(np.argmin(np.linalg.norm(z, axis=1)))]
    if z.shape[1] == 2:
        a = z[int(np.argmin(z[:, 0]))]
        b = z[int(np.argmin(z[:, 1]))]
        direction = b - a
        norm = float(np.linalg.norm(direction))
        if norm > 0:
            rel = z - a
            dist = np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0]) / norm
            return front[int(np.argmax(dist))]
    return front[int(np.argmin(np.linalg.norm(z, axis=1)))]


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


def parse_pick(text: str) -> tuple[str, str, list[tuple[str, str, float]]]:
    """``"max val under macs<=3e6, params<1e6"`` -> ``("max", "val", [("macs", "<=", 3e6), ...])``.

    Also ``"knee"`` -> ``("knee", "", [])``.
    """
    t = text.strip()
    if t.lower() == "knee":
        return "knee", "", []
    m = re.match(r"^\s*(max|min)\s+([A-Za-z_]\w*)\s*(?:under|subject to|with|where)?\s*(.*)$", t)
    if not m:
        raise ValueError(
            f"cannot read the pick {text!r}: expected 'knee' or 'max val under macs<=3e6'"
        )
    constraints: list[tuple[str, str, float]] = []
    rest = m.group(3).strip()
    for part in re.split(r"\s*(?:,|\band\b)\s*", rest) if rest else []:
        c = _CONSTRAINT.match(part)
        if not c:
            raise ValueError(f"cannot read the constraint {part!r} (expected e.g. macs<=3e6)")
        constraints.append((c.group(1), c.group(2), float(c.group(3))))
    return m.group(1), m.group(2), constraints


def best_under_constraints(
    rows: Sequence[Mapping[str, float | None]],
    direction: str,
    target: str,
    constraints: Sequence[tuple[str, str, float]] = (),
) -> int | None:
    """Index of the row with the best ``target`` among those meeting every constraint.

    A row lacking a constrained or the target value is not eligible; ``None`` if none is.  Ties
    go to the earlier row.
    """
    ops = {
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
    }
    best: int | None = None
    best_value = 0.0
    for i, row in enumerate(rows):
        t = row.get(target)
        if t is None or not math.isfinite(t):
            continue
        ok = True
        for name, op, bound in constraints:
            v = row.get(name)
            if v is None or not ops[op](v, bound):
                ok = False
                break
        if not ok:
            continue
        better = t > best_value if direction == "max" else t < best_value
        if best is None or better:
            best, best_value = i, t
    return best
