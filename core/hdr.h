/*
 * hdr.h: an HdrHistogram-style log-linear histogram for load-test latencies (microseconds),
 * precise to about 3 significant digits, with fixed memory, merging and a compact JSON form.
 *
 * Layout: with S = 2^sub_bits sub-buckets, values below S have a bucket each (exact); above,
 * every power of two [2^e, 2^(e+1)) is cut into S equal sub-buckets of width 2^(e - sub_bits).
 * A bucket's width is thus at most 1/S of its lower bound: with sub_bits 11 (2048 sub-buckets)
 * a reported value is at most 1/2048 (0.049%) above the true one, never below it. Values up to
 * 2^DPS__HDR_MAX_BITS - 1 (2^36 us: 19 hours) are resolved; larger ones count in the top bucket.
 * min and max are kept exactly.
 *
 * Not thread-safe: one writer, and readers that the caller serializes with it.
 */
#ifndef DPS_CORE_HDR_H
#define DPS_CORE_HDR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define DPS__HDR_MAX_BITS 36
#define DPS__HDR_PRECISE_BITS 11 /* 2048 sub-buckets: the load report's histograms */
#define DPS__HDR_COARSE_BITS 5   /* 32 sub-buckets (3%): its per-second ones */

typedef struct dps__hdr {
  unsigned sub_bits;
  size_t n_buckets;
  uint64_t count, min, max;
  uint64_t *counts; /* n_buckets of them */
} dps__hdr;

/* Allocates the buckets for @p sub_bits (1..16). Returns 0, or -1 (bad sub_bits, no memory). */
int dps__hdr_init(dps__hdr *h, unsigned sub_bits);
/* Frees the buckets; @p h may be re-initialized. Safe on a zeroed struct. */
void dps__hdr_free(dps__hdr *h);
/* Empties @p h, keeping its buckets. */
void dps__hdr_reset(dps__hdr *h);

/* Records @p n values @p v. */
void dps__hdr_record_n(dps__hdr *h, uint64_t v, uint64_t n);
static inline void dps__hdr_record(dps__hdr *h, uint64_t v) { dps__hdr_record_n(h, v, 1); }

/* Adds @p src to @p dst (same sub_bits). Returns 0, or -1 when the precisions differ. */
int dps__hdr_add(dps__hdr *dst, const dps__hdr *src);

/*
 * The @p p th percentile (0..100; nearest rank: the smallest recorded value with at least p% of
 * the values at or below it), reported as its bucket's highest value clamped to [min, max]. p 0
 * gives the exact min, 100 the exact max; 0 when empty.
 */
uint64_t dps__hdr_percentile(const dps__hdr *h, double p);

/* The bucket of @p v, and the lowest and highest values of bucket @p i. */
size_t dps__hdr_index(const dps__hdr *h, uint64_t v);
uint64_t dps__hdr_bucket_low(const dps__hdr *h, size_t i);
uint64_t dps__hdr_bucket_high(const dps__hdr *h, size_t i);

/*
 * The compact JSON form: {"unit":"us","subBucketBits":B,"count":N,"min":…,"max":…,
 * "buckets":[[index,count],…]} with only the non-empty buckets, in index order. New reference,
 * or NULL when out of memory.
 */
json_t *dps__hdr_to_json(const dps__hdr *h);

/*
 * Parses the compact form into @p h (initialized here; free it with dps__hdr_free). Checks every
 * member: indexes ascending and in range, counts positive and summing to count, min/max
 * consistent with the buckets. Returns 0, or -1 with @p why saying what is wrong.
 */
int dps__hdr_from_json(const json_t *j, dps__hdr *h, char *why, size_t why_len);

#endif
