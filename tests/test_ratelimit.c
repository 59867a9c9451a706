/*
 * test_ratelimit.c: core/ratelimit.c on simulated time: unlimited while off; ~0.7 x the measured
 * rate after a throttle; repeated throttles cut down to the floor and no further; CUBIC recovery
 * (monotonic, back at the throttled rate after K = cbrt(W (1 - beta) / C) seconds: 9.09 s from
 * 1000/s); switching off once demand has stayed under the rate for 5 s past K, and not while
 * demand exceeds it; wait_ns exact to the nanosecond.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/ratelimit.h"

#define MS UINT64_C(1000000)
#define S UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * S) /* an arbitrary monotonic origin, not 0 */

/* Sends at @p per_s (admitted ones only) from @p from for @p dur; returns the time reached. */
static uint64_t send_steady(dps__ratelimit *r, uint64_t from, uint64_t dur, uint64_t per_s) {
  uint64_t step = S / per_s, t = from;
  for (; t < from + dur; t += step) dps__ratelimit_acquire(r, t, NULL);
  return t;
}

/* Offers a request every 100 us (10000/s) for @p dur; returns how many were admitted. */
static uint64_t offer_hard(dps__ratelimit *r, uint64_t from, uint64_t dur) {
  uint64_t n = 0;
  for (uint64_t t = from; t < from + dur; t += 100000) n += dps__ratelimit_acquire(r, t, NULL);
  return n;
}

static void test_unlimited_while_off(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r);
  assert_true(dps__ratelimit_rate(&r) == 0.0);
  for (int i = 0; i < 100000; i++) {
    uint64_t wait = 12345;
    assert_true(dps__ratelimit_acquire(&r, T0, &wait)); /* all at the same instant */
    assert_int_equal(wait, 12345);                      /* untouched */
  }
  dps__ratelimit_on_success(&r, T0 + S);
  assert_true(dps__ratelimit_rate(&r) == 0.0);
  assert_true(dps__ratelimit_acquire(&r, T0 + S, NULL));
}

/* Demand is measured over the last second, sliding. */
static void test_measured_rate(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r);
  assert_true(dps__ratelimit_measured(&r, T0) == 0.0);
  uint64_t t = send_steady(&r, T0, 3 * S, 1000);
  assert_float_equal(dps__ratelimit_measured(&r, t), 1000.0, 15.0);
  assert_float_equal(dps__ratelimit_measured(&r, t + 550 * MS), 450.0, 60.0);
  assert_true(dps__ratelimit_measured(&r, t + 2 * S) == 0.0);
  t = send_steady(&r, t + 5 * S, 2 * S, 200);
  assert_float_equal(dps__ratelimit_measured(&r, t), 200.0, 5.0);
}

static double throttle_at_1000(dps__ratelimit *r, uint64_t *t) {
  dps__ratelimit_init(r);
  *t = send_steady(r, T0, 2 * S, 1000);
  double measured = dps__ratelimit_measured(r, *t);
  assert_float_equal(measured, 1000.0, 15.0);
  dps__ratelimit_on_throttle(r, *t, *t);
  assert_float_equal(dps__ratelimit_rate(r), 0.7 * measured, 1e-9);
  return measured;
}

static void test_throttle_admits_seventy_percent(void **state) {
  (void)state;
  dps__ratelimit r;
  uint64_t t;
  throttle_at_1000(&r, &t);
  uint64_t n = offer_hard(&r, t, S); /* demand 10000/s */
  assert_in_range(n, 630, 770);
  /* The next second, still no success: the same rate, now from a bucket holding no burst. */
  n = offer_hard(&r, t + S, S);
  assert_in_range(n, 630, 770);
}

