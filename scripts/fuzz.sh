#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 600), two at a time.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); it builds on the stable toolchain through
# RUSTC_BOOTSTRAP=1. Inputs up to 64 KiB; one that takes over 3 s (a text function gone
# quadratic) or crashes stops its target and is kept in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-600}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build
targets=(parameterize scrub mask keys)
run() {
    mkdir -p "fuzz/corpus/$1"
    cargo fuzz run "$1" "fuzz/corpus/$1" -- -max_len=65536 -timeout=3 -rss_limit_mb=2048 \
        -max_total_time="${seconds}" -print_final_stats=1 >"fuzz/$1.log" 2>&1
    echo "$1: $(grep -E 'stat::number_of_executed_units' "fuzz/$1.log" | awk '{print $2}') inputs, no failure"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    run "${targets[i]}" &
    if ((i + 1 < ${#targets[@]})); then run "${targets[i + 1]}" & fi
    wait
done
