#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# verify/run.sh [--long] [-k] [-jN] - model-check the Promela models in verify/.
#
# Every real configuration must pass (no error), and every mutant must
# fail (Spin reports an invalid end state or an assertion violation):
# a model that cannot fail proves nothing. Each check compiles Spin's pan
# with the system cc into a fresh directory under $TMPDIR (never into the
# source tree), runs an exhaustive search, and reports states and depth.
#
#   --long   also the configurations too large for the CI step (see
#            verify/README.md)
#   -k       keep the work directories (they hold the trails of failures)
#   -jN      run N checks at once (default 2; -j1: one at a time)
#
# Each pan run is capped at $LFC_VERIFY_MEMLIM MB (default 4096): a
# search that hits the cap is reported incomplete, which fails the run.
# pan is compiled with $LFC_VERIFY_CFLAGS (default -O0: see run_check).
#
# Needs spin (scripts/deps.sh installs it) and cc. Exits non-zero if any
# real model fails, any mutant passes, or a search is incomplete.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
long=0
keep=0
njobs=2
memlim=${LFC_VERIFY_MEMLIM:-4096}
cflags=${LFC_VERIFY_CFLAGS:--O0}
for arg in "$@"; do
    case "$arg" in
    --long) long=1 ;;
    -k) keep=1 ;;
    -j[0-9]*) njobs=${arg#-j} ;;
    -h | --help)
        sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown option: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

command -v spin >/dev/null || {
    echo "run.sh: spin not found (scripts/deps.sh installs it)" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/lfc-verify.XXXXXX")
if ((!keep)); then
    trap 'rm -rf "$work"' EXIT
fi

fail=0
n=0

# run_check N EXPECT MODEL PANFLAGS [-DNAME...]: one check in $work/N; its
# report line goes to $work/N/result, and "fail" to $work/N/failed.
run_check() {
    local k=$1 expect=$2 model=$3 panflags=$4 dir out verdict errors t0
    shift 4
    dir=$work/$k
    t0=$SECONDS
    (
        cd "$dir"
        spin -a "$@" "$model" >spin.log 2>&1 || { cat spin.log; exit 1; }
        # shellcheck disable=SC2086  # panflags is a word list
        # Unoptimised: gcc -O1/-O2 takes minutes on a generated pan.c of
        # 400 KB (unbuf.pml: 13 s at -O0, over 9 min at -O1, on 2 loaded
        # cores), while the searches take seconds either way.
        cc $cflags -w -DSAFETY -DMEMLIM="$memlim" $panflags -o pan pan.c
        # -m: search depth bound (a deeper state is a truncation, which
        # is reported and fails the check); -n: no unreached-code list.
        ./pan -m100000 -n >pan.log 2>&1 || true
    ) || {
        echo "FAIL  $model $*: spin/cc failed" >"$dir/result"
        touch "$dir/failed"
        return 0
    }
    out=$dir/pan.log
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out")
    local states depth
    states=$(awk '/states, stored/ { print $1; exit }' "$out")
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out")
    if grep -q -e 'max search depth too small' -e 'out of memory' \
        -e 'memory limit' "$out"; then
        verdict="FAIL  (incomplete search)"
        touch "$dir/failed"
    elif [[ -z $errors ]]; then
        verdict="FAIL  (no result)"
        touch "$dir/failed"
    elif [[ $expect == pass && $errors == 0 ]]; then
        verdict="ok    passes"
    elif [[ $expect == fail && $errors != 0 ]]; then
        verdict="ok    fails as it must: $(grep -m 1 '^pan:1:' "$out" |
            sed 's/^pan:1: //; s/ (at depth.*//' | cut -c 1-32)"
    else
        verdict="FAIL  expected to $expect, errors: $errors"
        touch "$dir/failed"
    fi
    printf '%-40s %-6s %9s states, depth %4s, %4ss  %s\n' \
        "$model $*" "($expect)" "$states" "$depth" "$((SECONDS - t0))" \
        "$verdict" >"$dir/result"
}

