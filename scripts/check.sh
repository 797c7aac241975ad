#!/usr/bin/env bash
# Every gate, in the order a failure is cheapest to read: lint, types, policy invariants, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff"
"$BIN/ruff" check src tests bench
echo "== mypy --strict src/"
"$BIN/mypy"
echo "== zdr policy check"
"$BIN/zdr" policy check
echo "== pytest"
"$BIN/pytest" "$@"
