/* SPDX-License-Identifier: MIT */
/*
 * lfc_hist: a small log-linear histogram of nanosecond values.
 *
 * Values below 2^LFC_HIST_SUB_BITS get one bucket each; above, every power
 * of two is cut into 2^LFC_HIST_SUB_BITS equal buckets, so a bucket is at
 * most 1/32 (3.1%) of its values wide, from 1 ns up to 2^40 ns (18 min;
 * larger values land in the last bucket, and max stays exact). The same
 * idea as HdrHistogram, fixed-size and allocation-free: record is a few
 * instructions, and one histogram per thread is merged afterwards.
 *
 * Percentiles report the upper edge of the bucket holding the rank, so
 * they never understate a latency by more than one bucket's width.
 * Not thread-safe: one writer, then read or merge.
 */
#ifndef LFC_HIST_H
#define LFC_HIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LFC_HIST_SUB_BITS 5
#define LFC_HIST_MAX_BITS 40
#define LFC_HIST_BUCKETS                                                     \
    ((LFC_HIST_MAX_BITS - LFC_HIST_SUB_BITS + 1) << LFC_HIST_SUB_BITS)

struct lfc_hist {
    uint64_t count;
    uint64_t sum; /* of recorded values (ns), for the mean */
    uint64_t min;
    uint64_t max;
    uint64_t bucket[LFC_HIST_BUCKETS];
};

void lfc_hist_init(struct lfc_hist *h);
void lfc_hist_record(struct lfc_hist *h, uint64_t v);
void lfc_hist_merge(struct lfc_hist *dst, const struct lfc_hist *src);

/* The value at quantile q (0 < q <= 1), e.g. 0.99; 0 if empty. q = 1
 * returns the exact max. */
uint64_t lfc_hist_quantile(const struct lfc_hist *h, double q);

/* The bucket index of v, and the largest value mapping to a bucket. */
unsigned lfc_hist_index(uint64_t v);
uint64_t lfc_hist_upper(unsigned idx);

#ifdef __cplusplus
}
#endif

#endif /* LFC_HIST_H */
