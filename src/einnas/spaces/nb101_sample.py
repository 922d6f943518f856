"""NAS-Bench-101 as 26 decision slots, and the 500-cell sample of ``nb101_sample/``.

The slot view
-------------
A NAS-Bench-101 cell is a DAG on 7 vertices (0 = input, 6 = output) given by an upper-triangular
7x7 adjacency matrix and one operation per vertex.  :class:`NB101CellSpace` writes it as ``m = 26``
decision slots:

* slots 0..20: the 21 upper-triangular adjacency bits ``(i, j)``, ``i < j``, in row-major order
  (``(0,1), (0,2), ..., (0,6), (1,2), ..., (5,6)``; :data:`EDGES`), 2 choices each;
* slots 21..25: the op of inner vertices 1..5, 3 choices each: ``0`` = ``maxpool3x3``,
  ``1`` = ``conv1x1-bn-relu``, ``2`` = ``conv3x3-bn-relu`` (:data:`OPS`).

The one-hot encoding has ``21 * 2 + 5 * 3 = 57`` features and the edit distance counts differing
slots (one flipped edge or one changed op is one edit), as ``spec/delta-nas.md`` defines.  The input
and output ops are fixed and not slots.

The data's form (checked on load, and by the tests): keys are 56-int tuples, the 49 adjacency bits
row-major followed by 7 op codes in NASLib's numbering (``0`` input, ``1`` output, ``2``
maxpool3x3, ``3`` conv1x1-bn-relu, ``4`` conv3x3-bn-relu); every one of the 500 cells has code 0 at
vertex 0, code 1 at vertex 6, inner codes in {2, 3, 4}, and a zero diagonal and lower triangle.
So slot op index = file code - 2.  The text form of an architecture is that tuple string, exactly
as the file writes its keys: ``(0, 1, 1, ..., 4, 1)``.

Identity (deduplication).  The sample stores the *unpruned* matrices NASLib drew (up to 16 edges),
while NAS-Bench-101 trains the *pruned* cell: vertices not on an input->output path and their
edges are removed.  :meth:`NB101CellSpace.identity` prunes the cell and returns its canonical
form under relabelling of the inner vertices (the lexicographically smallest adjacency + ops over
all permutations), so equal identities mean the same network.  The 500 cells fall into 292
classes (55 cells prune to the bare input->output edge); within a class the file records one of
NAS-Bench-101's three training runs, so values of one class differ by training noise only.  The
slot edit distance is computed on the unpruned slots (dead edges count): it is the geometry the
spec asks for, not a functional distance.

What it is, and what it is not
------------------------------
:class:`NB101CellSpace` is a :class:`~einnas.spaces.slots.SlotSpace` -- the slot geometry (encoding,
edit distance, text, identity) of all ``2**21 * 3**5`` unpruned cells.  Its inherited ``sample``,
``mutate`` and ``neighbours`` range over all of those, most of which are *not in the sample* (and
many are not valid NAS-Bench-101 cells: no input->output path, or more than 9 edges after
pruning; see :meth:`NB101CellSpace.is_valid`).  There is no table for them, so this space is not
offered to ``search`` or ``bench``: the sample's closest pairs are 4 edits apart, so a local search
would find no evaluated neighbour.  :class:`NB101Sample` is the table of the 500 cells, with
:meth:`NB101Sample.draw` to pick among them; it serves predictor diagnostics
(``einnas diagnose-doa --space nb101-sample``) and tests.  Licence of the data: Apache-2.0 (NASLib).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from einnas.benchmark_data import (
    NB101_SAMPLE_FORMAT,
    BenchmarkDataError,
    NB101SampleRecord,
    benchmark_file,
    read_nb101_sample_json,
    resolve_benchmark_dir,
)
from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace

__all__ = [
    "EDGES",
    "MAX_EDGES",
    "NB101_SAMPLE_FILE",
    "NUM_VERTICES",
    "OPS",
    "NB101CellSpace",
    "NB101Sample",
]

NUM_VERTICES = 7
MAX_EDGES = 9
"""NAS-Bench-101's limit on the edges of a (pruned) cell."""

EDGES: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(NUM_VERTICES) for j in range(i + 1, NUM_VERTICES)
)
"""Adjacency bit ``(source, target)`` of slots 0..20, row-major."""

