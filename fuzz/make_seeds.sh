#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fuzz/make_seeds.sh - write the hand-made seeds of fuzz/corpus/ops and
# fuzz/corpus/threads (seed-*: one small program each, named for what it
# does). Run it after changing a target's input format, then commit the
# result; scripts/fuzz.sh --merge adds inputs the fuzzer found (other
# names) beside them.
#
# The byte layouts are the ones fuzz_ops.c and fuzz_threads.c read: see
# each op_* function there for its argument bytes.
set -euo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/corpus

# seed TARGET NAME BYTE... (decimal)
seed() {
    local target=$1 name=$2 b out=""
    shift 2
    mkdir -p "$dir/$target"
    for b in "$@"; do
        out+=$(printf '\\%03o' "$b")
    done
    printf "$out" >"$dir/$target/seed-$name"
}

# ---- fuzz_ops opcodes (the switch in LLVMFuzzerTestOneInput) ----------
NEW=0 SEND=2 TRYSEND=3 SENDU=4 RECV=5 TRYRECV=6 RECVU=7 CLOSE=8 QUERY=9
DUPFREE=10 SELECT=11 SELARGS=13 AFTER=14 TIMER=15 TSTOP=16 TFREE=17
CTXNEW=18 CTXCANCEL=19 CTXQ=20 CTXFREE=21 CHCTX=22 SEMNEW=23 SEMACQ=24
SEMREL=25 WG=26 POOL=27 BADNEW=28
# Unbounded channels and batches (opcodes 32..38, after the original 0..31):
UNB=32 SENDM=33 TRYSENDM=34 SENDMU=35 RECVM=36 TRYRECVM=37 RECVMU=38
# UNB: slot, esize, f (f % 8: 6, 7 start the counters below their
# wraparound; f & 15 == 15 a size no node can have). SENDM, TRYSENDM,
# RECVM, TRYRECVM: slot, n (0..8), f (f & 7 == 7 NULL buffer, f & 0x38 ==
# 0x38 NULL count); SENDMU, RECVMU: the same, then dsel.
# Element sizes (NEW's third byte): 0 1 4 8 24 40 -> 0..5.
# Deadlines (dsel): 0 INT64_MIN, 1 zero, 2 now-1, 3 now-1s, 4..6 ahead.
# Timer delays (AFTER, TIMER one-shot): -1000 0 1 1us 50us 1h -> 0..5;
# ticker periods: -1 0 1ns 10us 1ms -> 0..4.
# Select: variant (0 select 1 try 2 until, +3 biased), n, pad, [dsel],
# then per case src (0..3 channel, 4..7 ctx done, 8 NULL) and d (bit 0
# send; 15 bad dir; 0x70 NULL buf).

o() { seed ops "$@"; }
o buffered-fifo       $NEW 0 2 3  $SEND 0 0  $SEND 0 0  $TRYSEND 0 0 \
                      $QUERY 0  $RECV 0 0  $TRYRECV 0 0  $RECV 0 0  $TRYRECV 0 0
o buffered-full-until $NEW 1 1 2  $SEND 1 0  $SENDU 1 0 4  $SENDU 1 0 0 \
                      $RECVU 1 0 6  $RECVU 1 0 5  $QUERY 1
o unbuffered-alone    $NEW 2 0 3  $TRYSEND 2 0  $TRYRECV 2 0  $SEND 2 0 \
                      $RECV 2 0  $SENDU 2 0 5  $RECVU 2 0 6  $CLOSE 2 \
                      $TRYSEND 2 0  $RECV 2 0  $QUERY 2
o close-drain         $NEW 0 4 4  $SEND 0 0  $SEND 0 0  $CLOSE 0  $CLOSE 0 \
                      $SEND 0 0  $TRYSEND 0 0  $RECV 0 0  $QUERY 0  $RECV 0 0 \
                      $RECV 0 0  $TRYRECV 0 0  $RECVU 0 0 2
