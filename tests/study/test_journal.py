"""Journal-only behaviour: the file format and a torn last line."""

from __future__ import annotations

import json
from pathlib import Path

from einnas.study import JournalStorage, TrialOutcome, TrialStart, TrialState


def test_file_is_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with JournalStorage(path) as st:
        st.create_study("s", {"seed": 0})
        st.record_trial("s", TrialStart("a", "h"), TrialOutcome.complete(0.5))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e.get("kind") for e in lines] == [None, "start", "finish"]
    assert lines[0]["name"] == "s" and json.loads(lines[0]["config"]) == {"seed": 0}


def test_torn_last_line_is_ignored_then_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with JournalStorage(path) as st:
        st.create_study("s", {})
        st.record_trial("s", TrialStart("a", "h"), TrialOutcome.complete(0.5))
        st.start_trial("s", TrialStart("b", "h"))
    intact = path.read_bytes()
    with path.open("ab") as f:  # a writer killed in the middle of its write
        f.write(b'{"id":1,"kind":"finish","body":"{\\"number\\":1,')
    with JournalStorage(path) as st:
        assert [t.state for t in st.trials("s")] == [TrialState.COMPLETE, TrialState.RUNNING]
        assert st.finish_trial("s", 1, TrialOutcome.complete(0.6)).val == 0.6
    text = path.read_bytes()
    assert text.startswith(intact) and text.endswith(b"\n")
    assert all(json.loads(line) for line in text.splitlines())  # the fragment is gone
    with JournalStorage(path) as st:
        assert [t.val for t in st.trials("s")] == [0.5, 0.6]
