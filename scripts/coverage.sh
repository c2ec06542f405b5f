#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/coverage.sh - line and branch coverage of src/ from the unit tests.
#
# Configures build/coverage with gcc --coverage at -O0 (asserts on, no
# sanitizers, no debug yields), builds it, runs every test labelled unit
# (ctest -L '^unit$': the tests/test_*.c binaries, the examples and the
# header check, whatever they are when this runs), then runs gcovr over
# src/ only and prints the per-file table and the totals. Writes:
#   build/coverage/html/index.html   annotated HTML report (per file)
#   build/coverage/coverage.txt      the per-file text table (lines)
#   build/coverage/branches.txt      the same for branches
#   build/coverage/summary.txt       the two totals
#
# Usage: scripts/coverage.sh [--min-lines PCT] [--min-branches PCT]
#                            [--no-build] [--keep-counts]
#   --min-lines PCT     fail (exit 1) below PCT% of lines (default 90, or
#                       LFC_COVERAGE_MIN_LINES)
#   --min-branches PCT  fail below PCT% of branches (default 0: reported
#                       only, or LFC_COVERAGE_MIN_BRANCHES)
#   --no-build          reuse the build as it is (counts are still reset)
#   --keep-counts       do not delete the .gcda files of an earlier run
#                       first (coverage of several runs adds up)
#
# A failing unit test fails the script (exit 1) after the report is
# written: coverage from a red suite is not a figure to quote.
#
# Environment: LFC_JOBS (build and ctest jobs, default 2), LFC_TEST_SCALE
# (passed to the tests, default 1), CC (default gcc: gcovr reads gcc's
# .gcda files with gcov).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/build/coverage
jobs=${LFC_JOBS:-2}
min_lines=${LFC_COVERAGE_MIN_LINES:-90}
min_branches=${LFC_COVERAGE_MIN_BRANCHES:-0}
build=1
keep=0

while (($#)); do
    case $1 in
    --min-lines) min_lines=$2; shift ;;
    --min-branches) min_branches=$2; shift ;;
    --no-build) build=0 ;;
    --keep-counts) keep=1 ;;
    -h | --help)
        sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "coverage.sh: unknown option: $1 (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done

command -v gcovr >/dev/null || {
    echo "coverage.sh: gcovr not found (scripts/deps.sh installs it)" >&2
    exit 2
}

if ((build)); then
    # -O0 so that every source line maps to code gcov can count; asserts
    # stay on (no -DNDEBUG), as in the sanitizer builds. Counters are
    # updated atomically: the tests are threaded, and plain increments
    # racing on one counter leave gcov negative counts gcovr cannot parse.
    CC=${CC:-gcc} cmake -S "$root" -B "$dir" -DLFC_BUILD_TESTS=ON \
        -DCMAKE_BUILD_TYPE=Coverage \
        -DCMAKE_C_FLAGS_COVERAGE="-O0 -g --coverage -fprofile-update=atomic" \
        -DCMAKE_CXX_FLAGS_COVERAGE="-O0 -g --coverage -fprofile-update=atomic" \
        -DCMAKE_EXE_LINKER_FLAGS_COVERAGE="--coverage" \
        -DCMAKE_SHARED_LINKER_FLAGS_COVERAGE="--coverage" \
        -DLFC_WERROR=OFF -DLFC_SANITIZE= -DLFC_DEBUG_YIELD=OFF
    cmake --build "$dir" -j "$jobs"
fi
[[ -f $dir/CTestTestfile.cmake ]] || {
    echo "coverage.sh: no build in $dir (run without --no-build)" >&2
    exit 2
}

if ((!keep)); then
    find "$dir" -name '*.gcda' -delete
fi

test_rc=0
LFC_TEST_SCALE=${LFC_TEST_SCALE:-1} ctest --test-dir "$dir" \
    --output-on-failure --no-tests=error -j "$jobs" -L '^unit$' || test_rc=1

# The library's objects are compiled once (lfchan_obj) and linked into
# every test, so their counts add up across all test binaries. Only src/
# is reported; the tests themselves, the examples and the generated
# header-check files are not the library.
gcovr_args=(--root "$root" --object-directory "$dir"
            --filter "$root/src/" --exclude-unreachable-branches
            --sort-percentage)
rm -rf "$dir/html"
mkdir -p "$dir/html"
gcovr "${gcovr_args[@]}" --txt "$dir/coverage.txt" \
    --html-details "$dir/html/index.html" \
    --json-summary "$dir/summary.json" >/dev/null
gcovr "${gcovr_args[@]}" --branches --txt "$dir/branches.txt" >/dev/null

cat "$dir/coverage.txt"
echo
cat "$dir/branches.txt"

# The totals, from the JSON summary (python3 comes with gcovr).
read -r lines_pct branches_pct < <(python3 - "$dir/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{s['line_percent']:.1f} {s['branch_percent']:.1f}")
EOF
)
{
    echo "coverage of src/ by the unit tests ($(git -C "$root" rev-parse \
        --short HEAD 2>/dev/null || echo 'no commit')):"
    echo "  lines:    $lines_pct% (minimum $min_lines%)"
    echo "  branches: $branches_pct% (minimum $min_branches%)"
    echo "  report:   $dir/html/index.html"
} | tee "$dir/summary.txt"

rc=0
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
if below "$lines_pct" "$min_lines"; then
    echo "coverage.sh: FAIL: lines $lines_pct% < $min_lines%" >&2
    rc=1
fi
if below "$branches_pct" "$min_branches"; then
    echo "coverage.sh: FAIL: branches $branches_pct% < $min_branches%" >&2
    rc=1
fi
if ((test_rc)); then
    echo "coverage.sh: FAIL: unit tests failed (figures above are from a" \
        "failing run)" >&2
    rc=1
fi
exit $rc
