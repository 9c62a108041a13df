#!/usr/bin/env bash
# Installs synprune and its exact tested stack into the active Python environment.
# torch goes first, pinned, so pip takes the CPU wheel instead of several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt "torch==2.13.0"
python -m pip install -q -c constraints.txt -e ".[dev]"
echo "synprune installed: $(python -c 'import synprune, torch; print(synprune.__version__, "torch", torch.__version__)')"
