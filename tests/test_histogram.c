/*
 * test_histogram.c: core/histogram.c: percentiles of known distributions within the documented
 * 1/16 of the exact nearest-rank answer (computed by sorting), the exact maximum, the empty
 * histogram, values past the top bucket, and a reader taking snapshots while the writer records
 * (counts must never go down; the TSan build checks the ordering).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/histogram.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted @p v: the smallest value with at least p% at or below. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p) {
  size_t rank = 1;
  while (rank < n && (double)rank * 100.0 < p * (double)n - 1e-9) rank++;
  return v[rank - 1];
}

/* Records @p v, then checks a set of percentiles against the sorted exact answers. */
static void check_distribution(uint64_t *v, size_t n) {
  static dps__histogram h; /* 4.7 KiB: off the stack */
  dps__histogram_init(&h);
  for (size_t i = 0; i < n; i++) dps__histogram_record(&h, v[i]);
  qsort(v, n, sizeof *v, cmp_u64);
  assert_int_equal(dps__histogram_count(&h), n);
  assert_int_equal(dps__histogram_max(&h), v[n - 1]);
  const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
  for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
    uint64_t want = exact_percentile(v, n, ps[i]);
    uint64_t got = dps__histogram_percentile(&h, ps[i]);
    if (got < want || (got - want) * 16 > want)
      fail_msg("p%g: got %llu, exact %llu", ps[i], (unsigned long long)got,
               (unsigned long long)want);
  }
  assert_int_equal(dps__histogram_percentile(&h, 100), v[n - 1]);
  assert_int_equal(dps__histogram_percentile(&h, 250), v[n - 1]);
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static void test_uniform(void **state) {
  (void)state;
  size_t n = 100000;
  uint64_t *v = malloc(n * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) v[i] = i + 1; /* 1..100000, each once */
  uint64_t rng = 7;
  for (size_t i = n - 1; i > 0; i--) { /* in random order: the histogram must not care */
    size_t j = (size_t)(splitmix(&rng) % (i + 1));
    uint64_t t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
  check_distribution(v, n);
  for (size_t i = 0; i < n; i++) v[i] = 1 + splitmix(&rng) % 100000; /* uniform draws */
  check_distribution(v, n);
  free(v);
}

static void test_all_equal_and_two_point(void **state) {
  (void)state;
  static uint64_t v[10000];
  const uint64_t singles[] = {0, 1, 31, 32, 33, 1000, 123456789, DPS__HISTOGRAM_TRACKABLE};
  for (size_t k = 0; k < sizeof singles / sizeof *singles; k++) {
    for (size_t i = 0; i < 10000; i++) v[i] = singles[k];
    check_distribution(v, 10000);
  }
  /* 90% fast, 10% slow: p90 is the fast value, p90.01 and above the slow one. */
  for (size_t i = 0; i < 10000; i++) v[i] = i % 10 == 3 ? 2000000 : 150;
  check_distribution(v, 10000);
  static dps__histogram h;
  dps__histogram_init(&h);
  for (size_t i = 0; i < 10000; i++) dps__histogram_record(&h, i % 10 == 3 ? 2000000 : 150);
  assert_in_range(dps__histogram_percentile(&h, 90), 150, 150 + 150 / 16);
  assert_in_range(dps__histogram_percentile(&h, 90.01), 2000000, 2000000);
}

/* Small values are exact: every value below 32 has its own bucket. */
static void test_small_exact(void **state) {
  (void)state;
  static dps__histogram h;
  dps__histogram_init(&h);
  for (uint64_t x = 0; x < 32; x++) dps__histogram_record(&h, x);
  for (uint64_t x = 0; x < 32; x++)
    assert_int_equal(dps__histogram_percentile(&h, (double)(x + 1) * 100.0 / 32.0 - 0.01), x);
}

static void test_empty(void **state) {
  (void)state;
  static dps__histogram h;
  dps__histogram_init(&h);
  assert_int_equal(dps__histogram_count(&h), 0);
  assert_int_equal(dps__histogram_max(&h), 0);
  assert_int_equal(dps__histogram_percentile(&h, 0), 0);
  assert_int_equal(dps__histogram_percentile(&h, 50), 0);
  assert_int_equal(dps__histogram_percentile(&h, 100), 0);
}

/* Past 2^40 - 1 values share the top bucket; the maximum stays exact; nothing overflows. */
static void test_huge_values_clamp(void **state) {
  (void)state;
  static dps__histogram h;
  dps__histogram_init(&h);
  dps__histogram_record(&h, 10);
  dps__histogram_record(&h, UINT64_C(1) << 40);
  dps__histogram_record(&h, UINT64_MAX);
  dps__histogram_record(&h, UINT64_MAX - 1);
  assert_int_equal(dps__histogram_count(&h), 4);
  assert_int_equal(atomic_load(&h.counts[DPS__HISTOGRAM_BUCKETS - 1]), 3);
  assert_true(dps__histogram_max(&h) == UINT64_MAX);
  assert_int_equal(dps__histogram_percentile(&h, 25), 10);
  assert_true(dps__histogram_percentile(&h, 50) == DPS__HISTOGRAM_TRACKABLE);
  assert_true(dps__histogram_percentile(&h, 99.99) == DPS__HISTOGRAM_TRACKABLE);
  assert_true(dps__histogram_percentile(&h, 100) == UINT64_MAX);
  /* The top bucket's own range is still within 1/16. */
  dps__histogram_init(&h);
  dps__histogram_record(&h, DPS__HISTOGRAM_TRACKABLE - (DPS__HISTOGRAM_TRACKABLE >> 5));
  dps__histogram_record(&h, 1);
  uint64_t got = dps__histogram_percentile(&h, 99);
  uint64_t want = DPS__HISTOGRAM_TRACKABLE - (DPS__HISTOGRAM_TRACKABLE >> 5);
  assert_true(got >= want && (got - want) * 16 <= want);
}

/* A reader snapshots while the writer records: the total, the maximum and each bucket never go
 * down. (Percentiles may: a snapshot is no consistent cut, so one that saw a late bucket's new
 * count but not yet all of an earlier bucket's can rank higher than a later snapshot.) */
typedef struct shared {
  dps__histogram h;
  atomic_bool done;
} shared;

#define WRITES 2000000

static void *reader(void *arg) {
  shared *s = arg;
  uint64_t last_count = 0, last_max = 0, snapshots = 0;
  uint64_t last_bucket[4] = {0};
  const size_t watched[4] = {5, 40, 200, DPS__HISTOGRAM_BUCKETS - 1};
  while (!atomic_load(&s->done) || snapshots < 10) {
    uint64_t c = dps__histogram_count(&s->h), m = dps__histogram_max(&s->h);
    if (c < last_count || m < last_max) return (void *)1;
    for (size_t i = 0; i < 4; i++) {
      uint64_t b = atomic_load_explicit(&s->h.counts[watched[i]], memory_order_relaxed);
      if (b < last_bucket[i]) return (void *)1;
      last_bucket[i] = b;
    }
    if (dps__histogram_percentile(&s->h, 99) > WRITES / 4 - 1) return (void *)1;
    last_count = c, last_max = m;
    snapshots++;
  }
  return (void *)(uintptr_t)(snapshots ? 0 : 1);
}

static void test_concurrent_snapshots(void **state) {
  (void)state;
  static shared s;
  dps__histogram_init(&s.h);
  atomic_init(&s.done, false);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, reader, &s), 0);
  for (uint64_t i = 0; i < WRITES; i++) dps__histogram_record(&s.h, i / 4); /* nondecreasing */
  atomic_store(&s.done, true);
  void *ret;
  assert_int_equal(pthread_join(t, &ret), 0);
  assert_null(ret);
  assert_int_equal(dps__histogram_count(&s.h), WRITES);
  assert_int_equal(dps__histogram_max(&s.h), WRITES / 4 - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uniform),           cmocka_unit_test(test_all_equal_and_two_point),
      cmocka_unit_test(test_small_exact),       cmocka_unit_test(test_empty),
      cmocka_unit_test(test_huge_values_clamp), cmocka_unit_test(test_concurrent_snapshots),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
