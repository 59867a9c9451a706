/*
 * test_hdr.c: core/hdr.c: percentiles of random data against the exact nearest-rank answer of a
 * sorted array, within 1/2048 (never below it); exact min and max; bucket bounds that tile the
 * range; merge of two halves equal to one histogram over the union, bucket by bucket; the JSON
 * form round trip and its refusals; values past the top.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/hdr.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t exact_percentile(const uint64_t *v, size_t n, double p) {
  if (p <= 0) return v[0];
  if (p >= 100) return v[n - 1];
  double exact = p / 100.0 * (double)n;
  size_t rank = (size_t)exact;
  if ((double)rank < exact) rank++;
  if (rank < 1) rank = 1;
  return v[rank - 1];
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A log-uniform value from 1 us to about 2^33 us: every scale of latency. */
static uint64_t random_latency(void) {
  unsigned bits = 1 + (unsigned)(rnd() % 33);
  return (rnd() >> (64 - bits)) + 1;
}

static const double ps[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

static void check_percentiles(const dps__hdr *h, uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
  assert_int_equal(h->count, n);
  assert_int_equal(h->min, v[0]);
  assert_int_equal(h->max, v[n - 1]);
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    uint64_t want = exact_percentile(v, n, ps[i]), got = dps__hdr_percentile(h, ps[i]);
    assert_true(got >= want);
    /* within 1/2048 of the true value: 0.05% */
    assert_true((double)(got - want) <= (double)want / 2048.0);
  }
}

static void test_random_percentiles(void **state) {
  for (int round = 0; round < 5; round++) {
    size_t n = 1000 + (size_t)(rnd() % 200000);
    uint64_t *v = malloc(n * sizeof *v);
    assert_non_null(v);
    dps__hdr h;
    assert_int_equal(dps__hdr_init(&h, DPS__HDR_PRECISE_BITS), 0);
    for (size_t i = 0; i < n; i++) {
      v[i] = round % 2 ? random_latency() : 20000 + rnd() % 5000; /* a 20-25 ms band */
      dps__hdr_record(&h, v[i]);
    }
    check_percentiles(&h, v, n);
    dps__hdr_free(&h);
    free(v);
  }
}

static void test_small_values_exact(void **state) {
  dps__hdr h;
  assert_int_equal(dps__hdr_init(&h, DPS__HDR_PRECISE_BITS), 0);
  for (uint64_t i = 0; i < 2048; i++) dps__hdr_record(&h, i);
  for (uint64_t i = 1; i <= 2048; i++)
    assert_int_equal(dps__hdr_percentile(&h, 100.0 * (double)i / 2048.0), i - 1);
  dps__hdr_free(&h);
}

static void test_buckets_tile(void **state) {
  dps__hdr h;
  assert_int_equal(dps__hdr_init(&h, DPS__HDR_PRECISE_BITS), 0);
  for (size_t i = 0; i + 1 < h.n_buckets; i++) {
    assert_int_equal(dps__hdr_bucket_high(&h, i) + 1, dps__hdr_bucket_low(&h, i + 1));
    assert_int_equal(dps__hdr_index(&h, dps__hdr_bucket_low(&h, i)), i);
    assert_int_equal(dps__hdr_index(&h, dps__hdr_bucket_high(&h, i)), i);
  }
  assert_int_equal(dps__hdr_bucket_high(&h, h.n_buckets - 1),
                   (UINT64_C(1) << DPS__HDR_MAX_BITS) - 1);
  /* past the top: the top bucket, the exact max */
  dps__hdr_record(&h, UINT64_C(1) << 50);
  assert_int_equal(h.counts[h.n_buckets - 1], 1);
  assert_int_equal(dps__hdr_percentile(&h, 100), UINT64_C(1) << 50);
  dps__hdr_free(&h);
}

static void test_empty(void **state) {
  dps__hdr h;
  assert_int_equal(dps__hdr_init(&h, DPS__HDR_PRECISE_BITS), 0);
  assert_int_equal(dps__hdr_percentile(&h, 50), 0);
  assert_int_equal(dps__hdr_percentile(&h, 100), 0);
  dps__hdr_free(&h);
  assert_int_equal(dps__hdr_init(&h, 0), -1);
  assert_int_equal(dps__hdr_init(&h, 17), -1);
}