# check EXPECT MODEL PANFLAGS [-DNAME...]: EXPECT is pass or fail. Runs
# in the background once fewer than $njobs checks are running.
check() {
    n=$((n + 1))
    mkdir -p "$work/$n"
    cp "$here"/*.pml "$here"/*.pmh "$work/$n"/
    while (($(jobs -rp | wc -l) >= njobs)); do
        wait -n || true
    done
    run_check "$n" "$@" &
}

echo "verify: spin $(spin -V | awk '{ print $3 }'), work dir $work"
t0=$SECONDS

# The largest checks first, so that the parallel runs end together.
# --- the channel's ring and its re-signal rules -----------------------------
check pass chan_wake.pml "-DCOLLAPSE" -DCLOSE
check fail chan_wake.pml "-DCOLLAPSE" -DMUT_NO_HEAD_RESIGNAL
# batches (src/chan/batch.c): claims of k slots, one signal per claim
for cfg in -DBATCH_RECV -DBATCH -DBATCH_CLOSE -DBATCH_CLAIMS; do
    check pass chan_wake.pml "" "$cfg"
done
# BATCH_SS itself (11.8 M states) is --long; its mutant stops early.
check fail chan_wake.pml "" -DBATCH_SS -DMUT_BATCH_NO_RESIGNAL
check fail chan_wake.pml "" -DBATCH -DMUT_NO_HEAD_RESIGNAL
check fail chan_wake.pml "" -DBATCH_CLAIMS -DMUT_BATCH_SIGNAL_PER_CALL
check fail chan_wake.pml "" -DBATCH_CLAIMS -DMUT_BATCH_SCAN_NO_STOP
check fail chan_wake.pml "" -DBATCH_RECV -DMUT_BATCH_SCAN_NO_STOP

# --- select's hand-off on an unbuffered channel -----------------------------
for cfg in "" -DCLOSE -DSS; do
    # shellcheck disable=SC2086
    check pass unbuf_sel.pml "" $cfg
done
for m in MUT_CLAIM_NO_CAS MUT_SEL_FENCE MUT_ANNOUNCE_FENCE; do
    check fail unbuf_sel.pml "" -D$m
done
check fail unbuf_sel.pml "" -DCLOSE -DMUT_CLOSE_NO_TX
check fail unbuf_sel.pml "" -DCLOSE -DMUT_COPY_BEFORE_CLAIM
check fail unbuf_sel.pml "" -DSS -DMUT_CLAIM_NO_CAS
check fail unbuf_sel.pml "" -DSS -DMUT_SEL_FENCE

# --- select over two channels -----------------------------------------------
for cfg in "" -DBIASED -DTIMED; do
    # shellcheck disable=SC2086
    check pass select.pml "" $cfg
done
check fail select.pml "" -DMUT_SEL_FENCE
check fail select.pml "" -DMUT_NOTIFY_COUNTS_ANY
check fail select.pml "" -DBIASED -DMUT_NO_BIASED_RESIGNAL

# --- the weighted semaphore's wait protocol ---------------------------------
for cfg in -DTHREE "" -DTIMED -DTIMED2 -DCTX "-DANY_HINT -DTIMED2" \
    "-DANY_HINT -DCTX"; do
    # shellcheck disable=SC2086
    check pass sem.pml "" $cfg
done
check fail sem.pml "" -DMUT_NO_ENQUEUE_WAKE
check fail sem.pml "" -DTIMED -DMUT_NO_GIVEUP_WAKE
check fail sem.pml "" -DMUT_FLAGS_STORE
check fail sem.pml "" -DCTX -DMUT_CTX_FENCE

# --- the event count alone ------------------------------------------------
for cfg in "" -DTIMED -DCLOSE "-DTIMED -DCLOSE"; do
    # shellcheck disable=SC2086
    check pass ec.pml "" $cfg
done
for m in MUT_ANNOUNCE_FENCE MUT_OBSERVE_FENCE MUT_NO_COALESCE_CLEAR \
    MUT_NO_RESIGNAL MUT_WAKER_FENCE; do
    check fail ec.pml "" -D$m
done
# The kernel's guarantee that a woken futex waiter returns 0, not
# ETIMEDOUT: without it the PENDING bit can be left set (README.md).
check fail ec.pml "" -DTIMED -DTIMEOUT_AFTER_WAKE

# --- lfc_try_send on an unbuffered channel ----------------------------------
for cfg in "" -DTIMED -DTIMED_BS -DSEL -DTRYRECV; do
    # shellcheck disable=SC2086
    check pass unbuf.pml "" $cfg
done
for m in MUT_NO_LEFT_SIGNAL MUT_LEFT_FENCE MUT_ANNOUNCE_FENCE; do
    check fail unbuf.pml "" -D$m
done
check fail unbuf.pml "" -DSEL -DMUT_WAKE_ANY
check fail unbuf.pml "" -DSEL -DMUT_TRY_TAKES
check fail unbuf.pml "" -DTRYRECV -DMUT_TRY_TAKES

if ((long)); then
    # Tens of millions of states and GBs: not finished on the 2-core
    # machine these were written on (README.md); unbuf_sel.pml's CLOSE_B
    # finishes (4.5 M states) but is too slow for the CI step.
    check pass unbuf.pml "-DCOLLAPSE" -DSEL -DR1
    # sem.pml's finish (3-6 M states, 10-30 s each, about 1 GB): kept
    # out of the CI set for its time budget.
    check pass sem.pml "" -DTHREE -DTIMED
    check pass sem.pml "" -DANY_HINT -DTHREE
    check pass unbuf_sel.pml "" -DCLOSE -DCLOSE_B
    check pass chan_wake.pml "-DCOLLAPSE"
    check pass chan_wake.pml "-DCOLLAPSE" -DCAP1
    check fail chan_wake.pml "-DCOLLAPSE" -DCAP1 -DMUT_NO_TAIL_RESIGNAL
    # a batch send, a single send and a receiver of 2 (COLLAPSE: 11.8 M
    # states, under a minute alone)
    check pass chan_wake.pml "-DCOLLAPSE" -DBATCH_SS
fi
wait
for ((k = 1; k <= n; k++)); do
    cat "$work/$k/result"
    [[ ! -e $work/$k/failed ]] || fail=1
done

echo "verify: $n checks in $((SECONDS - t0))s"
if ((fail)); then
    echo "verify: FAIL" >&2
    exit 1
fi
echo "verify: OK"
