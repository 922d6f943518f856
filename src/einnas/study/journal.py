"""The journal backend: the log as a JSON-lines file, for shared file systems.

SQLite's locking is unreliable on network file systems (NFS, Lustre, ...);
an append-only text file guarded by ``flock`` is not. One line per entry::

    {"study": 1, "name": "s", "config": "{...}", "at": 1.7e9}       -- a study
    {"id": 1, "kind": "start", "body": "{...}", "at": 1.7e9}        -- a record

Writers hold an exclusive ``flock`` on the file for the whole transaction,
write all its lines with one ``write`` and ``fsync`` before releasing it;
readers hold a shared lock. A line without its newline was torn by a writer
that died mid-write: readers ignore it and the next writer cuts it off (it was
never acknowledged). The parsed file is cached per process and only the bytes
after the last complete line are read again. Picklable (the file is reopened,
also after a ``fork``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from einnas.study.storage import (
    Clock,
    CorruptLogError,
    DuplicateStudyError,
    Record,
    Storage,
    StorageFileError,
    StudyRow,
)

__all__ = ["JournalStorage"]


def _no_write_bits(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


class JournalStorage(Storage):
    """The append-only log in one JSON-lines file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock = time.time) -> None:
        self._path = os.path.abspath(os.fspath(path))
        super().__init__(clock=clock)
        self._init_file_state()

    def _init_file_state(self) -> None:
        self._io_lock = threading.RLock()
        self._fd: int | None = None
        self._pid: int | None = None
        self._offset = 0  # bytes parsed so far (always at a line boundary)
        self._line = 0  # complete lines parsed so far
        self._readonly = False
        self._rows: list[StudyRow] = []
        self._logs: dict[int, list[Record]] = {}
        self._locked = False

    @property
    def path(self) -> str:
        """Absolute path of the journal file."""
        return self._path

    def __repr__(self) -> str:
        return f"JournalStorage({self._path!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self._path, "clock": self._clock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._path = state["path"]
        self._clock = state["clock"]
        self._reset_cache()
        self._init_file_state()

    def close(self) -> None:
        """Close this process's file descriptor (a later call reopens it)."""
        with self._io_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
            self._pid = None

    # -- file ------------------------------------------------------------------

    def _file(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            # a descriptor inherited through fork() shares its lock with the parent: reopen
            parent = os.path.dirname(self._path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            if os.path.isdir(self._path):
                raise StorageFileError(
                    f"{self._path} is a directory, not an einnas journal: give a file path to "
                    "--storage"
                )
            try:
                if _no_write_bits(self._path):  # an archived log (root could write it anyway)
                    raise PermissionError(f"{self._path} has no write permission bits")
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                self._readonly = False
            except OSError as exc:
                if not os.path.isfile(self._path):
                    raise StorageFileError(
                        f"{self._path} cannot be created ({exc}): check that its folder exists "
                        "and can be written"
                    ) from None
                try:  # read-only media or no write permission: it can still be read
                    self._fd = os.open(self._path, os.O_RDONLY)
                except OSError as exc2:
                    raise StorageFileError(f"{self._path} cannot be opened ({exc2})") from None
                self._readonly = True
            self._pid = pid
        return self._fd

    @contextlib.contextmanager
    def _flock(self, kind: int) -> Iterator[int]:
        with self._io_lock:
            fd = self._file()
            if self._locked:  # nested inside our own exclusive lock
                yield fd
                return
            fcntl.flock(fd, kind)
            self._locked = True
            try:
                yield fd
            finally:
                self._locked = False
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _refresh(self, fd: int) -> int:
        """Parse the complete lines added since the last call; return the file size."""
        size = os.fstat(fd).st_size
        if size > self._offset:
            data = os.pread(fd, size - self._offset, self._offset)
            end = data.rfind(b"\n") + 1  # an unterminated last line is ignored (torn)
            for line in data[:end].split(b"\n")[:-1]:
                if line.strip():
                    try:
                        entry = json.loads(line)
                        if not isinstance(entry, dict):
                            raise TypeError(f"a JSON {type(entry).__name__}, not an object")
                        self._parse(entry)
                    except (ValueError, KeyError, TypeError) as exc:
                        raise CorruptLogError(
                            f"{self._path}, line {self._line + 1}: not a journal entry "
                            f"({type(exc).__name__}: {exc}); the file is damaged: restore it from "
                            "a backup, or cut it before that line to keep what precedes it"
                        ) from None
                self._offset += len(line) + 1
                self._line += 1
        return size

    def _parse(self, entry: dict[str, Any]) -> None:
        if "study" in entry:
            sid = int(entry["study"])
            name, config = entry["name"], entry["config"]
            if not isinstance(name, str) or not isinstance(config, str) or sid in self._logs:
                raise ValueError("a malformed study entry")
            self._rows.append(StudyRow(sid, name, config, float(entry["at"])))
            self._logs[sid] = []
        else:
            kind, body = entry["kind"], entry["body"]
            if not isinstance(kind, str) or not isinstance(body, str):
                raise ValueError("a malformed record entry")
            self._logs[int(entry["id"])].append(Record(kind, body, float(entry["at"])))

    def _write_lines(self, fd: int, lines: Sequence[dict[str, Any]]) -> None:
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in lines).encode()
        if self._readonly:
            raise StorageFileError(
                f"{self._path} is opened read-only (read-only media or no write permission): it "
                "can be read, not written; copy it somewhere writable to continue"
            )
        try:
            os.lseek(fd, self._offset, os.SEEK_SET)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write (disk full?)")
            os.fsync(fd)
        except OSError as exc:
            # cut what was half-written: the log stays as it was before this write
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._offset)
            if exc.errno == 28:
                raise StorageFileError(
                    f"{self._path}: the disk is full ({exc}); free some space and rerun the same "
                    "command (everything logged before is kept)"
                ) from None
            raise StorageFileError(f"{self._path} cannot be written ({exc})") from None
        self._offset += len(data)
        self._line += len(lines)

    # -- backend primitives ----------------------------------------------------

    @contextlib.contextmanager
    def _backend_transaction(self) -> Iterator[None]:
        with self._flock(fcntl.LOCK_EX) as fd:
            if self._refresh(fd) > self._offset and not self._readonly:
                os.ftruncate(fd, self._offset)  # a torn line left by a dead writer
            yield

    def _backend_create_study(self, name: str, config: str, created_at: float) -> int:
        if any(row.name == name for row in self._rows):
            raise DuplicateStudyError(f"a study named {name!r} already exists in {self._path}")
        sid = len(self._rows) + 1
        entry = {"study": sid, "name": name, "config": config, "at": created_at}
        self._write_lines(self._file(), [entry])
        self._parse(entry)
        return sid

    def _backend_studies(self) -> list[StudyRow]:
        with self._flock(fcntl.LOCK_SH) as fd:
            self._refresh(fd)
            return list(self._rows)

    def _backend_read(self, study_id: int, cursor: int) -> tuple[list[Record], int]:
        with self._flock(fcntl.LOCK_SH) as fd:
            self._refresh(fd)
            log = self._logs[study_id]
            return log[cursor:], len(log)

    def _backend_append(self, study_id: int, records: Sequence[Record]) -> int:
        entries = [{"id": study_id, "kind": r.kind, "body": r.body, "at": r.at} for r in records]
        self._write_lines(self._file(), entries)
        log = self._logs[study_id]
        log.extend(records)
        return len(log)