static void test_merge_equals_union(void **state) {
  size_t n = 100000;
  uint64_t *v = malloc(n * sizeof *v);
  assert_non_null(v);
  dps__hdr a, b, all;
  assert_int_equal(dps__hdr_init(&a, DPS__HDR_PRECISE_BITS), 0);
  assert_int_equal(dps__hdr_init(&b, DPS__HDR_PRECISE_BITS), 0);
  assert_int_equal(dps__hdr_init(&all, DPS__HDR_PRECISE_BITS), 0);
  for (size_t i = 0; i < n; i++) {
    v[i] = random_latency();
    dps__hdr_record(i % 3 ? &a : &b, v[i]);
    dps__hdr_record(&all, v[i]);
  }
  assert_int_equal(dps__hdr_add(&a, &b), 0);
  assert_int_equal(a.count, all.count);
  assert_int_equal(a.min, all.min);
  assert_int_equal(a.max, all.max);
  assert_memory_equal(a.counts, all.counts, all.n_buckets * sizeof *all.counts);
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
    assert_int_equal(dps__hdr_percentile(&a, ps[i]), dps__hdr_percentile(&all, ps[i]));
  check_percentiles(&a, v, n);
  /* an empty one adds nothing; precisions must agree */
  dps__hdr empty, coarse;
  assert_int_equal(dps__hdr_init(&empty, DPS__HDR_PRECISE_BITS), 0);
  assert_int_equal(dps__hdr_add(&empty, &all), 0);
  assert_int_equal(empty.min, all.min);
  assert_int_equal(dps__hdr_init(&coarse, DPS__HDR_COARSE_BITS), 0);
  assert_int_equal(dps__hdr_add(&coarse, &all), -1);
  dps__hdr_free(&coarse);
  dps__hdr_free(&empty);
  dps__hdr_free(&a);
  dps__hdr_free(&b);
  dps__hdr_free(&all);
  free(v);
}

static void test_json_round_trip(void **state) {
  dps__hdr h, back;
  assert_int_equal(dps__hdr_init(&h, DPS__HDR_PRECISE_BITS), 0);
  for (int i = 0; i < 50000; i++) dps__hdr_record(&h, random_latency());
  json_t *j = dps__hdr_to_json(&h);
  assert_non_null(j);
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  json_t *parsed = json_loads(text, 0, NULL);
  free(text);
  char why[200];
  assert_int_equal(dps__hdr_from_json(parsed, &back, why, sizeof why), 0);
  assert_int_equal(back.count, h.count);
  assert_int_equal(back.min, h.min);
  assert_int_equal(back.max, h.max);
  assert_memory_equal(back.counts, h.counts, h.n_buckets * sizeof *h.counts);
  dps__hdr_free(&back);
  json_decref(parsed);

  /* the empty one too */
  dps__hdr_reset(&h);
  j = dps__hdr_to_json(&h);
  assert_int_equal(dps__hdr_from_json(j, &back, why, sizeof why), 0);
  assert_int_equal(back.count, 0);
  dps__hdr_free(&back);
  json_decref(j);
  dps__hdr_free(&h);

  /* refusals: each says what is wrong */
  static const char *bad[] = {
      "[]",
      "{\"unit\":\"ms\",\"subBucketBits\":11,\"count\":0,\"min\":0,\"max\":0,\"buckets\":[]}",
      "{\"unit\":\"us\",\"subBucketBits\":40,\"count\":0,\"min\":0,\"max\":0,\"buckets\":[]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":2,\"min\":5,\"max\":5,\"buckets\":[[5,1]]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":2,\"min\":5,\"max\":6,\"buckets\":[[6,1],[5,"
      "1]]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":1,\"min\":5,\"max\":5,\"buckets\":[["
      "99999999,1]]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":1,\"min\":4,\"max\":5,\"buckets\":[[5,1]]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":1,\"min\":5,\"max\":5,\"buckets\":[[5,0]]}",
      "{\"unit\":\"us\",\"subBucketBits\":11,\"count\":0,\"min\":0,\"max\":0,\"buckets\":[],\"x\":"
      "1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *b = json_loads(bad[i], 0, NULL);
    assert_non_null(b);
    why[0] = '\0';
    assert_int_equal(dps__hdr_from_json(b, &back, why, sizeof why), -1);
    assert_true(strlen(why) > 10);
    assert_null(back.counts);
    json_decref(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_percentiles), cmocka_unit_test(test_small_values_exact),
      cmocka_unit_test(test_buckets_tile),       cmocka_unit_test(test_empty),
      cmocka_unit_test(test_merge_equals_union), cmocka_unit_test(test_json_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
