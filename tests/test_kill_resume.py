"""A real SIGKILL in the middle of ``einnas search``, then the same command again.

The search runs in a subprocess with a process pool of two workers (so evaluations are in
flight when the kill lands).  The test polls the trial log through a read-only SQLite
connection until a random number of trials (20 to 250, from a seeded RNG) have finished, kills
the process with SIGKILL, reruns the identical command to completion, and checks with
``einnas trials --json`` that nothing finished before the kill was lost or changed, that at most
``workers`` trials were lost (closed as interrupted and evaluated again), that the budget is met
without duplicates, and that the resumed log replays to its own decisions (the search is
asynchronous: decisions depend on the order results arrived, which the log records).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from einnas.benchmark_data import benchmark_dir_or_none

BUDGET = 300
WORKERS = 2
TIMEOUT = 240  # seconds for any one command (a loaded CI machine)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    folder = benchmark_dir_or_none()
    if folder is None or not (folder / "nb201" / "nb201_cifar10.json").is_file():
        pytest.skip(
            "benchmark data folder not found (set EINNAS_BENCHMARK_DIR or provide ../shared/data)"
        )
    return folder


def _einnas(*args: str) -> list[str]:
    return [sys.executable, "-m", "einnas", *args]


def _search_cmd(db: Path, study: str, data_dir: Path) -> list[str]:
    return _einnas(
        "search",
        "--space", "nb201",
        "--dataset", "cifar10",
        "--strategy", "re",
        "--budget", str(BUDGET),
        "--seed", "5",
        "--storage", str(db),
        "--study", study,
        "--no-progress",
        "--simulate-time",
        "--workers", str(WORKERS),
        "--executor", "pool",
        "--benchmark-dir", str(data_dir),
    )  # fmt: skip


def _n_finished(db: Path, study: str) -> int:
    """Finished trials of ``study``, read through a read-only connection (0 before it exists)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM events e JOIN studies s ON s.id = e.study_id"
            " WHERE s.name = ? AND e.kind = 'finish'",
            (study,),
        ).fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        conn.close()


def _trials(db: Path, study: str, cwd: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        _einnas("trials", "--storage", str(db), "--study", study, "--json"),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def _decisions(rows: list[dict[str, Any]]) -> tuple[list[tuple[int, str, int | None]], int]:
    """(proposal, arch, parent's proposal) of the finished decisions, and how many trials were
    lost (interrupted: an earlier trial of a decision that was evaluated again)."""
    by_number = {r["number"]: r for r in rows}
    last: dict[int, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["number"]):
        assert r["state"] in ("complete", "failed"), r
        last[r["proposal"]] = r
    lost = [r for r in rows if last[r["proposal"]] is not r]
    assert all(r["state"] == "failed" for r in lost)  # closed as interrupted
    decisions = [
        (
            p,
            r["arch"],
            None if r["parent"] is None else by_number[r["parent"]]["proposal"],
        )
        for p, r in sorted(last.items())
    ]
    return decisions, len(lost)


@pytest.mark.benchmark_data
@pytest.mark.slow
def test_sigkill_then_rerun_loses_only_running_trials_and_replays(
    data_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    target = random.Random(20240607).randint(20, 250)
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(
        _search_cmd(db, "k", data_dir),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its pool workers share its process group: cleaned up below
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while (n := _n_finished(db, "k")) < target:
            assert proc.poll() is None, (
                f"search ended (rc {proc.returncode}) before the kill at {n}"
            )
            assert time.monotonic() < deadline, f"only {n} trials after {TIMEOUT} s"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        # orphaned pool workers of the killed search, if any are left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    at_kill = _n_finished(db, "k")
    assert target <= at_kill < BUDGET, "the kill did not land in the middle of the search"
    killed_rows = _trials(db, "k", tmp_path)

    stderr = {}
    for study in ("k", "u"):  # resume the killed study; an uninterrupted one for reference
        done = subprocess.run(
            _search_cmd(db, study, data_dir),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        stderr[study] = done.stderr
    assert f"resuming study 'k': {at_kill} finished trials" in stderr["k"]
    assert "resuming" not in stderr["u"]

    resumed, lost = _decisions(_trials(db, "k", tmp_path))
    reference, lost_ref = _decisions(_trials(db, "u", tmp_path))
    assert lost_ref == 0
    assert [d[0] for d in reference] == list(range(BUDGET))
    assert [d[0] for d in resumed] == list(range(BUDGET))
    assert len({d[1] for d in resumed}) == BUDGET  # no architecture evaluated twice
    assert lost <= WORKERS
    before = {(r["proposal"], r["arch"], r["val"]) for r in killed_rows if r["state"] == "complete"}
    after = {(r["proposal"], r["arch"], r["val"]) for r in _trials(db, "k", tmp_path)}
    assert before <= after  # every result logged before the kill is still there, unchanged
    from einnas.experiment import SearchSpec, build_search
    from einnas.study.runner import replay_decisions
    from einnas.study.sqlite_storage import SQLiteStorage

    spec = SearchSpec(space="nb201", dataset="cifar10", strategy="re", seed=5,
                      benchmark_dir=str(data_dir))  # fmt: skip
    space, _, strategy = build_search(spec)
    for study in ("k", "u"):
        assert replay_decisions(SQLiteStorage(db), study, space, strategy, 5) == [], study
