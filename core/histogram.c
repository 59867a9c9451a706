/* histogram.c: the log-linear latency histogram (see histogram.h for the layout and ordering). */
#include "core/histogram.h"

#include <stddef.h>

#define SUB_BITS DPS__HISTOGRAM_SUB_BITS
#define SUB ((uint64_t)1 << SUB_BITS)

/* Bucket i >= 2*SUB holds [(SUB + i % SUB) << s, ((SUB + i % SUB + 1) << s) - 1] with
 * s = i / SUB - 1; below 2*SUB the formula would give s = -1, so those buckets hold i alone. */
static size_t bucket_of(uint64_t v) {
  if (v > DPS__HISTOGRAM_TRACKABLE) v = DPS__HISTOGRAM_TRACKABLE;
  if (v < 2 * SUB) return (size_t)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v >= 32: e in 5..39 */
  unsigned s = e - SUB_BITS;
  return (size_t)(e - SUB_BITS + 1) * SUB + (size_t)((v >> s) - SUB);
}

static uint64_t bucket_upper(size_t i) {
  if (i < 2 * SUB) return i;
  unsigned s = (unsigned)(i / SUB) - 1;
  return ((SUB + i % SUB + 1) << s) - 1;
}

void dps__histogram_init(dps__histogram *h) {
  atomic_init(&h->total, 0);
  atomic_init(&h->max, 0);
  for (size_t i = 0; i < DPS__HISTOGRAM_BUCKETS; i++) atomic_init(&h->counts[i], 0);
}

/* Load then store, not fetch_add: this thread is the only writer (see histogram.h). */
static void bump(_Atomic uint64_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

void dps__histogram_record(dps__histogram *h, uint64_t value) {
  if (value > atomic_load_explicit(&h->max, memory_order_relaxed))
    atomic_store_explicit(&h->max, value, memory_order_relaxed);
  bump(&h->counts[bucket_of(value)]);
  bump(&h->total);
}

uint64_t dps__histogram_count(const dps__histogram *h) {
  return atomic_load_explicit(&h->total, memory_order_relaxed);
}

uint64_t dps__histogram_max(const dps__histogram *h) {
  return atomic_load_explicit(&h->max, memory_order_relaxed);
}

/* The nearest rank of @p p percent of @p n: ceil(p / 100 * n), at least 1. The tolerance keeps a
 * product that should be whole (99.9% of 1000) from being rounded up past it by binary fractions;
 * without libm (the library does not link it). */
static uint64_t nearest_rank(double p, uint64_t n) {
  double x = p / 100.0 * (double)n;
  x -= x * 1e-12;
  if (x >= (double)n) return n;
  uint64_t r = (uint64_t)x;
  if ((double)r < x) r++;
  return r ? r : 1;
}

uint64_t dps__histogram_percentile(const dps__histogram *h, double p) {
  uint64_t max = dps__histogram_max(h);
  if (p >= 100.0) return max;
  if (!(p > 0.0)) p = 0.0; /* also NaN */
  /* One pass to load the counts, so the rank and the walk agree even while the writer runs. */
  uint64_t counts[DPS__HISTOGRAM_BUCKETS], n = 0;
  for (size_t i = 0; i < DPS__HISTOGRAM_BUCKETS; i++) {
    counts[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    n += counts[i];
  }
  if (n == 0) return 0;
  uint64_t rank = nearest_rank(p, n), seen = 0;
  for (size_t i = 0; i < DPS__HISTOGRAM_BUCKETS; i++) {
    seen += counts[i];
    if (seen >= rank) {
      uint64_t upper = bucket_upper(i);
      return upper < max ? upper : max;
    }
  }
  return max; /* not reached: seen ends at n >= rank */
}
