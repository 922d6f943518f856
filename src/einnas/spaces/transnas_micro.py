"""TransNAS-Bench-101 micro: 4,096 cells (6 edges x 4 operations) evaluated on 7 tasks.

The cell is the same 4-node DAG as NAS-Bench-201 (slots are the edges
``(0->1), (0->2), (1->2), (0->3), (1->3), (2->3)``) with four operations, coded as in
TransNAS-Bench-101: ``0`` = ``none`` (zeroise), ``1`` = ``skip_connect``, ``2`` = ``nor_conv_1x1``,
``3`` = ``nor_conv_3x3``.  The text form is the tuple string of the data file,
``(a, b, c, d, e, f)`` (e.g. ``(1, 3, 0, 3, 2, 1)``); parsing tolerates other spacing.
:meth:`TransNASMicroSpace.identity` is the cell's isomorphism class, computed exactly as for
NAS-Bench-201 (:func:`einnas.spaces.nb201.cell_identity`).

Data: ``transnas101_micro/all_benchmarks_zen.zip`` (read in memory with :mod:`zipfile`, never
extracted), one ``val_accuracy`` per cell and task.  Tasks and what that number is (higher is
better for all of them): ``class_scene``, ``class_object``, ``jigsaw`` (top-1 accuracy, percent),
``segmentsemantic`` (the benchmark's segmentation score), ``normal`` and ``autoencoder`` (SSIM,
0..1), ``room_layout`` (the **negative** L2 loss, so higher is still better).

Validation / test convention
----------------------------
The file holds a single number per cell and task (the benchmark's final *validation* metric);
there is no separate test number.  einnas therefore sets ``val = test = val_accuracy``: the
search and the report read the same number.  Reported "test" values on this space are thus
*optimistic* (the selected cell's value is biased upwards by selection), unlike NAS-Bench-201
and NAS-Bench-Macro; results on this space should be read as search-efficiency measurements
(how fast the validation optimum is approached), not as unbiased generalisation estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from einnas.benchmark_data import (
    TRANSNAS_FORMAT,
    BenchmarkDataError,
    benchmark_file,
    read_transnas_micro_zip,
    resolve_benchmark_dir,
)
from einnas.spaces.base import SearchSpaceError
from einnas.spaces.nb201 import EDGES, cell_identity
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.spaces.tabular import TabularBenchmark

__all__ = ["OPS", "TASKS", "TransNASMicroSpace", "TransNASMicroTable", "normalise_task"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
"""Operation names by TransNAS-Bench-101 code (choice index)."""

TASKS: tuple[str, ...] = (
    "class_scene",
    "class_object",
    "jigsaw",
    "segmentsemantic",
    "normal",
    "room_layout",
    "autoencoder",
)

TRANSNAS_FILE = "transnas101_micro/all_benchmarks_zen.zip"

_TEXT_FORM = "(a, b, c, d, e, f) with each entry in {0, 1, 2, 3}"


def normalise_task(task: str) -> str:
    """Canonical task name (case-insensitive; ``-`` read as ``_``)."""
    key = task.strip().lower().replace("-", "_")
    if key not in TASKS:
        raise SearchSpaceError(
            f"unknown TransNAS-Bench-101 task {task!r}; expected one of {', '.join(TASKS)}"
        )
    return key


class TransNASMicroSpace(SlotSpace):
    """The TransNAS-Bench-101 micro cell space (4,096 cells)."""

    ops: tuple[str, ...] = OPS
    edges: tuple[tuple[int, int], ...] = EDGES

    def __init__(self) -> None:
        super().__init__([len(OPS)] * len(EDGES), name="transnas-micro")

    def op_names(self, arch: Sequence[int]) -> tuple[str, ...]:
        """The op name on each edge, in slot order."""
        return tuple(OPS[k] for k in self.validate(arch))

    def to_text(self, arch: Sequence[int]) -> str:
        """The tuple string of the data file, e.g. ``(1, 3, 0, 3, 2, 1)``."""
        return "(" + ", ".join(str(v) for v in self.validate(arch)) + ")"

    def from_text(self, text: str) -> SlotArch:
        """Parse ``(a, b, c, d, e, f)`` (spaces optional)."""
        if not isinstance(text, str):
            raise SearchSpaceError(
                f"transnas-micro: expected text, got {type(text).__name__} {text!r}"
            )
        body = text.strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise SearchSpaceError(f"transnas-micro: cannot parse {text!r}: expected {_TEXT_FORM}")
        parts = [p.strip() for p in body[1:-1].split(",")]
        if len(parts) != len(EDGES) or any(p not in ("0", "1", "2", "3") for p in parts):
            raise SearchSpaceError(f"transnas-micro: cannot parse {text!r}: expected {_TEXT_FORM}")
        return tuple(int(p) for p in parts)

    def identity(self, arch: Sequence[int]) -> str:
        """The isomorphism class of the cell (same construction as NAS-Bench-201)."""
        return cell_identity(self.op_names(arch))


_SPACE = TransNASMicroSpace()


class TransNASMicroTable(TabularBenchmark):
    """TransNAS-Bench-101 micro results on one task; ``val = test = val_accuracy``."""

    space: TransNASMicroSpace

    def report_label(self) -> str:
        """One number per cell and task: the search and the report read the same value."""
        return f"{self.dataset} value of the selected cell (val = test)"

    @classmethod
    def load(cls, task: str, benchmark_dir: str | Path | None = None) -> TransNASMicroTable:
        """Load (cached per folder and task) the table of ``task``."""
        return _load_transnas_table(resolve_benchmark_dir(benchmark_dir), normalise_task(task))


@lru_cache(maxsize=16)
def _load_transnas_table(folder: Path, task: str) -> TransNASMicroTable:
    path = benchmark_file(TRANSNAS_FILE, folder)
    tasks = read_transnas_micro_zip(path)
    if task not in tasks:
        raise BenchmarkDataError(
            f"{TRANSNAS_FILE}: expected {TRANSNAS_FORMAT}; no member for task {task!r} "
            f"(found tasks: {', '.join(sorted(tasks))}) (file {str(path)!r})"
        )
    space = _SPACE
    n = space.size()
    values = np.full(n, np.nan)
    for text, value in tasks[task].items():
        try:
            values[space.index(space.from_text(text))] = value
        except SearchSpaceError as exc:
            raise BenchmarkDataError(
                f"{TRANSNAS_FILE}: expected {TRANSNAS_FORMAT}; task {task!r}: {exc} "
                f"(file {str(path)!r})"
            ) from exc
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        example = space.to_text(space.from_index(int(missing[0])))
        raise BenchmarkDataError(
            f"{TRANSNAS_FILE}: expected {TRANSNAS_FORMAT} covering all {n} cells; task "
            f"{task!r} misses {missing.size} (e.g. {example}) (file {str(path)!r})"
        )
    return TransNASMicroTable(space, f"transnas-micro/{task}", task, values, values.copy())
