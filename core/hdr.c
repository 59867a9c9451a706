/* hdr.c: the log-linear load-test histogram (see hdr.h for the layout and its error bound). */
#include "core/hdr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACKABLE ((UINT64_C(1) << DPS__HDR_MAX_BITS) - 1)

static unsigned log2_floor(uint64_t v) { return 63u - (unsigned)__builtin_clzll(v); }

int dps__hdr_init(dps__hdr *h, unsigned sub_bits) {
  memset(h, 0, sizeof *h);
  if (sub_bits < 1 || sub_bits > 16 || sub_bits >= DPS__HDR_MAX_BITS) return -1;
  h->sub_bits = sub_bits;
  /* S exact buckets below S, then S for each power 2^sub_bits .. 2^(MAX_BITS-1) */
  h->n_buckets = (size_t)(DPS__HDR_MAX_BITS - sub_bits + 1) << sub_bits;
  h->counts = calloc(h->n_buckets, sizeof *h->counts);
  return h->counts ? 0 : -1;
}

void dps__hdr_free(dps__hdr *h) {
  free(h->counts);
  memset(h, 0, sizeof *h);
}

void dps__hdr_reset(dps__hdr *h) {
  memset(h->counts, 0, h->n_buckets * sizeof *h->counts);
  h->count = h->min = h->max = 0;
}

size_t dps__hdr_index(const dps__hdr *h, uint64_t v) {
  uint64_t s = UINT64_C(1) << h->sub_bits;
  if (v > TRACKABLE) v = TRACKABLE;
  if (v < s) return (size_t)v;
  unsigned e = log2_floor(v); /* >= sub_bits */
  uint64_t sub = (v >> (e - h->sub_bits)) - s;
  return (size_t)(((uint64_t)(e - h->sub_bits + 1) << h->sub_bits) + sub);
}

uint64_t dps__hdr_bucket_low(const dps__hdr *h, size_t i) {
  uint64_t s = UINT64_C(1) << h->sub_bits;
  if (i < s) return i;
  unsigned e = (unsigned)(i >> h->sub_bits) - 1 + h->sub_bits;
  uint64_t sub = i & (s - 1);
  return (s + sub) << (e - h->sub_bits);
}

uint64_t dps__hdr_bucket_high(const dps__hdr *h, size_t i) {
  uint64_t s = UINT64_C(1) << h->sub_bits;
  if (i < s) return i;
  unsigned e = (unsigned)(i >> h->sub_bits) - 1 + h->sub_bits;
  return dps__hdr_bucket_low(h, i) + (UINT64_C(1) << (e - h->sub_bits)) - 1;
}

void dps__hdr_record_n(dps__hdr *h, uint64_t v, uint64_t n) {
  if (n == 0) return;
  h->counts[dps__hdr_index(h, v)] += n;
  if (h->count == 0 || v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->count += n;
}

int dps__hdr_add(dps__hdr *dst, const dps__hdr *src) {
  if (dst->sub_bits != src->sub_bits) return -1;
  if (src->count == 0) return 0;
  for (size_t i = 0; i < dst->n_buckets; i++) dst->counts[i] += src->counts[i];
  if (dst->count == 0 || src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
  dst->count += src->count;
  return 0;
}

uint64_t dps__hdr_percentile(const dps__hdr *h, double p) {
  if (h->count == 0) return 0;
  if (!(p > 0)) return h->min;
  if (p >= 100) return h->max;
  /* nearest rank: ceil(p/100 * count), at least 1 */
  double exact = p / 100.0 * (double)h->count;
  uint64_t rank = (uint64_t)exact;
  if ((double)rank < exact) rank++;
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < h->n_buckets; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = dps__hdr_bucket_high(h, i);
      if (v > h->max) v = h->max;
      if (v < h->min) v = h->min;
      return v;
    }
  }
  return h->max;
}

json_t *dps__hdr_to_json(const dps__hdr *h) {
  json_t *buckets = json_array();
  if (!buckets) return NULL;
  for (size_t i = 0; i < h->n_buckets; i++) {
    if (!h->counts[i]) continue;
    json_t *pair = json_pack("[I,I]", (json_int_t)i, (json_int_t)h->counts[i]);
    if (!pair || json_array_append_new(buckets, pair)) {
      json_decref(buckets);
      return NULL;
    }
  }
  return json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "unit", "us", "subBucketBits",
                   (json_int_t)h->sub_bits, "count", (json_int_t)h->count, "min",
                   (json_int_t)h->min, "max", (json_int_t)h->max, "buckets", buckets);
}

static int bad(char *why, size_t why_len, const char *msg, dps__hdr *h) {
  snprintf(why, why_len, "%s", msg);
  dps__hdr_free(h);
  return -1;
}

int dps__hdr_from_json(const json_t *j, dps__hdr *h, char *why, size_t why_len) {
  memset(h, 0, sizeof *h);
  json_int_t bits, count, min, max;
  const char *unit;
  json_t *buckets;
  json_error_t je;
  if (!json_is_object(j) ||
      json_unpack_ex((json_t *)j, &je, JSON_STRICT, "{s:s,s:I,s:I,s:I,s:I,s:o}", "unit", &unit,
                     "subBucketBits", &bits, "count", &count, "min", &min, "max", &max, "buckets",
                     &buckets)) {
    snprintf(why, why_len, "histogram: %s", json_is_object(j) ? je.text : "expected an object");
    return -1;
  }
  if (strcmp(unit, "us")) return bad(why, why_len, "histogram: unit must be \"us\"", h);
  if (bits < 1 || bits > 16 || dps__hdr_init(h, (unsigned)bits))
    return bad(why, why_len, "histogram: subBucketBits must be 1..16", h);
  if (count < 0 || min < 0 || max < min || !json_is_array(buckets))
    return bad(why, why_len, "histogram: count, min, max or buckets out of range", h);
  size_t k;
  json_t *pair;
  json_int_t last = -1;
  uint64_t sum = 0;
  json_array_foreach(buckets, k, pair) {
    json_int_t idx, n;
    if (json_unpack(pair, "[II!]", &idx, &n) || idx <= last || idx >= (json_int_t)h->n_buckets ||
        n <= 0)
      return bad(why, why_len,
                 "histogram: buckets must be [index,count] pairs, indexes ascending and in "
                 "range, counts positive",
                 h);
    h->counts[idx] = (uint64_t)n;
    sum += (uint64_t)n;
    last = idx;
  }
  if (sum != (uint64_t)count)
    return bad(why, why_len, "histogram: the bucket counts do not sum to count", h);
  h->count = (uint64_t)count;
  h->min = (uint64_t)min;
  h->max = (uint64_t)max;
  if (count > 0) {
    size_t first = 0, top = h->n_buckets - 1;
    while (!h->counts[first]) first++;
    while (!h->counts[top]) top--;
    if (dps__hdr_index(h, h->min) != first || dps__hdr_index(h, h->max) != top)
      return bad(why, why_len, "histogram: min or max does not fall in the end buckets", h);
  } else if (min || max) {
    return bad(why, why_len, "histogram: an empty histogram has min and max 0", h);
  }
  return 0;
}
