"""``open_storage``: a storage from a URL-like spec (kept out of the base modules)."""

from __future__ import annotations

import os

from einnas.study.journal import JournalStorage
from einnas.study.memory import InMemoryStorage
from einnas.study.sqlite_storage import SQLiteStorage
from einnas.study.storage import Storage

__all__ = ["open_storage"]


def open_storage(spec: str | os.PathLike[str] | Storage | None = None) -> Storage:
    """Open a storage from a URL-like spec.

    * ``None``, ``""``, ``":memory:"`` or ``"sqlite:///:memory:"`` -> a new
      :class:`~einnas.study.memory.InMemoryStorage`;
    * ``"journal:///path"`` or a path ending in ``.jsonl`` -> a
      :class:`~einnas.study.journal.JournalStorage` (for shared file systems);
    * ``"sqlite:///relative/path.db"``, ``"sqlite:////absolute/path.db"`` or any
      other plain path (``"runs.db"``) -> :class:`~einnas.study.sqlite_storage.SQLiteStorage`;
    * a :class:`~einnas.study.storage.Storage` instance is returned as is.
    """
    if isinstance(spec, Storage):
        return spec
    if spec is None:
        return InMemoryStorage()
    text = os.fspath(spec)
    if text in ("", ":memory:"):
        return InMemoryStorage()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme not in ("sqlite", "journal"):
            raise ValueError(
                f"unsupported storage URL {text!r}: use a path, 'sqlite:///path',"
                " 'journal:///path' or ':memory:'"
            )
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"malformed storage URL {text!r}: expected '{scheme}:///path'")
        path = rest[1:]
        if scheme == "journal":
            return JournalStorage(path)
        if path == ":memory:":
            return InMemoryStorage()
        return SQLiteStorage(path)
    if text.endswith(".jsonl"):
        return JournalStorage(text)
    return SQLiteStorage(text)
