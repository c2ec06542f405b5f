/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target without libFuzzer: LLVMFuzzerTestOneInput once for
 * every file named on the command line, and for every regular file in
 * every directory named (not recursing), in name order. The normal test
 * suite runs each target over its committed corpus this way
 * (CMakeLists.txt, "Fuzz targets"), so the plain, ASan and TSan builds
 * replay every seed and every input that once found a bug.
 *
 *   replay_ops fuzz/corpus/ops            all seeds
 *   replay_ops crash-1234                 one input
 *
 * A check that fails aborts (fuzz_input.h). A hang is turned into a
 * failure by an alarm: LFC_FUZZ_REPLAY_ALARM_S seconds (default 600),
 * far above a normal run; under load the inputs take longer, never that.
 * -rounds=N (first argument) runs the whole set N times, for the threaded
 * target whose interleavings differ from run to run; the environment's
 * LFC_FUZZ_REPLAY_ROUNDS, if set, wins over it.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_input.h"

enum { REPLAY_MAX_INPUT = 1 << 20 };

static void
on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "replay: alarm: an input hangs\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)w;
    abort();
}

static int
replay_file(const char *path)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    /* A copy of exactly n bytes: ASan then sees a read past the input. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return -1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir, in name order; returns how many, or -1. */
static long
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof(*names));
            if (!grown)
                abort();
            names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n])
            abort();
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    long done = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(names[i]) != 0)
                done = -1;
            else if (done >= 0)
                done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

static long
env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    long v = s ? atol(s) : 0;
    return v > 0 ? v : dflt;
}

int
main(int argc, char **argv)
{
    long rounds = 1;
    int first = 1;
    if (argc > 1 && strncmp(argv[1], "-rounds=", 8) == 0) {
        rounds = atol(argv[1] + 8);
        first = 2;
    }
    if (argc <= first || rounds < 1) {
        fprintf(stderr, "usage: %s [-rounds=N] FILE|DIR...\n", argv[0]);
        return 2;
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)env_long("LFC_FUZZ_REPLAY_ALARM_S", 600));
    rounds = env_long("LFC_FUZZ_REPLAY_ROUNDS", rounds);
    long total = 0;
    for (long round = 0; round < rounds; round++) {
        for (int i = first; i < argc; i++) {
            struct stat st;
            if (stat(argv[i], &st) != 0) {
                perror(argv[i]);
                return 1;
            }
            long k = S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                         : (replay_file(argv[i]) ? -1 : 1);
            if (k < 0)
                return 1;
            total += k;
        }
    }
    if (total == 0) {
        fprintf(stderr, "%s: no inputs\n", argv[0]);
        return 1;
    }
    printf("%s: %ld inputs replayed, every check passed\n", argv[0], total);
    return 0;
}
