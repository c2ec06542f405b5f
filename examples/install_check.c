/* SPDX-License-Identifier: MIT */
/*
 * install_check: builds against an installed lfchan (pkg-config or CMake
 * find_package) and exercises the public API once. One thread sends 1..100
 * over a capacity-4 channel of ints and closes it; main receives until
 * LFC_CLOSED and checks order, count and sum. It also checks that the
 * library it loaded has the version of the headers it was compiled with.
 * Exits 0 on success.
 */
#include <lfchan.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N 100

static void *
sender(void *arg)
{
    lfc_chan *ch = arg;
    for (int i = 1; i <= N; i++) {
        int rc = lfc_send(ch, &i);
        if (rc != LFC_OK) {
            fprintf(stderr, "install_check: send %d: %s\n", i,
                    lfc_strerror(rc));
            return (void *)1;
        }
    }
    if (lfc_close(ch) != LFC_OK)
        return (void *)1;
    return NULL;
}

int
main(void)
{
    lfc_chan *ch = lfc_chan_new(4, sizeof(int));
    pthread_t t;
    void *tret = NULL;
    long sum = 0;
    int count = 0;
    int bad = 0;
    int rc;
    int v;

    if (strcmp(lfc_version(), LFC_VERSION_STRING) != 0) {
        fprintf(stderr, "install_check: library %s, headers %s\n",
                lfc_version(), LFC_VERSION_STRING);
        lfc_chan_free(ch);
        return 1;
    }
    if (ch == NULL) {
        perror("install_check: lfc_chan_new");
        return 1;
    }
    if (lfc_chan_cap(ch) != 4 || lfc_chan_elem_size(ch) != sizeof(int)) {
        fprintf(stderr, "install_check: wrong cap or elem_size\n");
        return 1;
    }
    if (pthread_create(&t, NULL, sender, ch) != 0) {
        fprintf(stderr, "install_check: pthread_create failed\n");
        return 1;
    }
    while ((rc = lfc_recv(ch, &v)) == LFC_OK) {
        count++;
        sum += v;
        if (v != count)
            bad = 1;
    }
    pthread_join(t, &tret);
    if (rc != LFC_CLOSED || tret != NULL || bad || count != N ||
        sum != (long)N * (N + 1) / 2) {
        fprintf(stderr,
                "install_check: FAIL (last=%s count=%d sum=%ld order=%s)\n",
                lfc_strerror(rc), count, sum, bad ? "bad" : "ok");
        lfc_chan_free(ch);
        return 1;
    }
    lfc_chan_free(ch);
    printf("install_check: OK (%d values, sum %ld, lfchan %s)\n", count, sum,
           lfc_version());
    return 0;
}
