"""SQLite storage: the durable, multi-process implementation of the log.

One file holds many studies. The schema mirrors the events of
:mod:`einnas.study.storage`, one table per kind of event::

    schema_version(version, applied_at)                 -- one row per migration
    studies(id, name UNIQUE, config JSON, created_at)   -- "study created"
    study_events(seq, study_id, kind, payload JSON, created_at)
    trial_started(study_id, number, arch, arch_hash, parent, mutation, seed,
                  proposal, started_at)                 -- PK (study_id, number)
    trial_finished(study_id, number, state, val, test, metrics JSON, duration,
                   error, finished_at)                  -- PK (study_id, number)

Every table is append-only: triggers abort any ``UPDATE`` or ``DELETE``. The
primary key of ``trial_finished`` makes "finished twice" impossible even with
several writers; foreign keys tie every event to its study (and a finish, and a
parent, to an existing start). A trial's current view is the ``LEFT JOIN`` of
its start and finish rows, i.e. the replay of its events.

Durability and concurrency:

* WAL journal mode, ``PRAGMA foreign_keys=ON``, ``synchronous=FULL`` by
  default: a write is committed (and fsync'ed) before the call returns, so an
  acknowledged write survives a ``kill -9`` of the process, and a power loss.
* Every write is one ``BEGIN IMMEDIATE`` transaction: writers from several
  processes are serialised by SQLite's lock (waiting up to ``timeout``
  seconds), which makes the "next trial number" allocation race-free.
* The connection is opened lazily, once per process (and re-opened after a
  ``fork``); pickling drops it, so the storage object can be sent to worker
  processes, which then reconnect to the same file. Within a process the
  connection is shared by threads behind a lock.

The only in-process state besides the connection is a cache of study ids
(studies are never deleted, so it cannot go stale).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from einnas.study.storage import (
    Clock,
    DuplicateStudyError,
    FinishEvent,
    PreparedFinish,
    PreparedStart,
    StartEvent,
    Storage,
    TrialFinishedError,
    UnknownStudyError,
    UnknownTrialError,
    check_name,
    check_text,
    encode_config,
    encode_payload,
    interrupted_finish,
    prepare_finish,
    prepare_start,
    replay_trial,
    state_filter,
    to_int,
)
from einnas.study.trial import StudyEvent, StudyRecord, Trial, TrialState, json_loads

__all__ = ["SCHEMA_VERSION", "SQLiteStorage"]

SCHEMA_VERSION = 1
"""Version of the schema below; recorded in ``schema_version``."""

_TABLES = ("studies", "study_events", "trial_started", "trial_finished", "schema_version")

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
    CREATE TABLE IF NOT EXISTS study_events (
        seq        INTEGER PRIMARY KEY,
        study_id   INTEGER NOT NULL REFERENCES studies(id),
        kind       TEXT NOT NULL,
        payload    TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS study_events_by_study ON study_events(study_id, seq)",
    """
    CREATE TABLE IF NOT EXISTS trial_started (
        study_id   INTEGER NOT NULL REFERENCES studies(id),
        number     INTEGER NOT NULL CHECK (number >= 0),
        arch       TEXT NOT NULL,
        arch_hash  TEXT NOT NULL,
        parent     INTEGER,
        mutation   TEXT,
        seed       INTEGER,
        proposal   INTEGER NOT NULL,
        started_at REAL NOT NULL,
        PRIMARY KEY (study_id, number),
        FOREIGN KEY (study_id, parent) REFERENCES trial_started(study_id, number)
    )""",
    "CREATE INDEX IF NOT EXISTS trial_started_by_hash ON trial_started(study_id, arch_hash)",
    """
    CREATE TABLE IF NOT EXISTS trial_finished (
        study_id    INTEGER NOT NULL,
        number      INTEGER NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('complete', 'failed', 'pruned')),
        val         REAL,
        test        REAL,
        metrics     TEXT NOT NULL,
        duration    REAL,
        error       TEXT,
        finished_at REAL NOT NULL,
        PRIMARY KEY (study_id, number),
        FOREIGN KEY (study_id, number) REFERENCES trial_started(study_id, number)
    )""",
    *(
        f"""
    CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
    BEGIN SELECT RAISE(ABORT, 'the einnas log is append-only: {op} on {table} refused'); END"""
        for table in _TABLES
        for op in ("UPDATE", "DELETE")
    ),
)

_TRIAL_COLUMNS = """
    s.number, s.arch, s.arch_hash, s.parent, s.mutation, s.seed, s.proposal, s.started_at,
    f.state, f.val, f.test, f.metrics, f.duration, f.error, f.finished_at
