"""NAS-Bench-Macro: 8 searchable layers x 3 choices (6,561 architectures) on CIFAR-10.

An architecture is one choice in ``{0, 1, 2}`` per layer; the text form is the 8-digit string used
as the key of ``nasbench_macro/nas-bench-macro_cifar10.json`` (e.g. ``01201210``).  Choice ``0``
is the benchmark's identity (skip) option, ``1`` and ``2`` its two inverted-residual blocks.

Identity (deduplication).  Read off the table, the 8 layers form three stages, ``[0, 1]``,
``[2, 3, 4]`` and ``[5, 6, 7]``, in which every layer after the first keeps the stage's resolution
and width.  Within a stage, an identity layer at a non-first position can therefore trade places
with a following block without changing the network (``..10..`` and ``..01..`` at positions 3-4
build the same model).  :meth:`MacroSpace.identity` moves identity layers to the end of their stage, which gives
3,969 classes.  The stage layout is read off the benchmark itself: swapping positions 3-4 or 6-7
(and no other adjacent pair) always preserves parameter count and FLOPs, and the table records
exactly the same three accuracies for every architecture of a class (the benchmark trained one
representative per class), which the tests check.

Validation / test convention
----------------------------
The file only records CIFAR-10 *test* accuracy of three independent training runs (seeds), plus
their mean.  There is no held-out validation number, so einnas splits the **runs**:

* ``val``  (the search signal)   = ``test_acc[0]``, the first run;
* ``test`` (the reported number) = mean of ``test_acc[1]`` and ``test_acc[2]``, the other two runs.

The search therefore never sees any of the runs behind the number it reports: a cell that looks
good only through training noise in run 0 is not rewarded again in the report (no winner's curse
from selection on the same runs).  The test *images* are shared between the two numbers (the
benchmark has no other data), which is a limitation of the benchmark, not of this split.
The published three-run mean is still available as :meth:`MacroTable.published_mean` for
comparison with the literature, but is not used for search or for the reported number.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from einnas.benchmark_data import (
    MACRO_FORMAT,
    BenchmarkDataError,
    MacroRecord,
    benchmark_file,
    read_macro_json,
    resolve_benchmark_dir,
)
from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.spaces.tabular import TabularBenchmark

__all__ = ["NUM_CHOICES", "NUM_LAYERS", "STAGES", "MacroSpace", "MacroTable"]

NUM_LAYERS = 8
NUM_CHOICES = 3
STAGES: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3, 4), (5, 6, 7))
"""Layer positions of each stage (inferred from the table; see the module docstring)."""
MACRO_FILE = "nasbench_macro/nas-bench-macro_cifar10.json"


class MacroSpace(SlotSpace):
    """The NAS-Bench-Macro space: 8 layers, choices ``0`` / ``1`` / ``2`` each."""

    def __init__(self) -> None:
        super().__init__([NUM_CHOICES] * NUM_LAYERS, name="nasbench-macro")

    def to_text(self, arch: Sequence[int]) -> str:
        """The 8-digit string, e.g. ``01201210``."""
        return "".join(str(v) for v in self.validate(arch))

    def from_text(self, text: str) -> SlotArch:
        """Parse the 8-digit string (surrounding whitespace is ignored)."""
        if not isinstance(text, str):
            raise SearchSpaceError(
                f"nasbench-macro: expected text, got {type(text).__name__} {text!r}"
            )
        body = text.strip()
        if len(body) != NUM_LAYERS or any(c not in "012" for c in body):
            raise SearchSpaceError(
                f"nasbench-macro: cannot parse {text!r}; expected {NUM_LAYERS} digits each in "
                "{0, 1, 2}, e.g. '01201210'"
            )
        return tuple(int(c) for c in body)

    def identity(self, arch: Sequence[int]) -> str:
        """Canonical text: identity layers moved to the end of their stage (3,969 classes)."""
        values = self.validate(arch)
        out: list[int] = []
        for stage in STAGES:
            out.append(values[stage[0]])
            blocks = [values[p] for p in stage[1:] if values[p] != 0]
            out.extend(blocks + [0] * (len(stage) - 1 - len(blocks)))
        return "".join(str(v) for v in out)


_SPACE = MacroSpace()


class MacroTable(TabularBenchmark):
    """NAS-Bench-Macro CIFAR-10 results; see the module docstring for ``val`` / ``test``."""

    space: MacroSpace

    def __init__(self, records: dict[SlotArch, MacroRecord]) -> None:
        space = _SPACE
        n = space.size()
        val = np.empty(n)
        test = np.empty(n)
        mean = np.empty(n)
        params = np.zeros(n, dtype=np.int64)
        flops = np.zeros(n, dtype=np.int64)
        for arch, rec in records.items():
            i = space.index(arch)
            val[i] = rec.test_acc[0]
            test[i] = 0.5 * (rec.test_acc[1] + rec.test_acc[2])
            mean[i] = rec.mean_acc
            params[i] = rec.params
            flops[i] = rec.flops
        super().__init__(space, "nasbench-macro/cifar10", "cifar10", val, test)
        self._mean = mean
        self._params = params
        self._flops = flops

    @classmethod
    def load(cls, dataset: str = "cifar10", benchmark_dir: str | Path | None = None) -> MacroTable:
        """Load (cached per folder) the CIFAR-10 table; ``dataset`` must be ``cifar10``."""
        if dataset.strip().lower().replace("-", "") != "cifar10":
            raise SearchSpaceError(f"nasbench-macro has results for cifar10 only, not {dataset!r}")
        return _load_macro_table(resolve_benchmark_dir(benchmark_dir))

    def published_mean(self, arch: Sequence[int]) -> float:
        """The benchmark's own mean test accuracy over the 3 runs (for literature comparison)."""
        return float(self._mean[self.space.index(arch)])

    def params(self, arch: Sequence[int]) -> int:
        """Parameter count."""
        return int(self._params[self.space.index(arch)])

    def flops(self, arch: Sequence[int]) -> int:
        """FLOPs."""
        return int(self._flops[self.space.index(arch)])

    def metrics_of(self, arch: Sequence[int]) -> dict[str, float]:
        """``params`` and ``flops`` as the benchmark records them (multi-objective search)."""
        i = self.space.index(arch)
        return {"params": float(self._params[i]), "flops": float(self._flops[i])}


@lru_cache(maxsize=4)
def _load_macro_table(folder: Path) -> MacroTable:
    path = benchmark_file(MACRO_FILE, folder)
    raw = read_macro_json(path)
    records: dict[SlotArch, MacroRecord] = {}
    for text, rec in raw.items():
        try:
            records[_SPACE.from_text(text)] = rec
        except SearchSpaceError as exc:
            raise BenchmarkDataError(
                f"{MACRO_FILE}: expected {MACRO_FORMAT}; bad key: {exc} (file {str(path)!r})"
            ) from exc
    n = _SPACE.size()
    if len(records) != n:
        missing = next(a for a in _SPACE.all_archs() if a not in records)
        raise BenchmarkDataError(
            f"{MACRO_FILE}: expected {MACRO_FORMAT} covering all {n} architectures; "
            f"{n - len(records)} are missing (e.g. {_SPACE.to_text(missing)}) "
            f"(file {str(path)!r})"
        )
    return MacroTable(records)
