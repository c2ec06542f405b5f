#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/soak.sh - build lfc_soak and run it for SECONDS.
#
# Usage: scripts/soak.sh SECONDS [--build-type plain|asan|tsan] [--seed N]
#                        [--no-build] [-- more lfc_soak options]
#
# lfc_soak (tests/soak/soak.c, whose opening comment says what it runs and
# checks) runs randomized rounds of every lfchan primitive for SECONDS,
# checks exactly-once delivery and per-sender order of every message,
# prints a status line every 5 s (messages moved, checks done, violations,
# RSS, threads) and ends with a verdict on violations (must be 0) and on
# flat memory and thread counts. Its exit status is this script's: 0 pass,
# 1 violations or growth, 2 bad usage; a hang aborts it (watchdog).
#
# Build types, each in its own tree, configured as scripts/test.sh does:
#   plain  build/soak       RelWithDebInfo, -Werror (default)
#   asan   build/soak-asan  ASan+UBSan at -O1, asserts and debug yields on;
#                           ASan's quarantine is held to 16 MiB so RSS can
#                           settle within a run
#   tsan   build/soak-tsan  TSan at -O2, asserts on
#
# The seed is printed at the start and in the summary; --seed N repeats a
# run's choices (workloads and parameters; not thread interleavings).
# Options after -- go to lfc_soak as they are (e.g. --only chan,select,
# --report 10, --stall 120, --rss-margin-mb 16).
#
# Environment: LFC_JOBS (build jobs, default 2), CC (compiler for fresh
# trees), ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS (appended to ours, so
# the caller's settings win).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${LFC_JOBS:-2}

usage() {
    sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

seconds=
type=plain
build=1
soak_args=()
while (($#)); do
    case $1 in
    --build-type) type=${2:-}; shift ;;
    --seed) soak_args+=(--seed "${2:-}"); shift ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; soak_args+=("$@"); break ;;
    -*) echo "soak.sh: unknown option: $1 (try --help)" >&2; exit 2 ;;
    *)
        [[ -z $seconds ]] || { echo "soak.sh: one SECONDS only" >&2; exit 2; }
        seconds=$1
        ;;
    esac
    shift
done
[[ $seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || {
    echo "soak.sh: SECONDS (a number) is required (try --help)" >&2
    exit 2
}

wrap=()
case $type in
plain)
    dir=$root/build/soak
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLFC_WERROR=ON
           -DLFC_SANITIZE= -DLFC_DEBUG_YIELD=OFF)
    ;;
asan)
    dir=$root/build/soak-asan
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
           -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DLFC_WERROR=OFF
           -DLFC_SANITIZE=address,undefined -DLFC_DEBUG_YIELD=ON)
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:quarantine_size_mb=16${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    ;;
tsan)
    dir=$root/build/soak-tsan
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
           -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" -DLFC_WERROR=OFF
           -DLFC_SANITIZE=thread -DLFC_DEBUG_YIELD=OFF)
    opts="halt_on_error=1 second_deadlock_stack=1"
    if [[ -f $root/tests/tsan.supp ]]; then
        opts+=" suppressions=$root/tests/tsan.supp"
    fi
    export TSAN_OPTIONS="$opts${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
    ;;
*)
    echo "soak.sh: --build-type is plain, asan or tsan, not '$type'" >&2
    exit 2
    ;;
esac

if ((build)); then
    cmake -S "$root" -B "$dir" -DLFC_BUILD_TESTS=ON "${flags[@]}" >/dev/null
    cmake --build "$dir" --target lfc_soak -j "$jobs"
fi
bin=$dir/lfc_soak
[[ -x $bin ]] || { echo "soak.sh: no $bin (run without --no-build)" >&2; exit 2; }

if [[ $type == tsan ]]; then
    # As scripts/test.sh: older TSan runtimes need ASLR off on some kernels.
    probe=$("$bin" --list 2>&1) || true
    if [[ $probe == *"unexpected memory mapping"* ]]; then
        echo "soak.sh: tsan: 'unexpected memory mapping': running under setarch -R"
        wrap=(setarch "$(uname -m)" -R)
    fi
fi

echo "soak.sh: $type build, $seconds s, $(nproc) CPUs, commit" \
    "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
set +e
"${wrap[@]}" "$bin" --seconds "$seconds" "${soak_args[@]}"
rc=$?
set -e
echo "soak.sh: lfc_soak exited $rc"
exit $rc
