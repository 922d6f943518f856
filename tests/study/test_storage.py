"""Conformance suite for the storages (in memory and SQLite), plus SQLite-only tests.

Every test taking the ``storage`` fixture runs against both implementations;
they must behave identically.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import einnas.study
from einnas.study import (
    INTERRUPTED,
    SCHEMA_VERSION,
    DuplicateStudyError,
    InMemoryStorage,
    SQLiteStorage,
    Storage,
    Trial,
    TrialFinishedError,
    TrialState,
    UnknownStudyError,
    UnknownTrialError,
    open_storage,
)

CONFIG = {"space": "einspace", "dataset": "mnist1d", "strategy": "re", "seed": 0, "budget": 10}


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    st: Storage = (
        InMemoryStorage() if request.param == "memory" else SQLiteStorage(tmp_path / "db.sqlite")
    )
    yield st
    st.close()


@pytest.fixture
def study(storage: Storage) -> str:
    storage.create_study("s", CONFIG)
    return "s"


def _same(a: Any, b: Any) -> bool:
    """Equality in which NaN equals NaN (for JSON round trips)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- studies


def test_create_get_list_studies(storage: Storage) -> None:
    sid = storage.create_study("a", CONFIG)
    sid_b = storage.create_study("b", {"nested": {"x": [1, 2.5, None, "t"]}})
    assert sid != sid_b
    rec = storage.get_study("a")
    assert rec is not None
    assert (rec.id, rec.name, rec.config) == (sid, "a", CONFIG)
    assert rec.created_at > 0
    assert [r.name for r in storage.list_studies()] == ["a", "b"]
    assert storage.get_study("nope") is None
    with pytest.raises(DuplicateStudyError, match="'a'"):
        storage.create_study("a", {})
    with pytest.raises(ValueError):
        storage.create_study("", {})


def test_study_events_are_an_append_only_log(storage: Storage, study: str) -> None:
    assert storage.study_events(study) == []
    e0 = storage.append_study_event(study, "budget", {"budget": 20, "previous": 10})
    e1 = storage.append_study_event(study, "note")
    assert (e0.index, e0.kind, e0.payload) == (0, "budget", {"budget": 20, "previous": 10})
    assert (e1.index, e1.kind, e1.payload) == (1, "note", {})
    assert storage.study_events(study) == [e0, e1]
    assert storage.get_study(study).config == CONFIG  # type: ignore[union-attr]


def test_unknown_study_errors(storage: Storage) -> None:
    calls: list[Callable[[], object]] = [
        lambda: storage.start_trial("x", "a", "h"),
        lambda: storage.finish_trial("x", 0, TrialState.COMPLETE, val=1.0),
        lambda: storage.start_and_finish_trial("x", "a", "h", val=1.0),
        lambda: storage.trials("x"),
        lambda: storage.get_trial("x", 0),
        lambda: storage.abandon_running("x"),
        lambda: storage.append_study_event("x", "k"),
        lambda: storage.study_events("x"),
    ]
    for call in calls:
        with pytest.raises(UnknownStudyError):
            call()


# --------------------------------------------------------------------------- trials


def test_numbering_and_ordering(storage: Storage, study: str) -> None:
    t0 = storage.start_trial(study, "arch0", "h0", seed=7)
    t1 = storage.start_trial(study, "arch1", "h1", parent=0, mutation='{"node": 3}', proposal=5)
    t2 = storage.start_and_finish_trial(study, "arch2", "h2", parent=1, val=0.3)
    assert [t0.number, t1.number, t2.number] == [0, 1, 2]
    assert (t0.proposal, t1.proposal, t2.proposal) == (0, 5, 2)  # default: the number
    storage.finish_trial(study, 1, TrialState.COMPLETE, val=0.9)
    storage.finish_trial(study, 0, "failed", error="boom")  # out of order
    trials = storage.trials(study)
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.state for t in trials] == [
        TrialState.FAILED,
        TrialState.COMPLETE,
        TrialState.COMPLETE,
    ]
    assert [t.number for t in storage.trials(study, [TrialState.COMPLETE])] == [1, 2]
    assert [t.number for t in storage.trials(study, TrialState.FAILED)] == [0]
    assert [t.number for t in storage.trials(study, ["complete"], min_number=2)] == [2]
    assert storage.trials(study, min_number=3) == []
    assert all(storage.get_trial(study, t.number) == t for t in trials)


