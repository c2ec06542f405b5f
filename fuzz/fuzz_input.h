/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: reading a program from the fuzzer's bytes,
 * failing loudly, and the values that travel through channels.
 *
 * A target is LLVMFuzzerTestOneInput(data, size). Under libFuzzer
 * (scripts/fuzz.sh) it is linked with clang's fuzzer runtime; in the
 * normal test suite fuzz/replay_main.c calls it for every file of the
 * committed corpus, so an input that once failed keeps being run.
 *
 * The reader never fails: past the end it returns zeros, so every byte
 * string is a valid program (the fuzzer wastes nothing on parse errors).
 */
#ifndef LFC_FUZZ_INPUT_H
#define LFC_FUZZ_INPUT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static inline int
fz_more(const struct fz_in *in)
{
    return in->n > 0;
}

static inline uint8_t
fz_u8(struct fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* A number in [0, k) (k >= 1). */
static inline unsigned
fz_below(struct fz_in *in, unsigned k)
{
    return fz_u8(in) % k;
}

/* One of the k entries of table. */
#define FZ_PICK(in, table)                                                     \
    ((table)[fz_below((in), sizeof(table) / sizeof((table)[0]))])

/* A mismatch between the library and what the model says it must do:
 * print what happened and abort, which libFuzzer records as a crash. */
__attribute__((noreturn, format(printf, 3, 4))) static inline void
fz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: fuzz check failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

#define FZ_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            fz_fail(__FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)

/* Status got must equal status want. */
#define FZ_EXPECT(got, want, what)                                             \
    do {                                                                       \
        int fz_g_ = (got), fz_w_ = (want);                                     \
        FZ_CHECK(fz_g_ == fz_w_, "%s: got %d, expected %d", (what), fz_g_,    \
                 fz_w_);                                                       \
    } while (0)

/* The bytes that carry value v in an element of size sz: v little-endian,
 * and past 8 bytes v's bytes again, each xor'ed with its position, so a
 * torn or shifted copy does not look right. */
static inline void
fz_encode(uint64_t v, void *buf, size_t sz)
{
    uint8_t *b = buf;
    for (size_t i = 0; i < sz; i++)
        b[i] = (uint8_t)((v >> (8 * (i % 8))) ^ (i / 8 * 0x5b));
}

/* Whether the sz bytes in buf are fz_encode(v, ..., sz). */
static inline int
fz_matches(uint64_t v, const void *buf, size_t sz)
{
    uint8_t want[64];
    if (sz > sizeof(want))
        return 0;
    fz_encode(v, want, sz);
    return memcmp(want, buf, sz) == 0;
}

#endif /* LFC_FUZZ_INPUT_H */
