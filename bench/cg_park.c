/* SPDX-License-Identifier: MIT */
/*
 * cg_park: a workload for valgrind --tool=callgrind whose instruction
 * count is stable from run to run, to compare the parking paths of two
 * builds (bench/callgrind.sh). lfc_spin_set_limit(0) turns the spin off,
 * so every operation that cannot complete at once parks: the count then
 * depends on the code, not on how long callgrind's serialised threads
 * happened to spin.
 *
 *   cg_park MODE [N]   MODE 0: unbuffered, one sender and one receiver
 *                      MODE 1: unbuffered ping-pong (two channels)
 *                      MODE 2: capacity 1, one sender and one receiver
 *
 * N messages (default 100000), each checked (value and order); exits 1 on
 * a wrong value or status.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lfchan.h>

static lfc_chan *to_peer, *back;
static int mode;
static uint64_t n_msgs = 100000;

static void
fail(const char *what)
{
    fprintf(stderr, "cg_park: %s\n", what);
    exit(1);
}

static void *
peer(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < n_msgs; i++) {
        uint64_t v;
        if (lfc_recv(to_peer, &v) != LFC_OK || v != i)
            fail("peer: wrong value or status");
        if (mode == 1 && lfc_send(back, &v) != LFC_OK)
            fail("peer: send back failed");
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        fail("usage: cg_park MODE [N]");
    mode = atoi(argv[1]);
    if (mode < 0 || mode > 2)
        fail("MODE is 0, 1 or 2");
    if (argc == 3)
        n_msgs = strtoull(argv[2], NULL, 10);
    lfc_spin_set_limit(0);
    size_t cap = mode == 2 ? 1 : 0;
    to_peer = lfc_chan_new(cap, sizeof(uint64_t));
    back = lfc_chan_new(cap, sizeof(uint64_t));
    if (!to_peer || !back)
        fail("lfc_chan_new failed");
    pthread_t th;
    if (pthread_create(&th, NULL, peer, NULL) != 0)
        fail("pthread_create failed");
    for (uint64_t i = 0; i < n_msgs; i++) {
        uint64_t v;
        if (lfc_send(to_peer, &i) != LFC_OK)
            fail("send failed");
        if (mode == 1 && (lfc_recv(back, &v) != LFC_OK || v != i))
            fail("wrong reply");
    }
    pthread_join(th, NULL);
    lfc_chan_free(to_peer);
    lfc_chan_free(back);
    return 0;
}
