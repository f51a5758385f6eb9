#!/usr/bin/env bash
# Run the whole test suite (sets the machine up first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export PATH="$HOME/.local/bin:$PATH"
set +e
uv run --frozen lint-imports --config pyproject.toml
lint=$?
uv run --frozen ruff check .
ruff=$?
uv run --frozen pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests - that is a failure" >&2
  exit 1
fi
[ "$ruff" -ne 0 ] && { echo "test.sh: ruff found problems (configured in pyproject [tool.ruff])" >&2; exit 1; }
[ "$lint" -ne 0 ] && { echo "test.sh: import contracts broken (spokes importing each other)" >&2; exit 1; }
exit "$rc"
