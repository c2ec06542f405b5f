#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/deps.sh [EXTRA_PACKAGE...]
#
# Installs the Debian/Ubuntu packages lfchan needs to build, test,
# benchmark, model-check, fuzz and measure coverage, plus any package named on the command line (bench/run.sh may
# pass gnuplot-nox). Idempotent: asks dpkg-query first and runs apt-get
# (update + install --no-install-recommends) only for what is missing, so it
# prints nothing and touches nothing when all is there. Uses sudo only when
# not root and sudo exists. On a system without dpkg/apt it warns and exits 0;
# the cmake configure step then names whatever is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Build and test: the library, its tests and the benchmark harness.
# Proof tools (issue 11): spin checks the models in verify/, clang with
# libclang-rt-dev (libFuzzer's runtime) builds the fuzzers, gcovr reports
# coverage (scripts/coverage.sh).
required=(cmake pkg-config libck-dev liburcu-dev libcmocka-dev
          libbenchmark-dev spin clang libclang-rt-dev gcovr)

log() { printf 'deps.sh: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1 ||
   ! command -v apt-get >/dev/null 2>&1; then
    log "no dpkg-query/apt-get here; install by hand: a C/C++ toolchain," \
        "${required[*]} $*"
    exit 0
fi

installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $status == *" installed" ]]
}

missing=()

# A toolchain: build-essential, or at least gcc, g++ and make.
if ! installed build-essential; then
    for p in gcc g++ make; do
        installed "$p" || missing+=(build-essential)
    done
fi

for p in "${required[@]}" "$@"; do
    [[ -n $p ]] || continue
    installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

# Deduplicate, keeping order.
declare -A seen=()
todo=()
for p in "${missing[@]}"; do
    [[ -n ${seen[$p]:-} ]] && continue
    seen[$p]=1
    todo+=("$p")
done

sudo=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        log "missing packages: ${todo[*]}"
        log "not root and no sudo: install them by hand"
        exit 1
    fi
fi

log "installing: ${todo[*]}"
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${todo[@]}" \
    </dev/null