"""
_TRIAL_FROM = """
    FROM trial_started AS s
    LEFT JOIN trial_finished AS f ON f.study_id = s.study_id AND f.number = s.number
"""

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def _row_to_trial(row: tuple[Any, ...]) -> Trial:
    start = StartEvent(*row[:8])
    if row[8] is None:
        return replay_trial(start, None)
    finish = FinishEvent(row[0], TrialState(row[8]), *row[9:15])
    return replay_trial(start, finish)


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
        self._clock = clock
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._study_ids: dict[str, int] = {}

    @property
    def path(self) -> str:
        """Absolute path of the database file."""
        return self._path

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
        self._init_process_state()

    def close(self) -> None:
        """Close this process's connection (a later call reopens it)."""
        with self._lock:
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
            self._study_ids = {}
            self._connection = self._connect()
            self._pid = pid
        return self._connection

    def _connect(self) -> sqlite3.Connection:
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
            raise RuntimeError(
                f"{self._path} has schema version {version}; this einnas reads {SCHEMA_VERSION}"
            )
        with self._transaction(conn):
            version = self._schema_version(conn)
            if version is None:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (SCHEMA_VERSION, self._clock()),
                )
            elif version != SCHEMA_VERSION:  # pragma: no cover - no migrations yet
                raise RuntimeError(f"no migration from schema version {version}")

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
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``)."""
        with self._lock:
            conn = self._conn()
            with self._transaction(conn):
                yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn()

    def _study_id(self, conn: sqlite3.Connection, name: str) -> int:
        sid = self._study_ids.get(name)
        if sid is None:
            row = conn.execute("SELECT id FROM studies WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownStudyError(f"no study named {name!r} in {self._path}")
            sid = int(row[0])
            self._study_ids[name] = sid
        return sid

    # -- studies --------------------------------------------------------------

    def create_study(self, name: str, config: Mapping[str, Any]) -> int:
        check_name(name)
        text = encode_config(config)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone():
                raise DuplicateStudyError(f"a study named {name!r} already exists in {self._path}")
            cur = conn.execute(
                "INSERT INTO studies (name, config, created_at) VALUES (?, ?, ?)",
                (name, text, self._clock()),
            )
            sid = cur.lastrowid
            if sid is None:  # pragma: no cover - sqlite always sets it after an INSERT
                raise RuntimeError("SQLite did not report the new study's id")
            self._study_ids[name] = sid
        return sid

    def get_study(self, name: str) -> StudyRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT id, name, config, created_at FROM studies WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        return StudyRecord(int(row[0]), row[1], json_loads(row[2]), float(row[3]))

    def list_studies(self) -> list[StudyRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, name, config, created_at FROM studies ORDER BY id"
            ).fetchall()
        return [StudyRecord(int(r[0]), r[1], json_loads(r[2]), float(r[3])) for r in rows]

    def append_study_event(
        self, name: str, kind: str, payload: Mapping[str, Any] | None = None
    ) -> StudyEvent:
        check_text(kind, "kind", allow_none=False)
        text = encode_payload(payload)
        now = self._clock()
        with self._write() as conn:
            sid = self._study_id(conn, name)
            conn.execute(
                "INSERT INTO study_events (study_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                (sid, kind, text, now),
            )
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM study_events WHERE study_id = ?", (sid,)
            ).fetchone()
        return StudyEvent(int(count) - 1, kind, json_loads(text), now)

    def study_events(self, name: str) -> list[StudyEvent]:
        with self._read() as conn:
            sid = self._study_id(conn, name)
            rows = conn.execute(
                "SELECT kind, payload, created_at FROM study_events WHERE study_id = ? ORDER BY seq",
                (sid,),
            ).fetchall()
        return [StudyEvent(i, r[0], json_loads(r[1]), float(r[2])) for i, r in enumerate(rows)]

    # -- trials: writes -------------------------------------------------------

    @staticmethod
    def _next_number(conn: sqlite3.Connection, sid: int) -> int:
        (n,) = conn.execute(
            "SELECT COALESCE(MAX(number) + 1, 0) FROM trial_started WHERE study_id = ?", (sid,)
        ).fetchone()
        return int(n)

    @staticmethod
    def _insert_start(conn: sqlite3.Connection, sid: int, e: StartEvent) -> None:
        conn.execute(
            "INSERT INTO trial_started (study_id, number, arch, arch_hash, parent, mutation, seed,"
            " proposal, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, e.number, e.arch, e.arch_hash, e.parent, e.mutation, e.seed, e.proposal,
             e.started_at),
        )  # fmt: skip

    @staticmethod
    def _insert_finish(conn: sqlite3.Connection, sid: int, e: FinishEvent) -> None:
        conn.execute(
            "INSERT INTO trial_finished (study_id, number, state, val, test, metrics, duration,"
            " error, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, e.number, e.state.value, e.val, e.test, e.metrics, e.duration, e.error,
             e.finished_at),
        )  # fmt: skip

    def _start(
        self, conn: sqlite3.Connection, sid: int, prep: PreparedStart, at: float
    ) -> StartEvent:
        event = prep.event(self._next_number(conn, sid), at)
        self._insert_start(conn, sid, event)
        return event

    def start_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
    ) -> Trial:
        prep = prepare_start(arch, arch_hash, parent, mutation, seed, proposal)
        with self._write() as conn:
            sid = self._study_id(conn, study)
            event = self._start(conn, sid, prep, self._clock())
        return replay_trial(event, None)

    def finish_trial(
        self,
        study: str,
        number: int,
        state: TrialState | str,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
    ) -> Trial:
        prep = prepare_finish(state, val, test, metrics, duration, error)
        n = to_int(number, "number")
        with self._write() as conn:
            sid = self._study_id(conn, study)
            row = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} {_TRIAL_FROM} WHERE s.study_id = ? AND s.number = ?",
                (sid, n),
            ).fetchone()
            if row is None:
                raise UnknownTrialError(f"study {study!r} has no trial number {number!r}")
            if row[8] is not None:
                raise TrialFinishedError(
                    f"trial {n} of study {study!r} is already {TrialState(row[8]).name}"
                )
            start = StartEvent(*row[:8])
            finish = prep.event(start.number, self._clock())
            self._insert_finish(conn, sid, finish)
        return replay_trial(start, finish)

    def start_and_finish_trial(
        self,
        study: str,
        arch: str,
        arch_hash: str,
        parent: int | None = None,
        mutation: str | None = None,
        seed: int | None = None,
        proposal: int | None = None,
        state: TrialState | str = TrialState.COMPLETE,
        val: float | None = None,
        test: float | None = None,
        metrics: Mapping[str, object] | None = None,
        duration: float | None = None,
        error: str | None = None,
        started_at: float | None = None,
    ) -> Trial:
        pstart = prepare_start(arch, arch_hash, parent, mutation, seed, proposal)
        pfinish: PreparedFinish = prepare_finish(state, val, test, metrics, duration, error)
        now = self._clock()
        with self._write() as conn:
            sid = self._study_id(conn, study)
            start = self._start(conn, sid, pstart, now if started_at is None else float(started_at))
            finish = pfinish.event(start.number, now)
            self._insert_finish(conn, sid, finish)
        return replay_trial(start, finish)

    def abandon_running(self, study: str) -> list[Trial]:
        prep = interrupted_finish()
        with self._write() as conn:
            sid = self._study_id(conn, study)
            rows = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} {_TRIAL_FROM}"
                " WHERE s.study_id = ? AND f.number IS NULL ORDER BY s.number",
                (sid,),
            ).fetchall()
            now = self._clock()
            out = []
            for row in rows:
                start = StartEvent(*row[:8])
                finish = prep.event(start.number, now)
                self._insert_finish(conn, sid, finish)
                out.append(replay_trial(start, finish))
        return out

    # -- trials: reads --------------------------------------------------------

    def trials(
        self,
        study: str,
        states: Iterable[TrialState | str] | TrialState | None = None,
        *,
        min_number: int = 0,
    ) -> list[Trial]:
        wanted = state_filter(states)
        with self._read() as conn:
            sid = self._study_id(conn, study)
            rows = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} {_TRIAL_FROM}"
                " WHERE s.study_id = ? AND s.number >= ? ORDER BY s.number",
                (sid, max(0, int(min_number))),
            ).fetchall()
        views = [_row_to_trial(r) for r in rows]
        if wanted is None:
            return views
        return [t for t in views if t.state in wanted]

    def get_trial(self, study: str, number: int) -> Trial:
        n = to_int(number, "number")
        with self._read() as conn:
            sid = self._study_id(conn, study)
            row = conn.execute(
                f"SELECT {_TRIAL_COLUMNS} {_TRIAL_FROM} WHERE s.study_id = ? AND s.number = ?",
                (sid, n),
            ).fetchone()
        if row is None:
            raise UnknownTrialError(f"study {study!r} has no trial number {number!r}")
        return _row_to_trial(row)
