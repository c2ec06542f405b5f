#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/callgrind.sh [REV...] - instruction counts of the parking paths.
#
# Builds the library (Release, static) for the work tree and for each git
# REV given (in a temporary worktree), links bench/cg_park.c against each,
# and prints valgrind --tool=callgrind's total instruction count for its
# three modes (unbuffered, unbuffered ping-pong, capacity 1; spin off, so
# every wait parks). Counts move by up to 2-3% between runs of one
# build (how often a wait finds its peer already done); compare builds,
# not absolute numbers, and repeat a run before trusting a small gap. Needs valgrind and cc.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v valgrind >/dev/null || {
    echo "callgrind.sh: valgrind not found (apt-get install valgrind)" >&2
    exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/lfc-cg.XXXXXX")
trap 'rm -rf "$work"; git -C "$root" worktree prune' EXIT

# build_one NAME SRC: static library and cg_park for the tree at SRC.
build_one() {
    local name=$1 src=$2
    cmake -S "$src" -B "$work/$name" -DCMAKE_BUILD_TYPE=Release \
        -DLFC_BUILD_TESTS=OFF >/dev/null
    cmake --build "$work/$name" -j2 --target lfchan_static >/dev/null
    cc -O2 -I"$src/include" "$root/bench/cg_park.c" \
        "$work/$name/liblfchan.a" -lpthread -o "$work/$name/cg_park"
}

names=(worktree)
build_one worktree "$root"
for rev in "$@"; do
    git -C "$root" worktree add -q --detach "$work/src-$rev" "$rev"
    build_one "$rev" "$work/src-$rev"
    names+=("$rev")
done

printf '%-12s %16s %16s %16s\n' build unbuffered ping-pong cap1
for name in "${names[@]}"; do
    row=()
    for mode in 0 1 2; do
        row+=("$(valgrind --tool=callgrind \
            --callgrind-out-file="$work/$name.$mode.out" \
            "$work/$name/cg_park" "$mode" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p')")
    done
    printf '%-12s %16s %16s %16s\n' "$name" "${row[@]}"
done
