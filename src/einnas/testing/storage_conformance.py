"""The storage conformance suite: what every backend must do, checked once.

Subclass :class:`StorageConformance` in a pytest module and say how to build
the backend; pytest then runs every ``test_*`` method against it::

    class TestMyBackend(StorageConformance):
        multiprocess = True  # several processes may share one store

        def make_storage(self, tmp_path: Path) -> Storage:
            return MyStorage(tmp_path / "log")

``make_storage`` may be called more than once per test with the same folder:
for a persistent backend the second storage must see the first one's log (set
``persistent = False`` otherwise). Needs pytest (and numpy for one check).
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from einnas.study import (
    INTERRUPTED,
    DuplicateReportError,
    DuplicateStudyError,
    Storage,
    TrialFinishedError,
    TrialOutcome,
    TrialReport,
    TrialStart,
    TrialState,
    UnknownStudyError,
    UnknownTrialError,
)

__all__ = ["CONFIG", "StorageConformance", "same_json"]

CONFIG: dict[str, Any] = {
    "space": "einspace",
    "dataset": "mnist1d",
    "strategy": "re",
    "seed": 0,
    "budget": 10,
}


def same_json(a: Any, b: Any) -> bool:
    """Equality in which NaN equals NaN (for JSON round trips)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _start(arch: str = "a", arch_hash: str = "h", **kw: Any) -> TrialStart:
    return TrialStart(arch, arch_hash, **kw)


def _done(val: float = 0.5, **kw: Any) -> TrialOutcome:
    return TrialOutcome.complete(val, **kw)


def _writer(args: tuple[Storage, str, int, int]) -> list[int]:
    """A writer process: ``n`` trials, half as start + report + finish, half in one write."""
    storage, study, worker, n = args
    numbers = []
    for i in range(n):
        start = TrialStart(f"w{worker}/{i}", f"h{worker}/{i}", seed=worker)
        if i % 2:
            t = storage.record_trial(study, start, TrialOutcome.complete(float(worker)))
        else:
            t = storage.start_trial(study, start)
            storage.report(study, t.number, TrialReport(0, 0.1))
            storage.finish_trial(study, t.number, TrialOutcome.complete(float(worker)))
        numbers.append(t.number)
    storage.close()
    return numbers


