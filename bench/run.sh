#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh [--quick] [--no-deps] - benchmark entry point.
#
# Placeholder until the google-benchmark harness lands: installs deps
# (scripts/deps.sh), configures a Release build in build/bench with
# LFC_BUILD_BENCH=ON, builds and runs bench/smoke_bench, and saves its
# markdown output to bench/results/smoke-<host>-<commit>.md.
# Unknown flags are ignored with a warning. Runnable from any directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

quick=0
deps=1
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    --no-deps) deps=0 ;;
    *) echo "bench/run.sh: warning: ignoring unknown flag $arg" >&2 ;;
    esac
done

# The real harness will also want gnuplot-nox (scripts/deps.sh gnuplot-nox).
if ((deps)); then
    "$root/scripts/deps.sh"
fi

dir=$root/build/bench
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DLFC_BUILD_BENCH=ON \
    -DLFC_BUILD_TESTS=OFF -DLFC_SANITIZE= -DLFC_DEBUG_YIELD=OFF
cmake --build "$dir" -j "${LFC_JOBS:-2}" --target smoke_bench

args=()
((quick)) && args+=(--quick)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo nocommit)
mkdir -p "$root/bench/results"
out=$root/bench/results/smoke-$(uname -n)-$commit.md
{
    echo "<!-- bench/run.sh ${*:-} ; commit $commit ; $(date -u +%FT%TZ) -->"
    "$dir/bench/smoke_bench" "${args[@]}"
} | tee "$out"
echo "bench/run.sh: wrote ${out#"$root"/}"
