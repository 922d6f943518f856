"""SQLite-only behaviour: file settings, append-only triggers, schema migration, kill -9."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import einnas.study
from einnas.study import (
    SCHEMA_VERSION,
    SQLiteStorage,
    StorageError,
    Trial,
    TrialOutcome,
    TrialStart,
    TrialState,
)

# ----------------------------------------------------------------- the version-1 schema, verbatim

_V1_TABLES = ("studies", "study_events", "trial_started", "trial_finished", "schema_version")

_V1_SCHEMA = (
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
        for table in _V1_TABLES
        for op in ("UPDATE", "DELETE")
    ),
)


def _make_v1_file(path: Path) -> None:
    """A runs.db as einnas wrote it before schema version 2."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _V1_SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 1.0)")
    conn.execute("INSERT INTO studies VALUES (1, 's', '{\"seed\":0,\"budget\":10}', 10.0)")
    conn.execute("INSERT INTO studies VALUES (2, 't', '{}', 11.0)")
    starts = [  # study, number, arch, hash, parent, mutation, seed, proposal, started_at
        (1, 0, "a", "ha", None, None, 5, 0, 100.0),
        (1, 1, "b", "hb", 0, '{"op":"swap"}', 6, 1, 101.0),
        (1, 2, "c", "hc", 0, None, 7, 2, 102.0),
        (1, 3, "d", "hd", None, None, 8, 3, 103.0),  # still running
        (2, 0, "x", "hx", None, None, None, 0, 104.0),
    ]
    conn.executemany("INSERT INTO trial_started VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", starts)
    finishes = [  # study, number, state, val, test, metrics, duration, error, finished_at
        (1, 0, "complete", 0.5, 0.4, '{"curve":[1.0,NaN]}', 3.0, None, 200.0),
        (1, 1, "failed", None, None, "{}", None, "oom", 205.0),  # finished after 2
        (1, 2, "pruned", 0.25, None, '{"n":3}', 1.5, None, 201.0),
        (2, 0, "complete", 0.9, 0.8, "{}", None, None, 150.0),
    ]
    conn.executemany("INSERT INTO trial_finished VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", finishes)
    conn.execute(
        "INSERT INTO study_events (study_id, kind, payload, created_at)"
        " VALUES (1, 'budget', '{\"budget\":20,\"previous\":10}', 300.0)"
    )
    conn.close()


def _check_v1_content(st: SQLiteStorage) -> None:
    assert [r.name for r in st.list_studies()] == ["s", "t"]
    assert st.get_study("s").config == {"seed": 0, "budget": 10}  # type: ignore[union-attr]
    trials = st.trials("s")
    assert [(t.number, t.arch, t.state) for t in trials] == [
        (0, "a", TrialState.COMPLETE),
        (1, "b", TrialState.FAILED),
        (2, "c", TrialState.PRUNED),
        (3, "d", TrialState.RUNNING),
    ]
    a, b, c, d = trials
    assert (a.val, a.test, a.duration, a.seed, a.started_at, a.finished_at) == (
        0.5, 0.4, 3.0, 5, 100.0, 200.0,
    )  # fmt: skip
    assert a.metrics["curve"][0] == 1.0 and math.isnan(a.metrics["curve"][1])
    assert (b.parent, b.mutation, b.error, c.val, c.metrics) == (
        0,
        '{"op":"swap"}',
        "oom",
        0.25,
        {"n": 3},
    )
    # finish order of a version-1 log: finished_at, then number
    assert [t.finish_order for t in trials] == [0, 2, 1, None]
    assert all(t.history is None for t in trials)
    assert d.proposal == 3 and d.finished_at is None
    [event] = st.study_events("s")
    assert (event.index, event.kind, event.payload, event.created_at) == (
        0, "budget", {"budget": 20, "previous": 10}, 300.0,
    )  # fmt: skip
    [x] = st.trials("t")
    assert (x.arch, x.val, x.finish_order) == ("x", 0.9, 0)


