#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/test.sh [--quick] [--no-deps] [--clean] - the full local/CI gate.
#
# Steps (each is reported PASS/FAIL/SKIP in the summary at the end):
#   deps      scripts/deps.sh (apt-get only for missing packages)
#   check     scripts/check.sh (ORDER tags, ck_pr_ confinement, SPDX lines)
#   model     verify/run.sh: Spin model checks of the park/channel/select
#             protocols (every model passes, every mutant fails); needs spin
#   plain     build/test-plain: RelWithDebInfo, LFC_WERROR=ON; all tests
#             (each test step runs ctest -L unit, then ctest -L stress)
#   exports   liblfchan.so exports exactly the LFC_API functions of include/
#   asan      build/test-asan: LFC_SANITIZE=address,undefined, -O1, asserts on
#   tsan      build/test-tsan: LFC_SANITIZE=thread (LFC_TSAN=1), -O2, asserts on
#   install   cmake --install into build/install-check, then
#             examples/install_check.c built with cc + pkg-config (run against
#             the installed shared library through its rpath), and
#             tests/install (find_package(lfchan)) built and run.
#   subproject
#             tests/subproject (lfchan through add_subdirectory, no build
#             type) built and run in build/subproject; then plain top-level
#             configures in build/nodeps-check with cmocka and the C++
#             compiler hidden (see check_no_test_deps).
#
# Options:
#   --quick    plain build, exports, install and subproject checks only (no
#              sanitizers)
#   --no-deps  skip scripts/deps.sh
#   --clean    delete the build/test-* trees first
#
# Environment:
#   LFC_TEST_SCALE  test size factor (default 1). The plain run uses it as is;
#                   ASan (with LFC_DEBUG_YIELD) and TSan
#                   run at 0.5x of it.
#   LFC_JOBS        parallel build and ctest jobs (default 2)
#   CC              compiler for fresh build trees (default: cc, i.e. gcc 12
#                   on Debian 12; gcc's TSan and ASan both work there)
#   TSAN_OPTIONS, ASAN_OPTIONS, UBSAN_OPTIONS are appended to ours, so
#                   the caller's settings win.
#
# Runnable from any directory. Exits non-zero if any step failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

quick=0
deps=1
clean=0
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    --no-deps) deps=0 ;;
    --clean) clean=1 ;;
    -h | --help)
        sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "test.sh: unknown option: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

jobs=${LFC_JOBS:-2}
base_scale=${LFC_TEST_SCALE:-1}
scaled() { awk -v a="$base_scale" -v b="$1" 'BEGIN { printf "%g", a * b }'; }

build=$root/build
plain_dir=$build/test-plain
asan_dir=$build/test-asan
tsan_dir=$build/test-tsan
prefix=$build/install-check
consumer_dir=$build/install-consumer
subproject_dir=$build/subproject
nodeps_dir=$build/nodeps-check

# --- Step runner ---------------------------------------------------------
# Each step runs in a subshell with errexit on, never inside an `if` or
# `||` (which would silently disable errexit in it); its status is recorded
# and the script goes on, so one failure does not hide the others.
summary=()
failed=0
declare -A status=()
t0=$SECONDS

step() {
    local name=$1 rc start
    shift
    printf '\n==> [%s] %s\n' "$name" "$*"
    start=$SECONDS
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if ((rc == 0)); then
        status[$name]=PASS
        summary+=("PASS  $name ($((SECONDS - start))s)")
    else
        status[$name]=FAIL
        failed=1
        summary+=("FAIL  $name (exit $rc, $((SECONDS - start))s)")
        printf '==> [%s] FAILED (exit %d)\n' "$name" "$rc"
    fi
    return 0
}

skip() {
    status[$1]=SKIP
    summary+=("SKIP  $1 ($2)")
    printf '\n==> [%s] skipped: %s\n' "$1" "$2"
}

ok() { [[ ${status[$1]:-} == PASS ]]; }

# --- Steps ---------------------------------------------------------------

info() {
    echo "repo:    $root ($(git -C "$root" rev-parse --short HEAD 2>/dev/null ||
        echo 'no commit'))"
    echo "host:    $(uname -srm), $(nproc) CPUs"
    echo "cc:      $(${CC:-cc} --version | sed -n 1p)"
    echo "cmake:   $(cmake --version | sed -n 1p)"
    echo "scale:   plain $base_scale, asan $(scaled 0.5) with debug yields, tsan $(scaled 0.5)"
}

