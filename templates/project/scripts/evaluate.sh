#!/usr/bin/env bash
# Metrics of the shipped model on the test split of a data file (the split training used).
# Usage: scripts/evaluate.sh [DATA_FILE]   (default: the configured data)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

if [[ $# -gt 0 ]]; then
  "$PYTHON" -m src.models.evaluate --data "$1"
else
  "$PYTHON" -m src.models.evaluate
fi
