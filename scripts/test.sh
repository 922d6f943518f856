#!/usr/bin/env bash
# Set up (if needed) and run the project's checks: ruff, mypy and the pytest suite.
# Tabular-benchmark tests read EINNAS_BENCHMARK_DIR (default: ../shared/data when present) and
# skip cleanly when the folder is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${EINNAS_BENCHMARK_DIR:-}" ] && [ -d ../shared/data ]; then
  export EINNAS_BENCHMARK_DIR="$(cd ../shared/data && pwd)"
fi
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