o signal-only         $NEW 3 3 0  $SEND 3 7  $SEND 3 0  $RECV 3 7  $QUERY 3 \
                      $CLOSE 3  $RECV 3 7  $RECV 3 7
o null-buffers        $NEW 0 2 5  $SEND 0 7  $RECV 0 7  $SENDU 0 7 1 \
                      $RECVU 0 7 1  $SEND 0 0  $RECV 0 0
o null-channel        $SEND 1 0  $TRYSEND 1 0  $SENDU 1 0 1  $RECV 1 0 \
                      $TRYRECV 1 0  $RECVU 1 0 1  $CLOSE 1  $QUERY 1
o dup-free            $NEW 0 1 2  $DUPFREE 0 1  $DUPFREE 0 1  $SEND 0 0 \
                      $DUPFREE 0 0  $RECV 0 0  $DUPFREE 0 0  $DUPFREE 0 0 \
                      $SEND 0 0
o bad-new             $BADNEW 1 0 0  $BADNEW 1 1 5  $BADNEW 0 1 0 \
                      $BADNEW 0 2 1  $BADNEW 0 0 2
o big-elems           $NEW 0 3 5  $NEW 1 4 4  $SEND 0 0  $SEND 1 0 $SEND 0 0 \
                      $RECV 0 0  $RECV 1 0  $RECV 0 0
o select-ready        $NEW 0 2 3  $NEW 1 1 3  $SEND 0 0 \
                      $SELECT 1 3 0  0 0  1 0  1 1 \
                      $SELECT 0 2 0  0 0  1 1  $SELECT 4 2 0  1 0  0 0
o select-biased-order $NEW 0 4 3  $NEW 1 4 3  $SEND 0 0  $SEND 1 0 \
                      $SELECT 4 2 0  1 0  0 0  $SELECT 3 2 0  0 0  1 0 \
                      $SELECT 5 2 0 0  0 0  1 0
o select-none-ready   $NEW 0 0 3  $NEW 1 1 3 \
                      $SELECT 1 3 0  0 0  0 1  1 0 \
                      $SELECT 2 2 0 5  0 0  1 0 \
                      $SELECT 0 2 0  0 1  1 0
o select-closed       $NEW 0 0 3  $CLOSE 0 \
                      $SELECT 0 2 0  0 0  0 1  $SELECT 4 1 0  0 1 \
                      $SELECT 1 1 0  0 0
o select-same-chan    $NEW 0 1 3  $SELECT 1 2 0  0 1  0 0 \
                      $SELECT 1 2 0  0 1  0 0  $SELECT 1 2 0  0 0  0 1 \
                      $NEW 1 0 3  $SELECT 1 2 0  1 1  1 0
o select-invalid      $NEW 0 1 3  $SELECT 1 1 0  0 15 \
                      $SELECT 1 1 0  0 112  $SELECT 0 0 0 \
                      $SELECT 1 2 0  8 15  8 0  $SELECT 0 1 0  8 0 \
                      $SELARGS 0  $SELARGS 1  $SELARGS 2  $SELARGS 3 \
                      $SELARGS 4
o select-heap         $NEW 0 1 3  $SEND 0 0  $SELECT 1 2 15  0 0  8 0 \
                      $SELECT 2 1 15 2  0 0
o after-recv          $AFTER 0 1  $RECV 0 0  $AFTER 1 4  $RECV 1 0 \
                      $AFTER 2 0  $TRYRECV 2 0  $RECV 2 0
o after-free-early    $AFTER 0 5  $TRYRECV 0 0  $QUERY 0  $DUPFREE 0 0 \
                      $AFTER 1 3  $DUPFREE 1 1  $DUPFREE 1 0  $DUPFREE 1 0
o after-user-send     $AFTER 0 1  $TRYSEND 0 0  $TRYSEND 0 0  $RECV 0 0 \
                      $TRYRECV 0 0  $CLOSE 0  $TRYRECV 0 0  $TRYRECV 0 0
