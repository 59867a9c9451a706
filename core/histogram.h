/*
 * histogram.h: the latency histogram behind the reporter's stats (submit to outcome, in
 * microseconds). One writer (the sender) records; any thread may read a snapshot at any time.
 * Fixed size, no allocation, no locks.
 *
 * Layout (HdrHistogram's log-linear buckets): values below 32 have a bucket each; above, every
 * power of two [2^e, 2^(e+1)) is cut into 16 equal sub-buckets of width 2^(e-4). A bucket's width
 * is thus at most 1/16 of its lower bound, so a value is reported (as its bucket's upper bound)
 * at most 1/16 = 6.25% too high, never too low; values below 32 are exact. The buckets cover
 * 0 .. 2^40 - 1 us (12.7 days) in 592 counters; larger values are counted in the top bucket, where
 * percentiles report 2^40 - 1 with no error bound. The maximum is kept exactly, whatever its size.
 *
 * Memory ordering: every counter is written by the one writer alone, with a relaxed load and a
 * relaxed store (no read-modify-write: no other thread writes, so no increment can be lost, and a
 * plain store is cheaper than a locked add). Readers load with relaxed ordering too, which is
 * enough because (1) nothing else is published through these counters: a reader needs no other
 * memory to be visible when it sees a count, and (2) per-object coherence makes each counter
 * monotonic to every reader: once a thread has seen a count it never later sees a smaller one.
 * What relaxed does not give is a consistent cut across counters: a snapshot taken during
 * dps__histogram_record may include a record in one counter and not yet in another (the total,
 * a bucket, the maximum). Stats want an approximate picture, so readers accept that; the
 * percentile walk ranks against the sum of the bucket counts it loaded, so it is consistent
 * with itself.
 */
#ifndef DPS_CORE_HISTOGRAM_H
#define DPS_CORE_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define DPS__HISTOGRAM_SUB_BITS 4 /* 16 sub-buckets per power of two: relative error <= 1/16 */
#define DPS__HISTOGRAM_MAX_BITS 40
/* The largest value the buckets resolve; larger ones are counted in the top bucket. */
#define DPS__HISTOGRAM_TRACKABLE ((UINT64_C(1) << DPS__HISTOGRAM_MAX_BITS) - 1)
/* 32 buckets of width 1 for 0..31, then 16 per power of two from 2^5 to 2^39. */
#define DPS__HISTOGRAM_BUCKETS \
  ((DPS__HISTOGRAM_MAX_BITS - DPS__HISTOGRAM_SUB_BITS + 1) << DPS__HISTOGRAM_SUB_BITS)

typedef struct dps__histogram {
  _Atomic uint64_t total; /* records so far */
  _Atomic uint64_t max;   /* the largest value recorded, exact; 0 when empty */
  _Atomic uint64_t counts[DPS__HISTOGRAM_BUCKETS];
} dps__histogram;

/* Empties @p h. Not concurrent with anything else on @p h. */
void dps__histogram_init(dps__histogram *h);

/* Records one value (us). The single writer only; wait-free; any value is accepted (above
 * DPS__HISTOGRAM_TRACKABLE it counts in the top bucket and still updates the exact maximum). */
void dps__histogram_record(dps__histogram *h, uint64_t value);

/* The number of values recorded. Any thread. */
uint64_t dps__histogram_count(const dps__histogram *h);

/*
 * The @p p th percentile (0..100, clamped; nearest rank: the smallest recorded value with at least
 * p% of the values at or below it), reported as its bucket's upper bound but never above the
 * exact maximum: at or above the true answer and at most 1/16 over it. @p p >= 100 returns the
 * exact maximum. 0 when empty. Any thread.
 */
uint64_t dps__histogram_percentile(const dps__histogram *h, double p);

/* The largest value recorded, exact; 0 when empty. Any thread. */
uint64_t dps__histogram_max(const dps__histogram *h);

#endif
