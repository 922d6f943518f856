"""NAS-Bench-201 (the NATS-Bench topology search space): 6 edges x 5 operations.

The cell is a DAG over nodes 0 (input) to 3 (output); every edge ``i -> j`` (``i < j``) carries
one operation.  Slots are the edges in the standard order
``(0->1), (0->2), (1->2), (0->3), (1->3), (2->3)`` and choice ``k`` is ``OPS[k]``:
``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``.  The text form is the standard
architecture string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (``op~i`` is the edge from node ``i``
into the node of that group).

Identity (deduplication).  :meth:`NB201Space.identity` returns the cell's isomorphism class as the
``UniqueString`` of ``nb201/nats_bench_tss_test.csv``, computed from the cell itself (no data
file needed): every node is written as the sorted ``+``-sum of its incoming terms, where a
``none`` edge contributes ``#``, ``skip_connect`` contributes the source node's expression, and
another op contributes ``(<source>)@<op>`` (or ``#`` when the source is exactly ``#``); the input
is ``0`` and the identity is the output node's expression.  The tests check it equals the CSV's
``UniqueString`` for all 15,625 cells, giving the 6,466 classes.  These are NATS-Bench's classes:
equal keys always mean the same function (dead edges and the order of summands are ignored), but
a few functionally equal cells keep distinct keys (e.g. relabelling the two intermediate nodes
when the ``1->2`` edge is ``none``), so deduplication is safe but not exhaustive.

Path encoding.  :meth:`NB201Space.path_encoding` is the BANANAS-style path encoding: one binary
feature per *operation sequence* of length 1, 2 or 3 (the input->output paths are ``0->3``,
``0->1->3``, ``0->2->3`` and ``0->1->2->3``), set when some input->output path carries that
sequence.  By default ``none`` counts as an op, giving ``5 + 5**2 + 5**3 = 155`` features (the
usual count); with ``include_none=False`` paths through a ``none`` edge (which carry no signal)
are dropped and the alphabet is the 4 other ops, giving ``4 + 16 + 64 = 84`` features.

Tables.  :class:`NB201Table` serves ``val_acc_200`` (the search signal; for CIFAR-10 the
``cifar10-valid`` split) and ``test_acc_200`` (the reported number) from
``nb201/nb201_<dataset>.json``; for CIFAR-10 it also serves the 200-epoch training time from
``nb201/nb201_cifar10_costs.csv`` (``metric_elapsed_time``) when that file is present.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from einnas.benchmark_data import (
    NB201_COSTS_FORMAT,
    NB201_JSON_FORMAT,
    BenchmarkDataError,
    benchmark_file,
    read_nb201_costs,
    read_nb201_json,
    resolve_benchmark_dir,
)
from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.spaces.tabular import TabularBenchmark

__all__ = [
    "DATASETS",
    "EDGES",
    "OPS",
    "NB201Space",
    "NB201Table",
    "cell_identity",
    "normalise_dataset",
]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Operation names; choice index ``k`` of every slot is ``OPS[k]``."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""Edge ``(source, target)`` of each slot, in slot order."""

# Input->output paths as tuples of slot indices.
_PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet")

_DATASET_ALIASES = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar10-valid": "cifar10",
    "cifar100": "cifar100",
    "cifar-100": "cifar100",
    "imagenet": "imagenet",
    "imagenet16-120": "imagenet",
    "imagenet16": "imagenet",
    "imagenet-16-120": "imagenet",
}

_TEXT_FORM = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


def normalise_dataset(dataset: str) -> str:
    """Canonical NB201 dataset key (``cifar10``, ``cifar100``, ``imagenet``).

    Accepts ``ImageNet16-120`` / ``imagenet16-120`` for ``imagenet`` (case-insensitive).
    """
    key = dataset.strip().lower().replace("_", "-")
    try:
        return _DATASET_ALIASES[key]
    except KeyError:
        raise SearchSpaceError(
            f"unknown NAS-Bench-201 dataset {dataset!r}; expected one of cifar10, cifar100, "
            "imagenet (alias ImageNet16-120)"
        ) from None


@cache
def _identity_of(arch: tuple[int, ...]) -> str:
    """Cached isomorphism key of a cell given as op indices (15,625 cells at most)."""
    return cell_identity(tuple(OPS[i] for i in arch))