o after-select        $AFTER 0 3  $NEW 1 0 3  $SELECT 0 2 0  1 0  0 0 \
                      $AFTER 2 1  $SELECT 3 2 0  2 0  1 0
o timer-stop          $TIMER 0 0 5  $TSTOP 0  $TSTOP 0  $TRYRECV 0 0 \
                      $TIMER 1 0 1  $TSTOP 1  $TRYRECV 1 0  $TFREE 1 \
                      $TFREE 0
o timer-chan-rules    $TIMER 0 0 3  $SEND 0 0  $TRYSEND 0 0  $CLOSE 0 \
                      $QUERY 0  $DUPFREE 0 0  $RECV 0 0  $TSTOP 0  $TFREE 0
o timer-dup-outlives  $TIMER 0 0 2  $DUPFREE 0 1  $TFREE 0  $TRYRECV 0 0 \
                      $RECV 0 0  $TRYRECV 0 0  $DUPFREE 0 0
o ticker              $TIMER 0 1 3  $RECV 0 0  $RECV 0 0  $TRYRECV 0 0 \
                      $TSTOP 0  $TRYRECV 0 0  $TRYRECV 0 0  $TFREE 0 \
                      $TIMER 1 1 0  $TIMER 1 1 1  $TIMER 2 1 2  $RECV 2 0 \
                      $TFREE 2  $TFREE 1
o ctx-tree            $CTXNEW 0 4 0 0  $CTXNEW 1 0 0 0  $CTXNEW 2 1 0 0 \
                      $CTXQ 2  $CTXCANCEL 1  $CTXQ 2  $CTXQ 0  $CTXNEW 3 2 0 0 \
                      $CTXQ 3  $CTXFREE 0  $CTXQ 0  $CTXFREE 1  $CTXFREE 2 \
                      $CTXFREE 3
o ctx-deadlines       $CTXNEW 0 4 1 6  $CTXNEW 1 0 2 1  $CTXNEW 2 0 1 0 \
                      $CTXQ 1  $CTXQ 2  $CTXNEW 3 0 2 7  $CTXQ 3 \
                      $CTXNEW 1 0 2 4 0  $CTXNEW 2 0 1 5 1  $CTXNEW 3 0 2 4 2 \
                      $CTXQ 1  $CTXQ 2
o ctx-background      $CTXCANCEL 0  $CTXQ 0  $CTXFREE 0  $CTXNEW 0 4 1 3 0 \
                      $CTXQ 0
o ctx-ops             $NEW 0 1 3  $CTXNEW 0 4 0 0  $CHCTX 0 0 1  $CHCTX 0 0 0 \
                      $CTXCANCEL 0  $CHCTX 0 0 1  $SEND 0 0  $CHCTX 0 0 0 \
                      $CHCTX 0 1 0  $SELECT 1 2 0  0 0  4 0 \
                      $SELECT 0 1 0  4 0  $SELECT 1 1 0  4 1
o sem                 $SEMNEW 0 3  $SEMACQ 0 2 1 0  $SEMACQ 0 3 1 0 \
                      $SEMACQ 0 4 0 0 3  $SEMREL 0 2  $SEMREL 0 2 \
                      $SEMACQ 0 5 1 0  $SEMACQ 0 8 1 0  $SEMACQ 0 0 4 0 \
                      $SEMREL 0 6  $SEMREL 0 4  $SEMACQ 0 1 2 0 5
o sem-edges           $SEMNEW 0 5  $SEMNEW 1 6  $SEMNEW 1 7  $SEMNEW 1 8 \
                      $SEMNEW 1 0  $SEMACQ 1 0 1 0  $SEMACQ 1 1 1 0 \
                      $SEMACQ 0 6 1 0  $SEMACQ 0 4 4 0  $SEMREL 0 6 \
                      $SEMREL 0 7  $SEMACQ 0 1 0 0 \
                      $CTXNEW 0 4 0 0  $CTXCANCEL 0  $SEMACQ 0 1 3 0
