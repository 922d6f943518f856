"""Tests of the Study façade: create / resume, config compatibility, queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from einnas.study import (
    BUDGET_EVENT,
    DuplicateStudyError,
    IncompatibleStudyError,
    InMemoryStorage,
    JournalStorage,
    SQLiteStorage,
    Storage,
    Study,
    StudyRecord,
    TrialOutcome,
    TrialStart,
    TrialState,
    UnknownStudyError,
)

CONFIG: dict[str, Any] = {
    "space": "einspace",
    "dataset": "mnist1d",
    "strategy": {"name": "re", "population": 10, "tournament": 3},
    "seed": 0,
    "budget": 100,
    "workers": 2,
}


@pytest.fixture(params=["memory", "sqlite", "journal"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    st: Storage = {
        "memory": InMemoryStorage,
        "sqlite": lambda: SQLiteStorage(tmp_path / "db.sqlite"),
        "journal": lambda: JournalStorage(tmp_path / "log.jsonl"),
    }[request.param]()
    yield st
    st.close()


def test_create_then_load(storage: Storage) -> None:
    s = Study.create_or_load(storage, "run", CONFIG)
    assert (s.name, s.config, s.budget, s.storage) == ("run", CONFIG, 100, storage)
    assert s.trials() == [] and s.best_trial() is None and s.n_finished() == 0
    s.storage.record_trial(s.name, TrialStart("a", "h"), TrialOutcome.complete(0.5))
    again = Study.create_or_load(storage, "run", dict(CONFIG, workers=8))  # other keys may differ
    assert again.id == s.id and again.config == CONFIG  # the recorded config wins
    assert [t.arch for t in again.trials()] == ["a"]
    assert again.events() == []
    assert Study.load(storage, "run").created_at == s.created_at
    with pytest.raises(DuplicateStudyError):
        Study.create(storage, "run", CONFIG)
    with pytest.raises(UnknownStudyError):
        Study.load(storage, "other")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("space", "nb201"),
        ("dataset", "cifar10"),
        ("strategy", {"name": "re", "population": 20, "tournament": 3}),
        ("seed", 1),
    ],
)
def test_incompatible_identity_key_is_named(storage: Storage, key: str, value: Any) -> None:
    Study.create_or_load(storage, "run", CONFIG)
    with pytest.raises(IncompatibleStudyError, match=repr(key)) as info:
        Study.create_or_load(storage, "run", dict(CONFIG, **{key: value}))
    assert (info.value.key, info.value.recorded, info.value.given) == (key, CONFIG[key], value)


def test_missing_identity_key_counts_as_different(storage: Storage) -> None:
    Study.create_or_load(storage, "run", CONFIG)
    partial = {k: v for k, v in CONFIG.items() if k != "seed"}
    with pytest.raises(IncompatibleStudyError, match=r"'seed'.*<absent>"):
        Study.create_or_load(storage, "run", partial)
    # keys absent on both sides are equal; custom identity keys are honoured
    Study.create_or_load(storage, "p", partial)
    Study.create_or_load(storage, "p", partial)
    with pytest.raises(IncompatibleStudyError, match="'workers'"):
        Study.create_or_load(storage, "p", dict(partial, workers=3), identity_keys=["workers"])


def test_config_compared_after_json_round_trip(storage: Storage) -> None:
    cfg = dict(CONFIG, space={"name": "einspace", "input": (3, 28, 28)})
    Study.create_or_load(storage, "run", cfg)
    Study.create_or_load(storage, "run", cfg)  # a tuple is stored as a list: still equal


def test_budget_may_grow_and_is_recorded_as_an_event(storage: Storage) -> None:
    s = Study.create_or_load(storage, "run", CONFIG)
    assert Study.create_or_load(storage, "run", CONFIG).events() == []  # same budget: nothing
    grown = Study.create_or_load(storage, "run", dict(CONFIG, budget=250))
    assert grown.budget == 250 and grown.config["budget"] == 250
    assert grown.creation_config["budget"] == 100  # never rewritten
    assert storage.get_study("run").config == CONFIG  # type: ignore[union-attr]
    [event] = s.events()
    assert (event.kind, event.payload) == (BUDGET_EVENT, {"budget": 250, "previous": 100})
    assert s.budget == 250  # the view is derived from the log, not cached
    # a resume without a budget keeps it; a smaller one is refused
    assert (
        Study.create_or_load(
            storage, "run", {k: v for k, v in CONFIG.items() if k != "budget"}
        ).budget
        == 250
    )
    with pytest.raises(IncompatibleStudyError, match=r"'budget'.*only grow"):
        Study.create_or_load(storage, "run", dict(CONFIG, budget=100))
    with pytest.raises(IncompatibleStudyError, match="'budget'"):
        Study.create_or_load(storage, "run", dict(CONFIG, budget="lots"))
    with pytest.raises(IncompatibleStudyError):
        s.extend_budget(250)
    s.extend_budget(300)
    assert [e.payload["budget"] for e in s.events()] == [250, 300]


def test_structured_budget(storage: Storage) -> None:
    cfg = dict(CONFIG, budget={"trials": 100, "seconds": 60.0})
    Study.create_or_load(storage, "run", cfg)
    s = Study.create_or_load(storage, "run", dict(cfg, budget={"trials": 150, "seconds": 60.0}))
    assert s.budget == {"trials": 150, "seconds": 60.0}
    with pytest.raises(IncompatibleStudyError):
        Study.create_or_load(storage, "run", dict(cfg, budget={"trials": 200, "seconds": 30.0}))
    with pytest.raises(IncompatibleStudyError):
        Study.create_or_load(storage, "run", dict(cfg, budget={"trials": 200}))


def test_best_trial_and_counts(storage: Storage) -> None:
    s = Study.create(storage, "run", CONFIG)

    def record(start: TrialStart, outcome: TrialOutcome) -> None:
        storage.record_trial(s.name, start, outcome)

    record(TrialStart("a", "h0"), TrialOutcome.complete(0.5))  # 0
    record(TrialStart("b", "h1"), TrialOutcome.complete(0.9))  # 1
    record(TrialStart("c", "h2"), TrialOutcome.failed("oom"))  # 2
    record(TrialStart("d", "h3"), TrialOutcome.pruned(0.99))  # 3: not COMPLETE
    storage.start_trial(s.name, TrialStart("e", "h4"))  # 4: running
    record(TrialStart("f", "h5"), TrialOutcome.complete(0.9))  # 5: ties with 1
    storage.start_trial(s.name, TrialStart("g", "h6"))  # 6: running, will be interrupted
    best = s.best_trial()
    assert best is not None and best.number == 1  # ties go to the lower number
    assert [t.number for t in s.completed()] == [0, 1, 5]
    assert [t.number for t in s.running()] == [4, 6]
    assert s.n_finished() == 5
    storage.finish_trial(s.name, 4, TrialOutcome.complete(0.95))
    assert s.best_trial().number == 4  # type: ignore[union-attr]
    [abandoned] = s.abandon_running()
    assert abandoned.number == 6 and abandoned.interrupted
    assert s.n_finished() == 6  # interrupted trials are re-proposed: they use no budget
    assert len(s.trials()) == 7 and s.trials([TrialState.RUNNING]) == []


def test_trials_cache_follows_the_log(storage: Storage) -> None:
    s = Study.create(storage, "run", CONFIG)
    other = Study.load(storage, "run")  # a second reader (as another process would be)
    storage.record_trial("run", TrialStart("a", "h"), TrialOutcome.complete(0.1))
    storage.start_trial("run", TrialStart("b", "h"))
    storage.record_trial("run", TrialStart("c", "h"), TrialOutcome.complete(0.3))
    assert [t.state for t in other.trials()] == [
        TrialState.COMPLETE,
        TrialState.RUNNING,
        TrialState.COMPLETE,
    ]
    storage.finish_trial("run", 1, TrialOutcome.complete(0.2))
    storage.start_trial("run", TrialStart("d", "h"))
    views = other.trials()
    assert [t.state for t in views] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    assert views == storage.trials("run")
    assert other.get_trial(1).val == 0.2 and other.get_trial(3).state is TrialState.RUNNING
    assert other.trials(TrialState.COMPLETE) == s.completed()


class _Racy(InMemoryStorage):
    """Another process creates the study between our check and our insert."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self.racer_config = config
        self.raced = False

    def get_study(self, name: str) -> StudyRecord | None:
        if not self.raced:
            self.raced = True
            self.create_study(name, self.racer_config)  # the other process wins
            return None
        return super().get_study(name)


