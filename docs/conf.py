"""Sphinx configuration of the einnas user guide (``sphinx-build -W -b html docs <out>``).

Markdown pages are read with MyST; the API reference is generated from the docstrings with
autodoc + napoleon. Nothing is downloaded (no intersphinx).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "einnas"
author = "the einnas authors"
copyright = "2026, the einnas authors"  # noqa: A001 - Sphinx's name
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "results", "figures"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False

html_theme = "alabaster"
html_title = "einnas"
html_static_path: list[str] = []
