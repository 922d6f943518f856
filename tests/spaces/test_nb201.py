"""NAS-Bench-201: the space, its identity and path encodings, and the loaded tables."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from einnas.spaces.base import FiniteSearchSpace, SearchSpaceError
from einnas.spaces.nb201 import EDGES, OPS, NB201Space, NB201Table, cell_identity
from einnas.spaces.slots import SlotArch
from einnas.spaces.tabular import load_tabular, normalise_space_name

SPACE = NB201Space()
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


# -- the space (no data needed) -----------------------------------------------------------------


def test_protocol_and_size() -> None:
    typed: FiniteSearchSpace[SlotArch] = SPACE
    assert isinstance(typed, FiniteSearchSpace)
    assert SPACE.name == "nb201"
    assert SPACE.size() == 15_625
    assert SPACE.cardinalities == (5,) * 6
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def test_text_form() -> None:
    arch = SPACE.from_text(EXAMPLE)
    assert arch == (3, 3, 4, 1, 3, 1)
    assert SPACE.to_text(arch) == EXAMPLE
    assert SPACE.from_text("  " + EXAMPLE + "\n") == arch


def test_text_round_trip_for_every_cell() -> None:
    texts = set()
    for arch in SPACE.all_archs():
        text = SPACE.to_text(arch)
        assert SPACE.from_text(text) == arch
        texts.add(text)
    assert len(texts) == 15_625


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nor_conv_3x3",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_from_text_errors_name_text_and_form(bad: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        SPACE.from_text(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in message


def test_neighbours_and_mutation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = SPACE.sample(rng)
        nbrs = SPACE.neighbours(arch)
        assert len(nbrs) == 24 == len(set(nbrs))
        assert all(SPACE.edit_distance(arch, n) == 1 for n in nbrs)
        child = SPACE.mutate(arch, rng)
        assert child != arch
        assert child in nbrs


def test_same_seed_same_samples() -> None:
    a = [SPACE.sample(r) for r in [np.random.default_rng(5)] * 20]
    b = [SPACE.sample(r) for r in [np.random.default_rng(5)] * 20]
    assert a == b
    rng = np.random.default_rng(9)
    assert len({SPACE.sample(rng) for _ in range(100)}) > 90


def test_encode() -> None:
    x = SPACE.encode(SPACE.from_text(EXAMPLE))
    assert x.shape == (30,) and x.dtype == np.float32
    assert x.reshape(6, 5).argmax(axis=1).tolist() == [3, 3, 4, 1, 3, 1]


def test_identity_classes() -> None:
    classes = {SPACE.identity(a) for a in SPACE.all_archs()}
    assert len(classes) == 6_466
    # Ops on edges that cannot reach the output do not matter.
    a = SPACE.from_text("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = SPACE.from_text("|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    assert SPACE.identity(a) == SPACE.identity(b) == "#+#+0"
    # Which edge carries which summand does not matter when the sums agree.
    x = SPACE.from_text("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|")
    y = SPACE.from_text("|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|")
    assert x != y and SPACE.identity(x) == SPACE.identity(y)
    # NATS-Bench's classes are not complete functional equivalence: relabelling the two
    # intermediate nodes (possible here because the 1->2 edge is none) keeps distinct keys.
    c = SPACE.from_text(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    )
    e = SPACE.from_text(
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"
    )
    assert SPACE.identity(c) != SPACE.identity(e)
    # A cell whose output is cut off from the input is the zero function.
    dead = SPACE.from_text("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")
    assert SPACE.identity(dead) == "#+#+#"
    assert cell_identity(["skip_connect"] * 6) == "0+0+0+0"


def test_path_encoding() -> None:
    assert NB201Space.path_encoding_length() == 155
    assert NB201Space.path_encoding_length(include_none=False) == 84
    arch = SPACE.from_text(EXAMPLE)  # ops (3, 3, 4, 1, 3, 1)
    enc = SPACE.path_encoding(arch)
    assert enc.shape == (155,) and enc.dtype == np.float32
    # paths: 0->3 = (skip), 0->1->3 = (conv3, conv3), 0->2->3 = (conv3, skip),
    # 0->1->2->3 = (conv3, pool, skip)
    expected = {1, 5 + 3 * 5 + 3, 5 + 3 * 5 + 1, 30 + 3 * 25 + 4 * 5 + 1}
    assert set(np.flatnonzero(enc).tolist()) == expected
    live = SPACE.path_encoding(arch, include_none=False)
    assert live.shape == (84,)
    assert set(np.flatnonzero(live).tolist()) == {
        0,
        4 + 2 * 4 + 2,
        4 + 2 * 4 + 0,
        20 + 2 * 16 + 3 * 4 + 0,
    }
    all_none = SPACE.path_encoding((0,) * 6, include_none=False)
    assert all_none.sum() == 0
    assert SPACE.path_encoding((0,) * 6).sum() == 3  # (none), (none, none), (none, none, none)


# -- the tables ---------------------------------------------------------------------------------

PUBLISHED = {
    "cifar10": (91.61, 94.37),
    "cifar100": (73.49, 73.51),
    "ImageNet16-120": (46.73, 47.31),
}


@pytest.mark.benchmark_data
@pytest.mark.parametrize("dataset", sorted(PUBLISHED))
def test_published_optima(data_dir: Path, dataset: str) -> None:
    table = load_tabular("nb201", dataset, data_dir)
    assert len(table) == 15_625
    val_opt, test_opt = PUBLISHED[dataset]
    assert round(table.optimum_val(), 2) == val_opt
    assert round(table.optimum_test(), 2) == test_opt
    assert table.best_test_at_val_optimum() <= table.optimum_test()
    best = table.val_optimal_archs()
    assert best and all(table.val(a) == table.optimum_val() for a in best)


@pytest.mark.benchmark_data
def test_lookup_matches_file(data_dir: Path) -> None:
    import json

    raw = json.loads((data_dir / "nb201" / "nb201_cifar100.json").read_text())
    assert len(raw) == 15_625
    table = NB201Table.load("cifar100", data_dir)
    for text in list(raw)[:500]:
        result = table.lookup(SPACE.from_text(text))
        assert result.val == raw[text]["val_acc_200"]
        assert result.test == raw[text]["test_acc_200"]
        # CIFAR-10's training times stand in for every dataset (the cost table is CIFAR-10's)
        assert result.train_seconds == load_tabular("nb201", "cifar10", data_dir).train_seconds(
            SPACE.from_text(text)
        )


@pytest.mark.benchmark_data
def test_dataset_aliases_and_cache(data_dir: Path) -> None:
    a = load_tabular("nb201", "imagenet", data_dir)
    assert load_tabular("NB201", "ImageNet16-120", data_dir) is a
    assert load_tabular("nas-bench-201", "imagenet16-120", data_dir) is a
    assert a.name == "nb201/imagenet"
    assert load_tabular("nb201", None, data_dir).dataset == "cifar10"
    with pytest.raises(SearchSpaceError, match="unknown NAS-Bench-201 dataset"):
        load_tabular("nb201", "svhn", data_dir)
    with pytest.raises(SearchSpaceError, match="unknown tabular space"):
        load_tabular("nb301", None, data_dir)
    assert normalise_space_name("MACRO") == "nasbench-macro"
    assert normalise_space_name("transnas_micro") == "transnas-micro"


@pytest.mark.benchmark_data
def test_train_seconds(data_dir: Path) -> None:
    table = load_tabular("nb201", "cifar10", data_dir)
    if not (data_dir / "nb201" / "nb201_cifar10_costs.csv").is_file():
        pytest.skip("nb201_cifar10_costs.csv absent")
    assert table.has_train_seconds
    seconds = [table.train_seconds(a) for a in SPACE.all_archs()]
    assert all(s is not None and s > 0 for s in seconds)
    heavy = SPACE.from_text(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    light = SPACE.from_text(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    )
    heavy_s, light_s = table.train_seconds(heavy), table.train_seconds(light)
    assert heavy_s is not None and light_s is not None and heavy_s > light_s
    assert table.lookup(heavy).train_seconds == heavy_s


@pytest.mark.benchmark_data
def test_identity_equals_unique_string_of_csv(data_dir: Path) -> None:
    path = data_dir / "nb201" / "nats_bench_tss_test.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15_625
    for row in rows:
        arch = SPACE.from_text(row["ArchitectureString"])
        assert SPACE.identity(arch) == row["UniqueString"], row["ArchitectureString"]
    assert len({row["UniqueString"] for row in rows}) == 6_466
