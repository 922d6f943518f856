"""NAS-Bench-Macro: the space, its identity, and the val/test convention of the table."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from einnas.spaces.base import FiniteSearchSpace, SearchSpaceError
from einnas.spaces.nasbench_macro import MacroSpace, MacroTable
from einnas.spaces.slots import SlotArch
from einnas.spaces.tabular import load_tabular

SPACE = MacroSpace()


def test_space_shape() -> None:
    typed: FiniteSearchSpace[SlotArch] = SPACE
    assert isinstance(typed, FiniteSearchSpace)
    assert SPACE.name == "nasbench-macro"
    assert SPACE.size() == 6_561
    assert SPACE.cardinalities == (3,) * 8
    assert SPACE.encode((0,) * 8).shape == (24,)


def test_text_round_trip() -> None:
    assert SPACE.from_text("01201210") == (0, 1, 2, 0, 1, 2, 1, 0)
    assert SPACE.to_text((0, 1, 2, 0, 1, 2, 1, 0)) == "01201210"
    for arch in SPACE.all_archs():
        assert SPACE.from_text(SPACE.to_text(arch)) == arch


@pytest.mark.parametrize("bad", ["", "0120121", "012012100", "01201213", "0120121x", "0,1,2"])
def test_from_text_errors(bad: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        SPACE.from_text(bad)
    assert repr(bad) in str(info.value)
    assert "8 digits" in str(info.value)


def test_neighbours_and_mutation() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        arch = SPACE.sample(rng)
        nbrs = SPACE.neighbours(arch)
        assert len(nbrs) == 16 == len(set(nbrs))
        assert all(SPACE.edit_distance(arch, n) == 1 for n in nbrs)
        child = SPACE.mutate(arch, rng)
        assert child != arch and child in nbrs
    a = [SPACE.sample(np.random.default_rng(11)) for _ in range(2)]
    assert a[0] == a[1]


def test_identity() -> None:
    assert len({SPACE.identity(a) for a in SPACE.all_archs()}) == 3_969
    # identity layers move to the end of their stage ([0, 1], [2, 3, 4], [5, 6, 7])
    assert SPACE.identity(SPACE.from_text("10201012")) == "10210012"
    assert SPACE.identity(SPACE.from_text("01000000")) == "01000000"
    assert SPACE.identity(SPACE.from_text("00010000")) != SPACE.identity(
        SPACE.from_text("00000100")
    )


@pytest.mark.benchmark_data
def test_table_and_convention(data_dir: Path) -> None:
    table = load_tabular("macro", None, data_dir)
    assert isinstance(table, MacroTable)
    assert load_tabular("nasbench-macro", "cifar10", data_dir) is table
    assert len(table) == 6_561
    raw = json.loads((data_dir / "nasbench_macro" / "nas-bench-macro_cifar10.json").read_text())
    assert len(raw) == 6_561
    for text, entry in list(raw.items())[:300]:
        arch = SPACE.from_text(text)
        result = table.lookup(arch)
        seeds = entry["test_acc"]
        assert result.val == seeds[0]
        assert result.test == pytest.approx((seeds[1] + seeds[2]) / 2)
        assert result.train_seconds is None
        assert table.published_mean(arch) == entry["mean_acc"]
        assert table.params(arch) == entry["params"]
    best = max(raw.values(), key=lambda e: e["test_acc"][0])
    assert table.optimum_val() == best["test_acc"][0]
    assert 90.0 < table.best_test_at_val_optimum() <= table.optimum_test() < 94.0
    with pytest.raises(SearchSpaceError, match="cifar10 only"):
        load_tabular("macro", "cifar100", data_dir)


@pytest.mark.benchmark_data
def test_identity_classes_share_results(data_dir: Path) -> None:
    """The benchmark records identical runs for every architecture of an identity class."""
    table = load_tabular("macro", None, data_dir)
    groups: dict[str, set[tuple[float, float]]] = defaultdict(set)
    for arch in SPACE.all_archs():
        result = table.lookup(arch)
        groups[SPACE.identity(arch)].add((result.val, result.test))
    assert len(groups) == 3_969
    assert all(len(values) == 1 for values in groups.values())
