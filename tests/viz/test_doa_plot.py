"""The figure of the DoA diagnostic (synthetic space, no benchmark needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from einnas.diagnostics import default_config, diagnose_doa, load_objective_table
from einnas.viz.doa_plot import plot_doa_diagnostic


def test_writes_a_png(tmp_path: Path) -> None:
    table = load_objective_table("synthetic", "6x3", interaction=0.5)
    diag = diagnose_doa(table, default_config(table, predictor="ridge", n_archs=60, seeds=1,
                                              held_out_pairs=10))  # fmt: skip
    out = tmp_path / "sub" / "doa.png"
    assert plot_doa_diagnostic(diag, out, "toy") == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1200  # 10 inches at 120 dpi