static void test_repeated_throttles_floor(void **state) {
  (void)state;
  dps__ratelimit r;
  uint64_t t;
  throttle_at_1000(&r, &t);
  double prev = dps__ratelimit_rate(&r);
  for (int i = 0; i < 60; i++) {
    offer_hard(&r, t, 250 * MS); /* demand stays high: the window tracks what was let through */
    t += 250 * MS;
    dps__ratelimit_on_throttle(&r, t, t);
    double now = dps__ratelimit_rate(&r);
    assert_true(now >= DPS__RATELIMIT_MIN_RATE);
    if (prev * 0.7 > DPS__RATELIMIT_MIN_RATE)
      assert_true(now <= prev * 0.7 + 1e-9); /* each throttle cuts at least 30% */
    else
      assert_true(now == DPS__RATELIMIT_MIN_RATE);
    prev = now;
  }
  assert_true(prev == DPS__RATELIMIT_MIN_RATE);
  /* With nothing sent at all, a throttle also lands on the floor. */
  dps__ratelimit_init(&r);
  dps__ratelimit_on_throttle(&r, T0, T0);
  assert_true(dps__ratelimit_rate(&r) == DPS__RATELIMIT_MIN_RATE);
  uint64_t wait = 0;
  assert_false(dps__ratelimit_acquire(&r, T0, &wait));
  assert_int_equal(wait, 2 * S + 1); /* one token at 0.5/s */
}

/* Successes every 10 ms after a throttle at 1000/s, demand 500/s (under the rate: no refusal):
 * the rate rises monotonically, is back at the throttled rate W after K = cbrt(0.75 W) s (9.09 s
 * at 1000/s; asserted within 9.0..9.2 s and within 20 ms of K), and the limiter switches off 5 s
 * after that. */
static void test_cubic_recovery_and_off(void **state) {
  (void)state;
  dps__ratelimit r;
  uint64_t t;
  double w = throttle_at_1000(&r, &t);
  double k = 0;
  while (k * k * k < 0.75 * w) k += 1e-4;
  uint64_t throttled = t, back = 0, off = 0;
  double prev = dps__ratelimit_rate(&r), at_1s = 0;
  for (uint64_t now = t + 10 * MS; now < t + 30 * S && !off; now += 10 * MS) {
    send_steady(&r, now - 10 * MS, 10 * MS, 500);
    dps__ratelimit_on_success(&r, now);
    double rate = dps__ratelimit_rate(&r);
    if (rate == 0.0) {
      off = now - throttled;
      break;
    }
    assert_true(rate >= prev);
    if (!back && rate >= w) back = now - throttled;
    if (now - throttled == S) at_1s = rate;
    prev = rate;
  }
  assert_float_equal(at_1s, 0.4 * (1 - k) * (1 - k) * (1 - k) + w, 1.0); /* 788/s */
  assert_in_range(back, 9000 * MS, 9200 * MS);
  assert_in_range(back, (uint64_t)((k - 0.02) * 1e9), (uint64_t)((k + 0.02) * 1e9));
  assert_in_range(off, back + 5 * S - 20 * MS, back + 5 * S + 20 * MS);
  assert_true(dps__ratelimit_acquire(&r, throttled + off, NULL));
}

/* Demand far above the rate keeps the limiter on: it never goes 5 s without refusing. */
static void test_stays_on_under_pressure(void **state) {
  (void)state;
  dps__ratelimit r;
  uint64_t t;
  throttle_at_1000(&r, &t);
  for (uint64_t now = t; now < t + 40 * S; now += 10 * MS) {
    offer_hard(&r, now, 10 * MS);
    dps__ratelimit_on_success(&r, now + 10 * MS);
    assert_true(dps__ratelimit_rate(&r) > 0.0);
  }
  /* 40 s on, the curve is far past W and keeps probing upwards. */
  assert_true(dps__ratelimit_rate(&r) > 5000.0);
}

/* A sender loop sleeping exactly wait_ns: every retry succeeds, a nanosecond less does not, and
 * the admitted count is the rate's. */
