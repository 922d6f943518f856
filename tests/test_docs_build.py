"""The user guide builds with Sphinx, warnings as errors (``pip install -e ".[docs]"``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="sphinx / myst-parser not installed (pip install -e '.[docs]')",
)
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "html"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    pages = {p.stem for p in out.glob("*.html")}
    assert {"index", "quickstart", "cli", "api", "plugins", "storage", "reference"} <= pages
    reference = (out / "reference.html").read_text(encoding="utf-8")
    for name in (
        "einnas.api.create_study",
        "einnas.api.load_study",
        "einnas.api.Study.ask",
        "einnas.api.Study.tell",
        "einnas.api.Study.optimize",
        "einnas.api.Study.best_trial",
        "einnas.api.Study.trials_dataframe",
        "einnas.spaces.slots.SlotSpace",
        "einnas.spaces.tabular.TabularBenchmark",
        "einnas.study.storage.Storage",
        "einnas.study.factory.open_storage",
        "einnas.registry.register_space",
        "einnas.fidelity.ASHA",
        "einnas.strategies.base.Strategy",
    ):
        assert f'id="{name}"' in reference, f"{name} missing from the API reference"
