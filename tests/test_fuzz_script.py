"""benchmarks/fuzz.py at a small N: one JSON line, no tracebacks, no hangs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"


def test_fuzz_script_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("einnas_fuzz_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--parser-n", "400", "--data-n", "20", "--storage-n", "60", "--seed", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert code == 0, result
    for name, n in (("parser", 400), ("data", 20), ("storage", 60)):
        target = result["targets"][name]
        assert target["inputs"] == n
        assert target["tracebacks"] == 0 and target["hangs"] == 0, target
