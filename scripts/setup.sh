#!/usr/bin/env bash
# Create .venv (if missing) and install einnas with everything the tests and the default job need.
# torch is installed first at a pinned CPU build: a bare `torch` requirement would pull a
# multi-GB CUDA build. For a GPU machine, install the torch build you want first, then run this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --quiet "torch==2.13.0"
fi
# the extras (all = data, export, plot, ray, pandas, docs, dev): pandas for
# Study.trials_dataframe(), sphinx + myst-parser for the docs build test
.venv/bin/pip install --quiet -e ".[all]"
# the example plug-in (a tabular space registered through an entry point; tests run it via the CLI)
if ! .venv/bin/python -c "import einnas_mlp1d" 2>/dev/null; then
  .venv/bin/pip install --quiet --no-deps -e examples/einnas-plugin-mlp1d
fi
