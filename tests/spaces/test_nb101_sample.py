"""The NAS-Bench-101 slot view (26 slots) and the 500-cell sample table."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from einnas.benchmark_data import BenchmarkDataError
from einnas.spaces.base import FiniteSearchSpace, SearchSpaceError
from einnas.spaces.nb101_sample import EDGES, NB101_SAMPLE_FILE, NB101CellSpace, NB101Sample
from einnas.spaces.slots import SlotArch

SPACE = NB101CellSpace()


def cell(matrix: list[list[int]], inner_ops: list[int]) -> SlotArch:
    """An architecture from a 7x7 matrix and 5 inner op indices."""
    return (*(matrix[i][j] for i, j in EDGES), *inner_ops)


def chain() -> list[list[int]]:
    """input -> 1 -> 2 -> ... -> output."""
    m = [[0] * 7 for _ in range(7)]
    for i in range(6):
        m[i][i + 1] = 1
    return m


def test_slot_shape() -> None:
    typed: FiniteSearchSpace[SlotArch] = SPACE
    assert isinstance(typed, FiniteSearchSpace)
    assert SPACE.num_slots == 26
    assert SPACE.cardinalities == (2,) * 21 + (3,) * 5
    assert SPACE.encoding_length == 57
    assert EDGES[0] == (0, 1) and EDGES[5] == (0, 6) and EDGES[6] == (1, 2) and EDGES[-1] == (5, 6)


def test_text_is_the_file_key_form() -> None:
    arch = cell(chain(), [0, 1, 2, 0, 1])
    text = SPACE.to_text(arch)
    values = ast.literal_eval(text)
    assert len(values) == 56 and values[49:] == (0, 2, 3, 4, 2, 3, 1)
    assert values[1] == 1 and values[7 + 2] == 1  # 0->1 and 1->2
    assert SPACE.from_text(text) == arch == SPACE.from_tuple(values)
    assert SPACE.op_names(arch)[0] == "input" and SPACE.op_names(arch)[3] == "conv3x3-bn-relu"
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = SPACE.sample(rng)
        assert SPACE.from_text(SPACE.to_text(a)) == a


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0] * 55, "56"),
        ([0] * 49 + [0, 2, 2, 2, 2, 2, 0], "end with 1"),
        ([0] * 49 + [1, 2, 2, 2, 2, 2, 1], "start with 0"),
        ([0] * 49 + [0, 2, 5, 2, 2, 2, 1], "inner op codes"),
        ([0] * 7 + [1] + [0] * 41 + [0, 2, 2, 2, 2, 2, 1], "upper-triangular"),
    ],
)
def test_from_tuple_errors(values: list[int], message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        SPACE.from_tuple(values)
    with pytest.raises(SearchSpaceError, match="cannot parse"):
        SPACE.from_text("0, 1, 2")


def test_identity_prunes_and_relabels() -> None:
    base = chain()
    a = cell(base, [0, 1, 2, 0, 1])
    dead = [row[:] for row in base]
    dead[0][1] = 0  # the chain is cut: no input -> output path
    assert SPACE.identity(cell(dead, [0, 1, 2, 0, 1])).startswith("invalid:")
    assert not SPACE.is_valid(cell(dead, [0, 1, 2, 0, 1]))
    # input -> 1 -> output and input -> 2 -> output, with the two inner vertices swapped
    m1 = [[0] * 7 for _ in range(7)]
    m1[0][1] = m1[1][6] = m1[0][2] = m1[2][6] = 1
    x = cell(m1, [0, 2, 1, 1, 1])
    y = cell(m1, [2, 0, 0, 0, 0])  # ops of 1 and 2 swapped; vertices 3..5 are dead anyway
    assert SPACE.identity(x) == SPACE.identity(y)
    assert SPACE.edit_distance(x, y) == 5  # the slot view sees 5 edits: dead ops count
    assert SPACE.identity(x) != SPACE.identity(cell(m1, [0, 0, 1, 1, 1]))
    assert SPACE.pruned_edges(x) == 4 and SPACE.is_valid(x) and SPACE.is_valid(a)
    full = [[1 if j > i else 0 for j in range(7)] for i in range(7)]
    assert SPACE.pruned_edges(cell(full, [0] * 5)) == 21 and not SPACE.is_valid(cell(full, [0] * 5))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkDataError, match=re.escape(NB101_SAMPLE_FILE)):
        NB101Sample.load(tmp_path)


def test_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / NB101_SAMPLE_FILE
    path.parent.mkdir()
    path.write_text(json.dumps({"nasbench101": {"cifar10": {"(0, 1)": {"val_accuracy": 1,
                    "flops": 1, "params": 1}}}}))  # fmt: skip
    with pytest.raises(BenchmarkDataError, match="bad key"):
        NB101Sample.load(tmp_path)


@pytest.mark.benchmark_data
def test_the_sample(data_dir: Path) -> None:
    sample = NB101Sample.load(data_dir)
    assert len(sample) == 500 and sample.name == "nb101-sample/cifar10"
    raw = json.loads((data_dir / NB101_SAMPLE_FILE).read_text())["nasbench101"]["cifar10"]
    # the slot view loses nothing: every key comes back exactly, inputs/outputs are fixed
    assert {SPACE.to_text(a) for a in sample} == set(raw)
    for key in raw:
        codes = ast.literal_eval(key)[49:]
        assert codes[0] == 0 and codes[6] == 1 and set(codes[1:6]) <= {2, 3, 4}
    arch = sample.archs[0]
    assert sample.val(arch) == raw[SPACE.to_text(arch)]["val_accuracy"]
    assert set(sample.record(arch).proxies) >= {"synflow", "jacov"}
    assert all(SPACE.is_valid(a) for a in sample)
    assert len({SPACE.identity(a) for a in sample}) == 292
    vals = [sample.val(a) for a in sample]
    assert 70 < min(vals) < max(vals) < 95
    codes = np.asarray(sample.archs)
    dist = (codes[:, None, :] != codes[None, :, :]).sum(axis=2)
    assert dist[np.triu_indices(500, 1)].min() == 4  # why it cannot be searched
    drawn = sample.draw(np.random.default_rng(0), 10)
    assert len(set(drawn)) == 10 and all(a in sample for a in drawn)
    assert drawn == sample.draw(np.random.default_rng(0), 10)
    with pytest.raises(SearchSpaceError, match="not one of the 500"):
        sample.val(SPACE.sample(np.random.default_rng(1)))
