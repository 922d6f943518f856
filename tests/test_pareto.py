"""Pareto utilities and objectives: hand-computed fronts, and properties (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einnas.objectives import Objective, objective_values, parse_objectives, to_minimisation
from einnas.pareto import (
    best_under_constraints,
    crowding_distance,
    dominates,
    hypervolume,
    hypervolume_improvement,
    knee_point,
    non_dominated_sort,
    pareto_front,
    parse_pick,
    reference_point,
)

# ------------------------------------------------------------------ objectives


def test_parse_objectives_directions_and_aliases() -> None:
    objs = parse_objectives("accuracy, latency:min,params:max")
    assert objs == (
        Objective("val", "max"),
        Objective("latency", "min"),
        Objective("params", "max"),
    )
    assert parse_objectives("val,flops") == (Objective("val", "max"), Objective("flops", "min"))
    assert [str(o) for o in parse_objectives("acc:maximise,macs")] == ["val:max", "macs:min"]
    with pytest.raises(ValueError, match="direction"):
        parse_objectives("val:up")
    with pytest.raises(ValueError, match="twice"):
        parse_objectives("val,accuracy")
    with pytest.raises(ValueError, match="no objectives"):
        parse_objectives(" , ")


def test_objective_values_with_fallbacks() -> None:
    objs = parse_objectives("val:max,macs:min,latency:min")
    assert objective_values(objs, 90.0, {"flops": 7.5, "latency_ms": 2.0}) == (90.0, 7.5, 2.0)
    assert objective_values(objs, None, {"macs": 1, "latency": 1}) is None
    assert objective_values(objs, 90.0, {"macs": 1}) is None
    assert objective_values(objs, 90.0, {"macs": True, "latency": 1}) is None  # not a number
    rows = to_minimisation([[90.0, 1.0, 2.0]], objs)
    assert rows.tolist() == [[-90.0, 1.0, 2.0]]


# ------------------------------------------------------------------ hand-computed


POINTS = [[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 3]]


def test_non_dominated_sort_by_hand() -> None:
    assert non_dominated_sort(POINTS) == [[0, 1, 2, 5], [3], [4]]
    assert pareto_front(POINTS) == [0, 1, 2, 5]
    assert dominates([1, 1], [1, 2]) and not dominates([1, 2], [1, 2])
    assert non_dominated_sort(np.zeros((0, 2))) == []


def test_hypervolume_by_hand() -> None:
    # front (1,5), (2,3), (4,1) under ref (6,6): 5*1 + 4*2 + 2*2 = 17
    assert hypervolume(POINTS, [6, 6]) == pytest.approx(17.0)
    assert hypervolume([[7, 0]], [6, 6]) == 0.0  # outside the reference box
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    # 3D: three unit-offset boxes in [0,2]^3: 3 * 2 - 3 * 1 + 1 = 4
    assert hypervolume([[0, 1, 1], [1, 0, 1], [1, 1, 0]], [2, 2, 2]) == pytest.approx(4.0)
    assert hypervolume([[1, 1, 1, 1]], [3, 3, 3, 3]) == pytest.approx(16.0)
    assert hypervolume_improvement([3, 2], POINTS, [6, 6]) == pytest.approx(1.0)
    assert hypervolume_improvement([5, 5], POINTS, [6, 6]) == 0.0


def test_crowding_knee_reference() -> None:
    cd = crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
    assert math.isinf(cd[0]) and math.isinf(cd[3])
    assert cd[1] == pytest.approx((2 - 0) / 4 + (4 - 1) / 4)
    assert cd[2] == pytest.approx((4 - 1) / 4 + (2 - 0) / 4)
    assert knee_point([[0, 10], [1, 1], [10, 0], [5, 5]]) == 1
    assert reference_point([[0, 0], [2, 4]], 0.5).tolist() == [3.0, 6.0]


def test_pick_and_constraints() -> None:
    assert parse_pick("knee") == ("knee", "", [])
    assert parse_pick("max val under macs<=3e6 and params<1e6") == (
        "max",
        "val",
        [("macs", "<=", 3e6), ("params", "<", 1e6)],
    )
    with pytest.raises(ValueError):
        parse_pick("best please")
    rows = [
        {"val": 90.0, "macs": 4e6},
        {"val": 85.0, "macs": 2e6},
        {"val": 88.0, "macs": 3e6},
        {"val": 99.0},
    ]
    assert best_under_constraints(rows, "max", "val", [("macs", "<=", 3e6)]) == 2
    assert best_under_constraints(rows, "min", "macs") == 1
    assert best_under_constraints(rows, "max", "val", [("macs", "<", 1e6)]) is None


# ------------------------------------------------------------------ properties

point_sets = st.lists(st.tuples(*[st.integers(0, 20)] * 2), min_size=1, max_size=25)
point_sets_3d = st.lists(st.tuples(*[st.integers(0, 8)] * 3), min_size=1, max_size=10)


@settings(max_examples=60, deadline=None)
@given(point_sets)
def test_front_is_non_dominated_and_dominates_the_rest(points: list[tuple[int, int]]) -> None:
    p = np.asarray(points, dtype=float)
    front = pareto_front(p)
    assert front
    for i in front:
        assert not any(dominates(p[j], p[i]) for j in range(len(p)))
    for i in set(range(len(p))) - set(front):
        assert any(dominates(p[j], p[i]) for j in front)
    fronts = non_dominated_sort(p)
    assert sorted(i for f in fronts for i in f) == list(range(len(p)))


@settings(max_examples=60, deadline=None)
@given(point_sets, st.tuples(st.integers(0, 20), st.integers(0, 20)))
def test_hypervolume_is_monotone(points: list[tuple[int, int]], extra: tuple[int, int]) -> None:
    ref = [21.0, 21.0]
    base = hypervolume(points, ref)
    assert base >= 0
    assert hypervolume([*points, extra], ref) >= base - 1e-9
    # only the front matters
    front = [points[i] for i in pareto_front(points)]
    assert hypervolume(front, ref) == pytest.approx(base)


@settings(max_examples=40, deadline=None)
@given(point_sets_3d)
def test_3d_hypervolume_matches_a_grid_count(points: list[tuple[int, int, int]]) -> None:
    ref = np.array([9, 9, 9])
    grid = np.stack(np.meshgrid(*[np.arange(9)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    p = np.asarray(points)
    covered = np.any(np.all(p[None, :, :] <= grid[:, None, :], axis=2), axis=1)
    assert hypervolume(points, ref) == pytest.approx(float(covered.sum()))