class StorageConformance:
    """The behaviour every :class:`~einnas.study.Storage` backend shares."""

    multiprocess = False
    """Can several processes write to one store (checked with spawned writers)?"""
    persistent = True
    """Does a second storage made on the same folder see the first one's log?"""

    def make_storage(self, tmp_path: Path) -> Storage:
        raise NotImplementedError

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        st = self.make_storage(tmp_path)
        yield st
        st.close()

    @pytest.fixture
    def study(self, storage: Storage) -> str:
        storage.create_study("s", CONFIG)
        return "s"

    # -- studies ---------------------------------------------------------------

    def test_create_get_list_studies(self, storage: Storage) -> None:
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
        with pytest.raises(TypeError):
            storage.create_study("c", {1: 2})  # type: ignore[dict-item]
        assert [r.name for r in storage.list_studies()] == ["a", "b"]

    def test_study_events_are_an_append_only_log(self, storage: Storage, study: str) -> None:
        assert storage.study_events(study) == []
        e0 = storage.append_study_event(study, "budget", {"budget": 20, "previous": 10})
        e1 = storage.append_study_event(study, "note")
        assert (e0.index, e0.kind, e0.payload) == (0, "budget", {"budget": 20, "previous": 10})
        assert (e1.index, e1.kind, e1.payload) == (1, "note", {})
        assert storage.study_events(study) == [e0, e1]
        rec = storage.get_study(study)
        assert rec is not None and rec.config == CONFIG
        storage.record_trial(study, _start(), _done())  # trials and events share the log
        assert storage.study_events(study) == [e0, e1]

    def test_unknown_study_errors(self, storage: Storage) -> None:
        calls: list[Callable[[], object]] = [
            lambda: storage.start_trial("x", _start()),
            lambda: storage.finish_trial("x", 0, _done(1.0)),
            lambda: storage.record_trial("x", _start(), _done(1.0)),
            lambda: storage.report("x", 0, TrialReport(0, 1.0)),
            lambda: storage.trials("x"),
            lambda: storage.get_trial("x", 0),
            lambda: storage.abandon_running("x"),
            lambda: storage.append_study_event("x", "k"),
            lambda: storage.study_events("x"),
        ]
        for call in calls:
            with pytest.raises(UnknownStudyError):
                call()

    # -- trials ------------------------------------------------------------------

    def test_numbering_and_ordering(self, storage: Storage, study: str) -> None:
        t0 = storage.start_trial(study, _start("arch0", "h0", seed=7))
        t1 = storage.start_trial(
            study, _start("arch1", "h1", parent=0, mutation='{"node": 3}', proposal=5)
        )
        t2 = storage.record_trial(study, _start("arch2", "h2", parent=1), _done(0.3))
        assert [t0.number, t1.number, t2.number] == [0, 1, 2]
        assert (t0.proposal, t1.proposal, t2.proposal) == (0, 5, 2)  # default: the number
        storage.finish_trial(study, 1, _done(0.9))
        storage.finish_trial(study, 0, TrialOutcome(TrialState("failed"), error="boom"))
        trials = storage.trials(study)
        assert [t.number for t in trials] == [0, 1, 2]
        assert [t.state for t in trials] == [
            TrialState.FAILED,
            TrialState.COMPLETE,
            TrialState.COMPLETE,
        ]
        assert [t.finish_order for t in trials] == [2, 1, 0]  # the order finishes were logged
        assert [t.number for t in storage.trials(study, [TrialState.COMPLETE])] == [1, 2]
        assert [t.number for t in storage.trials(study, TrialState.FAILED)] == [0]
        assert [t.number for t in storage.trials(study, ["complete"], min_number=2)] == [2]
        assert storage.trials(study, min_number=3) == []
        assert all(storage.get_trial(study, t.number) == t for t in trials)

    def test_replay_of_start_and_finish_events(self, storage: Storage, study: str) -> None:
        started = storage.start_trial(study, TrialStart("arch", "hash", None, "m", 3, None, 4))
        assert started == storage.get_trial(study, 0)
        assert started.state is TrialState.RUNNING and not started.is_finished
        assert (started.val, started.test, started.finished_at, started.duration) == (None,) * 4
        assert started.metrics == {} and started.error is None and started.finish_order is None
        assert started.started_at is not None and started.history == 4
        assert started.intermediate == {} and started.reports == ()

        done = storage.finish_trial(
            study, 0, TrialOutcome.complete(0.8, 0.75, {"params": 12}, duration=4.5)
        )
        again = storage.get_trial(study, 0)
        assert done == again
        for name in (
            "number", "arch", "arch_hash", "parent", "mutation", "seed", "proposal",
            "started_at", "history",
        ):  # fmt: skip
            assert getattr(again, name) == getattr(started, name)
        assert again.state is TrialState.COMPLETE and again.is_finished and not again.interrupted
        assert (again.val, again.test, again.duration, again.metrics) == (
            0.8,
            0.75,
            4.5,
            {"params": 12},
        )
        assert again.finished_at is not None and again.started_at is not None
        assert again.finished_at >= again.started_at and again.finish_order == 0

    def test_finishing_twice_is_an_error(self, storage: Storage, study: str) -> None:
        storage.start_trial(study, _start())
        storage.finish_trial(study, 0, TrialOutcome.pruned(0.1))
        with pytest.raises(TrialFinishedError):
            storage.finish_trial(study, 0, _done(0.9))
        t = storage.get_trial(study, 0)
        assert (t.state, t.val) == (TrialState.PRUNED, 0.1)

    def test_invalid_finishes(self, storage: Storage, study: str) -> None:
        storage.start_trial(study, _start())
        with pytest.raises(ValueError, match="COMPLETE, FAILED or PRUNED"):
            storage.finish_trial(study, 0, TrialOutcome(TrialState.RUNNING))
        with pytest.raises(ValueError, match="val"):
            storage.finish_trial(study, 0, TrialOutcome(TrialState.COMPLETE))
        with pytest.raises(UnknownTrialError):
            storage.finish_trial(study, 1, TrialOutcome.failed("x"))
        with pytest.raises(UnknownTrialError):
            storage.get_trial(study, 5)
        with pytest.raises(UnknownTrialError):
            storage.get_trial(study, -1)
        with pytest.raises(ValueError, match="duration"):
            storage.finish_trial(study, 0, TrialOutcome.failed("x", duration=-1.0))
        assert storage.get_trial(study, 0).state is TrialState.RUNNING  # nothing was written

    def test_parent_must_exist_and_arguments_are_typed(self, storage: Storage, study: str) -> None:
        with pytest.raises(UnknownTrialError, match="parent"):
            storage.start_trial(study, _start(parent=0))
        storage.start_trial(study, _start())
        assert storage.start_trial(study, _start("b", parent=np.int64(0))).parent == 0
        with pytest.raises(UnknownTrialError):
            storage.record_trial(study, _start("c", parent=9), _done(1.0))
        with pytest.raises(TypeError):
            storage.start_trial(study, _start(seed=1.5))
        with pytest.raises(TypeError):
            storage.start_trial(study, TrialStart(3, "h"))  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            storage.start_trial(study, _start(proposal=-1))
        with pytest.raises(ValueError):
            storage.start_trial(study, _start(history=-1))
        assert len(storage.trials(study)) == 2

    def test_record_trial_in_one_write(self, storage: Storage, study: str) -> None:
        t = storage.record_trial(
            study,
            _start(seed=1, started_at=100.0, history=0),
            TrialOutcome.complete(0.5, test=0.4, duration=120.0),
        )
        assert t == storage.get_trial(study, 0)
        assert (t.number, t.state, t.val, t.test, t.duration, t.started_at, t.history) == (
            0, TrialState.COMPLETE, 0.5, 0.4, 120.0, 100.0, 0,
        )  # fmt: skip
        assert t.finish_order == 0
        f = storage.record_trial(study, _start("b", "h2"), TrialOutcome.failed("oom"))
        assert (f.number, f.state, f.error, f.val, f.finish_order) == (
            1, TrialState.FAILED, "oom", None, 1,
        )  # fmt: skip

    def test_reports(self, storage: Storage, study: str) -> None:
        storage.start_trial(study, _start())
        storage.start_trial(study, _start("b"))
        r0 = storage.report(study, 0, TrialReport(1, 0.3, {"loss": 2.0}))
        assert r0.state is TrialState.RUNNING and r0.intermediate == {1: 0.3}
        storage.report(study, 1, TrialReport(1, 0.2))
        storage.report(study, 0, TrialReport(np.int64(3), np.float32(0.5)))  # type: ignore[arg-type]
        storage.report(study, 0, TrialReport(2, float("nan")))
        with pytest.raises(DuplicateReportError):
            storage.report(study, 0, TrialReport(3, 0.9))
        with pytest.raises(ValueError):
            storage.report(study, 0, TrialReport(-1, 0.9))
        with pytest.raises(UnknownTrialError):
            storage.report(study, 7, TrialReport(0, 0.9))
        t = storage.get_trial(study, 0)
        assert list(t.intermediate) == [1, 3, 2]  # in the order reported
        assert t.intermediate[3] == 0.5 and math.isnan(t.intermediate[2])
        assert [r.step for r in t.reports] == [1, 3, 2]
        assert t.reports[0].metrics == {"loss": 2.0} and t.reports[1].metrics == {}
        done = storage.finish_trial(study, 0, _done(0.6))
        assert list(done.intermediate) == [1, 3, 2] and done.reports == t.reports
        with pytest.raises(TrialFinishedError):
            storage.report(study, 0, TrialReport(4, 0.7))
        assert storage.get_trial(study, 1).intermediate == {1: 0.2}

    def test_abandon_running(self, storage: Storage, study: str) -> None:
        storage.record_trial(study, _start(), _done(0.5))
        storage.start_trial(study, _start("b"))
        storage.start_trial(study, _start("c"))
        storage.start_trial(study, _start("d"))
        storage.finish_trial(study, 2, _done(0.6))
        abandoned = storage.abandon_running(study)
        assert [t.number for t in abandoned] == [1, 3]
        assert [t.finish_order for t in abandoned] == [2, 3]
        for t in abandoned:
            assert t.state is TrialState.FAILED and t.error == INTERRUPTED and t.interrupted
            assert storage.get_trial(study, t.number) == t
        assert storage.trials(study, [TrialState.RUNNING]) == []
        assert storage.abandon_running(study) == []
        with pytest.raises(TrialFinishedError):
            storage.finish_trial(study, 1, _done(1.0))
        # the resumed search proposes it again: a new trial with a new number
        assert storage.start_trial(study, _start("b", proposal=1)).number == 4

    def test_many_studies_are_independent(self, storage: Storage) -> None:
        names = [f"study-{i}" for i in range(4)]
        for name in names:
            storage.create_study(name, {"seed": name})
        for k in range(5):
            for i, name in enumerate(names):
                if (k + i) % 2:
                    t = storage.record_trial(name, _start(f"{name}/{k}"), _done(float(k)))
                else:
                    t = storage.start_trial(name, _start(f"{name}/{k}"))
                assert t.number == k
        assert storage.abandon_running(names[0]) != []
        for name in names:
            trials = storage.trials(name)
            assert [t.arch for t in trials] == [f"{name}/{k}" for k in range(5)]
        assert storage.trials(names[1], [TrialState.RUNNING])  # untouched by names[0]'s abandon

    def test_concurrent_threads_get_distinct_numbers(self, storage: Storage, study: str) -> None:
        def work(k: int) -> list[int]:
            out = []
            for i in range(10):
                t = storage.start_trial(study, _start(f"{k}/{i}"))
                storage.finish_trial(study, t.number, _done(float(k)))
                out.append(t.number)
            return out

        with ThreadPoolExecutor(4) as pool:
            numbers = sorted(n for ns in pool.map(work, range(4)) for n in ns)
        assert numbers == list(range(40))
        trials = storage.trials(study, [TrialState.COMPLETE])
        assert len(trials) == 40
        assert sorted(t.finish_order for t in trials if t.finish_order is not None) == list(
            range(40)
        )

    def test_pickle_round_trip(self, storage: Storage, study: str) -> None:
        storage.record_trial(study, _start(), _done(0.5))
        storage.start_trial(study, _start("b"))
        clone = pickle.loads(pickle.dumps(storage))
        assert type(clone) is type(storage)
        assert clone.trials(study) == storage.trials(study)
        assert clone.list_studies() == storage.list_studies()
        clone.finish_trial(study, 1, TrialOutcome.failed("x"))  # the clone is usable

    def test_reopen_sees_the_log(self, storage: Storage, study: str, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("not a persistent backend")
        storage.record_trial(study, _start(), _done(0.5, metrics={"x": [1.0, float("nan")]}))
        storage.start_trial(study, _start("b", parent=0))
        storage.report(study, 1, TrialReport(0, 0.25))
        storage.append_study_event(study, "budget", {"budget": 20})
        storage.create_study("t", {})
        before = storage.trials(study)
        storage.close()
        with self.make_storage(tmp_path) as again:
            assert [r.name for r in again.list_studies()] == ["s", "t"]
            rec = again.get_study(study)
            assert rec is not None and rec.config == CONFIG
            after = again.trials(study)
            assert len(after) == 2 and after[1] == before[1]
            assert same_json(after[0].metrics, before[0].metrics) and after[0].val == 0.5
            assert [e.payload for e in again.study_events(study)] == [{"budget": 20}]
            assert again.start_trial(study, _start("c")).number == 2  # numbering continues

    def test_two_handles_see_each_others_writes(self, storage: Storage, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("not a persistent backend")
        storage.create_study("s", {})
        other = self.make_storage(tmp_path)  # as another process would
        try:
            assert other.trials("s") == []
            storage.start_trial("s", _start())
            assert other.start_trial("s", _start("b")).number == 1
            other.finish_trial("s", 0, _done(0.1))
            assert storage.finish_trial("s", 1, _done(0.2)).finish_order == 1
            assert storage.trials("s") == other.trials("s")
            other.append_study_event("s", "k")
            assert len(storage.study_events("s")) == 1
        finally:
            other.close()

    def test_multiprocess_writers(self, storage: Storage, study: str) -> None:
        if not self.multiprocess:
            pytest.skip("a single-process backend")
        storage.start_trial(study, _start("parent-side"))  # the parent holds an open handle
        ctx = multiprocessing.get_context("spawn")
        jobs = [(storage, study, w, 12) for w in range(3)]
        with ctx.Pool(3) as pool:
            per_worker = pool.map(_writer, jobs, 1)
        numbers = sorted(n for ns in per_worker for n in ns)
        assert numbers == list(range(1, 37))  # no number handed out twice, none skipped
        trials = storage.trials(study)
        assert [t.number for t in trials] == list(range(37))
        finished = [t for t in trials if t.is_finished]
        assert len(finished) == 36 and all(t.state is TrialState.COMPLETE for t in finished)
        assert sorted(t.finish_order for t in finished if t.finish_order is not None) == list(
            range(36)
        )
        assert sum(len(t.reports) for t in trials) == 18  # no report lost
        for w, ns in enumerate(per_worker):
            assert [trials[n].arch for n in ns] == [f"w{w}/{i}" for i in range(12)]

    # -- JSON, NaN -----------------------------------------------------------------

    def test_metrics_round_trip_including_nan(self, storage: Storage, study: str) -> None:
        metrics = {
            "params": 1234567,
            "name": "resnet",
            "curve": [0.1, 0.5, float("nan"), float("inf")],
            "nested": {"a": [1, {"b": None}], "flag": True},
            "loss": float("nan"),
            "neg": -float("inf"),
        }
        t = storage.record_trial(study, _start(), _done(0.5, metrics=metrics))
        assert same_json(t.metrics, metrics)
        assert same_json(storage.get_trial(study, 0).metrics, metrics)
        assert list(storage.get_trial(study, 0).metrics) == list(metrics)  # key order kept

    def test_numpy_values_are_converted(self, storage: Storage, study: str) -> None:
        metrics = {"acc": np.float32(0.5), "n": np.int64(3), "curve": np.arange(3.0)}
        t = storage.record_trial(study, _start(), _done(np.float64(0.25), metrics=metrics))
        assert t.metrics == {"acc": 0.5, "n": 3, "curve": [0.0, 1.0, 2.0]}
        assert type(t.val) is float and t.val == 0.25

    def test_bad_metrics_are_refused(self, storage: Storage, study: str) -> None:
        with pytest.raises(TypeError):
            storage.record_trial(study, _start(), _done(metrics={1: 2}))
        with pytest.raises(TypeError):
            storage.record_trial(study, _start(), _done(metrics={"x": object()}))
        with pytest.raises(TypeError):
            storage.record_trial(study, _start(), _done(metrics=[("a", 1)]))
        assert storage.trials(study) == []

    def test_nan_objective_is_stored_as_failed(self, storage: Storage, study: str) -> None:
        """Decision: a COMPLETE trial with a non-finite ``val`` is recorded as FAILED."""
        t = storage.record_trial(study, _start(), _done(float("nan"), test=0.3))
        assert t.state is TrialState.FAILED and t.val is None and t.test == 0.3
        assert t.error is not None and "non-finite objective" in t.error
        storage.start_trial(study, _start("b"))
        u = storage.finish_trial(
            study, 1, TrialOutcome(TrialState.COMPLETE, float("inf"), error="diverged")
        )
        assert u.state is TrialState.FAILED and u.error is not None
        assert u.error.endswith("diverged")
        # elsewhere non-finite scalars are stored as None (raw values belong in metrics)
        p = storage.record_trial(
            study, _start("c"), TrialOutcome(TrialState.PRUNED, float("nan"), float("nan"))
        )
        assert (p.state, p.val, p.test) == (TrialState.PRUNED, None, None)
        c = storage.record_trial(study, _start("d"), _done(0.5, test=float("nan")))
        assert (c.state, c.val, c.test) == (TrialState.COMPLETE, 0.5, None)
        assert storage.trials(study) == [t, u, p, c]