def test_create_or_load_race() -> None:
    assert Study.create_or_load(_Racy(CONFIG), "run", CONFIG).config == CONFIG
    with pytest.raises(IncompatibleStudyError, match="'seed'"):
        Study.create_or_load(_Racy(CONFIG), "run", dict(CONFIG, seed=5))


def test_resume_from_sqlite_file(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    s = Study.create_or_load(path, "run", CONFIG)
    s.storage.record_trial("run", TrialStart("a", "h0", seed=1), TrialOutcome.complete(0.4))
    s.storage.start_trial("run", TrialStart("b", "h1", parent=0, mutation='{"op": "swap"}', seed=2))
    s.storage.close()
    # "kill" the search and rerun the same command
    r = Study.create_or_load(f"sqlite:///{path}", "run", CONFIG)
    assert [t.number for t in r.abandon_running()] == [1]
    t = r.storage.start_trial(
        "run", TrialStart("b", "h1", parent=0, mutation='{"op": "swap"}', seed=2, proposal=1)
    )
    assert (t.number, t.proposal) == (2, 1)
    r.storage.finish_trial("run", 2, TrialOutcome.complete(0.6))
    assert r.best_trial().arch == "b"  # type: ignore[union-attr]
    assert r.n_finished() == 2
    r.storage.close()
