#!/usr/bin/env bash
# The GPU path, measured in one go (oracle/benchmarks/gpu_check.py says what each section measures).
#
#   scripts/gpu_check.sh            on a machine with an NVIDIA GPU: every section at GPU sizes; writes
#                                   oracle/benchmarks/results-gpu.json and the GPU section of RESULTS.md
#   scripts/gpu_check.sh --dry      the same code paths on the CPU at small sizes (CI runs this), written
#                                   to test-artifacts/gpu-check-dry.json only
#
# Python: the project's .venv when there is one; else python3 (a GPU box's own PyTorch), with the oracle
# imported from this checkout. WHEELHOUSE=DIR first installs the oracle's dependencies from wheels in DIR
# (no index: for machines that reach no registry) into .venv-gpu, which sees the system's PyTorch.
# Exit status: 0 when no section failed (skipped sections, e.g. no PyTorch, are not failures).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=gpu
for a in "$@"; do
  case "$a" in
    --dry) MODE=dry ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option $a (known: --dry, --help)" >&2; exit 2 ;;
  esac
done

PY=python3
if [ -n "${WHEELHOUSE:-}" ]; then
  [ -d "$WHEELHOUSE" ] || { echo "gpu_check: WHEELHOUSE=$WHEELHOUSE is not a folder" >&2; exit 2; }
  [ -x .venv-gpu/bin/python ] || python3 -m venv --system-site-packages .venv-gpu
  .venv-gpu/bin/python -m pip install -q --no-index --find-links "$WHEELHOUSE" --no-deps "$WHEELHOUSE"/*.whl
  PY=.venv-gpu/bin/python
elif [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "$MODE" = gpu ] && ! "$PY" -c 'import pynvml; pynvml.nvmlInit()' >/dev/null 2>&1; then
  echo "gpu_check: NVML finds no NVIDIA GPU here; run with --dry for the CPU stand-in" >&2
  exit 3
fi
if [ "$MODE" = dry ]; then
  exec "$PY" -m oracle.benchmarks.gpu_check --dry --out test-artifacts/gpu-check-dry.json
fi
exec "$PY" -m oracle.benchmarks.gpu_check --out oracle/benchmarks/results-gpu.json \
  --results-md oracle/benchmarks/RESULTS.md
