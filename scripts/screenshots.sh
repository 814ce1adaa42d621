#!/usr/bin/env bash
# Saves screenshots of the dashboard's list and detail pages, filled with sample errors, to a
# folder (default docs/img). Needs headless Chromium at /usr/bin/chromium (or $CHROMIUM).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(realpath -m "${1:-docs/img}")"
mkdir -p "${out}"
SCREENSHOT_DIR="${out}" cargo test --features dashboard --test dashboard_browser \
    -- --ignored --exact save_screenshots
# Fewer colours make the files several times smaller; pngquant is optional.
if command -v pngquant >/dev/null 2>&1; then
    pngquant --force --skip-if-larger --quality 70-95 --ext .png "${out}"/dashboard-*.png || true
fi
ls -l "${out}"/dashboard-*.png
