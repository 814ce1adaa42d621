#!/usr/bin/env bash
# Runs the whole benchmark suite and prints the table of docs/performance.md.
#
#   scripts/bench.sh [RUNS]      # RUNS runs of the caller-side and storm benches (default 3)
#
# Environment: MEASURE (criterion measurement seconds per benchmark, default 3),
# STORM_SECS (length of the storm, default 5), SKIP_STORAGE=1 (leave out the ingest, store and
# redb_floor benches, which take a few minutes). Results are kept in target/bench-results/; the table is
# printed by scripts/bench_table.py (Python 3, standard library only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs="${1:-3}"
measure="${MEASURE:-3}"
out=target/bench-results
criterion="${CARGO_TARGET_DIR:-target}/criterion"
log="${out}/bench.log"

rm -rf "${out}"
mkdir -p "${out}"
: >"${log}"
echo "Logging to ${log}"

bench() {
    echo "+ cargo bench $*" | tee -a "${log}"
    cargo bench "$@" >>"${log}" 2>&1
}

# Copies criterion's estimates for the groups named in $2.. into run folder $1.
keep_estimates() {
    local dest="$1"
    shift
    local group dir
    for group in "$@"; do
        for dir in "${criterion}/${group}"/*/; do
            [[ -f "${dir}new/estimates.json" ]] || continue
            mkdir -p "${dest}/${group}/$(basename "${dir}")"
            cp "${dir}new/estimates.json" "${dest}/${group}/$(basename "${dir}")/"
        done
    done
}

bench --no-run --bench peers --bench storm --bench allocations --bench ingest --bench store --bench redb_floor --bench text --bench context

caller_groups=(1_span_3_fields 2_info_event_in_span 3_error_in_3_spans 4_error_after_100_infos)
for run in $(seq 1 "${runs}"); do
    echo "Run ${run} of ${runs}"
    rm -rf "${caller_groups[@]/#/${criterion}/}"
    bench --bench peers -- --warm-up-time 1 --measurement-time "${measure}" --noplot
    keep_estimates "${out}/runs/${run}" "${caller_groups[@]}"
    bench --bench storm
    cp "${out}/storm.json" "${out}/runs/${run}/storm.json"
done

bench --bench allocations

# Instructions per operation under callgrind: unlike times, they do not move with the load
# of the machine, so the ratios to the baseline can be checked on a busy one too.
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    exe="$(cargo bench --bench allocations --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1)"
    n=20000
    : >"${out}/instructions.tsv"
    for w in 1 2 3; do
        for column in noop error-tracker tracing-error sentry-tracing fmt-to-sink; do
            echo "+ callgrind: workload ${w}, ${column}" | tee -a "${log}"
            valgrind --tool=callgrind --callgrind-out-file="${out}/callgrind.${w}.${column}" \
                "${exe}" profile "${w}" "${column}" "${n}" >>"${log}" 2>&1
            # The workload functions are never inlined; their inclusive cost over the calls
            # (n measured after n / 10 warm-up calls) is the cost of one operation.
            total="$(callgrind_annotate --inclusive=yes "${out}/callgrind.${w}.${column}" 2>/dev/null |
                grep -E 'common::(span_with_three_fields|info_event|error_event) ' |
                head -n 1 | awk '{gsub(",", "", $1); print $1}' || true)"
            printf '%s\t%s\t%s\n' "${w}" "${column}" "$((${total:-0} / (n + n / 10)))" >>"${out}/instructions.tsv"
        done
    done
fi

# Backtraces: an error! on a hot callsite by mode, and a panic's capture (benches/context.rs).
rm -rf "${criterion}/5_error_backtraces" "${criterion}/6_panic_capture" "${criterion}/7_info_breadcrumbs"
bench --bench context -- --warm-up-time 1 --measurement-time "${measure}" --noplot
keep_estimates "${out}/backtraces" 5_error_backtraces 6_panic_capture 7_info_breadcrumbs
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    exe="$(cargo bench --bench context --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1)"
    n=20000
    : >"${out}/backtrace_instructions.tsv"
    for mode in off new_callsites always; do
        echo "+ callgrind: error! with backtraces = ${mode}" | tee -a "${log}"
        valgrind --tool=callgrind --callgrind-out-file="${out}/callgrind.backtraces.${mode}" \
            "${exe}" profile "${mode}" "${n}" >>"${log}" 2>&1
        total="$(callgrind_annotate --inclusive=yes "${out}/callgrind.backtraces.${mode}" 2>/dev/null |
            grep -E 'common::error_event ' | head -n 1 | awk '{gsub(",", "", $1); print $1}' || true)"
        printf '%s\t%s\n' "${mode}" "$((${total:-0} / (n + n / 10)))" >>"${out}/backtrace_instructions.tsv"
    done
    # info! with breadcrumbs: off (0), on (20), and the floor layer.
    : >"${out}/breadcrumb_instructions.tsv"
    for count in 0 20 floor; do
        echo "+ callgrind: info! with breadcrumbs ${count}" | tee -a "${log}"
        valgrind --tool=callgrind --callgrind-out-file="${out}/callgrind.breadcrumbs.${count}" \
            "${exe}" profile breadcrumbs "${count}" "${n}" >>"${log}" 2>&1
        total="$(callgrind_annotate --inclusive=yes "${out}/callgrind.breadcrumbs.${count}" 2>/dev/null |
            grep -E 'common::info_event ' | head -n 1 | awk '{gsub(",", "", $1); print $1}' || true)"
        printf '%s\t%s\n' "${count}" "$((${total:-0} / (n + n / 10)))" >>"${out}/breadcrumb_instructions.tsv"
    done
fi

if [[ "${SKIP_STORAGE:-0}" != 1 ]]; then
    rm -rf "${criterion}/ingest" "${criterion}/list 100k errors"
    # (6): distinct errors through the worker into redb; (7): listing at 100,000 errors.
    bench --bench ingest -- --noplot distinct
    bench --bench store -- --warm-up-time 1 --measurement-time "${measure}" --noplot 'list 100k errors'
    keep_estimates "${out}/storage" ingest "list 100k errors"
    # What redb alone allows for (6), whatever the crate does: writes `redb_floor.json`.
    bench --bench redb_floor
fi

# The text functions on ordinary and adversarial input (docs/performance.md, "Hostile
# input"): criterion prints each throughput; the log keeps them.
bench --bench text -- --warm-up-time 1 --measurement-time "${measure}" --noplot
grep -E '^text_|thrpt:' "${log}" | paste - - | awk '{print $1, $(NF-3), $(NF-2)}' >"${out}/text.txt" || true

echo
python3 scripts/bench_table.py "${out}"
echo
echo "Text functions, throughput on 16 KiB inputs (median):"
cat "${out}/text.txt"