def test_replay_of_start_and_finish_events(storage: Storage, study: str) -> None:
    started = storage.start_trial(study, "arch", "hash", None, "m", 3, None)
    assert started == storage.get_trial(study, 0)
    assert started.state is TrialState.RUNNING and not started.is_finished
    assert (started.val, started.test, started.finished_at, started.duration) == (None,) * 4
    assert started.metrics == {} and started.error is None
    assert started.started_at is not None

    done = storage.finish_trial(
        study, 0, TrialState.COMPLETE, val=0.8, test=0.75, metrics={"params": 12}, duration=4.5
    )
    again = storage.get_trial(study, 0)
    assert done == again
    # the start event's fields survive the replay unchanged
    for field in (
        "number",
        "arch",
        "arch_hash",
        "parent",
        "mutation",
        "seed",
        "proposal",
        "started_at",
    ):
        assert getattr(again, field) == getattr(started, field)
    assert again.state is TrialState.COMPLETE and again.is_finished and not again.interrupted
    assert (again.val, again.test, again.duration, again.metrics) == (
        0.8,
        0.75,
        4.5,
        {"params": 12},
    )
    assert again.finished_at is not None and again.started_at is not None
    assert again.finished_at >= again.started_at


def test_finishing_twice_is_an_error(storage: Storage, study: str) -> None:
    storage.start_trial(study, "a", "h")
    storage.finish_trial(study, 0, TrialState.PRUNED, val=0.1)
    with pytest.raises(TrialFinishedError):
        storage.finish_trial(study, 0, TrialState.COMPLETE, val=0.9)
    t = storage.get_trial(study, 0)
    assert (t.state, t.val) == (TrialState.PRUNED, 0.1)


def test_invalid_finishes(storage: Storage, study: str) -> None:
    storage.start_trial(study, "a", "h")
    with pytest.raises(ValueError, match="COMPLETE, FAILED or PRUNED"):
        storage.finish_trial(study, 0, TrialState.RUNNING)
    with pytest.raises(ValueError, match="val"):
        storage.finish_trial(study, 0, TrialState.COMPLETE)  # COMPLETE needs an objective
    with pytest.raises(UnknownTrialError):
        storage.finish_trial(study, 1, TrialState.FAILED)
    with pytest.raises(UnknownTrialError):
        storage.get_trial(study, 5)
    with pytest.raises(UnknownTrialError):
        storage.get_trial(study, -1)
    with pytest.raises(ValueError, match="duration"):
        storage.finish_trial(study, 0, TrialState.FAILED, duration=-1.0)
    assert storage.get_trial(study, 0).state is TrialState.RUNNING  # nothing was written