o wg                  $WG 0 0 0  $WG 0 1 0  $WG 0 1 1  $WG 0 3 0 1 \
                      $WG 0 4 0 5  $WG 0 2 0  $WG 0 1 3  $WG 0 1 3 \
                      $WG 0 3 0 1  $WG 0 1 5  $WG 0 1 0  $WG 0 1 6 \
                      $WG 0 1 2  $WG 0 4 0 0  $WG 1 1 0  $WG 1 0 0  $WG 1 3 0
o pool                $POOL 0 2  $POOL 1 0  $POOL 1 0  $POOL 2 0 \
                      $POOL 3 0 4  $POOL 5 0  $POOL 1 0  $POOL 7 0
o pool-unbuffered     $POOL 0 3  $POOL 1 0  $POOL 2 0  $POOL 1 0  $POOL 5 0 \
                      $POOL 0 0
o pool-shutdown       $POOL 0 9  $POOL 1 0  $POOL 1 0  $POOL 1 0  $POOL 2 0 \
                      $POOL 6 0  $POOL 6 0  $POOL 1 0  $POOL 5 0  $POOL 7 0
o pool-ctx            $CTXNEW 0 4 0 0  $POOL 0 5  $POOL 4 0  $CTXCANCEL 0 \
                      $POOL 4 0  $POOL 5 0  $POOL 6 0  $POOL 4 0
o unbounded-fifo      $UNB 0 3 0  $SEND 0 0  $SEND 0 0  $SEND 0 0 \
                      $SENDM 0 8 0  $QUERY 0  $TRYRECVM 0 5 0  $RECVM 0 8 0 \
                      $TRYRECVM 0 8 0  $RECVU 0 0 5  $CLOSE 0  $SENDM 0 2 0 \
                      $SENDU 0 0 0  $TRYSEND 0 0  $RECVM 0 3 0  $QUERY 0
o unbounded-wrap      $UNB 1 2 6  $SENDM 1 8 0  $QUERY 1  $RECVM 1 3 0 \
                      $SENDMU 1 4 0 0  $QUERY 1  $TRYRECVM 1 8 0  $QUERY 1 \
                      $UNB 2 0 7  $TRYSENDM 2 8 7  $SEND 2 7  $QUERY 2 \
                      $RECVMU 2 8 7 1  $QUERY 2  $UNB 3 1 15  $UNB 3 1 31
o unbounded-select    $UNB 0 3 0  $SELECT 1 2 0  0 1  0 1  $SELECT 0 1 0  0 0 \
                      $CTXNEW 0 4 0 0  $CHCTX 0 0 1  $CHCTX 0 0 0 \
                      $NEW 1 0 3  $SELECT 3 2 0  1 1  0 1  $QUERY 0 \
                      $DUPFREE 0 1  $DUPFREE 0 0  $SEND 0 0  $DUPFREE 0 0
o batch-buffered      $NEW 0 4 3  $TRYSENDM 0 6 0  $TRYSENDM 0 2 0 \
                      $SENDMU 0 3 0 0  $TRYRECVM 0 3 0  $SENDMU 0 3 0 4 \
                      $RECVM 0 8 0  $SENDM 0 4 0  $RECVMU 0 2 0 5  $QUERY 0 \
                      $CLOSE 0  $TRYRECVM 0 8 0  $RECVM 0 8 0  $SENDM 0 1 0
o batch-unbuffered    $NEW 1 0 3  $TRYSENDM 1 3 0  $SENDMU 1 2 0 4 \
                      $TRYRECVM 1 3 0  $RECVMU 1 2 0 6  $SENDM 1 2 0 \
                      $RECVM 1 1 0  $CLOSE 1  $SENDM 1 2 0  $RECVM 1 2 0 \
                      $TRYSENDM 1 1 0
