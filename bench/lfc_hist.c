/* SPDX-License-Identifier: MIT */
/*
 * lfc_hist: log-linear histogram (see lfc_hist.h).
 *
 * Index of v: below 2^S (S = LFC_HIST_SUB_BITS) the index is v itself.
 * Otherwise, with e = floor(log2 v) >= S, the top S bits below the leading
 * one select the sub-bucket: idx = (e - S + 1) * 2^S + ((v >> (e - S)) &
 * (2^S - 1)). Bucket 2^S .. 2^(S+1) - 1 thus covers [2^S, 2^(S+1)) one
 * value each, and each later power of two gets 2^S buckets of width
 * 2^(e - S).
 */
#include "lfc_hist.h"

#include <string.h>

#define SUB (1u << LFC_HIST_SUB_BITS)

void
lfc_hist_init(struct lfc_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned
lfc_hist_index(uint64_t v)
{
    unsigned e;
    unsigned idx;

    if (v < SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    if (e >= LFC_HIST_MAX_BITS)
        return LFC_HIST_BUCKETS - 1;
    idx = ((e - LFC_HIST_SUB_BITS + 1) << LFC_HIST_SUB_BITS) +
          (unsigned)((v >> (e - LFC_HIST_SUB_BITS)) & (SUB - 1));
    return idx;
}

uint64_t
lfc_hist_upper(unsigned idx)
{
    unsigned e;
    uint64_t sub;

    if (idx < SUB)
        return idx;
    if (idx >= LFC_HIST_BUCKETS - 1)
        return UINT64_MAX;
    e = (idx >> LFC_HIST_SUB_BITS) + LFC_HIST_SUB_BITS - 1;
    sub = idx & (SUB - 1);
    /* Bucket start: (SUB + sub) << (e - S); width 1 << (e - S). */
    return ((SUB + sub + 1) << (e - LFC_HIST_SUB_BITS)) - 1;
}

void
lfc_hist_record(struct lfc_hist *h, uint64_t v)
{
    h->bucket[lfc_hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void
lfc_hist_merge(struct lfc_hist *dst, const struct lfc_hist *src)
{
    unsigned i;

    if (src->count == 0)
        return;
    for (i = 0; i < LFC_HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t
lfc_hist_quantile(const struct lfc_hist *h, double q)
{
    uint64_t rank;
    uint64_t seen = 0;
    uint64_t up;
    unsigned i;

    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    /* The smallest value v with at least ceil(q * count) values <= v. */
    rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    for (i = 0; i < LFC_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            up = lfc_hist_upper(i);
            /* Never report beyond what was seen, nor below the min. */
            if (up > h->max)
                up = h->max;
            if (up < h->min)
                up = h->min;
            return up;
        }
    }
    return h->max;
}
