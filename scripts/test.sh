#!/usr/bin/env bash
# The test suite: ruff, then pytest (ROS tests isolated by tests/conftest.py).
#   scripts/test.sh          # default: everything but tests marked slow
#   scripts/test.sh --all    # slow tests too
#   scripts/test.sh -- ARGS  # extra pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "$ROOT" && realpath -m "${VENV:-.venv}")"  # absolute: CMake and colcon need it
cd "$ROOT"

marker=(-m "not slow")
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --all) marker=(); shift ;;
    --) shift; extra=("$@"); break ;;
    *) extra+=("$1"); shift ;;
  esac
done

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "== pytest"
# -p no:cacheprovider keeps a read-only checkout clean.
exec "$VENV/bin/python" -m pytest "${marker[@]}" -p no:cacheprovider "${extra[@]}"