def cell_identity(ops: Sequence[str]) -> str:
    """Isomorphism-class key of a 4-node cell given the op name on each edge of :data:`EDGES`.

    Ops are ``none`` (zero), ``skip_connect`` (identity) or any other name (a parametrised or
    pooling op applied to the source node).  The result is NATS-Bench's ``UniqueString`` form;
    see the module docstring.
    """
    if len(ops) != len(EDGES):
        raise SearchSpaceError(f"a cell has {len(EDGES)} edges, got {len(ops)} ops: {ops!r}")
    exprs = ["0", "", "", ""]
    for node in (1, 2, 3):
        terms: list[str] = []
        for (source, target), op in zip(EDGES, ops):
            if target != node:
                continue
            if op == "none":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(exprs[source])
            elif exprs[source] == "#":
                terms.append("#")
            else:
                terms.append(f"({exprs[source]})@{op}")
        exprs[node] = "+".join(sorted(terms))
    return exprs[3]


class NB201Space(SlotSpace):
    """The NAS-Bench-201 cell space (15,625 cells)."""

    ops: tuple[str, ...] = OPS
    edges: tuple[tuple[int, int], ...] = EDGES

    def __init__(self) -> None:
        super().__init__([len(OPS)] * len(EDGES), name="nb201")
        self._op_index = {op: k for k, op in enumerate(OPS)}

    def op_names(self, arch: Sequence[int]) -> tuple[str, ...]:
        """The op name on each edge, in slot order."""
        return tuple(OPS[k] for k in self.validate(arch))

    def from_op_names(self, ops: Sequence[str]) -> SlotArch:
        """Inverse of :meth:`op_names`."""
        if len(ops) != len(EDGES):
            raise SearchSpaceError(f"nb201: expected {len(EDGES)} op names, got {list(ops)!r}")
        out = []
        for op in ops:
            if op not in self._op_index:
                raise SearchSpaceError(
                    f"nb201: unknown op {op!r}; expected one of {', '.join(OPS)}"
                )
            out.append(self._op_index[op])
        return tuple(out)

    def to_text(self, arch: Sequence[int]) -> str:
        """The standard architecture string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+...``."""
        names = self.op_names(arch)
        groups: list[str] = []
        slot = 0
        for node in (1, 2, 3):
            tokens = []
            for source in range(node):
                tokens.append(f"{names[slot]}~{source}")
                slot += 1
            groups.append("|" + "|".join(tokens) + "|")
        return "+".join(groups)

    def from_text(self, text: str) -> SlotArch:
        """Parse the standard architecture string (surrounding whitespace is ignored)."""

        def fail(problem: str) -> SearchSpaceError:
            return SearchSpaceError(
                f"nb201: cannot parse {text!r}: {problem}; expected the form {_TEXT_FORM} with "
                f"op one of {', '.join(OPS)}"
            )

        if not isinstance(text, str):
            raise SearchSpaceError(f"nb201: expected text, got {type(text).__name__} {text!r}")
        groups = text.strip().split("+")
        if len(groups) != 3:
            raise fail(f"found {len(groups)} '+'-separated groups instead of 3")
        arch: list[int] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
                raise fail(f"group {node} ({group!r}) must start and end with '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != node:
                raise fail(f"group {node} ({group!r}) has {len(tokens)} edges instead of {node}")
            for source, token in enumerate(tokens):
                op, sep, src = token.partition("~")
                if not sep or src != str(source):
                    raise fail(f"edge {token!r} in group {node} should read 'op~{source}'")
                if op not in self._op_index:
                    raise fail(f"unknown op {op!r}")
                arch.append(self._op_index[op])
        return tuple(arch)

    def identity(self, arch: Sequence[int]) -> str:
        """The isomorphism class (NATS-Bench ``UniqueString``)."""
        return _identity_of(self.validate(arch))

    @staticmethod
    def path_encoding_length(include_none: bool = True) -> int:
        """Length of :meth:`path_encoding`: 155 with ``none``, 84 without."""
        n = len(OPS) if include_none else len(OPS) - 1
        return n + n**2 + n**3

    def path_encoding(
        self, arch: Sequence[int], include_none: bool = True
    ) -> npt.NDArray[np.float32]:
        """BANANAS-style path encoding (see the module docstring for the layout).

        Feature layout: block of length-1 sequences, then length 2, then length 3; within a
        block, the sequence ``(o_1, ..., o_L)`` sits at the base-``n`` number ``o_1 ... o_L``
        (ops numbered as in :data:`OPS`, minus one when ``include_none`` is false).
        """
        values = self.validate(arch)
        n = len(OPS) if include_none else len(OPS) - 1
        out = np.zeros(self.path_encoding_length(include_none), dtype=np.float32)
        for path in _PATHS:
            codes = [values[slot] for slot in path]
            if not include_none:
                if 0 in codes:
                    continue
                codes = [c - 1 for c in codes]
            length = len(codes)
            offset = sum(n**i for i in range(1, length))
            position = 0
            for c in codes:
                position = position * n + c
            out[offset + position] = 1.0
        return out


_SPACE = NB201Space()


@lru_cache(maxsize=1)
def _op_tuple_index() -> dict[tuple[str, ...], int]:
    """``{op names per edge: NB201Space.index}`` for all cells (built once; fast table loads)."""
    combos = itertools.product(OPS, repeat=len(EDGES))
    return {ops: i for i, ops in enumerate(combos)}


@lru_cache(maxsize=1)
def _text_index() -> dict[str, int]:
    """``{architecture string: NB201Space.index}`` for all cells."""
    return {
        f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|": i
        for o, i in _op_tuple_index().items()
    }


class NB201Table(TabularBenchmark):
    """NAS-Bench-201 200-epoch results on one dataset.

    ``val`` = ``val_acc_200``, ``test`` = ``test_acc_200`` (percent); ``train_seconds`` = the
    200-epoch training time from the CIFAR-10 cost table (CIFAR-10 only, when present).
    """

    space: NB201Space
    max_step = 200
    folder: Path | None = None

    def step_values(self) -> dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """200-epoch values, and the 12-epoch ones when ``nb201/nb201_12epoch.csv`` is present."""
        out = super().step_values()
        if self.folder is not None:
            low = _nb201_12epoch(self.folder, self.dataset)
            if low is not None:
                out = {12: low, **out}
        return out

    def metrics_of(self, arch: Sequence[int]) -> dict[str, float]:
        """``latency`` (seconds), ``flops`` (MFLOPs) and ``params`` (millions) of the cell.

        From ``nb201/nb201_cifar10_costs.csv`` (``metric_latency``, ``metric_flops``,
        ``metric_params``), for CIFAR-10 only: the cost table was measured on CIFAR-10, and the
        other datasets' networks differ in head and input size, so they get no costs (empty).
        """
        if self.dataset != "cifar10" or self.folder is None:
            return {}
        costs = nb201_cost_arrays(self.folder)
        if costs is None:
            return {}
        i = self.space.index(arch)
        return {name: float(values[i]) for name, values in costs.items()}

    @classmethod
    def load(cls, dataset: str = "cifar10", benchmark_dir: str | Path | None = None) -> NB201Table:
        """Load (cached per folder and dataset) the table of ``dataset``."""
        folder = resolve_benchmark_dir(benchmark_dir)
        return _load_nb201_table(folder, normalise_dataset(dataset))


@lru_cache(maxsize=8)
def _load_nb201_table(folder: Path, dataset: str) -> NB201Table:
    relative = f"nb201/nb201_{dataset}.json"
    path = benchmark_file(relative, folder)
    records = read_nb201_json(path)
    space = _SPACE
    n = space.size()
    val = np.full(n, np.nan)
    test = np.full(n, np.nan)
    text_index = _text_index()
    for text, record in records.items():
        i = text_index.get(text)
        if i is None:
            try:
                i = space.index(space.from_text(text))
            except SearchSpaceError as exc:
                raise BenchmarkDataError(
                    f"{relative}: expected {NB201_JSON_FORMAT} keyed by NB201 architecture "
                    f"strings; {exc} (file {str(path)!r})"
                ) from exc
        val[i] = record.val_acc_200
        test[i] = record.test_acc_200
    missing = np.flatnonzero(np.isnan(val))
    if missing.size:
        example = space.to_text(space.from_index(int(missing[0])))
        raise BenchmarkDataError(
            f"{relative}: expected {NB201_JSON_FORMAT} covering all {n} NAS-Bench-201 cells; "
            f"{missing.size} are missing (e.g. {example}) (file {str(path)!r})"
        )
    # CIFAR-10's training times for every dataset: the cost table covers CIFAR-10 only, and
    # CIFAR-100 / ImageNet16-120 train the same cells on as many (smaller) images per epoch.
    seconds = _nb201_train_seconds(folder)
    table = NB201Table(space, f"nb201/{dataset}", dataset, val, test, seconds)
    table.folder = folder
    return table


@lru_cache(maxsize=8)
def _nb201_12epoch(
    folder: Path, dataset: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """``(val, test)`` after 12 epochs from ``nb201/nb201_12epoch.csv``, or None when absent."""
    import csv

    path = folder / "nb201" / "nb201_12epoch.csv"
    if not path.is_file():
        return None
    n = _SPACE.size()
    val = np.full(n, np.nan)
    test = np.full(n, np.nan)
    text_index = _text_index()
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            i = text_index.get(row.get("arch", ""))
            if i is None:
                continue
            try:
                val[i] = float(row[f"{dataset}-val"])
                test[i] = float(row[f"{dataset}-test"])
            except (KeyError, ValueError) as exc:
                raise BenchmarkDataError(
                    f"nb201/nb201_12epoch.csv: expected columns arch, {dataset}-val, "
                    f"{dataset}-test with numbers; {exc} (file {str(path)!r})"
                ) from exc
    if np.isnan(val).any() or np.isnan(test).any():
        raise BenchmarkDataError(
            f"nb201/nb201_12epoch.csv: {int(np.isnan(val).sum())} of {n} cells are missing "
            f"(file {str(path)!r})"
        )
    return val, test


def _nb201_train_seconds(folder: Path) -> npt.NDArray[np.float64] | None:
    """200-epoch CIFAR-10 training seconds per cell, or ``None`` when the cost file is absent."""
    path = folder / "nb201" / "nb201_cifar10_costs.csv"
    if not path.is_file():
        return None
    costs = read_nb201_costs(path.resolve())
    space = _SPACE
    seconds = np.full(space.size(), np.nan)
    op_index = _op_tuple_index()
    for ops, value in costs.items():
        i = op_index.get(ops)
        if i is None:
            try:
                i = space.index(space.from_op_names(ops))
            except SearchSpaceError as exc:
                raise BenchmarkDataError(
                    f"nb201/nb201_cifar10_costs.csv: expected {NB201_COSTS_FORMAT}; {exc} "
                    f"(file {str(path)!r})"
                ) from exc
        seconds[i] = value
    if np.isnan(seconds).any():
        raise BenchmarkDataError(
            f"nb201/nb201_cifar10_costs.csv: expected {NB201_COSTS_FORMAT}; "
            f"{int(np.isnan(seconds).sum())} cells are missing (file {str(path)!r})"
        )
    return seconds


NB201_COST_COLUMNS = {
    "latency": "metric_latency",
    "flops": "metric_flops",
    "params": "metric_params",
}
"""Cost metric -> column of ``nb201/nb201_cifar10_costs.csv``."""


@lru_cache(maxsize=4)
def nb201_cost_arrays(folder: Path) -> dict[str, npt.NDArray[np.float64]] | None:
    """``{"latency", "flops", "params"}`` arrays in index order (CIFAR-10 cost table), or
    ``None`` when the file (or one of its cost columns) is absent."""
    import csv

    path = folder / "nb201" / "nb201_cifar10_costs.csv"
    if not path.is_file():
        return None
    n = _SPACE.size()
    out = {name: np.full(n, np.nan) for name in NB201_COST_COLUMNS}
    op_index = _op_tuple_index()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not set(NB201_COST_COLUMNS.values()) <= set(reader.fieldnames or ()):
            return None
        for line, row in enumerate(reader, start=2):
            ops = tuple(row[f"hp_x{j}"] for j in range(6))
            i = op_index.get(ops)
            if i is None:
                continue
            for name, column in NB201_COST_COLUMNS.items():
                try:
                    out[name][i] = float(row[column])
                except (TypeError, ValueError) as exc:
                    raise BenchmarkDataError(
                        f"nb201/nb201_cifar10_costs.csv line {line}: {column} is "
                        f"{row[column]!r} (file {str(path)!r})"
                    ) from exc
    for name, values in out.items():
        if np.isnan(values).any():
            raise BenchmarkDataError(
                f"nb201/nb201_cifar10_costs.csv: {int(np.isnan(values).sum())} cells lack "
                f"{NB201_COST_COLUMNS[name]} (file {str(path)!r})"
            )
    return out