o batch-args          $SENDM 2 3 0  $RECVM 2 3 0  $NEW 0 2 3 \
                      $TRYSENDM 0 2 56  $TRYSENDM 0 2 7  $TRYSENDM 0 0 7 \
                      $SENDM 0 0 0  $RECVM 0 0 0  $TRYRECVM 0 2 56 \
                      $TRYRECVM 0 2 7  $RECVM 0 0 7  $CLOSE 0  $SENDM 0 0 0 \
                      $RECVM 0 0 0  $TIMER 1 0 5  $SENDM 1 0 0 \
                      $TRYSENDM 1 2 0  $TRYRECVM 1 2 0  $NEW 3 2 0 \
                      $SENDM 3 2 7  $RECVM 3 2 7
o batch-timers        $AFTER 0 1  $RECVM 0 4 0  $TIMER 1 1 3  $RECVM 1 4 0 \
                      $TRYRECVM 1 4 0  $TSTOP 1  $TRYRECVM 1 4 0  $TFREE 1 \
                      $AFTER 2 5  $TRYSENDM 2 3 0  $TRYRECVM 2 3 0 \
                      $TIMER 3 0 1  $RECVMU 3 2 0 6  $TRYRECVM 3 2 0

# ---- fuzz_threads -----------------------------------------------------
# Header: close delay (0 at once, 1 50us, 2 500us, 3 2ms; +4 detached:
# the main thread frees its references right after closing), then h: bit 0
# three threads, bit 1 two channels, bits 2-3 / 4-5 the capacities (0 1 2
# 4) of channels 0 / 1. Steps: who (thread = who % n, yields = bits 4-5),
# kind, a (channel = a % n; select: cases), [b: wait], [select: c].
K_SEND=0 K_TRY_SEND=1 K_SEND_UNTIL=2 K_RECV=3 K_TRY_RECV=4 K_RECV_UNTIL=5
K_SELECT=6 K_CLOSE=8 K_LEN=9
# With header bit 3 (8) set, two more kinds: batch send and receive. a:
# channel a % n, size (a >> 1) % 6; b: form b % 3 (blocking, try,
# until), its wait (b >> 2) % 4. Bits 6 / 7 of h: channel 0 / 1 unbounded.
K_SEND_MANY=10 K_RECV_MANY=11
# Select's a: n - 1 in a % 3, then 2 bits per case from bit 2: channel,
# send. b: variant (0 select 1 try 2 until, +3 biased); c: its wait.

t() { seed threads "$@"; }
t pingpong-unbuffered 3 0  0 $K_SEND 0  1 $K_RECV 0  0 $K_SEND 0 \
                      1 $K_RECV 0  0 $K_SEND 0  1 $K_RECV 0
t buffered-2x1        3 4  0 $K_SEND 0  0 $K_SEND 0  0 $K_SEND 0 \
                      1 $K_RECV 0  1 $K_RECV 0  1 $K_TRY_RECV 0  1 $K_LEN 0
t three-mpmc          3 13  0 $K_SEND 0  1 $K_SEND 0  2 $K_RECV 0 \
                      0 $K_SEND 0  1 $K_SEND 0  2 $K_RECV 0  2 $K_RECV 0 \
                      0 $K_TRY_SEND 0  1 $K_RECV_UNTIL 0 2  2 $K_LEN 0
t close-races-send    1 1  0 $K_SEND 0  0 $K_SEND 0  1 $K_CLOSE 0 \
                      0 $K_SEND 0  0 $K_TRY_SEND 0  1 $K_RECV 0  1 $K_RECV 0
t close-wakes-recv    2 0  0 $K_RECV 0  0 $K_RECV 0  1 $K_CLOSE 0 \
                      1 $K_RECV 0
t timed-unbuffered    3 0  0 $K_SEND_UNTIL 0 2  1 $K_RECV_UNTIL 0 2 \
                      0 $K_SEND_UNTIL 0 3  1 $K_RECV_UNTIL 0 1 \
                      0 $K_TRY_SEND 0  1 $K_TRY_RECV 0
t yields              3 5  16 $K_SEND 0  33 $K_RECV 0  48 $K_SEND 0 \
                      49 $K_RECV 0  0 $K_SEND 0  17 $K_RECV 0
