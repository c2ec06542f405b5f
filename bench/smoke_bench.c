/* SPDX-License-Identifier: MIT */
/*
 * smoke_bench - a minimal, dependency-free channel benchmark.
 *
 *   seq:  one thread, lfc_send then lfc_recv of one 8-byte value on a
 *         capacity-1024 channel; reports ns per send+recv pair.
 *   spsc: one producer and one consumer thread over a capacity-1024
 *         channel; the consumer checks that every value arrives, in order;
 *         reports messages per second.
 *
 * Usage: smoke_bench [--quick]. Unknown flags are ignored with a warning.
 * Exits 1 if a message is lost, duplicated or out of order, or a call fails.
 * The real google-benchmark harness (BM_chan_*) replaces this later.
 */
#define _GNU_SOURCE
#include <lfchan.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define CAP 1024

struct spsc {
    lfc_chan *ch;
    uint64_t n;
    int rc; /* written by the producer before it returns */
};

static void
die(const char *what, int rc)
{
    fprintf(stderr, "smoke_bench: %s: %s\n", what, lfc_strerror(rc));
    exit(1);
}

/* One thread: send then receive, n times. Returns ns per pair. */
static double
bench_seq(uint64_t n)
{
    lfc_chan *ch = lfc_chan_new(CAP, sizeof(uint64_t));
    uint64_t out = 0;
    int64_t t0;
    int64_t t1;
    int rc;

    if (ch == NULL) {
        perror("smoke_bench: lfc_chan_new");
        exit(1);
    }
    t0 = lfc_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if ((rc = lfc_send(ch, &i)) != LFC_OK)
            die("seq send", rc);
        if ((rc = lfc_recv(ch, &out)) != LFC_OK)
            die("seq recv", rc);
        if (out != i) {
            fprintf(stderr,
                    "smoke_bench: seq: got %" PRIu64 ", want %" PRIu64 "\n",
                    out, i);
            exit(1);
        }
    }
    t1 = lfc_now_ns();
    lfc_chan_free(ch);
    return (double)(t1 - t0) / (double)n;
}

static void *
producer(void *arg)
{
    struct spsc *s = arg;
    for (uint64_t i = 0; i < s->n; i++) {
        s->rc = lfc_send(s->ch, &i);
        if (s->rc != LFC_OK)
            return NULL;
    }
    s->rc = lfc_close(s->ch);
    return NULL;
}

/* Producer and consumer threads. Returns elapsed ns. */
static int64_t
bench_spsc(uint64_t n)
{
    struct spsc s = {lfc_chan_new(CAP, sizeof(uint64_t)), n, LFC_OK};
    pthread_t t;
    uint64_t want = 0;
    uint64_t v;
    int64_t t0;
    int64_t t1;
    int rc;

    if (s.ch == NULL) {
        perror("smoke_bench: lfc_chan_new");
        exit(1);
    }
    t0 = lfc_now_ns();
    if (pthread_create(&t, NULL, producer, &s) != 0) {
        fprintf(stderr, "smoke_bench: pthread_create failed\n");
        exit(1);
    }
    while ((rc = lfc_recv(s.ch, &v)) == LFC_OK) {
        if (v != want) {
            fprintf(stderr,
                    "smoke_bench: spsc: got %" PRIu64 ", want %" PRIu64 "\n", v,
                    want);
            exit(1);
        }
        want++;
    }
    t1 = lfc_now_ns();
    pthread_join(t, NULL);
    if (rc != LFC_CLOSED)
        die("spsc recv", rc);
    if (s.rc != LFC_OK)
        die("spsc producer", s.rc);
    if (want != n) {
        fprintf(stderr,
                "smoke_bench: spsc: received %" PRIu64 " of %" PRIu64
                " messages\n",
                want, n);
        exit(1);
    }
    lfc_chan_free(s.ch);
    return t1 - t0;
}

static void
cpu_model(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(buf, len, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || colon == NULL)
            continue;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, len, "%s", colon);
        break;
    }
    fclose(f);
}

int
main(int argc, char **argv)
{
    uint64_t seq_n = 10000000;
    uint64_t spsc_n = 1000000;
    struct utsname un;
    char cpu[256];
    double seq_ns;
    int64_t spsc_ns;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            seq_n = 1000000;
            spsc_n = 200000;
        } else {
            fprintf(stderr, "smoke_bench: warning: ignoring unknown flag %s\n",
                    argv[i]);
        }
    }

    cpu_model(cpu, sizeof(cpu));
    if (uname(&un) != 0)
        snprintf(un.release, sizeof(un.release), "unknown");
    printf("## lfchan smoke benchmark\n\n");
    printf("- CPU: %s\n", cpu);
    printf("- nproc: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("- kernel: %s\n", un.release);
#if defined(__clang__)
    printf("- compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    printf("- compiler: gcc %s\n", __VERSION__);
#endif
    printf("\n");
    fflush(stdout);

    bench_seq(seq_n / 10); /* warm-up: page in, settle the clock */
    seq_ns = bench_seq(seq_n);
    spsc_ns = bench_spsc(spsc_n);

    printf("| benchmark | cap | messages | time (s) | ns/msg | msgs/s |\n");
    printf("|-----------|----:|---------:|---------:|-------:|-------:|\n");
    printf("| seq (send+recv, 1 thread) | %d | %" PRIu64
           " | %.3f | %.1f | %.3g |\n",
           CAP, seq_n, seq_ns * (double)seq_n / 1e9, seq_ns, 1e9 / seq_ns);
    printf("| spsc (1 producer, 1 consumer) | %d | %" PRIu64
           " | %.3f | %.1f | %.3g |\n",
           CAP, spsc_n, (double)spsc_ns / 1e9, (double)spsc_ns / (double)spsc_n,
           (double)spsc_n * 1e9 / (double)spsc_ns);
    printf("\nAll messages arrived in order.\n");
    return 0;
}
