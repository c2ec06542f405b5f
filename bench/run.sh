#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - the lfchan benchmark entry point.
#
#   bench/run.sh [--quick | --full] [--filter REGEX] [--pin none|split|same]
#                [--no-deps] [--out DIR] [-- GBENCH_FLAG...]
#
# Installs what it needs (scripts/deps.sh gnuplot-nox), builds lfc_bench in
# Release mode in build/bench (or $LFC_BENCH_BUILD, e.g. a private tree on a
# shared checkout), runs every benchmark (a progress line each),
# and writes bench/results/<YYYYmmdd-HHMMSS>/ (or --out DIR):
#   benchmark-<host>-<commit>.json  google-benchmark's JSON
#   results.csv                     one row per benchmark
#   summary.md                      tables, ratios to the mutex channel
#                                   (patterns: to their mutex and sem_t
#                                   versions), the issue's targets, the machine
#   *.png (and the *.dat behind them) charts, when gnuplot is installed
#   console.log, machine.md
# then prints the summary and the machine.
#
#   (default)   about 4.5-6.5 minutes on 2 cores: 1M messages per row or
#               0.75 s (select and timeout rows: 0.5 s, timeouts that fire:
#               0.25 s; pool, merger and semaphore rows, --filter
#               'BM_(pool|merge|sem)_': 1M tasks or values, 2M acquires, or
#               0.5 s, about 15 s in all)
#   --quick     under a minute: 100k messages or 0.1 s per row, every row
#               unpinned plus a few split/same rows (CI's smoke check:
#               every benchmark must verify; no speed is asserted)
#   --full      5M messages or 5 s per row, 3 iterations: as long as it takes
#   --filter    a regular expression (extended) over benchmark names, e.g.
#               'spsc.*cap:1024'; a leading '-' keeps the non-matching ones
#   --pin       run only this placement (comma list ok); default all three
#   --          anything after is passed to lfc_bench (google-benchmark or
#               --lfcb_* flags, see bench/bench_main.cc)
#
# Exit status: 0 if every benchmark ran and verified what it received,
# nonzero otherwise (including a build failure). Runnable from any
# directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() {
    sed -n '4,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

