"""Ctrl-C and SIGTERM stop ``einnas search`` within 2 s, record running trials, leave no workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from einnas.benchmark_data import benchmark_dir_or_none


@pytest.fixture(scope="module")
def data_dir() -> Path:
    folder = benchmark_dir_or_none()
    if folder is None or not (folder / "nb201" / "nb201_cifar10.json").is_file():
        pytest.skip("benchmark data folder not found")
    return folder


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _finished(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(
                conn.execute("SELECT COUNT(*) FROM events WHERE kind='finish'").fetchone()[0]
            )
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_search_fast_and_records_running_trials(
    tmp_path: Path, data_dir: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-m", "einnas", "search", "--space", "nb201", "--dataset", "cifar10",
           "--strategy", "re", "--budget", "5000", "--storage", str(db), "--study", "t",
           "--no-progress", "--simulate-time", "--workers", "2", "--executor", "pool",
           "--benchmark-dir", str(data_dir)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while _finished(db) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    children = _children(proc.pid)
    assert children, "the pool's workers should be children of the search"
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert took < 2.0 + 1.0, f"took {took:.1f} s to stop"  # 1 s of slack for a loaded machine
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert "rerun the same command to resume" in err
    assert "Traceback" not in err
    time.sleep(2.0)
    assert [p for p in children if _alive(p)] == []
    rows = json.loads(
        subprocess.run(
            [sys.executable, "-m", "einnas", "trials", "--storage", str(db), "--study", "t",
             "--json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert rows and all(r["state"] != "running" for r in rows)
