#!/usr/bin/env bash
# Set up (if needed) and run the default einnas job end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/einnas search "$@"
