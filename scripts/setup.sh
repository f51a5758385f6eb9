#!/usr/bin/env bash
# Set up a fresh machine (Python 3.11 and nothing else) for medharvest. Idempotent: each step is
# skipped when already done. Usage: scripts/setup.sh [demo|test]
set -euo pipefail
what="${1:-demo}"
cd "$(dirname "$0")/.."

export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi

# Debian packages: Tesseract for OCR; Chromium + driver for the Selenium source (tests).
need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-eng)
if [ "$what" = test ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v curl >/dev/null 2>&1 || need+=(curl)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

uv sync --frozen --quiet

if [ "$what" = test ]; then
  # Label Studio runs in its own environment (its pins clash with ours).
  command -v label-studio >/dev/null 2>&1 || uv tool install --quiet label-studio==1.23.2
fi
