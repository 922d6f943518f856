"""Damaged, odd and read-only log files: one clear StorageError line, nothing logged lost."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from einnas.study import SQLiteStorage, TrialOutcome, TrialStart, open_storage
from einnas.study.storage import CorruptLogError, StorageFileError


def _log(path: Path, n: int = 20, failed: int = 0) -> Path:
    st = open_storage(str(path))
    st.create_study("s", {"space": "x"})
    for i in range(n):
        out = TrialOutcome.failed(f"boom {i % 2}") if i < failed else TrialOutcome.complete(0.5)
        st.record_trial("s", TrialStart(f"a{i}", f"h{i}"), out)
    st.close()
    return path


def _read_all(spec: str) -> int:
    st = open_storage(spec)
    try:
        return sum(len(st.trials(s.name)) for s in st.list_studies())
    finally:
        st.close()


def _einnas(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "einnas", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("damage", ["truncate", "garbage", "text", "flip-header"])
def test_damaged_sqlite_file_is_one_clear_error(tmp_path: Path, damage: str) -> None:
    path = _log(tmp_path / "log.db")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:5000])
    elif damage == "garbage":
        path.write_bytes(os.urandom(8192))
    elif damage == "text":
        path.write_text("hello\n")
    else:
        path.write_bytes(b"SQLite format 2\x00" + data[16:])
    with pytest.raises(StorageFileError, match=str(path)):
        _read_all(str(path))
    res = _einnas("trials", "--storage", str(path), "--study", "s")
    assert res.returncode == 2
    assert res.stderr.startswith("einnas trials: error: ") and str(path) in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_directory_as_storage(tmp_path: Path) -> None:
    for name in ("d.db", "d.jsonl"):
        (tmp_path / name).mkdir()
        with pytest.raises(StorageFileError, match="is a directory"):
            _read_all(str(tmp_path / name))
        res = _einnas("search", "--space", "nb201", "--storage", str(tmp_path / name))
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def test_read_only_archive_is_readable_not_writable(tmp_path: Path) -> None:
    """A finished log on read-only media (chmod 0444 file in a 0555 folder; root too)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    _log(folder / "log.db", failed=3)
    _log(folder / "log.jsonl", failed=3)
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)
    try:
        for name in ("log.db", "log.jsonl"):
            spec = str(folder / name)
            assert _read_all(spec) == 20
            st = open_storage(spec)
            with pytest.raises(StorageFileError, match="read-only"):
                st.record_trial("s", TrialStart("z", "z"), TrialOutcome.complete(1.0))
            assert len(st.trials("s")) == 20
            for verb in ("trials", "report"):
                res = _einnas(verb, "--storage", spec, "--study", "s")
                assert res.returncode == 0, res.stderr
            assert sorted(os.listdir(folder)) == ["log.db", "log.jsonl"]
    finally:
        folder.chmod(0o755)


def test_disk_full_keeps_what_was_logged(tmp_path: Path) -> None:
    path = _log(tmp_path / "log.db")
    st = SQLiteStorage(path)
    before = len(st.trials("s"))
    pages = st._conn().execute("PRAGMA page_count").fetchone()[0]
    st._conn().execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is now full
    with pytest.raises(StorageFileError, match="disk is full"):
        for i in range(2000):
            st.record_trial("s", TrialStart("x" * 500 + str(i), f"z{i}"), TrialOutcome.complete(1))
    st.close()
    assert _read_all(str(path)) >= before


def test_sqlite_raw_errors_never_escape_a_corrupt_body(tmp_path: Path) -> None:
    path = _log(tmp_path / "log.db")
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET body = '{not json' WHERE seq = 5")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptLogError, match="damaged"):
        _read_all(str(path))


def test_journal_corrupt_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = _log(tmp_path / "log.jsonl")
    lines = path.read_text().split("\n")
    lines[7] = lines[7][:25]
    path.write_text("\n".join(lines))
    with pytest.raises(CorruptLogError, match=rf"{path}, line 8"):
        _read_all(str(path))
    res = _einnas("report", "--storage", str(path), "--study", "s")
    assert res.returncode == 2 and "line 8" in res.stderr and "Traceback" not in res.stderr


def test_journal_torn_last_line_is_still_ignored(tmp_path: Path) -> None:
    path = _log(tmp_path / "log.jsonl")
    with path.open("a") as f:
        f.write('{"id": 1, "kind": "sta')
    assert _read_all(str(path)) == 20


# --------------------------------------------------------------------------- read verbs


@pytest.mark.parametrize("verb", ["trials", "report", "export"])
def test_read_verbs_never_create_a_log(tmp_path: Path, verb: str) -> None:
    """The fault: `einnas trials --storage missing.db` created the file."""
    for name in ("missing.db", "missing.jsonl"):
        res = _einnas(verb, "--storage", name, "--study", "s", cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        assert "no trial log at" in res.stderr and "Traceback" not in res.stderr
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("verb", ["trials", "report", "export"])
def test_unknown_study_names_the_existing_ones(tmp_path: Path, verb: str) -> None:
    path = _log(tmp_path / "log.db")
    res = _einnas(verb, "--storage", str(path), "--study", "nope")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no study named 'nope'" in res.stderr and "'s'" in res.stderr


def test_failure_reasons_are_listed(tmp_path: Path) -> None:
    path = _log(tmp_path / "log.db", failed=5)
    rows = json.loads(_einnas("trials", "--storage", str(path), "--study", "s", "--json").stdout)
    assert [r["error"] for r in rows[:5]] == ["boom 0", "boom 1", "boom 0", "boom 1", "boom 0"]
    assert rows[5]["error"] is None
    text = _einnas("trials", "--storage", str(path), "--study", "s").stdout
    assert "error: boom 1" in text
    rep = json.loads(_einnas("report", "--storage", str(path), "--study", "s", "--json").stdout)
    assert rep["failure_reasons"] == {"boom 0": 3, "boom 1": 2}
    out = _einnas("report", "--storage", str(path), "--study", "s").stdout
    assert "3 x boom 0" in out and "2 x boom 1" in out


def test_mode_bits(tmp_path: Path) -> None:
    """Sanity: the archive test's chmod really leaves no write bits."""
    p = tmp_path / "f"
    p.write_text("x")
    p.chmod(0o444)
    assert not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