static void test_wait_ns_exact(void **state) {
  (void)state;
  dps__ratelimit r;
  uint64_t t;
  throttle_at_1000(&r, &t);
  uint64_t now = t, sent = 0, refusals = 0;
  while (now < t + S) {
    uint64_t wait = 0;
    if (dps__ratelimit_acquire(&r, now, &wait)) {
      sent++;
      continue; /* the next request at once */
    }
    refusals++;
    assert_true(wait > 0 && wait <= S);
    dps__ratelimit early = r;
    assert_false(dps__ratelimit_acquire(&early, now + wait - 2, NULL));
    now += wait;
    assert_true(dps__ratelimit_acquire(&r, now, NULL));
    sent++;
  }
  assert_in_range(sent, 690, 710);
  assert_in_range(refusals, 690, 710);
  /* Also at the floor and at a high rate, from a part-filled bucket. */
  const double rates[] = {DPS__RATELIMIT_MIN_RATE, 3.3, 123456.0};
  for (size_t i = 0; i < sizeof rates / sizeof *rates; i++) {
    dps__ratelimit_init(&r);
    dps__ratelimit_on_throttle(&r, T0, T0);
    r.rate = rates[i]; /* white-box: any rate */
    now = T0 + 17;
    for (int n = 0; n < 50; n++) {
      uint64_t wait = 0;
      while (dps__ratelimit_acquire(&r, now, &wait)) {
      }
      dps__ratelimit early = r;
      assert_false(dps__ratelimit_acquire(&early, now + wait - 2, NULL));
      now += wait;
      assert_true(dps__ratelimit_acquire(&r, now, NULL));
      now += wait / 3; /* a third of a token's time: a part-filled bucket next round */
    }
  }
}

/* A burst of throttles answering requests sent before the cut cuts once, not once each. */
static void test_one_cut_per_window(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r);
  const uint64_t s = 1000000000ull;
  uint64_t t = 10 * s, wait;
  for (int i = 0; i < 1000; i++)
    assert_true(dps__ratelimit_acquire(&r, t + (uint64_t)i * s / 1000, &wait));
  t += s;
  dps__ratelimit_on_throttle(&r, t, t - s / 2);
  double once = dps__ratelimit_rate(&r);
  assert_true(once > 600 && once < 800);
  for (int i = 0; i < 10; i++) dps__ratelimit_on_throttle(&r, t + 1000, t - s / 4);
  assert_true(dps__ratelimit_rate(&r) == once);       /* sent before the cut: ignored */
  dps__ratelimit_on_throttle(&r, t + 2000, t + 1500); /* sent after it: cuts again */
  assert_true(dps__ratelimit_rate(&r) < once * 0.75);
}

/* The odd throttle does not trigger the limiter; a throttled endpoint does. */
static void test_trigger_share(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r);
  const uint64_t s = 1000000000ull;
  uint64_t t = 5 * s;
  /* 5% throttles over a second: never sustained. */
  for (int i = 0; i < 1000; i++)
    assert_false(dps__ratelimit_note_response(&r, t + (uint64_t)i * s / 1000, i % 20 == 0));
  /* Then half of them: sustained once the share passes 10%. */
  bool sustained = false;
  for (int i = 0; i < 1000 && !sustained; i++)
    sustained = dps__ratelimit_note_response(&r, t + s + (uint64_t)i * s / 1000, i % 2 == 0);
  assert_true(sustained);
  /* Too few responses to judge: not sustained however many are throttles. */
  dps__ratelimit_init(&r);
  for (int i = 0; i < DPS__RATELIMIT_TRIGGER_MIN - 1; i++)
    assert_false(dps__ratelimit_note_response(&r, t, true));
  assert_true(dps__ratelimit_note_response(&r, t, true));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trigger_share),
      cmocka_unit_test(test_one_cut_per_window),
      cmocka_unit_test(test_unlimited_while_off),
      cmocka_unit_test(test_measured_rate),
      cmocka_unit_test(test_throttle_admits_seventy_percent),
      cmocka_unit_test(test_repeated_throttles_floor),
      cmocka_unit_test(test_cubic_recovery_and_off),
      cmocka_unit_test(test_stays_on_under_pressure),
      cmocka_unit_test(test_wait_ns_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
