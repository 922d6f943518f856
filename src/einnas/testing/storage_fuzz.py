"""Damaged log files for fuzzing: build a valid log, damage its bytes, read it back.

Used by ``benchmarks/fuzz.py`` (the ``storage`` target) and by the hypothesis test in
``tests/study``.  Reading a damaged file (open, list the studies, read every study's trials and
events) must either succeed or raise :class:`~einnas.study.storage.StorageError`; any other
exception is a bug.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from einnas.study.events import TrialOutcome, TrialReport, TrialStart
from einnas.study.factory import open_storage
from einnas.study.storage import StorageError

__all__ = ["KINDS", "damage", "read_damaged", "valid_log_bytes"]

KINDS = ("sqlite", "journal")
_SUFFIX = {"sqlite": ".db", "journal": ".jsonl"}
_cache: dict[str, bytes] = {}


def valid_log_bytes(kind: str) -> bytes:
    """The bytes of a small valid log: two studies, trials of every state, reports, events."""
    if kind in _cache:
        return _cache[kind]
    with tempfile.TemporaryDirectory(prefix="einnas-fuzz-log-") as tmp:
        path = Path(tmp) / f"log{_SUFFIX[kind]}"
        st = open_storage(str(path))
        for name in ("a", "b"):
            st.create_study(name, {"space": "x", "budget": 10, "name": name})
            st.append_study_event(name, "budget", {"budget": 12, "previous": 10})
            for i in range(6):
                t = st.start_trial(name, TrialStart(f"arch-{i}", f"h{i}", seed=i))
                st.report(name, t.number, TrialReport(1, 0.1 * i, {"loss": 1.0}))
                if i % 3 == 0:
                    st.finish_trial(name, t.number, TrialOutcome.complete(0.5 + i / 100))
                elif i % 3 == 1:
                    st.finish_trial(name, t.number, TrialOutcome.failed(f"err {i}"))
            st.abandon_running(name)
        st.close()
        data = path.read_bytes()
    _cache[kind] = data
    return data


def damage(data: bytes, op: str, a: int, b: int, garbage: bytes) -> bytes:
    """``data`` damaged by ``op``: truncate, flip (a bit), overwrite, insert, append, zero."""
    n = len(data)
    if n == 0:
        return garbage
    i = a % n
    if op == "truncate":
        return data[:i]
    if op == "flip":
        return data[:i] + bytes([data[i] ^ (1 << (b % 8))]) + data[i + 1 :]
    if op == "overwrite":
        return data[:i] + garbage + data[i + len(garbage) :]
    if op == "insert":
        return data[:i] + garbage + data[i:]
    if op == "append":
        return data + garbage
    if op == "zero":
        j = min(n, i + 1 + b % 4096)
        return data[:i] + bytes(j - i) + data[j:]
    raise ValueError(f"unknown damage {op!r}")


OPS = ("truncate", "flip", "overwrite", "insert", "append", "zero")


def read_damaged(kind: str, data: bytes) -> bool:
    """Write ``data`` as a log of ``kind`` and read everything in it.

    True if it read cleanly, False if a :class:`StorageError` said why not; anything else
    propagates.
    """
    with tempfile.TemporaryDirectory(prefix="einnas-fuzz-log-") as tmp:
        path = os.path.join(tmp, f"log{_SUFFIX[kind]}")
        with open(path, "wb") as f:
            f.write(data)
        st = open_storage(path)
        try:
            for study in st.list_studies():
                st.trials(study.name)
                st.study_events(study.name)
        except StorageError:
            return False
        finally:
            st.close()
    return True
