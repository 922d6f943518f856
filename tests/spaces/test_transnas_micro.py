"""TransNAS-Bench-101 micro: the space and the 7 task tables."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from einnas.spaces.base import FiniteSearchSpace, SearchSpaceError
from einnas.spaces.slots import SlotArch
from einnas.spaces.tabular import load_tabular
from einnas.spaces.transnas_micro import TASKS, TransNASMicroSpace, TransNASMicroTable

SPACE = TransNASMicroSpace()


def test_space_shape() -> None:
    typed: FiniteSearchSpace[SlotArch] = SPACE
    assert isinstance(typed, FiniteSearchSpace)
    assert SPACE.name == "transnas-micro"
    assert SPACE.size() == 4_096
    assert SPACE.cardinalities == (4,) * 6
    assert len(TASKS) == 7


def test_text_form() -> None:
    assert SPACE.to_text((1, 3, 0, 3, 2, 1)) == "(1, 3, 0, 3, 2, 1)"
    assert SPACE.from_text("(1, 3, 0, 3, 2, 1)") == (1, 3, 0, 3, 2, 1)
    assert SPACE.from_text(" (1,3,0,3,2,1) ") == (1, 3, 0, 3, 2, 1)
    for arch in SPACE.all_archs():
        assert SPACE.from_text(SPACE.to_text(arch)) == arch


@pytest.mark.parametrize(
    "bad", ["", "1, 3, 0, 3, 2, 1", "(1, 3, 0, 3, 2)", "(1, 3, 0, 3, 2, 4)", "(a, 3, 0, 3, 2, 1)"]
)
def test_from_text_errors(bad: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        SPACE.from_text(bad)
    assert repr(bad) in str(info.value)
    assert "(a, b, c, d, e, f)" in str(info.value)


def test_neighbours_mutation_identity() -> None:
    rng = np.random.default_rng(4)
    for _ in range(100):
        arch = SPACE.sample(rng)
        nbrs = SPACE.neighbours(arch)
        assert len(nbrs) == 18 == len(set(nbrs))
        child = SPACE.mutate(arch, rng)
        assert child != arch and child in nbrs
    assert len({SPACE.identity(a) for a in SPACE.all_archs()}) == 1_236
    assert SPACE.op_names((0, 1, 2, 3, 0, 1)) == (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "none",
        "skip_connect",
    )


@pytest.mark.benchmark_data
@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_all_cells(data_dir: Path, task: str) -> None:
    table = load_tabular("transnas-micro", task, data_dir)
    assert isinstance(table, TransNASMicroTable)
    assert len(table) == 4_096
    val, test = table.values()
    assert np.all(np.isfinite(val))
    assert np.array_equal(val, test)  # documented convention: test = val
    assert table.optimum_val() == table.best_test_at_val_optimum() == float(val.max())
    if task == "room_layout":
        assert np.all(val < 0)  # a negative loss: higher is better


@pytest.mark.benchmark_data
def test_values_match_archive(data_dir: Path) -> None:
    path = data_dir / "transnas101_micro" / "all_benchmarks_zen.zip"
    with zipfile.ZipFile(path) as archive:
        entries = json.loads(
            archive.read("zen/benchmark--transbench101_micro--class_object--1000.json")
        )
    table = load_tabular("transnas_micro", "Class-Object", data_dir)
    assert table.dataset == "class_object"
    for entry in entries[:300]:
        arch = SPACE.from_text(entry["arch"])
        assert SPACE.to_text(arch) == entry["arch"]
        result = table.lookup(arch)
        assert result.val == result.test == entry["val_accuracy"]
        assert result.train_seconds is None


@pytest.mark.benchmark_data
def test_task_is_required_and_checked(data_dir: Path) -> None:
    with pytest.raises(SearchSpaceError, match="needs a task"):
        load_tabular("transnas-micro", None, data_dir)
    with pytest.raises(SearchSpaceError, match="unknown TransNAS-Bench-101 task"):
        load_tabular("transnas-micro", "depth", data_dir)
