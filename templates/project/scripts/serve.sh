#!/usr/bin/env bash
# Serve the prediction API with uvicorn; documentation at http://HOST:PORT/docs.
# Settings come from the environment or .env (see .env.example): HOST, PORT, WEB_CONCURRENCY
# (worker processes), MAX_BATCH_SIZE, LOG_LEVEL, ARTIFACT_ROOT.
# Usage: scripts/serve.sh [extra uvicorn options, e.g. --reload]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -f .env ]]; then
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi
PYTHON="${PYTHON:-python}"

exec "$PYTHON" -m uvicorn src.api.main:app \
  --host "${HOST:-127.0.0.1}" \
  --port "${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-1}" \
  "$@"
