"""Opening a trial log for the read-only verbs (``trials``, ``report``, ``export``).

They never write: a missing file is an error (nothing is created), an empty file is not a log,
an unknown study names the studies the file holds, and a damaged file is one
:class:`~einnas.study.storage.StorageFileError` line (the CLI prints it, exit status 2).
"""

from __future__ import annotations

import os

from einnas.study.factory import open_storage
from einnas.study.storage import Storage, StorageFileError, UnknownStudyError
from einnas.study.study import Study

__all__ = ["load_study_for_reading", "open_log_for_reading"]


def _path_of(spec: str) -> str | None:
    if spec in ("", ":memory:"):
        return None
    if "://" in spec:
        _, _, rest = spec.partition("://")
        path = rest[1:] if rest.startswith("/") else rest
        return None if path == ":memory:" else path
    return spec


def open_log_for_reading(spec: str) -> Storage:
    """The existing trial log ``spec``; :class:`StorageFileError` if there is none."""
    path = _path_of(spec)
    if path is None:
        raise StorageFileError(
            f"--storage {spec!r} is an in-memory log, which holds no studies: give the file your "
            "search wrote (einnas search --storage FILE)"
        )
    if not os.path.exists(path):
        raise StorageFileError(
            f"no trial log at {path} (nothing was created): give the --storage file your search "
            "wrote"
        )
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise StorageFileError(f"{path} is empty: not an einnas trial log")
    return open_storage(spec)


def load_study_for_reading(spec: str, name: str | None) -> Study:
    """Study ``name`` of the log ``spec`` (the only one when ``name`` is None), read-only."""
    storage = open_log_for_reading(spec)
    names = [s.name for s in storage.list_studies()]
    listed = ", ".join(repr(n) for n in names) if names else "none"
    if name is None:
        if len(names) != 1:
            raise UnknownStudyError(f"give --study: {spec} holds {len(names)} studies ({listed})")
        name = names[0]
    if name not in names:
        raise UnknownStudyError(f"no study named {name!r} in {spec}; its studies: {listed}")
    return Study.load(storage, name)