def test_parent_must_exist_and_arguments_are_typed(storage: Storage, study: str) -> None:
    with pytest.raises(UnknownTrialError, match="parent"):
        storage.start_trial(study, "a", "h", parent=0)
    storage.start_trial(study, "a", "h")
    assert storage.start_trial(study, "b", "h", parent=np.int64(0)).parent == 0  # type: ignore[arg-type]
    with pytest.raises(UnknownTrialError):
        storage.start_and_finish_trial(study, "c", "h", parent=9, val=1.0)
    with pytest.raises(TypeError):
        storage.start_trial(study, "a", "h", seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        storage.start_trial(study, 3, "h")  # type: ignore[arg-type]
    assert len(storage.trials(study)) == 2


def test_start_and_finish_in_one_write(storage: Storage, study: str) -> None:
    t = storage.start_and_finish_trial(
        study,
        "a",
        "h",
        seed=1,
        state="complete",
        val=0.5,
        test=0.4,
        duration=120.0,
        started_at=100.0,
    )
    assert t == storage.get_trial(study, 0)
    assert (t.number, t.state, t.val, t.test, t.duration, t.started_at) == (
        0, TrialState.COMPLETE, 0.5, 0.4, 120.0, 100.0,
    )  # fmt: skip
    f = storage.start_and_finish_trial(study, "b", "h2", state=TrialState.FAILED, error="oom")
    assert (f.number, f.state, f.error, f.val) == (1, TrialState.FAILED, "oom", None)


def test_abandon_running(storage: Storage, study: str) -> None:
    storage.start_and_finish_trial(study, "a", "h", val=0.5)
    storage.start_trial(study, "b", "h")
    storage.start_trial(study, "c", "h")
    storage.start_trial(study, "d", "h")
    storage.finish_trial(study, 2, TrialState.COMPLETE, val=0.6)
    abandoned = storage.abandon_running(study)
    assert [t.number for t in abandoned] == [1, 3]
    for t in abandoned:
        assert t.state is TrialState.FAILED and t.error == INTERRUPTED and t.interrupted
        assert storage.get_trial(study, t.number) == t
    assert storage.trials(study, [TrialState.RUNNING]) == []
    assert storage.abandon_running(study) == []
    with pytest.raises(TrialFinishedError):
        storage.finish_trial(study, 1, TrialState.COMPLETE, val=1.0)
    # the resumed search proposes it again: a new trial with a new number
    assert storage.start_trial(study, "b", "h", proposal=1).number == 4


def test_many_studies_are_independent(storage: Storage) -> None:
    names = [f"study-{i}" for i in range(4)]
    for name in names:
        storage.create_study(name, {"seed": name})
    for k in range(5):
        for i, name in enumerate(names):
            if (k + i) % 2:
                t = storage.start_and_finish_trial(name, f"{name}/{k}", "h", val=float(k))
            else:
                t = storage.start_trial(name, f"{name}/{k}", "h")
            assert t.number == k
    assert storage.abandon_running(names[0]) != []
    for name in names:
        trials = storage.trials(name)
        assert [t.arch for t in trials] == [f"{name}/{k}" for k in range(5)]
    assert storage.trials(names[1], [TrialState.RUNNING])  # untouched by names[0]'s abandon


def test_concurrent_threads_get_distinct_numbers(storage: Storage, study: str) -> None:
    def work(k: int) -> list[int]:
        out = []
        for i in range(10):
            t = storage.start_trial(study, f"{k}/{i}", "h")
            storage.finish_trial(study, t.number, TrialState.COMPLETE, val=float(k))
            out.append(t.number)
        return out

    with ThreadPoolExecutor(4) as pool:
        numbers = sorted(n for ns in pool.map(work, range(4)) for n in ns)
    assert numbers == list(range(40))
    assert len(storage.trials(study, [TrialState.COMPLETE])) == 40


def test_pickle_round_trip(storage: Storage, study: str) -> None:
    storage.start_and_finish_trial(study, "a", "h", val=0.5)
    storage.start_trial(study, "b", "h")
    clone = pickle.loads(pickle.dumps(storage))
    assert type(clone) is type(storage)
    assert clone.trials(study) == storage.trials(study)
    assert clone.list_studies() == storage.list_studies()
    clone.finish_trial(study, 1, TrialState.FAILED, error="x")  # the clone is usable


# --------------------------------------------------------------------------- JSON, NaN


def test_metrics_round_trip_including_nan(storage: Storage, study: str) -> None:
    metrics = {
        "params": 1234567,
        "name": "resnet",
        "curve": [0.1, 0.5, float("nan"), float("inf")],
        "nested": {"a": [1, {"b": None}], "flag": True},
        "loss": float("nan"),
        "neg": -float("inf"),
    }
    t = storage.start_and_finish_trial(study, "a", "h", val=0.5, metrics=metrics)
    assert _same(t.metrics, metrics)
    assert _same(storage.get_trial(study, 0).metrics, metrics)
    assert list(storage.get_trial(study, 0).metrics) == list(metrics)  # key order kept


def test_numpy_values_are_converted(storage: Storage, study: str) -> None:
    metrics = {"acc": np.float32(0.5), "n": np.int64(3), "curve": np.arange(3, dtype=np.float64)}
    t = storage.start_and_finish_trial(study, "a", "h", val=np.float64(0.25), metrics=metrics)
    assert t.metrics == {"acc": 0.5, "n": 3, "curve": [0.0, 1.0, 2.0]}
    assert type(t.val) is float and t.val == 0.25


def test_bad_metrics_are_refused(storage: Storage, study: str) -> None:
    with pytest.raises(TypeError):
        storage.start_and_finish_trial(study, "a", "h", val=0.5, metrics={1: 2})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        storage.start_and_finish_trial(study, "a", "h", val=0.5, metrics={"x": object()})
    with pytest.raises(TypeError):
        storage.start_and_finish_trial(study, "a", "h", val=0.5, metrics=[("a", 1)])  # type: ignore[arg-type]
    assert storage.trials(study) == []


def test_nan_objective_is_stored_as_failed(storage: Storage, study: str) -> None:
    """Decision: a COMPLETE trial with a non-finite ``val`` is recorded as FAILED."""
    t = storage.start_and_finish_trial(study, "a", "h", val=float("nan"), test=0.3)
    assert t.state is TrialState.FAILED and t.val is None and t.test == 0.3
    assert t.error is not None and "non-finite objective" in t.error
    storage.start_trial(study, "b", "h")
    u = storage.finish_trial(study, 1, TrialState.COMPLETE, val=float("inf"), error="diverged")
    assert u.state is TrialState.FAILED and u.error is not None and u.error.endswith("diverged")
    # elsewhere non-finite scalars are stored as None (raw values belong in metrics)
    p = storage.start_and_finish_trial(
        study, "c", "h", state="pruned", val=float("nan"), test=float("nan")
    )
    assert (p.state, p.val, p.test) == (TrialState.PRUNED, None, None)
    c = storage.start_and_finish_trial(study, "d", "h", val=0.5, test=float("nan"))
    assert (c.state, c.val, c.test) == (TrialState.COMPLETE, 0.5, None)
    assert storage.trials(study) == [t, u, p, c]


_json = hst.recursive(
    hst.none()
    | hst.booleans()
    | hst.integers(-(2**53), 2**53)
    | hst.floats()
    | hst.text(max_size=5),
    lambda children: (
        hst.lists(children, max_size=3)
        | hst.dictionaries(hst.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(metrics=hst.dictionaries(hst.text(max_size=8), _json, max_size=4), val=hst.floats(-1e6, 1e6))
def test_metrics_round_trip_property(storage: Storage, metrics: dict[str, Any], val: float) -> None:
    if storage.get_study("p") is None:
        storage.create_study("p", {})
    t = storage.start_and_finish_trial("p", "arch", "h", val=val, metrics=metrics)
    back = storage.get_trial("p", t.number)
    assert _same(back.metrics, metrics) and back.val == val and back == t


# --------------------------------------------------------------------------- open_storage


def test_open_storage_forms(tmp_path: Path) -> None:
    for spec in (None, "", ":memory:", "sqlite:///:memory:"):
        assert isinstance(open_storage(spec), InMemoryStorage)
    mem = InMemoryStorage()
    assert open_storage(mem) is mem
    a = open_storage(str(tmp_path / "a.db"))
    b = open_storage(f"sqlite:///{tmp_path / 'b.db'}")  # sqlite:////abs/path
    c = open_storage(tmp_path / "sub" / "c.db")
    assert isinstance(a, SQLiteStorage) and a.path == str(tmp_path / "a.db")
    assert isinstance(b, SQLiteStorage) and b.path == str(tmp_path / "b.db")
    assert isinstance(c, SQLiteStorage)
    c.create_study("x", {})  # parent folder created on first use
    assert (tmp_path / "sub" / "c.db").exists()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        rel = open_storage("sqlite:///rel.db")
        assert isinstance(rel, SQLiteStorage) and rel.path == str(tmp_path / "rel.db")
    finally:
        os.chdir(cwd)
    for bad in ("postgresql://host/db", "sqlite://"):
        with pytest.raises(ValueError):
            open_storage(bad)
    with pytest.raises(ValueError):
        SQLiteStorage(":memory:")
    for s in (a, b, c):
        s.close()


# --------------------------------------------------------------------------- SQLite only


def test_sqlite_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SQLiteStorage(path) as st:
        st.create_study("s", CONFIG)
        st.create_study("t", {})
        st.start_and_finish_trial("s", "a", "h", val=0.5, metrics={"x": [1.0, float("nan")]})
        st.start_trial("s", "b", "h", parent=0)
        st.append_study_event("s", "budget", {"budget": 20})
        before = st.trials("s")
    with SQLiteStorage(f"{path}") as st:
        assert [r.name for r in st.list_studies()] == ["s", "t"]
        assert st.get_study("s").config == CONFIG  # type: ignore[union-attr]
        after = st.trials("s")
        assert len(after) == 2 and after[1] == before[1]
        assert _same(after[0].metrics, before[0].metrics) and after[0].val == 0.5
        assert [e.payload for e in st.study_events("s")] == [{"budget": 20}]
        assert st.start_trial("s", "c", "h").number == 2  # numbering continues


def test_sqlite_file_settings_and_append_only_enforced(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SQLiteStorage(path) as st:
        st.create_study("s", {})
        st.start_and_finish_trial("s", "a", "h", val=0.5)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert (
            conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        )
        for sql in (
            "UPDATE trial_finished SET val = 1.0",
            "DELETE FROM trial_started",
            "UPDATE studies SET config = '{}'",
            "DELETE FROM studies",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        with pytest.raises(sqlite3.IntegrityError):  # a finish needs a start
            conn.execute(
                "INSERT INTO trial_finished VALUES (1, 7, 'failed', NULL, NULL, '{}', NULL, NULL, 0)"
            )
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


def test_sqlite_pickles_and_writes_from_spawned_processes(tmp_path: Path) -> None:
    st = SQLiteStorage(tmp_path / "runs.db")
    st.create_study("s", {})
    st.start_trial("s", "parent-side", "h")  # the parent holds an open connection
    clone = pickle.loads(pickle.dumps(st))
    assert isinstance(clone, SQLiteStorage) and clone.path == st.path
    assert clone.trials("s") == st.trials("s")
    # Bound methods pickle the storage: each spawned worker reconnects to the file.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        started = pool.starmap(st.start_trial, [("s", f"arch-{i}", "h") for i in range(30)], 1)
        finished = pool.starmap(
            st.finish_trial, [("s", t.number, "complete", float(t.number)) for t in started], 1
        )
    assert sorted(t.number for t in started) == list(range(1, 31))  # no number handed out twice
    assert all(t.state is TrialState.COMPLETE and t.val == t.number for t in finished)
    trials = st.trials("s")
    assert [t.number for t in trials] == list(range(31))
    assert trials[1:] == sorted(finished, key=lambda t: t.number)
    st.close()


def test_sqlite_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    src = Path(einnas.study.__file__).resolve().parents[2]
    snippet = textwrap.dedent(
        """
        import sys, time
        from einnas.study import SQLiteStorage
        st = SQLiteStorage(sys.argv[1])
        st.create_study("s", {"seed": 1})
        st.start_and_finish_trial("s", "a", "h0", val=0.5)
        st.start_trial("s", "b", "h1")
        t = st.start_trial("s", "c", "h2")
        st.finish_trial("s", t.number, "complete", val=0.75, metrics={"epochs": [1, 2]})
        st.start_trial("s", "d", "h3")
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
