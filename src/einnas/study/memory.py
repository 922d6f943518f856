"""The in-memory backend: a study list and one list of records per study.

For tests and throw-away runs. Same semantics as the durable backends (they
share :class:`~einnas.study.storage.Storage`), including the JSON round trip of
configs and metrics. Thread-safe. Pickling copies the whole log (a child
process then writes to its own copy, not to the parent's).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

from einnas.study.storage import Clock, DuplicateStudyError, Record, Storage, StudyRow

__all__ = ["InMemoryStorage"]


class InMemoryStorage(Storage):
    """A storage that lives in this process's memory."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        super().__init__(clock=clock)
        self._rows: list[StudyRow] = []
        self._logs: dict[int, list[Record]] = {}
        self._write_lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_write_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._write_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"InMemoryStorage({len(self._rows)} studies)"

    def _backend_create_study(self, name: str, config: str, created_at: float) -> int:
        if any(row.name == name for row in self._rows):
            raise DuplicateStudyError(f"a study named {name!r} already exists")
        sid = len(self._rows) + 1
        self._rows.append(StudyRow(sid, name, config, created_at))
        self._logs[sid] = []
        return sid

    def _backend_studies(self) -> list[StudyRow]:
        return list(self._rows)

    def _backend_transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self._write_lock

    def _backend_read(self, study_id: int, cursor: int) -> tuple[list[Record], int]:
        log = self._logs[study_id]
        return log[cursor:], len(log)

    def _backend_append(self, study_id: int, records: Sequence[Record]) -> int:
        log = self._logs[study_id]
        log.extend(records)
        return len(log)
