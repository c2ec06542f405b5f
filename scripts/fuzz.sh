#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/fuzz.sh [--merge] [--build-only] SECONDS [TARGET...] - build the
# libFuzzer targets in fuzz/ and run each for SECONDS.
#
# Targets (default: all, one after the other):
#   ops       fuzz/fuzz_ops.c: a single-threaded program of channel
#             (bounded, unbounded; single and batch calls), select, timer,
#             context, semaphore, wait group and pool calls, checked
#             against a reference model
#   threads   fuzz/fuzz_threads.c: two or three threads running scripts of
#             sends, receives (single and batch), selects and closes;
#             exactly-once delivery, per-sender order and the documented
#             statuses
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/fuzz_<target> (the library's sources compiled in, so its
# code is instrumented for coverage; threads also with LFC_DEBUG_YIELD).
# It runs on a scratch copy of fuzz/corpus/<target> in build/fuzz/work/,
# so the committed corpus is not touched; crashes, timeouts and leaks go
# to build/fuzz/crashes/<target>/ and make the script exit non-zero.
# Replay one with build/fuzz/fuzz_<target> FILE, or, without clang, with
# the replay_<target> binary of a normal build (it replays files and
# directories; ctest runs it over the committed corpus).
#
# Options:
#   --merge       afterwards, merge the inputs that reach new edges into
#                 the committed corpus (fuzz/corpus/<target>; review and
#                 commit)
#   --build-only  build, do not run
#
# Environment: CC (default clang), LFC_FUZZ_FLAGS (extra libFuzzer flags,
# e.g. "-jobs=2 -workers=2"), ASAN_OPTIONS / UBSAN_OPTIONS (appended to
# ours, so the caller's settings win).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() {
    sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

merge=0
build_only=0
seconds=
targets=()
for arg in "$@"; do
    case "$arg" in
    --merge) merge=1 ;;
    --build-only) build_only=1 ;;
    -h | --help) usage; exit 0 ;;
    ops | threads) targets+=("$arg") ;;
    *)
        if [[ -z $seconds && $arg =~ ^[0-9]+$ ]]; then
            seconds=$arg
        else
            echo "fuzz.sh: unknown argument: $arg (try --help)" >&2
            exit 2
        fi
        ;;
    esac
done
if [[ -z $seconds ]] && ((!build_only)); then
    usage >&2
    exit 2
fi
((${#targets[@]})) || targets=(ops threads)

cc=${CC:-clang}
out=$root/build/fuzz
mkdir -p "$out"

# Everything a target is built from: rebuilt when any of it is newer.
sources() {
    ls "$root"/src/*/*.c "$root"/src/*/*.h "$root"/include/lfchan.h \
        "$root"/include/lfchan/*.h "$root"/fuzz/*.h "$root/fuzz/fuzz_$1.c"
}

build() {
    local t=$1 bin=$out/fuzz_$1 extra=()
    local newest
    newest=$(sources "$t" | xargs ls -t | sed -n 1p)
    if [[ -x $bin && $bin -nt $newest && $bin -nt ${BASH_SOURCE[0]} ]]; then
        return 0
    fi
    # The threaded target explores more interleavings with the library's
    # random yields at its slow-path windows.
    [[ $t == threads ]] && extra+=(-DLFC_DEBUG_YIELD=1)
    # Every layer's private headers (the fuzzers are white-box; the
    # library's CMake build and scripts/check.sh keep the layers apart).
    local layers=() d
    for d in "$root"/src/*/; do
        layers+=(-I"${d%/}")
    done
    echo "--- building $bin"
    # shellcheck disable=SC2046  # word splitting of pkg-config output wanted
    "$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Wall -Wextra -I"$root/include" "${layers[@]}" \
        $(pkg-config --cflags ck) "${extra[@]}" \
        "$root"/src/*/*.c "$root/fuzz/fuzz_$t.c" -o "$bin.tmp" -pthread
    mv "$bin.tmp" "$bin"
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# Run target $1 for $seconds; 0 if nothing was found.
run() {
    local t=$1 bin=$out/fuzz_$1 work=$out/work/$1 crashes=$out/crashes/$1
    local log=$out/fuzz_$1.log rc=0 flags=()
    rm -rf "$work"
    mkdir -p "$work/corpus" "$crashes"
    if [[ -d $root/fuzz/corpus/$t ]]; then
        cp "$root/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null || true
    fi
    # shellcheck disable=SC2206  # the caller's flags, split on purpose
    [[ -n ${LFC_FUZZ_FLAGS:-} ]] && flags=($LFC_FUZZ_FLAGS)
    echo "--- fuzz_$t for ${seconds}s ($(ls "$work/corpus" | wc -l) seeds)"
    # -timeout: one input runs for milliseconds; 60 s is a hang even on a
    # loaded machine. -rss_limit_mb: far above what a run needs.
    # -detect_leaks=0: libFuzzer's leak check after every input that
    # allocated more than it freed stops the world each time the timer
    # thread (which outlives inputs) starts, 100x slower; the replay tests
    # in the ASan build check the corpus for leaks instead.
    "$bin" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
        -detect_leaks=0 \
        -max_len=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "${flags[@]}" "$work/corpus" \
        >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "$log" || true
    if ((rc != 0)); then
        echo "fuzz_$t FAILED (exit $rc); the last lines of $log:" >&2
        tail -n 40 "$log" >&2
        ls -l "$crashes" >&2
        return 1
    fi
    if ((merge)); then
        mkdir -p "$root/fuzz/corpus/$t"
        # -use_counters=0: keep what reaches new edges, not new hit
        # counts of known ones (ten times fewer inputs), so the replay
        # tests stay fast.
        "$bin" -merge=1 -use_counters=0 -timeout=60 -max_len=2048 \
            "$root/fuzz/corpus/$t" "$work/corpus" >>"$log" 2>&1
        echo "merged: fuzz/corpus/$t has $(ls "$root/fuzz/corpus/$t" | wc -l) inputs"
    fi
    return 0
}

failed=0
for t in "${targets[@]}"; do
    build "$t"
done
((build_only)) && exit 0
for t in "${targets[@]}"; do
    run "$t" || failed=1
done
if ((failed)); then
    echo "fuzz.sh: FAIL: see build/fuzz/crashes/" >&2
    exit 1
fi
echo "fuzz.sh: PASS (${targets[*]}, ${seconds}s each)"