t select-two-chans    3 22  0 $K_SELECT 4 0 0  0 $K_SELECT 8 0 0 \
                      1 $K_SELECT 5 0 0  1 $K_SELECT 5 0 0  0 $K_SEND 0 \
                      1 $K_RECV 1
t select-send-recv    3 2  0 $K_SELECT 9 0 0  1 $K_SELECT 7 0 0 \
                      0 $K_SELECT 25 3 0  1 $K_SELECT 13 4 2 \
                      0 $K_SELECT 11 5 3
t select-vs-close     1 3  0 $K_SELECT 1 0 0  1 $K_CLOSE 0 \
                      0 $K_SELECT 4 1 0  0 $K_SELECT 0 2 1
t unbuffered-selects  3 0  0 $K_SELECT 4 0 0  1 $K_SELECT 0 0 0 \
                      0 $K_SELECT 4 2 3  1 $K_SELECT 0 2 3 \
                      0 $K_SELECT 4 3 0  1 $K_RECV 0
t three-unbuffered    3 1  0 $K_SEND 0  1 $K_SEND 0  2 $K_RECV 0 \
                      2 $K_RECV 0  0 $K_RECV 0  1 $K_SEND 0  2 $K_CLOSE 0
t detached-unbuffered 5 1  0 $K_SEND 0  1 $K_RECV 0  2 $K_SEND 0 \
                      0 $K_RECV 0  1 $K_SEND 0  2 $K_RECV 0
t detached-buffered   7 7  0 $K_SEND 0  0 $K_SEND 0  1 $K_SEND 0 \
                      2 $K_RECV 0  1 $K_TRY_RECV 0  2 $K_SELECT 4 0 0
t cap4-burst          0 12  0 $K_SEND 0  0 $K_SEND 0  0 $K_SEND 0 \
                      0 $K_SEND 0  0 $K_SEND 0  1 $K_RECV 0  1 $K_RECV 0 \
                      1 $K_RECV 0  1 $K_LEN 0  1 $K_RECV 0  1 $K_RECV 0
t batch-buffered      11 8  0 $K_SEND_MANY 8 0  1 $K_RECV_MANY 6 0 \
                      1 $K_RECV_MANY 10 0  0 $K_SEND_MANY 4 1 \
                      0 $K_SEND_MANY 6 2  1 $K_RECV_MANY 10 6 \
                      1 $K_RECV_MANY 10 1  1 $K_LEN 0
t batch-unbuffered    11 1  0 $K_SEND_MANY 6 0  1 $K_RECV_MANY 4 0 \
                      2 $K_RECV_MANY 4 0  0 $K_SEND_MANY 4 10 \
                      1 $K_RECV_MANY 2 1  2 $K_SEND_MANY 2 0 \
                      0 $K_RECV_MANY 10 0
t batch-unbounded     11 64  0 $K_SEND_MANY 10 0  0 $K_SEND_MANY 10 1 \
                      0 $K_SEND 0  1 $K_RECV_MANY 10 0  1 $K_RECV_MANY 10 1 \
                      1 $K_RECV_MANY 6 6  0 $K_SEND_MANY 0 0  1 $K_LEN 0 \
                      0 $K_SELECT 8 1 0  1 $K_TRY_SEND 0  1 $K_SEND_UNTIL 0 1
t batch-mixed-close   9 135  0 $K_SEND_MANY 8 0  1 $K_SEND_MANY 9 0 \
                      2 $K_RECV_MANY 10 0  2 $K_RECV_MANY 11 0 \
                      0 $K_CLOSE 1  1 $K_SEND_MANY 11 1  2 $K_RECV_MANY 11 2 \
                      2 $K_RECV_MANY 10 1
t batch-detached      12 65  0 $K_SEND_MANY 10 0  1 $K_SEND_MANY 10 0 \
                      2 $K_RECV_MANY 10 0  2 $K_RECV_MANY 10 0 \
                      0 $K_RECV_MANY 2 1
