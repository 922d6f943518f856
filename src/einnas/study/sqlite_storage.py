"""The SQLite backend: the durable, multi-process log in one file.

One file holds many studies. Schema version 2 is one append-only log::

    schema_version(version, applied_at)                 -- one row per migration
    studies(id, name UNIQUE, config JSON, created_at)   -- "study created"
    events(seq, study_id, kind, body JSON, created_at)  -- every study's log

``events.seq`` (the rowid) orders the records; a study's log is its rows in
``seq`` order (:mod:`einnas.study.storage` gives them their meaning). Every
table is append-only: triggers abort any ``UPDATE`` or ``DELETE``.

Version 1 files (one table per kind of event: ``trial_started``,
``trial_finished``, ``study_events``) are migrated on first open: their rows
become records -- per study, the starts in number order, then the finishes in
order of ``finished_at`` (then number), then the study events -- and the old
tables stay in the file, untouched. A version 1 file that cannot be written
(read-only media, no write permission) is migrated into a private in-memory
copy and opened read-only: it can be read, writes raise :class:`StorageError`.

Durability and concurrency:

* WAL journal mode, ``PRAGMA foreign_keys=ON``, ``synchronous=FULL`` by
  default: a write is committed (and fsync'ed) before the call returns.
* Every write is one ``BEGIN IMMEDIATE`` transaction: writers from several
  processes are serialised by SQLite's lock (waiting up to ``timeout``
  seconds); the writer first reads what others appended, so trial numbers are
  allocated race-free.
* The connection is opened lazily, once per process (and re-opened after a
  ``fork``); pickling drops it, so the storage object can be sent to worker
  processes, which then reconnect to the same file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from einnas.study.storage import (
    EVENT,
    FINISH,
    START,
    Clock,
    CorruptLogError,
    DuplicateStudyError,
    Record,
    Storage,
    StorageError,
    StorageFileError,
    StudyRow,
)
from einnas.study.trial import json_dumps

__all__ = ["SCHEMA_VERSION", "SQLiteStorage"]

SCHEMA_VERSION = 2
"""Version of the schema below; recorded in ``schema_version``."""


def _append_only(*tables: str) -> tuple[str, ...]:
    return tuple(
        f"""
    CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
    BEGIN SELECT RAISE(ABORT, 'the einnas log is append-only: {op} on {table} refused'); END"""
        for table in tables
        for op in ("UPDATE", "DELETE")
    )


_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS schema_version (
        version    INTEGER PRIMARY KEY,
        applied_at REAL NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS studies (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        config     TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS events (
        seq        INTEGER PRIMARY KEY,
        study_id   INTEGER NOT NULL REFERENCES studies(id),
        kind       TEXT NOT NULL CHECK (kind IN ('start', 'finish', 'report', 'event')),
        body       TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_study ON events(study_id, seq)",
    *_append_only("schema_version", "studies", "events"),
)

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def _v1_records(conn: sqlite3.Connection) -> Iterator[tuple[int, str, str, float]]:
    """The rows of a version-1 file as ``(study_id, kind, body, at)``, in log order."""
    for (sid,) in conn.execute("SELECT id FROM studies ORDER BY id").fetchall():
        for row in conn.execute(
            "SELECT arch, arch_hash, parent, mutation, seed, proposal, started_at"
            " FROM trial_started WHERE study_id = ? ORDER BY number",
            (sid,),
        ):
            body = {
                "arch": row[0], "arch_hash": row[1], "parent": row[2], "mutation": row[3],
                "seed": row[4], "proposal": row[5], "history": None,
            }  # fmt: skip
            yield sid, START, json_dumps(body), float(row[6])
        for row in conn.execute(
            "SELECT number, state, val, test, duration, error, metrics, finished_at"
            " FROM trial_finished WHERE study_id = ? ORDER BY finished_at, number",
            (sid,),
        ):
            head = json_dumps(
                {"number": row[0], "state": row[1], "val": row[2], "test": row[3],
                 "duration": row[4], "error": row[5]}
            )  # fmt: skip
            yield sid, FINISH, f'{head[:-1]},"metrics":{row[6]}}}', float(row[7])
        for row in conn.execute(
            "SELECT kind, payload, created_at FROM study_events WHERE study_id = ? ORDER BY seq",
            (sid,),
        ):
            yield sid, EVENT, f'{{"kind":{json_dumps(row[0])},"payload":{row[1]}}}', float(row[2])


def _read_only(path: str) -> bool:
    """Can this process not write the file (or, for a new file, its folder)?"""
    if not os.path.exists(path):
        return False
    mode = os.stat(path).st_mode
    folder = os.path.dirname(path) or "."
    no_bits = not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return no_bits or not os.access(path, os.W_OK) or not os.access(folder, os.W_OK)


class NewerSchemaError(StorageFileError, RuntimeError):
    """The file was written by a newer einnas."""


def explain_sqlite_error(path: str, exc: BaseException, timeout: float = 60.0) -> StorageFileError:
    """One clear error naming the file and what to do, for a raw SQLite or OS error."""
    msg = str(exc)
    low = msg.lower()
    if os.path.isdir(path):
        return StorageFileError(
            f"{path} is a directory, not an einnas log: give a file path to --storage"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return CorruptLogError(
            f"{path} is not a readable einnas log ({msg}): the file is damaged or is not an "
            "SQLite file; restore it from a backup (einnas only appends, so an older copy holds "
            "a prefix of the log) or give another --storage"
        )
    if "full" in low or getattr(exc, "errno", None) == 28:
        return StorageFileError(
            f"{path}: the disk is full ({msg}); free some space and rerun the same command "
            "(everything logged before is kept)"
        )
    if "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        return StorageFileError(
            f"{path} cannot be written ({msg}): it is on read-only media or lacks write "
            "permission; reading it works, to continue the search copy it somewhere writable"
        )
    if "locked" in low or "busy" in low:
        return StorageFileError(
            f"{path} stayed locked by another process for {timeout:.0f} s ({msg}); wait for it "
            "or stop it, then rerun"
        )
    if "unable to open" in low or isinstance(exc, OSError):
        return StorageFileError(
            f"{path} cannot be opened ({msg}): check that its folder exists and can be read"
        )
    if "i/o" in low:
        return StorageFileError(f"{path}: disk I/O error ({msg}); check the disk or medium")
    return StorageFileError(f"{path}: SQLite error: {msg}")


class SQLiteStorage(Storage):
    """The append-only log in one SQLite file (see the module docstring).

    Args:
        path: the database file (created, with its parent folders, if missing).
        synchronous: SQLite's ``synchronous`` setting; ``"FULL"`` (default)
            fsyncs every commit, ``"NORMAL"`` is faster and still survives a
            process crash (but not a power loss) in WAL mode.
        timeout: seconds a writer waits for another process's lock.
        clock: source of the wall-clock timestamps (epoch seconds).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        timeout: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        text = os.fspath(path)
        if text in ("", ":memory:") or text.startswith("file:"):
            raise ValueError(
                f"SQLiteStorage needs a file path, got {text!r}; use InMemoryStorage for memory"
            )
        sync = synchronous.upper()
        if sync not in _SYNC_MODES:
            raise ValueError(f"synchronous must be one of {_SYNC_MODES}, got {synchronous!r}")
        self._path = os.path.abspath(text)
        self._synchronous = sync
        self._timeout = float(timeout)
        super().__init__(clock=clock)
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._conn_lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._readonly = False

    @property
    def path(self) -> str:
        """Absolute path of the database file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """True if the file was opened read-only (known after the first access)."""
        self._conn()
        return self._readonly

    def __repr__(self) -> str:
        return f"SQLiteStorage({self._path!r})"

    # -- pickling / lifetime --------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "synchronous": self._synchronous,
            "timeout": self._timeout,
            "clock": self._clock,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._path = state["path"]
        self._synchronous = state["synchronous"]
        self._timeout = state["timeout"]
        self._clock = state["clock"]
        self._reset_cache()
        self._init_process_state()

    def close(self) -> None:
        """Close this process's connection (a later call reopens it)."""
        with self._conn_lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None
            self._pid = None

    # -- connection -----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This process's connection, opened on first use (and after a fork)."""
        pid = os.getpid()
        if self._connection is None or self._pid != pid:
            # A connection inherited through fork() must not be used; drop it.
            self._connection = None
            with self._translated(damaged=True):
                self._connection = self._connect()
            self._pid = pid
        return self._connection

    @contextlib.contextmanager
    def _translated(self, *, damaged: bool = False) -> Iterator[None]:
        """Turn raw ``sqlite3`` / OS errors into one :class:`StorageFileError` naming the file.

        With ``damaged``, values that are not what the schema promises (a ``ValueError``,
        ``TypeError``, ... while reading rows) mean a damaged file too."""
        try:
            yield
        except StorageError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise explain_sqlite_error(self._path, exc, self._timeout) from None
        except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
            if not damaged:
                raise
            raise CorruptLogError(
                f"{self._path} is damaged ({type(exc).__name__}: {exc}): restore it from a "
                "backup (einnas only appends, so an older copy holds a prefix of the log)"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        if os.path.isdir(self._path):
            raise explain_sqlite_error(self._path, IsADirectoryError(self._path))
        if _read_only(self._path):
            return self._connect_read_only()
        try:
            return self._connect_read_write()
        except sqlite3.OperationalError as exc:
            # as root os.access says yes to everything: detect read-only media by trying
            low = str(exc).lower()
            writable = not ("readonly" in low or "unable to open" in low or "i/o" in low)
            if writable or not os.path.isfile(self._path):
                raise
            return self._connect_read_only()

    def _connect_read_write(self) -> sqlite3.Connection:
        parent = os.path.dirname(self._path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            self._set_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._readonly = False
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        quoted = urllib.parse.quote(self._path)
        immutable = f"file:{quoted}?mode=ro&immutable=1"
        wal = self._path + "-wal"
        if os.path.isfile(wal) and os.path.getsize(wal) > 0:
            # commits not yet copied into the file: read them through the WAL if we can
            conn = sqlite3.connect(
                f"file:{quoted}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                # no -shm can be made on read-only media: read the file as it is
                conn.close()
                conn = sqlite3.connect(
                    immutable, uri=True, isolation_level=None, check_same_thread=False
                )
        else:  # nothing beside the file: read it as it is, creating nothing
            conn = sqlite3.connect(
                immutable, uri=True, isolation_level=None, check_same_thread=False
            )
        try:
            version = self._schema_version(conn)
            if version != SCHEMA_VERSION:
                # an old file we may not migrate in place: migrate a private copy in memory
                mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                conn.backup(mem)
                conn.close()
                conn = mem
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._readonly = True
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs an exclusive lock for an instant; with several
        # processes opening a fresh file at once it may report "locked".
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise RuntimeError(f"could not put {self._path} in WAL mode (got {mode!r})")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = self._schema_version(conn)
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise NewerSchemaError(
                f"{self._path} has schema version {version}; this einnas reads "
                f"{SCHEMA_VERSION}: upgrade einnas to read it"
            )
        with self._sql_transaction(conn):
            version = self._schema_version(conn)  # another process may have migrated it
            if version == SCHEMA_VERSION:
                return
            for statement in _SCHEMA:
                conn.execute(statement)
            if version == 1:
                conn.executemany(
                    "INSERT INTO events (study_id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                    _v1_records(conn),
                )
            elif version is not None:  # pragma: no cover - there never was another version
                raise RuntimeError(f"no migration from schema version {version}")
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (SCHEMA_VERSION, self._clock()),
            )

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int | None:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            return None
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return None if row[0] is None else int(row[0])

    @staticmethod
    @contextlib.contextmanager
    def _sql_transaction(conn: sqlite3.Connection) -> Iterator[None]:
        try:  # BEGIN inside: a Ctrl-C landing just after it must not leave the transaction open
            if conn.in_transaction:  # left open by an interrupted write: nothing of it is kept
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- backend primitives ---------------------------------------------------

    @contextlib.contextmanager
    def _backend_transaction(self) -> Iterator[None]:
        with self._conn_lock:
            conn = self._conn()
            if self._readonly:
                raise StorageFileError(
                    f"{self._path} is opened read-only (read-only media or no write permission):"
                    " it can be read, not written; copy it somewhere writable to continue"
                )
            with self._translated(), self._sql_transaction(conn):
                yield

    def _backend_create_study(self, name: str, config: str, created_at: float) -> int:
        conn = self._conn()
        if conn.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone():
            raise DuplicateStudyError(f"a study named {name!r} already exists in {self._path}")
        cur = conn.execute(
            "INSERT INTO studies (name, config, created_at) VALUES (?, ?, ?)",
            (name, config, created_at),
        )
        if cur.lastrowid is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise RuntimeError("SQLite did not report the new study's id")
        return cur.lastrowid

    def _backend_studies(self) -> list[StudyRow]:
        with self._conn_lock, self._translated(damaged=True):
            rows = (
                self._conn()
                .execute("SELECT id, name, config, created_at FROM studies ORDER BY id")
                .fetchall()
            )
            return [StudyRow(int(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    def _backend_read(self, study_id: int, cursor: int) -> tuple[list[Record], int]:
        with self._conn_lock, self._translated(damaged=True):
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, kind, body, created_at FROM events"
                    " WHERE study_id = ? AND seq > ? ORDER BY seq",
                    (study_id, cursor),
                )
                .fetchall()
            )
            if not rows:
                return [], cursor
            return [Record(r[1], r[2], float(r[3])) for r in rows], int(rows[-1][0])

    def _backend_append(self, study_id: int, records: Sequence[Record]) -> int:
        conn = self._conn()
        seq = 0
        for r in records:
            cur = conn.execute(
                "INSERT INTO events (study_id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                (study_id, r.kind, r.body, r.at),
            )
            seq = int(cur.lastrowid or 0)
        return seq
