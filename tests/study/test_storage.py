"""The storage conformance suite run against every backend, plus the factory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from einnas.study import (
    InMemoryStorage,
    JournalStorage,
    SQLiteStorage,
    Storage,
    TrialOutcome,
    TrialStart,
    open_storage,
)
from einnas.testing.storage_conformance import StorageConformance, same_json


class TestMemory(StorageConformance):
    persistent = False

    def make_storage(self, tmp_path: Path) -> Storage:
        return InMemoryStorage()


class TestSQLite(StorageConformance):
    multiprocess = True

    def make_storage(self, tmp_path: Path) -> Storage:
        return SQLiteStorage(tmp_path / "db.sqlite")


class TestJournal(StorageConformance):
    multiprocess = True

    def make_storage(self, tmp_path: Path) -> Storage:
        return JournalStorage(tmp_path / "log.jsonl")


@pytest.fixture(params=["memory", "sqlite", "journal"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    st = open_storage(
        {"memory": None, "sqlite": tmp_path / "a.db", "journal": tmp_path / "a.jsonl"}[
            request.param
        ]
    )
    yield st
    st.close()


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
    t = storage.record_trial(
        "p", TrialStart("arch", "h"), TrialOutcome.complete(val, metrics=metrics)
    )
    back = storage.get_trial("p", t.number)
    assert same_json(back.metrics, metrics) and back.val == val and back == t


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
    j = open_storage(f"journal:///{tmp_path / 'j.log'}")
    k = open_storage(tmp_path / "k.jsonl")
    assert isinstance(j, JournalStorage) and j.path == str(tmp_path / "j.log")
    assert isinstance(k, JournalStorage) and k.path == str(tmp_path / "k.jsonl")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        rel = open_storage("sqlite:///rel.db")
        assert isinstance(rel, SQLiteStorage) and rel.path == str(tmp_path / "rel.db")
        relj = open_storage("journal:///rel.jsonl")
        assert isinstance(relj, JournalStorage) and relj.path == str(tmp_path / "rel.jsonl")
    finally:
        os.chdir(cwd)
    for bad in ("postgresql://host/db", "sqlite://", "journal://"):
        with pytest.raises(ValueError):
            open_storage(bad)
    with pytest.raises(ValueError):
        SQLiteStorage(":memory:")
    for s in (a, b, c, j, k):
        s.close()


def test_no_import_circles() -> None:
    """Each module of einnas.study imports on its own, in a fresh interpreter."""
    import subprocess
    import sys

    import einnas.study

    src = str(Path(einnas.study.__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=src)
    for mod in ("trial", "events", "storage", "memory", "sqlite_storage", "journal",
                "factory", "study", "runner"):  # fmt: skip
        subprocess.run([sys.executable, "-c", f"import einnas.study.{mod}"], check=True, env=env)


def test_replayed_views_equal_constructed_trials() -> None:
    """Replay builds views without ``Trial.__init__``: they must be ordinary trials."""
    import dataclasses

    from einnas.study import Trial, TrialReport, TrialState

    st = InMemoryStorage()
    st.create_study("s", {})
    running = st.start_trial("s", TrialStart("a", "h", seed=3, history=0))
    st.report("s", 0, TrialReport(1, 0.5))
    done = st.finish_trial("s", 0, TrialOutcome.complete(0.75))
    for view in (running, done):
        rebuilt = Trial(**{f.name: getattr(view, f.name) for f in dataclasses.fields(Trial)})
        assert rebuilt == view and hash(rebuilt) == hash(view)
        assert set(vars(view)) == {f.name for f in dataclasses.fields(Trial)}
    assert done.state is TrialState.COMPLETE and done.intermediate == {1: 0.5}


def test_no_write_call_passes_more_than_four_positional_arguments() -> None:
    """The write API takes event objects: no call site spells out a trial field by field."""
    import ast

    import einnas.study

    root = Path(einnas.study.__file__).resolve().parents[3]
    writes = {"start_trial", "finish_trial", "record_trial", "report", "start_and_finish_trial"}
    offenders = []
    for folder in ("src", "tests", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in writes
                    and len(node.args) > 4
                ):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
