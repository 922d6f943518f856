"""One owner per study: the lease in the log (SQLite and journal), refusal, takeover, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from einnas.study import open_storage
from einnas.study.lease import (
    LEASE_EVENT,
    StudyLease,
    StudyLockedError,
    lease_owner,
    study_lease,
)
from einnas.study.trial import TrialState

BACKENDS = ["log.db", "log.jsonl"]


def _storage(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    st = open_storage(str(tmp_path / name))
    st.create_study("s", {"space": "x"})
    return st


def _holder(path: Path, seconds: float = 30.0) -> subprocess.Popen[str]:
    """A second process that acquires the lease of study 's' and holds it."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from einnas.study import open_storage
        from einnas.study.lease import StudyLease
        lease = StudyLease(open_storage({str(path)!r}), "s", interval=0.5).acquire()
        print("held", flush=True)
        time.sleep({seconds})
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("name", BACKENDS)
def test_second_process_is_refused_naming_the_owner(tmp_path: Path, name: str) -> None:
    st = _storage(tmp_path, name)
    proc = _holder(tmp_path / name)
    try:
        with pytest.raises(StudyLockedError) as info:
            StudyLease(st, "s").acquire()
        msg = str(info.value)
        assert f"pid {proc.pid}" in msg and socket.gethostname() in msg
        assert "since" in msg and "rerun" in msg
    finally:
        proc.kill()
        proc.wait()
    # the owner was killed -9: its pid is gone, the lease is taken over at once
    lease = StudyLease(st, "s", interval=0.2).acquire()
    try:
        assert lease.took_over is not None and lease.took_over.pid == proc.pid
        owner = lease.owner()
        assert owner is not None and owner.token == lease.token
    finally:
        lease.release()
    assert lease_owner(st.study_events("s")) is None


@pytest.mark.parametrize("name", BACKENDS)
def test_heartbeat_renews_and_a_silent_lease_goes_stale(tmp_path: Path, name: str) -> None:
    st = _storage(tmp_path, name)
    lease = StudyLease(st, "s", interval=0.1).acquire()
    time.sleep(0.5)
    renewals = [e for e in st.study_events("s") if e.kind == LEASE_EVENT]
    assert sum(e.payload["action"] == "renew" for e in renewals) >= 2
    # an owner on another host that stopped beating 3 intervals ago is stale
    lease._stop.set()
    st.append_study_event(
        "s",
        LEASE_EVENT,
        {"action": "release", "token": lease.token, "host": "h", "pid": 1, "time": time.time()},
    )
    lease.held = False
    st.append_study_event(
        "s",
        LEASE_EVENT,
        {"action": "acquire", "host": "elsewhere", "pid": 4242, "token": "t0",
         "time": time.time() - 100, "interval": 1.0},
    )  # fmt: skip
    other = StudyLease(st, "s", interval=0.1).acquire()
    assert other.took_over is not None and other.took_over.host == "elsewhere"
    other.release()


@pytest.mark.parametrize("name", BACKENDS)
def test_concurrent_acquires_have_one_winner(tmp_path: Path, name: str) -> None:
    _storage(tmp_path, name)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        lease = StudyLease(open_storage(str(tmp_path / name)), "s", interval=0.2)
        barrier.wait()
        try:
            results.append(lease.acquire())
        except StudyLockedError as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, StudyLease)]
    assert len(winners) == 1
    winners[0].release()


def test_lease_is_reentrant_in_one_process_and_skipped_in_memory(tmp_path: Path) -> None:
    st = _storage(tmp_path, "log.db")
    with study_lease(st, "s") as a, study_lease(st, "s") as b:
        assert a is b and a is not None and a.held
    assert lease_owner(st.study_events("s")) is None
    mem = open_storage(":memory:")
    mem.create_study("s", {})
    with study_lease(mem, "s") as lease:
        assert lease is None
    assert mem.study_events("s") == []


def test_refused_optimize_leaves_the_owners_running_trials_alone(tmp_path: Path) -> None:
    """The fault: a second search used to close the first one's running trials."""
    import einnas
    from einnas.spaces import SlotSpace

    path = tmp_path / "log.db"
    study = einnas.create_study(SlotSpace([3, 3, 3]), "rs", storage=str(path), study_name="s")
    running = study.ask()
    proc = _holder(path)
    try:
        again = einnas.create_study(SlotSpace([3, 3, 3]), "rs", storage=str(path), study_name="s")
        with pytest.raises(StudyLockedError):
            again.optimize(lambda t: 1.0, n_trials=3)
        assert again.storage.get_trial("s", running.number).state is TrialState.RUNNING
    finally:
        proc.kill()
        proc.wait()
    again.optimize(lambda t: 1.0, n_trials=3)  # the owner is gone: taken over, then resumed
    states = [t.state for t in again.trials]
    assert states.count(TrialState.COMPLETE) == 3


def _holder_of(path: Path, study: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import time
        from einnas.study import open_storage
        from einnas.study.lease import StudyLease
        lease = StudyLease(open_storage({str(path)!r}), {study!r}, interval=0.5).acquire()
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_cli_second_search_is_refused(tmp_path: Path) -> None:
    """Two ``einnas search`` on one study: the second one stops with the owner's name."""
    from einnas.benchmark_data import benchmark_dir_or_none

    folder = benchmark_dir_or_none()
    if folder is None or not (folder / "nb201" / "nb201_cifar10.json").is_file():
        pytest.skip("no benchmark data")
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-m", "einnas", "search", "--space", "nb201", "--dataset", "cifar10",
           "--strategy", "re", "--budget", "5", "--storage", str(db), "--study", "t",
           "--no-progress", "--benchmark-dir", str(folder)]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=240).returncode == 0
    proc = _holder_of(db, "t")
    try:
        more = [*cmd[:-5], "--budget", "10", *cmd[-5:]]
        res = subprocess.run(more, capture_output=True, text=True, timeout=240)
        assert res.returncode == 2, res.stderr
        assert "einnas search: error: study 't'" in res.stderr
        assert f"pid {proc.pid}" in res.stderr
        assert "Traceback" not in res.stderr
    finally:
        proc.kill()
        proc.wait()
    res = subprocess.run(more, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr


def test_two_concurrent_searches_make_no_duplicates(tmp_path: Path) -> None:
    """The fault: two processes on one study of budget 200 left 390 rows (190 duplicates)."""
    from einnas.benchmark_data import benchmark_dir_or_none

    folder = benchmark_dir_or_none()
    if folder is None or not (folder / "nb201" / "nb201_cifar10.json").is_file():
        pytest.skip("no benchmark data")
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-m", "einnas", "search", "--space", "nb201", "--dataset", "cifar10",
           "--strategy", "re", "--budget", "200", "--storage", str(db), "--study", "t",
           "--no-progress", "--benchmark-dir", str(folder)]  # fmt: skip
    # the study exists first, so that both processes race for the lease, not for its creation
    first = subprocess.run([*cmd[:-5], "--budget", "1", *cmd[-5:]], capture_output=True)
    assert first.returncode == 0
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=240), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in results:
        assert code == 0 or (code == 2 and "being searched by another process" in err), err
    st = open_storage(str(db))
    trials = [t for t in st.trials("t") if not t.interrupted]
    assert len(trials) == 200 and len({t.proposal for t in trials}) == 200