OPS: tuple[str, ...] = ("maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
"""Inner-vertex op of choice index ``k`` (the file's op code is ``k + 2``)."""

INPUT_CODE, OUTPUT_CODE, FIRST_OP_CODE = 0, 1, 2
"""The file's op codes of the input and output vertices, and of ``OPS[0]``."""

NB101_SAMPLE_FILE = "nb101_sample/zc_nasbench101_sample.json"

_NUM_INNER = NUM_VERTICES - 2
_TUPLE_LENGTH = NUM_VERTICES * NUM_VERTICES + NUM_VERTICES
_TEXT_FORM = (
    "a tuple of 56 ints: 49 adjacency bits (7x7 row-major, upper triangle only) then 7 op codes "
    "(0 = input first, 1 = output last, inner ones 2 = maxpool3x3, 3 = conv1x1, 4 = conv3x3)"
)


@lru_cache(maxsize=NUM_VERTICES + 1)
def _relabellings(n: int) -> npt.NDArray[np.int64]:
    """Every order of the inner vertices of an ``n``-vertex cell (input first, output last)."""
    inner = range(1, n - 1)
    rows = [(0, *p, n - 1) for p in itertools.permutations(inner)] if n > 1 else [(0,)]
    return np.asarray(rows, dtype=np.int64)


@lru_cache(maxsize=1 << 16)
def _identity_of(arch: SlotArch) -> str:
    pruned = _prune(arch)
    if pruned is None:
        return "invalid:" + _tuple_text(arch)
    matrix, ops = pruned
    n = len(ops)
    perms = _relabellings(n)
    adjacency = matrix[perms[:, :, None], perms[:, None, :]].reshape(len(perms), n * n)
    keys = np.concatenate([adjacency, ops[perms]], axis=1)
    best = keys[np.lexsort(keys.T[::-1])[0]]
    bits = "".join(str(int(b)) for b in best[: n * n])
    codes = "".join(str(int(c)) for c in best[n * n :])
    return f"{n}:{bits}:{codes}"


def _matrix(arch: SlotArch) -> npt.NDArray[np.int64]:
    matrix = np.zeros((NUM_VERTICES, NUM_VERTICES), dtype=np.int64)
    for (i, j), bit in zip(EDGES, arch):
        matrix[i, j] = bit
    return matrix


def _op_codes(arch: SlotArch) -> npt.NDArray[np.int64]:
    inner = [FIRST_OP_CODE + k for k in arch[len(EDGES) :]]
    return np.asarray([INPUT_CODE, *inner, OUTPUT_CODE], dtype=np.int64)


def _prune(arch: SlotArch) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The cell without vertices off every input->output path, or ``None`` when there is none."""
    matrix = _matrix(arch)
    from_input = {0}
    for i in range(NUM_VERTICES):
        if i in from_input:
            from_input.update(int(j) for j in np.flatnonzero(matrix[i]))
    to_output = {NUM_VERTICES - 1}
    for j in range(NUM_VERTICES - 1, -1, -1):
        if j in to_output:
            to_output.update(int(i) for i in np.flatnonzero(matrix[:, j]))
    keep = sorted(from_input & to_output)
    if 0 not in keep or NUM_VERTICES - 1 not in keep:
        return None
    return matrix[np.ix_(keep, keep)], _op_codes(arch)[keep]


def _tuple_text(arch: SlotArch) -> str:
    values = [*_matrix(arch).reshape(-1).tolist(), *_op_codes(arch).tolist()]
    return "(" + ", ".join(str(v) for v in values) + ")"


class NB101CellSpace(SlotSpace):
    """NAS-Bench-101 cells as 21 binary edge slots + 5 ternary op slots (see the module docstring)."""

    edges: tuple[tuple[int, int], ...] = EDGES
    ops: tuple[str, ...] = OPS

    def __init__(self) -> None:
        super().__init__([2] * len(EDGES) + [len(OPS)] * _NUM_INNER, name="nb101")

    def matrix(self, arch: Sequence[int]) -> npt.NDArray[np.int64]:
        """The unpruned 7x7 adjacency matrix."""
        return _matrix(self.validate(arch))

    def op_names(self, arch: Sequence[int]) -> tuple[str, ...]:
        """The op of each of the 7 vertices, ``input`` and ``output`` included."""
        values = self.validate(arch)
        return ("input", *(OPS[k] for k in values[len(EDGES) :]), "output")

    def from_tuple(self, values: Sequence[int]) -> SlotArch:
        """The architecture of a 56-int tuple in the data file's form (checked)."""
        text = repr(tuple(values))
        if len(values) != _TUPLE_LENGTH:
            raise SearchSpaceError(
                f"nb101: {text} has {len(values)} entries; expected {_TEXT_FORM}"
            )
        matrix = np.asarray(values[: NUM_VERTICES * NUM_VERTICES]).reshape(NUM_VERTICES, -1)
        codes = list(values[NUM_VERTICES * NUM_VERTICES :])
        if not np.isin(matrix, (0, 1)).all() or np.tril(matrix).any():
            raise SearchSpaceError(
                f"nb101: {text}: adjacency bits must be 0/1 and strictly upper-triangular; "
                f"expected {_TEXT_FORM}"
            )
        inner = codes[1:-1]
        if codes[0] != INPUT_CODE or codes[-1] != OUTPUT_CODE:
            raise SearchSpaceError(
                f"nb101: {text}: op codes {codes} must start with {INPUT_CODE} (input) and end "
                f"with {OUTPUT_CODE} (output); expected {_TEXT_FORM}"
            )
        if any(not FIRST_OP_CODE <= c < FIRST_OP_CODE + len(OPS) for c in inner):
            raise SearchSpaceError(
                f"nb101: {text}: inner op codes {inner} must be in {{2, 3, 4}}; "
                f"expected {_TEXT_FORM}"
            )
        bits = [int(matrix[i, j]) for i, j in EDGES]
        return (*bits, *(int(c) - FIRST_OP_CODE for c in inner))

    def to_tuple(self, arch: Sequence[int]) -> tuple[int, ...]:
        """The 56-int tuple of the data file (inverse of :meth:`from_tuple`)."""
        values = self.validate(arch)
        return (*_matrix(values).reshape(-1).tolist(), *_op_codes(values).tolist())

    def to_text(self, arch: Sequence[int]) -> str:
        """The data file's key, e.g. ``(0, 1, 1, 0, ..., 2, 4, 1)``."""
        return _tuple_text(self.validate(arch))

    def from_text(self, text: str) -> SlotArch:
        """Parse the data file's key form (spacing is free)."""
        if not isinstance(text, str):
            raise SearchSpaceError(f"nb101: expected text, got {type(text).__name__} {text!r}")
        body = text.strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise SearchSpaceError(f"nb101: cannot parse {text!r}: expected {_TEXT_FORM}")
        try:
            values = [int(p) for p in body[1:-1].split(",")]
        except ValueError:
            raise SearchSpaceError(f"nb101: cannot parse {text!r}: expected {_TEXT_FORM}") from None
        return self.from_tuple(values)

    def identity(self, arch: Sequence[int]) -> str:
        """Canonical form of the pruned cell (``invalid:<text>`` when input reaches no output)."""
        return _identity_of(self.validate(arch))

    def pruned_edges(self, arch: Sequence[int]) -> int | None:
        """Edges of the pruned cell, or ``None`` when no input->output path exists."""
        pruned = _prune(self.validate(arch))
        return None if pruned is None else int(pruned[0].sum())

    def is_valid(self, arch: Sequence[int]) -> bool:
        """A NAS-Bench-101 cell: an input->output path and at most 9 edges once pruned."""
        edges = self.pruned_edges(arch)
        return edges is not None and edges <= MAX_EDGES


_SPACE = NB101CellSpace()


class NB101Sample:
    """The 500 NAS-Bench-101 cells of ``nb101_sample/`` with their CIFAR-10 validation accuracy.

    Not a search space and not a :class:`~einnas.spaces.tabular.TabularBenchmark` (those cover
    every architecture of their space); see the module docstring.

    Attributes:
        space: the slot view (:class:`NB101CellSpace`).
        name: ``"nb101-sample/cifar10"``.
        dataset: ``"cifar10"``.
        archs: the cells, in file order.
    """

    space: NB101CellSpace
    name = "nb101-sample/cifar10"
    dataset = "cifar10"

    def __init__(self, records: dict[SlotArch, NB101SampleRecord]) -> None:
        self.space = _SPACE
        self.archs: tuple[SlotArch, ...] = tuple(records)
        self._records = dict(records)

    def __len__(self) -> int:
        return len(self.archs)

    def __iter__(self) -> Iterator[SlotArch]:
        return iter(self.archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._records

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} cells)"

    def record(self, arch: Sequence[int]) -> NB101SampleRecord:
        """Everything the file says about ``arch``."""
        key = self.space.validate(arch)
        try:
            return self._records[key]
        except KeyError:
            raise SearchSpaceError(
                f"nb101-sample: {self.space.to_text(key)} is not one of the {len(self)} cells of "
                "the sample (it holds no other architecture)"
            ) from None

    def val(self, arch: Sequence[int]) -> float:
        """CIFAR-10 validation accuracy (percent)."""
        return self.record(arch).val_accuracy

    def draw(self, rng: np.random.Generator, n: int = 1) -> list[SlotArch]:
        """``n`` distinct cells drawn uniformly from the sample (without replacement)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError("expected a numpy.random.Generator (np.random.default_rng(seed))")
        if not 0 <= n <= len(self):
            raise ValueError(f"cannot draw {n} of the {len(self)} cells of the sample")
        return [self.archs[int(i)] for i in rng.permutation(len(self))[:n]]

    @classmethod
    def load(cls, benchmark_dir: str | Path | None = None) -> NB101Sample:
        """Load (cached per folder) ``nb101_sample/zc_nasbench101_sample.json``.

        Raises:
            einnas.benchmark_data.BenchmarkDataError: the folder or file is missing, or a key is
                not a NAS-Bench-101 cell of the expected form.
        """
        return _load_sample(resolve_benchmark_dir(benchmark_dir))


@lru_cache(maxsize=4)
def _load_sample(folder: Path) -> NB101Sample:
    path = benchmark_file(NB101_SAMPLE_FILE, folder)
    raw = read_nb101_sample_json(path)
    records: dict[SlotArch, NB101SampleRecord] = {}
    for key, record in raw.items():
        try:
            arch = _SPACE.from_text(key)
        except SearchSpaceError as exc:
            raise BenchmarkDataError(
                f"{NB101_SAMPLE_FILE}: expected {NB101_SAMPLE_FORMAT}; bad key: {exc} "
                f"(file {str(path)!r})"
            ) from exc
        if arch in records:
            raise BenchmarkDataError(
                f"{NB101_SAMPLE_FILE}: the cell {key} is listed twice (file {str(path)!r})"
            )
        records[arch] = record
    return NB101Sample(records)