def test_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _make_v1_file(path)
    with SQLiteStorage(path) as st:
        _check_v1_content(st)
        # the log goes on where it stopped
        assert st.finish_trial("s", 3, TrialOutcome.complete(0.7)).finish_order == 3
        assert st.start_trial("s", TrialStart("e", "he", parent=3)).number == 4
    conn = sqlite3.connect(path)
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [1, SCHEMA_VERSION]
        # the old tables are left as they were
        assert conn.execute("SELECT COUNT(*) FROM trial_started").fetchone()[0] == 5
        assert conn.execute("SELECT COUNT(*) FROM trial_finished").fetchone()[0] == 4
    finally:
        conn.close()
    with SQLiteStorage(path) as st:  # migrated once: reopening changes nothing
        assert [t.arch for t in st.trials("s")] == ["a", "b", "c", "d", "e"]
        assert st.get_trial("s", 3).state is TrialState.COMPLETE


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "media"
    folder.mkdir()
    yield folder
    os.chmod(folder, 0o755)
    for p in folder.iterdir():
        os.chmod(p, 0o644)


def _make_read_only(folder: Path) -> None:
    for p in folder.iterdir():
        os.chmod(p, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.chmod(folder, 0o555)


def test_version_1_file_on_read_only_media_is_readable(read_only_dir: Path) -> None:
    path = read_only_dir / "runs.db"
    _make_v1_file(path)
    _make_read_only(read_only_dir)
    before = sorted(p.name for p in read_only_dir.iterdir())
    with SQLiteStorage(path) as st:
        _check_v1_content(st)  # migrated into memory
        assert st.read_only
        with pytest.raises(StorageError, match="read-only"):
            st.start_trial("s", TrialStart("e", "he"))
        assert len(st.trials("s")) == 4
    assert sorted(p.name for p in read_only_dir.iterdir()) == before
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    finally:
        conn.close()


def test_current_file_on_read_only_media_is_readable(read_only_dir: Path) -> None:
    path = read_only_dir / "runs.db"
    with SQLiteStorage(path) as st:
        st.create_study("s", {})
        st.record_trial("s", TrialStart("a", "h"), TrialOutcome.complete(0.5))
    _make_read_only(read_only_dir)
    with SQLiteStorage(path) as st:
        assert [t.val for t in st.trials("s")] == [0.5] and st.read_only
        with pytest.raises(StorageError):
            st.create_study("t", {})


def test_sqlite_file_settings_and_append_only_enforced(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SQLiteStorage(path) as st:
        st.create_study("s", {})
        st.record_trial("s", TrialStart("a", "h"), TrialOutcome.complete(0.5))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert (
            conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        )
        assert [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY seq")] == [
            "start", "finish",
        ]  # fmt: skip
        for sql in (
            "UPDATE events SET body = '{}'",
            "DELETE FROM events",
            "UPDATE studies SET config = '{}'",
            "DELETE FROM studies",
            "DELETE FROM schema_version",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        with pytest.raises(sqlite3.IntegrityError):  # an event needs its study
            conn.execute("INSERT INTO events VALUES (NULL, 7, 'start', '{}', 0)")
        with pytest.raises(sqlite3.IntegrityError):  # and a known kind
            conn.execute("INSERT INTO events VALUES (NULL, 1, 'update', '{}', 0)")
    finally:
        conn.close()


def test_sqlite_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    SQLiteStorage(path).create_study("s", {})
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="schema version"):
        SQLiteStorage(path).list_studies()


def test_sqlite_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    src = Path(einnas.study.__file__).resolve().parents[2]
    snippet = textwrap.dedent(
        """
        import sys, time
        from einnas.study import SQLiteStorage, TrialOutcome, TrialStart
        st = SQLiteStorage(sys.argv[1])
        st.create_study("s", {"seed": 1})
        st.record_trial("s", TrialStart("a", "h0"), TrialOutcome.complete(0.5))
        st.start_trial("s", TrialStart("b", "h1"))
        t = st.start_trial("s", TrialStart("c", "h2"))
        st.finish_trial("s", t.number, TrialOutcome.complete(0.75, metrics={"epochs": [1, 2]}))
        st.start_trial("s", TrialStart("d", "h3"))
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", snippet, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    with SQLiteStorage(path) as st:
        trials = st.trials("s")
        assert [(t.arch, t.state) for t in trials] == [
            ("a", TrialState.COMPLETE),
            ("b", TrialState.RUNNING),
            ("c", TrialState.COMPLETE),
            ("d", TrialState.RUNNING),
        ]
        assert trials[2].val == 0.75 and trials[2].metrics == {"epochs": [1, 2]}
        abandoned = st.abandon_running("s")
        assert [t.number for t in abandoned] == [1, 3]
        assert all(isinstance(t, Trial) and t.interrupted for t in abandoned)
