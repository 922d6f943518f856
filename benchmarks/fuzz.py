"""Fuzz the architecture-text parser, the Unseen-NAS folder loader and the trial-log readers.

Targets:

* ``parser`` — ``einnas.grammar.parse`` on ``--parser-n`` inputs (default 100,000): random bytes
  (decoded as UTF-8 with replacement, or Latin-1), random token soups, mutations of valid texts
  (sampled trees and the seeds: truncations, insertions, deletions, replacements), deep nesting
  (up to 3,000 levels) and huge integers (up to 10,000 digits).  Expected: a tree or
  ``ParseError``; an accepted tree is also analysed (``InvalidArchitecture`` expected).
* ``data`` — ``einnas.data.load_folder`` on ``--data-n`` generated folders (default 300; each
  writes six ``.npy`` files): random dtypes (numeric, complex, strings, datetimes, objects),
  shapes, hostile values (NaN, inf, values near and beyond float32's range, huge labels),
  missing files and truncated or random-byte files.  Expected: a data set or ``DatasetError``.

* ``storage`` — a valid trial log (an SQLite file and a JSON-lines journal, in turn) damaged
  ``--storage-n`` times (default 400): truncations, bit flips, garbage overwritten, inserted or
  appended, zeroed runs; then opened, its studies listed and every trial and event read.
  Expected: the contents or a ``StorageError`` (no raw ``sqlite3.DatabaseError`` or
  ``JSONDecodeError``).

Every input runs under a 5 s alarm.  A *traceback* is any other exception (must be 0); a *hang*
is an input still running after 5 s (must be 0).  Inputs come from a seeded numpy Generator, so
a run is reproducible from ``--seed``; the first few failing inputs are listed in ``examples``.

Usage::

    python benchmarks/fuzz.py                        # 100,000 parser inputs, 300 folders
    python benchmarks/fuzz.py --parser-n 20000 --data-n 100 --storage-n 1000 --seed 1

Prints one JSON line: ``{"seed", "targets": {"parser": {...}, "data": {...}, "storage": ...}}`` where each
target has ``inputs``, ``tracebacks``, ``hangs``, ``accepted``, ``seconds`` and ``inputs_per_s``
(and ``examples``: the first failures, repr-truncated).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from einnas.data import DatasetError, load_folder
from einnas.grammar import (
    Grammar,
    InvalidArchitecture,
    ParseError,
    analyze,
    input_feature,
    parse,
    pretty,
    sample_tree,
    to_text,
)
from einnas.seeds import seed_text
from einnas.testing.storage_fuzz import KINDS, OPS, damage, read_damaged, valid_log_bytes

HANG_SECONDS = 5
TOKENS = [
    "[", "]", "(", ")", ",", " ", "\n", "\t", "-", "-1", "0", "1", "2", "3", "4", "8", "64",
    "sequential", "branching", "routing", "computation", "clone", "group", "cat", "add",
    "dot_product", "scaled_dot_product", "identity", "permute", "im2col", "col2im", "linear",
    "linear64", "linear_x4", "linear_div2", "norm", "leakyrelu", "softmax", "pos_enc", "conv1d",
    "\x00", "\ufffd", "é", "#", "linear" + "9" * 30,
]  # fmt: skip
LEAF = "computation[identity]"


class _Hang(Exception):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Hang


def _valid_texts(rng: np.random.Generator) -> list[str]:
    texts = [seed_text(name) for name in ("resnet18", "wrn16_4", "vit", "mlp_mixer", "cnn1d")]
    for shape in ((3, 28, 28), (1, 40)):
        grammar = Grammar.for_input(shape)
        texts += [to_text(sample_tree(grammar, input_feature(shape), rng)) for _ in range(20)]
    texts += [pretty(parse(t)) for t in texts[:3]]
    return texts


def parser_inputs(rng: np.random.Generator, n: int) -> Iterator[str]:
    valid = _valid_texts(rng)
    for _ in range(n):
        kind = int(rng.integers(8))
        text = valid[int(rng.integers(len(valid)))]
        i = int(rng.integers(len(text) + 1))
        if kind == 0:  # random bytes
            raw = rng.integers(0, 256, size=int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
            yield (
                raw.decode("utf-8", errors="replace")
                if rng.random() < 0.5
                else raw.decode("latin-1")
            )
        elif kind == 1:  # token soup
            yield "".join(TOKENS[int(k)] for k in rng.integers(len(TOKENS), size=rng.integers(60)))
        elif kind == 2:  # truncation
            yield text[:i]
        elif kind == 3:  # insertion
            yield text[:i] + TOKENS[int(rng.integers(len(TOKENS)))] + text[i:]
        elif kind == 4:  # deletion
            yield text[:i] + text[i + int(rng.integers(1, 30)) :]
        elif kind == 5:  # replacement of one character
            yield text[:i] + chr(int(rng.integers(32, 127))) + text[i + 1 :]
        elif kind == 6:  # deep nesting, balanced or not
            depth = int(rng.integers(1, 3000))
            inner = text if rng.random() < 0.5 else LEAF
            close = depth if rng.random() < 0.7 else int(rng.integers(depth + 1))
            yield "sequential[" * depth + inner + f", {LEAF}]" * close
        else:  # huge integers
            yield text[:i] + "7" * int(rng.integers(1, 10_000)) + text[i:]


def _parse_target(text: str) -> bool:
    try:
        tree = parse(text)
    except ParseError:
        return False
    with contextlib.suppress(InvalidArchitecture):
        analyze(tree, (3, 28, 28))
    return True


DTYPES = [
    "float32", "float64", "float16", "int8", "uint8", "int64", "uint64", "bool", "complex64",
    "U2", "datetime64[s]", "object",
]  # fmt: skip
HOSTILE = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e300, 1e-300, 1e-45, 2e6, -1.0, 2.0**63, 0.5]
SIZES = {"train": 12, "valid": 6, "test": 6}


def _array(rng: np.random.Generator, kind: str, n: int, hostile: bool) -> np.ndarray:
    if kind == "x":
        shapes = [(n, 1, 6), (n, 2, 3, 3)]
        if hostile:
            shapes += [(n, 6), (n, 1, 0), (n - 1, 1, 6), (n, 1, 2, 2, 2)]
        values = rng.normal(size=shapes[int(rng.integers(len(shapes)))])
    else:
        shapes = [(n,), (n, 1)] + ([(n, 2), (n + 1,)] if hostile else [])
        values = (rng.integers(0, 3, size=shapes[int(rng.integers(len(shapes)))])).astype(float)
    if not hostile:
        return values.astype(np.float32) if kind == "x" else values.astype(np.int64)
    for _ in range(int(rng.integers(0, 3))):
        if values.size:
            values.flat[int(rng.integers(values.size))] = HOSTILE[int(rng.integers(len(HOSTILE)))]
    if rng.random() < 0.3:
        with np.errstate(all="ignore"):
            values *= 10.0 ** float(rng.integers(-320, 300))
    dtype = DTYPES[int(rng.integers(len(DTYPES)))]
    try:
        with np.errstate(all="ignore"):
            return values.astype(dtype)
    except (ValueError, OverflowError, TypeError):
        return values


def data_inputs(rng: np.random.Generator, n: int) -> Iterator[dict[str, Any]]:
    for _ in range(n):
        files: dict[str, Any] = {}
        for split, size in SIZES.items():
            for kind in ("x", "y"):
                choice = str(
                    rng.choice(
                        ["valid", "hostile", "missing", "junk", "cut"],
                        p=[0.75, 0.16, 0.03, 0.03, 0.03],
                    )
                )
                files[f"{split}_{kind}"] = (choice, _array(rng, kind, size, choice == "hostile"))
        files["junk"] = rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8)
        yield files


def _write_folder(root: Path, files: dict[str, Any]) -> None:
    junk = files["junk"].tobytes()
    for key, entry in files.items():
        if key == "junk":
            continue
        choice, array = entry
        path = root / f"{key}.npy"
        if choice == "missing":
            continue
        if choice == "junk":
            path.write_bytes(b"\x93NUMPY" + junk)
            continue
        np.save(path, array, allow_pickle=True)
        if choice == "cut":
            data = path.read_bytes()
            path.write_bytes(data[: max(1, len(data) // 2)])


def _data_target(files: dict[str, Any]) -> bool:
    with tempfile.TemporaryDirectory(prefix="einnas-fuzz-") as tmp:
        _write_folder(Path(tmp), files)
        try:
            data = load_folder(tmp, normalise=bool(len(files["junk"]) % 2))
        except DatasetError:
            return False
    for x, y in (
        (data.train_x, data.train_y),
        (data.val_x, data.val_y),
        (data.test_x, data.test_y),
    ):
        assert x.dtype == np.float32 and np.isfinite(x).all(), "non-finite float32 inputs"
        assert y.min() >= 0 and y.max() < data.num_classes, "label out of range"
    return True


def storage_inputs(rng: np.random.Generator, n: int) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        data = valid_log_bytes(kind)
        for _ in range(int(rng.integers(1, 4))):  # one to three damages on top of each other
            op = OPS[int(rng.integers(len(OPS)))]
            garbage = rng.bytes(int(rng.integers(1, 64)))
            if rng.random() < 0.3:  # text-like garbage: JSON fragments, newlines
                garbage = bytes(rng.choice(list(b'{}[]":,\n0123456789abc'), len(garbage)))
            a, b = (int(x) for x in rng.integers(0, 1 << 30, 2))
            data = damage(data, op, a, b, garbage)
        yield kind, data


def _storage_target(value: tuple[str, bytes]) -> bool:
    return read_damaged(*value)


def run_target(
    inputs: Iterator[Any], target: Callable[[Any], bool], keep: int = 3
) -> dict[str, Any]:
    tried = tracebacks = hangs = accepted = 0
    examples: list[str] = []
    start = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for value in inputs:
            tried += 1
            signal.alarm(HANG_SECONDS)
            try:
                accepted += target(value)
            except _Hang:
                hangs += 1
                if len(examples) < keep:
                    examples.append(f"hang: {repr(value)[:300]}")
            except Exception:
                tracebacks += 1
                if len(examples) < keep:
                    tail = traceback.format_exc().strip().splitlines()[-1]
                    examples.append(f"{tail}: {repr(value)[:300]}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    return {
        "inputs": tried,
        "tracebacks": tracebacks,
        "hangs": hangs,
        "accepted": accepted,
        "seconds": round(seconds, 2),
        "inputs_per_s": round(tried / seconds, 1) if seconds > 0 else None,
        "examples": examples,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parser-n", type=int, default=100_000, help="parser inputs (default 100,000)")
    ap.add_argument("--data-n", type=int, default=300, help="generated folders (default 300)")
    ap.add_argument("--storage-n", type=int, default=400, help="damaged trial logs (default 400)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator (default 0)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    targets = {
        "parser": run_target(parser_inputs(rng, args.parser_n), _parse_target),
        "data": run_target(data_inputs(rng, args.data_n), _data_target),
        "storage": run_target(storage_inputs(rng, args.storage_n), _storage_target),
    }
    print(json.dumps({"seed": args.seed, "targets": targets}))
    failed = any(t["tracebacks"] or t["hangs"] for t in targets.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
