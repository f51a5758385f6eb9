#!/usr/bin/env bash
# Run the end-to-end demo on the embedded sample dataset (sets the machine up first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
export PATH="$HOME/.local/bin:$PATH"
exec uv run --frozen medharvest demo "$@"