mode=default
deps=1
filter=
pin=all
out=
extra=()
orig_args="$*"
while (($# > 0)); do
    case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --no-deps) deps=0 ;;
    --filter)
        (($# >= 2)) || { echo "bench/run.sh: --filter needs a REGEX" >&2; exit 2; }
        filter=$2
        shift ;;
    --filter=*) filter=${1#--filter=} ;;
    --pin)
        (($# >= 2)) || { echo "bench/run.sh: --pin needs none|split|same" >&2; exit 2; }
        pin=$2
        shift ;;
    --pin=*) pin=${1#--pin=} ;;
    --out)
        (($# >= 2)) || { echo "bench/run.sh: --out needs a directory" >&2; exit 2; }
        out=$2
        shift ;;
    --out=*) out=${1#--out=} ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/run.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

case ",$pin," in
*,all,* | *,none,* | *,split,* | *,same,*) ;;
*) echo "bench/run.sh: --pin wants none, split or same" >&2; exit 2 ;;
esac

if ((deps)); then
    "$root/scripts/deps.sh" gnuplot-nox
fi

build=${LFC_BENCH_BUILD:-$root/build/bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLFC_BUILD_BENCH=ON \
    -DLFC_BUILD_TESTS=OFF -DLFC_SANITIZE= -DLFC_DEBUG_YIELD=OFF >/dev/null
cmake --build "$build" -j "${LFC_JOBS:-$(nproc)}" --target lfc_bench
bin=$build/bench/lfc_bench

stamp=$(date +%Y%m%d-%H%M%S)
dir=${out:-$root/bench/results/$stamp}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# --- The machine -----------------------------------------------------------
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo nocommit)
if [[ $commit != nocommit ]] &&
   [[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit="$commit-dirty"
fi
host=$(uname -n)
cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | sed -n 1p)
[[ -n $cpu ]] || cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
hyper=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | sed -n 1p)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" | sed -n 1p)
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" | sed -n 1p)
ccv=$("${cc:-cc}" --version 2>/dev/null | sed -n 1p || echo unknown)
cxxv=$("${cxx:-c++}" --version 2>/dev/null | sed -n 1p || echo unknown)
pcv() { pkg-config --modversion "$1" 2>/dev/null || echo '?'; }
{
    echo "Machine: $host; CPU: ${cpu:-unknown}${hyper:+ ($hyper guest)};" \
         "$(nproc) CPUs online to this process ($(getconf _NPROCESSORS_ONLN) online);" \
         "kernel: $(uname -sr); $(uname -m)."
    echo
    echo "Build: Release; C: $ccv; C++: $cxxv; google-benchmark $(pcv benchmark)," \
         "Concurrency Kit $(pcv ck), liburcu $(pcv liburcu-cds)."
    echo
    echo "Commit: $commit; run: $(date -u +%Y-%m-%dT%H:%M:%SZ);" \
         "mode: $mode; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$dir/machine.md"

# --- Run ------------------------------------------------------------------------
json=$dir/benchmark-$host-$commit.json
args=(--lfcb_mode="$mode" --lfcb_pin="$pin" --lfcb_outdir="$dir"
      --lfcb_machine="$dir/machine.md"
      --lfcb_cmdline="bench/run.sh${orig_args:+ $orig_args}"
      --benchmark_out="$json" --benchmark_out_format=json)
[[ -n $filter ]] && args+=(--lfcb_filter="$filter")
args+=("${extra[@]}")

echo "bench/run.sh: $mode run, pin: $pin${filter:+, filter: $filter}; results in ${dir#"$root"/}"
set +e
"$bin" "${args[@]}" 2>&1 | tee "$dir/console.log"
status=${PIPESTATUS[0]}
set -e
if ((status == 0)) && grep -q '"error_occurred": true' "$json" 2>/dev/null; then
    status=1
fi

# --- Charts ---------------------------------------------------------------------
charts=0
if command -v gnuplot >/dev/null 2>&1; then
    for dat in "$dir"/*.dat; do
        [[ -e $dat ]] || continue
        title=$(sed -n 's/^# title: //p' "$dat" | sed -n 1p)
        ylab=$(sed -n 's/^# ylabel: //p' "$dat" | sed -n 1p)
        ncol=$(grep -v '^#' "$dat" | sed -n 1p | awk '{print NF}')
        # Only values that gnuplot can put on a log axis.
        if ! grep -v '^#' "$dat" | tail -n +2 |
             awk '{for (i = 2; i <= NF; i++) if ($i != "-" && $i > 0) f = 1} END {exit !f}'; then
            continue
        fi
        if gnuplot -e "infile='$dat'; outfile='${dat%.dat}.png'; ttl='${title//\'/}'; ylab='${ylab//\'/}'; ncol=$ncol" \
               "$root/bench/plot.gp" 2>>"$dir/gnuplot.log"; then
            charts=$((charts + 1))
        else
            echo "bench/run.sh: gnuplot failed on ${dat##*/} (see gnuplot.log)" >&2
        fi
    done
    [[ -s $dir/gnuplot.log ]] || rm -f "$dir/gnuplot.log"
else
    echo "bench/run.sh: gnuplot not found: no charts (install gnuplot-nox)" >&2
fi

# --- Summary ---------------------------------------------------------------------
echo
if [[ -f $dir/summary.md ]]; then
    cat "$dir/summary.md"
fi
echo
sed 's/^/  /' "$dir/machine.md" | grep -v '^ *$'
echo "Results: ${dir#"$root"/} ($charts charts; JSON: ${json##*/})"
if ((status != 0)); then
    echo "bench/run.sh: FAILED (lfc_bench exit status $status): a benchmark did not verify or did not run" >&2
    exit "$status"
fi
