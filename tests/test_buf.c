/*
 * test_buf.c: core/buf.c's decimal writer against printf's: every power of ten and its
 * neighbours, the extremes, and pseudo-random values of every length; the NUL and the count.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/buf.h"

static void check(uint64_t v) {
  char want[32], got[DPS__U64_DECIMAL_MAX + 1];
  memset(got, 'x', sizeof got);
  int n = snprintf(want, sizeof want, "%" PRIu64, v);
  assert_int_equal(dps__u64_decimal(got, v), (size_t)n);
  assert_string_equal(got, want);    /* the digits, then the NUL */
  assert_int_equal(got[n + 1], 'x'); /* nothing written past it */
}

static void test_u64_decimal(void **state) {
  (void)state;
  check(0);
  check(UINT64_MAX); /* 20 digits: the most */
  for (uint64_t p = 1;; p *= 10) {
    check(p - 1);
    check(p);
    check(p + 1);
    if (p > UINT64_MAX / 10) break;
  }
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (int i = 0; i < 10000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    check(x >> (i % 64)); /* every length */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_u64_decimal)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