configure_and_build() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DLFC_BUILD_TESTS=ON "$@"
    cmake --build "$dir" -j "$jobs"
}

# Unit tests first, then the stress binaries on their own: a long stress
# run beside unit tests would load the CPUs their bounded waits run on.
# Both labels run even if the first fails, so one failure hides nothing.
run_ctest() {
    local dir=$1 scale=$2 rc=0 label
    shift 2
    for label in unit stress; do
        echo "--- ctest -L $label"
        LFC_TEST_SCALE=$scale "$@" ctest --test-dir "$dir" \
            --output-on-failure --no-tests=error -j "$jobs" -L "^$label\$" ||
            rc=1
    done
    return $rc
}

build_plain() {
    configure_and_build "$plain_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLFC_WERROR=ON -DLFC_SANITIZE= -DLFC_DEBUG_YIELD=OFF
}

# liblfchan.so must export exactly the LFC_API functions declared in
# include/: no lfc__ internals, no stray helpers, nothing missing.
check_exports() {
    local so=$plain_dir/liblfchan.so want got bad
    want=$(awk '
        /^[ \t]*LFC_API[ \t]/ { acc = ""; on = 1 }
        on {
            acc = acc " " $0
            if (index(acc, "(")) {
                s = substr(acc, 1, index(acc, "(") - 1)
                n = split(s, w, /[^A-Za-z0-9_]+/)
                while (n > 0 && w[n] == "") n--
                print w[n]
                on = 0
            }
        }' include/lfchan.h include/lfchan/*.h | LC_ALL=C sort -u)
    got=$(nm -D --defined-only "$so" | awk '{ print $NF }' |
          grep -v -x -E '_init|_fini|_edata|_end|__bss_start' |
          LC_ALL=C sort -u)
    echo "exported: $(echo "$got" | wc -l) symbols"
    bad=0
    if echo "$got" | grep -v -E '^lfc_[a-z0-9][a-z0-9_]*$'; then
        echo "exports: ^ symbols above are not public lfc_ names" >&2
        bad=1
    fi
    if [[ $want != "$got" ]]; then
        echo "exports: LFC_API declarations (<) vs exported (>):" >&2
        diff <(echo "$want") <(echo "$got") >&2 || true
        bad=1
    fi
    return $bad
}

build_asan() {
    # -O1 is ASan's recommended level. RelWithDebInfo flags are spelled out
    # without -DNDEBUG so LFC_ASSERT stays on. No -Werror: optimisation
    # under instrumentation produces warnings of its own. LFC_DEBUG_YIELD
    # adds random yields at the slow-path windows (between claiming a slot
    # and publishing it, between announcing a waiter and sleeping), so this
    # run explores interleavings the plain one rarely reaches.
    configure_and_build "$asan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
        -DLFC_WERROR=OFF -DLFC_SANITIZE=address,undefined \
        -DLFC_DEBUG_YIELD=ON
}

test_asan() {
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    echo "ASAN_OPTIONS=$ASAN_OPTIONS"
    echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
    run_ctest "$asan_dir" "$(scaled 0.5)"
}

build_tsan() {
    # gcc 12 warns (-Wtsan) about stand-alone fences under TSan, so no
    # -Werror here; asserts stay on (no -DNDEBUG).
    configure_and_build "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g" \
        -DLFC_WERROR=OFF -DLFC_SANITIZE=thread -DLFC_DEBUG_YIELD=OFF
}

test_tsan() {
    local opts="halt_on_error=1 second_deadlock_stack=1" wrap=() probe
    if [[ -f $root/tests/tsan.supp ]]; then
        opts+=" suppressions=$root/tests/tsan.supp"
    fi
    export TSAN_OPTIONS="$opts${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
    echo "TSAN_OPTIONS=$TSAN_OPTIONS"
    # TSan runtimes older than LLVM 18 abort with "unexpected memory
    # mapping" on kernels with 32 bits of mmap randomization. Not the case
    # on the Debian 12 machines this was written on; if it happens, run the
    # tests with ASLR off for the process (no root or sysctl needed).
    probe=$("$tsan_dir/header_selfcontained" 2>&1) || true
    if [[ $probe == *"unexpected memory mapping"* ]]; then
        echo "tsan: 'unexpected memory mapping': running under setarch -R"
        wrap=(setarch "$(uname -m)" -R)
    fi
    run_ctest "$tsan_dir" "$(scaled 0.5)" "${wrap[@]}"
}

install_tree() {
    rm -rf "$prefix"
    cmake --install "$plain_dir" --prefix "$prefix"
}

# examples/install_check.c built by hand against the installed tree, the way
# a Makefile user would: flags from pkg-config only.
install_pkgconfig() {
    local pc pcdir libdir bin=$prefix/install_check_pc
    pc=$(find "$prefix" -name lfchan.pc -print -quit)
    [[ -n $pc ]] || { echo "lfchan.pc not installed" >&2; return 1; }
    pcdir=$(dirname "$pc")
    echo "--- $pc"
    cat "$pc"
    export PKG_CONFIG_PATH=$pcdir
    libdir=$(pkg-config --variable=libdir lfchan)
    # Programs call pthread_create (install_check.c does): with glibc before
    # 2.34 that needs -pthread, so lfchan.pc must supply it, and the build
    # below uses no -pthread of its own.
    pkg-config --libs lfchan | grep -w -e -pthread >/dev/null || {
        echo "pkg-config --libs lfchan lacks -pthread" >&2
        return 1
    }
    # shellcheck disable=SC2046  # word splitting of pkg-config output wanted
    ${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror \
        $(pkg-config --cflags lfchan) "$root/examples/install_check.c" \
        -o "$bin" $(pkg-config --libs lfchan) -Wl,-rpath,"$libdir"
    # It must load the installed library, not one from build/. ldd's output
    # is captured first: under pipefail, `ldd | grep -q` fails whenever grep
    # exits on its match before ldd has written its last line (SIGPIPE),
    # which once turned this step red in CI.
    local resolved
    resolved=$(ldd "$bin")
    grep liblfchan <<<"$resolved"
    [[ $resolved == *"=> $libdir/liblfchan.so.0 "* ]] || {
        echo "install_check does not resolve liblfchan from $libdir" >&2
        return 1
    }
    "$bin"
}

install_cmake() {
    rm -rf "$consumer_dir"
    cmake -S "$root/tests/install" -B "$consumer_dir" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON \
        -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
    grep -q "^lfchan_DIR:PATH=$prefix/" "$consumer_dir/CMakeCache.txt" || {
        echo "find_package(lfchan) did not pick $prefix" >&2
        grep '^lfchan_DIR' "$consumer_dir/CMakeCache.txt" >&2
        return 1
    }
    cmake --build "$consumer_dir" -j "$jobs"
    ctest --test-dir "$consumer_dir" --output-on-failure
}

# lfchan inside someone else's build: tests/subproject add_subdirectory()s
# this tree with no CMAKE_BUILD_TYPE and fails its configure if lfchan
# forces one, builds tests or leaks flags; its two programs must run.
check_subproject() {
    rm -rf "$subproject_dir"
    cmake -S "$root/tests/subproject" -B "$subproject_dir" -DLFC_WERROR=ON
    grep -q -x 'CMAKE_BUILD_TYPE:STRING=' "$subproject_dir/CMakeCache.txt" || {
        echo "subproject: the parent's CMAKE_BUILD_TYPE cache is not empty:" >&2
        grep '^CMAKE_BUILD_TYPE' "$subproject_dir/CMakeCache.txt" >&2
        return 1
    }
    cmake --build "$subproject_dir" -j "$jobs"
    ctest --test-dir "$subproject_dir" --output-on-failure --no-tests=error
    check_no_test_deps
}

# A plain configure (`cmake -S . -B dir`, no options) must need neither
# cmocka nor a C++ compiler. Uninstalling them is not an option here, so
# both are hidden from this one cmake process instead:
#   - cmocka: PKG_CONFIG_LIBDIR replaces pkg-config's default search path
#     with a directory holding only ck.pc. pkg-config is the only way
#     CMakeLists.txt looks for cmocka, so cmocka.pc is out of sight
#     (PKG_CONFIG_PATH and CMAKE_PREFIX_PATH are unset so they add nothing).
#   - C++: CXX names a compiler that does not exist. CMake takes the C++
#     compiler from CXX before anything else and stops with an error when
#     that file is missing, so any enable_language(CXX) fails the configure
#     (check_language(CXX) just records NOTFOUND).
# Expected: the plain configure passes with tests off and builds liblfchan;
# -DLFC_BUILD_TESTS=ON stops with the libcmocka-dev message; with cmocka
# visible again (C++ still hidden) the tests are on and the C++ header
# check is left out.
check_no_test_deps() {
    local pcdir=$nodeps_dir/pkgconfig-ck-only log=$nodeps_dir/configure.log
    local hide=(env -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH
                CXX=/nonexistent/c++)
    rm -rf "$nodeps_dir"
    mkdir -p "$pcdir"
    ln -s "$(pkg-config --variable=pcfiledir ck)/ck.pc" "$pcdir/ck.pc"
    if PKG_CONFIG_LIBDIR=$pcdir "${hide[@]}" pkg-config --exists cmocka; then
        echo "nodeps: could not hide cmocka.pc from pkg-config" >&2
        return 1
    fi

    echo "--- plain configure, cmocka and C++ hidden"
    PKG_CONFIG_LIBDIR=$pcdir "${hide[@]}" \
        cmake -S "$root" -B "$nodeps_dir/plain" >"$log" 2>&1 || {
        cat "$log" >&2
        return 1
    }
    grep 'lfchan:' "$log"
    grep -q 'tests not built' "$log" || {
        echo "nodeps: no 'tests not built' message" >&2
        return 1
    }
    cmake --build "$nodeps_dir/plain" --target lfchan -j "$jobs" >/dev/null

    echo "--- -DLFC_BUILD_TESTS=ON, cmocka hidden: must fail"
    if PKG_CONFIG_LIBDIR=$pcdir "${hide[@]}" \
        cmake -S "$root" -B "$nodeps_dir/tests-on" -DLFC_BUILD_TESTS=ON \
        >"$log" 2>&1; then
        echo "nodeps: configure passed without cmocka" >&2
        return 1
    fi
    grep -q 'install libcmocka-dev' "$log" || {
        cat "$log" >&2
        return 1
    }
    echo "failed as it should: $(grep -m 1 'cmocka (cmocka.pc)' "$log" |
        sed 's/^ *//')"

    echo "--- plain configure, cmocka visible, C++ hidden"
    "${hide[@]}" cmake -S "$root" -B "$nodeps_dir/no-cxx" >"$log" 2>&1 || {
        cat "$log" >&2
        return 1
    }
    # Not grep -q after a pipe: it stops reading at the first match, and
    # with pipefail the writer's SIGPIPE would fail the check.
    grep -q -x 'CMAKE_CXX_COMPILER:FILEPATH=NOTFOUND' \
        "$nodeps_dir/no-cxx/CMakeCache.txt" &&
        ctest --test-dir "$nodeps_dir/no-cxx" -N |
        grep ': test_chan$' >/dev/null || {
        echo "nodeps: expected tests on and no C++ compiler" >&2
        return 1
    }
    echo "tests on, C++ header check skipped"
}

# --- Main ----------------------------------------------------------------

info

if ((clean)); then
    rm -rf "$plain_dir" "$asan_dir" "$tsan_dir" "$prefix" "$consumer_dir" \
        "$subproject_dir" "$nodeps_dir"
fi

if ((deps)); then
    step deps "$root/scripts/deps.sh"
else
    skip deps "--no-deps"
fi

step check "$root/scripts/check.sh"

step model "$root/verify/run.sh"

step plain-build build_plain
if ok plain-build; then
    step plain-test run_ctest "$plain_dir" "$base_scale"
    step exports check_exports
    step install install_tree
else
    skip plain-test "plain build failed"
    skip exports "plain build failed"
    skip install "plain build failed"
fi
if ok install; then
    step install-pkgconfig install_pkgconfig
    step install-cmake install_cmake
else
    skip install-pkgconfig "no install tree"
    skip install-cmake "no install tree"
fi
step subproject check_subproject

if ((quick)); then
    skip asan "--quick"
    skip tsan "--quick"
else
    step asan-build build_asan
    if ok asan-build; then
        step asan-test test_asan
    else
        skip asan-test "asan build failed"
    fi
    step tsan-build build_tsan
    if ok tsan-build; then
        step tsan-test test_tsan
    else
        skip tsan-test "tsan build failed"
    fi
fi

printf '\n==================== test.sh summary ====================\n'
printf '%s\n' "${summary[@]}"
elapsed=$((SECONDS - t0))
if ((failed)); then
    printf 'RESULT: FAIL (%dm%02ds)\n' $((elapsed / 60)) $((elapsed % 60))
    exit 1
fi
printf 'RESULT: PASS (%dm%02ds)\n' $((elapsed / 60)) $((elapsed % 60))
