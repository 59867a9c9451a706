/*
 * test_ratelimit.c: core/ratelimit.c, the sender's rate controller, on simulated time. The unit
 * rules first (unlimited while off; the user's cap with its burst; engaged by the very first
 * throttle; one cut per window; W the pace refused, with fast convergence; the probing curve
 * through beta W, W and (2 - beta) W; sends spaced; Retry-After holds; off again), then whole runs
 * against a simulated service token bucket (RTT 2 ms, 200 requests in flight at most): one
 * reporter from 1/10 to 20000/20000, 10/100 being the service's numbers, keeps goodput >= 0.95 R
 * with few calls throttled after its first burst, and four reporters behind one 50/50 get
 * shares within a quarter of R/4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/ratelimit.h"

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)
#define S UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * S) /* an arbitrary monotonic origin, not 0 */
#define BETA DPS__RATELIMIT_BETA

static bool near(double got, double want, double rel) {
  double d = got - want;
  return (d < 0 ? -d : d) <= rel * (want < 0 ? -want : want);
}

/* Engaged at T0 with W = @p w exactly: w sends in the second before, then a throttle. */
static void engage_at(dps__ratelimit *r, double w) {
  dps__ratelimit_init(r, 0, 0, T0 - S);
  unsigned n = (unsigned)w;
  for (unsigned i = 0; i < n; i++)
    assert_true(dps__ratelimit_acquire(r, T0 - 850 * MS + i * (800 * MS / n), NULL));
  assert_true(dps__ratelimit_on_throttle(r, T0, T0 - MS));
}

static void test_unlimited_while_off(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r, 0, 0, T0);
  for (int i = 0; i < 100000; i++) assert_true(dps__ratelimit_acquire(&r, T0, NULL));
  for (int i = 0; i < 1000; i++) dps__ratelimit_on_success(&r, T0 + (uint64_t)i * MS);
  assert_true(dps__ratelimit_rate(&r, T0 + S) == 0.0);
}

/* max_rate 10/s, max_burst 5: five at once, then one every 100 ms, the wait exact. */
static void test_user_cap(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r, 10, 5, T0);
  for (int i = 0; i < 5; i++) assert_true(dps__ratelimit_acquire(&r, T0, NULL));
  uint64_t wait = 0;
  assert_false(dps__ratelimit_acquire(&r, T0, &wait));
  assert_true(wait >= 100 * MS && wait <= 100 * MS + 2);
  assert_false(dps__ratelimit_acquire(&r, T0 + wait - 1000, NULL));
  assert_true(dps__ratelimit_acquire(&r, T0 + wait, NULL));
  assert_true(dps__ratelimit_rate(&r, T0 + wait) == 0.0); /* the cap is not the controller */
  /* After a long quiet spell, still only the burst at once. */
  int n = 0;
  while (dps__ratelimit_acquire(&r, T0 + 100 * S, NULL)) n++;
  assert_int_equal(n, 5);
  /* max_burst 0: a tenth of a second of the rate, at least one. */
  dps__ratelimit_init(&r, 3, 0, T0);
  assert_true(dps__ratelimit_acquire(&r, T0, NULL));
  assert_false(dps__ratelimit_acquire(&r, T0, NULL));
  dps__ratelimit_init(&r, 1000, 0, T0);
  for (n = 0; dps__ratelimit_acquire(&r, T0, NULL);) n++;
  assert_int_equal(n, 100);
}

/* No minimum sample: one success and one throttle are enough. */
static void test_first_throttle_engages(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r, 0, 0, T0);
  assert_true(dps__ratelimit_acquire(&r, T0 + 10 * MS, NULL));
  assert_true(dps__ratelimit_on_throttle(&r, T0 + 20 * MS, T0 + 10 * MS));
  double rate = dps__ratelimit_rate(&r, T0 + 20 * MS);
  assert_true(rate > 0);
  assert_true(rate >= DPS__RATELIMIT_MIN_RATE);
  /* W is the last second's sends: 50 of them give 50/s, and the pace starts at beta W. */
  engage_at(&r, 50);
  assert_true(near(dps__ratelimit_estimate(&r), 50, 1e-9));
  assert_true(near(dps__ratelimit_rate(&r, T0), BETA * 50, 1e-9));
  /* The throttle emptied the bucket: the next send waits a whole 1/rate. */
  uint64_t wait = 0;
  assert_false(dps__ratelimit_acquire(&r, T0, &wait));
  assert_true(near((double)wait, 1e9 / (BETA * 50), 1e-3));
}

/* A throttle of a request sent before the last cut says nothing new; one sent after cuts again,
 * by beta of the pace while too few successes estimate W. */
static void test_one_cut_per_window(void **state) {
  (void)state;
  dps__ratelimit r;
  engage_at(&r, 100);
  double first = dps__ratelimit_rate(&r, T0);
  for (int i = 0; i < 50; i++) assert_false(dps__ratelimit_on_throttle(&r, T0 + MS, T0 - 1));
  assert_true(near(dps__ratelimit_rate(&r, T0 + MS), first, 1e-3));
  assert_true(dps__ratelimit_on_throttle(&r, T0 + 20 * MS, T0 + 10 * MS));
  /* That pace is below W = 100: fast convergence gives way by (1 + beta) / 2 as well. */
  assert_true(near(dps__ratelimit_rate(&r, T0 + 20 * MS), BETA * first * (1 + BETA) / 2, 1e-2));
  /* Cut after cut, down to the floor and no further. */
  for (int i = 0; i < 100; i++) {
    uint64_t t = T0 + (uint64_t)(30 + i) * MS;
    dps__ratelimit_on_throttle(&r, t, t);
  }
  assert_true(near(dps__ratelimit_rate(&r, T0 + 130 * MS), DPS__RATELIMIT_MIN_RATE, 1e-3));
}

/* A later cut comes down from the pace refused: above the last W, W is that pace; below it,
 * that pace cut by (1 + beta) / 2 (fast convergence). */
static void test_cut_from_the_pace_refused(void **state) {
  (void)state;
  dps__ratelimit r;
  engage_at(&r, 100);
  uint64_t t = T0 + 12 * S; /* past K: the curve is above W = 100 */
  double pace = dps__ratelimit_rate(&r, t);
  assert_true(pace > 100);
  assert_true(dps__ratelimit_on_throttle(&r, t, t - MS));
  assert_true(near(dps__ratelimit_estimate(&r), pace, 1e-9));
  assert_true(near(dps__ratelimit_rate(&r, t), BETA * pace, 1e-9));
  /* 2 s later, the pace is below the W just set: give way further. */
  uint64_t t2 = t + 2 * S;
  double pace2 = dps__ratelimit_rate(&r, t2);
  assert_true(pace2 < pace);
  assert_true(dps__ratelimit_on_throttle(&r, t2, t2 - MS));
  assert_true(near(dps__ratelimit_estimate(&r), pace2 * (1 + BETA) / 2, 1e-9));
  /* The user's cap bounds the first guess. */
  dps__ratelimit_init(&r, 20, 0, T0 - S);
  for (int i = 0; i < 2; i++) dps__ratelimit_acquire(&r, T0 - 500 * MS, NULL);
  for (uint64_t ms = 0; ms < 1000; ms += 10)
    dps__ratelimit_acquire(&r, T0 - 500 * MS + ms * MS, NULL);
  assert_true(dps__ratelimit_on_throttle(&r, T0 + 500 * MS, T0));
  assert_true(dps__ratelimit_estimate(&r) <= 20);
}

/* The curve: beta W at the cut, flat at W after K = 8 s, (2 - beta) W after 2K; rising all along.
 */
static void test_probe_curve(void **state) {
  (void)state;
  dps__ratelimit r;
  engage_at(&r, 1000);
  double prev = 0;
  for (uint64_t ms = 0; ms <= 16000; ms += 250) {
    double rate = dps__ratelimit_rate(&r, T0 + ms * MS);
    assert_true(rate >= prev);
    prev = rate;
  }
  assert_true(near(dps__ratelimit_rate(&r, T0), BETA * 1000, 1e-9));
  assert_true(near(dps__ratelimit_rate(&r, T0 + 8 * S), 1000, 1e-6));
  assert_true(near(dps__ratelimit_rate(&r, T0 + 16 * S), (2 - BETA) * 1000, 1e-6));
  /* The same shape from 20/s; from 7/s stretched so that K holds 70 calls (10 s); from 2/s the
   * stretch (35 s) is capped at 12 s. */
  engage_at(&r, 20);
  assert_true(near(dps__ratelimit_rate(&r, T0 + 8 * S), 20, 1e-6));
  assert_true(near(dps__ratelimit_rate(&r, T0 + 16 * S), (2 - BETA) * 20, 1e-6));
  engage_at(&r, 7);
  assert_true(dps__ratelimit_rate(&r, T0 + 8 * S) < 7);
  assert_true(near(dps__ratelimit_rate(&r, T0 + 10 * S), 7, 1e-6));
  engage_at(&r, 2);
  assert_true(near(dps__ratelimit_rate(&r, T0), BETA * 2, 1e-6));
  assert_true(dps__ratelimit_rate(&r, T0 + 11 * S) < 2);
  assert_true(near(dps__ratelimit_rate(&r, T0 + 12 * S), 2, 1e-6));
  assert_true(near(dps__ratelimit_rate(&r, T0 + 24 * S), (2 - BETA) * 2, 1e-6));
}

/* Sends are spaced at the pace: after a quiet spell, a tenth of a second of it at once, no more. */
static void test_sends_spaced(void **state) {
  (void)state;
  dps__ratelimit r;
  engage_at(&r, 1000);
  int n = 0;
  uint64_t t = T0 + 5 * S; /* before K: the pace is under W, whatever it is */
  double rate = dps__ratelimit_rate(&r, t);
  while (dps__ratelimit_acquire(&r, t, NULL)) n++;
  /* Filled at the pace of the cut (800/s) up to its capacity, which the faster pace keeps. */
  assert_true(n <= (int)(rate * DPS__RATELIMIT_BURST_S));
  assert_int_equal(n, (int)(BETA * 1000 * DPS__RATELIMIT_BURST_S));
  /* At 20/s, one at a time, 50 ms apart. */
  engage_at(&r, 25);
  uint64_t wait;
  assert_false(dps__ratelimit_acquire(&r, T0, &wait));
  t = T0 + wait;
  assert_true(dps__ratelimit_acquire(&r, t, NULL));
  assert_false(dps__ratelimit_acquire(&r, t, &wait));
  assert_true(near((double)wait, 5e7, 0.01));
}

/* Retry-After holds every send, on or off; a later hold extends it, an earlier one does not. */
static void test_hold(void **state) {
  (void)state;
  dps__ratelimit r;
  dps__ratelimit_init(&r, 0, 0, T0);
  dps__ratelimit_hold(&r, T0 + 2 * S);
  uint64_t wait = 0;
  assert_false(dps__ratelimit_acquire(&r, T0, &wait));
  assert_int_equal(wait, 2 * S);
  dps__ratelimit_hold(&r, T0 + S); /* earlier: no effect */
  assert_false(dps__ratelimit_acquire(&r, T0 + 1500 * MS, &wait));
  assert_int_equal(wait, 500 * MS);
  dps__ratelimit_hold(&r, T0 + 3 * S);
  assert_false(dps__ratelimit_acquire(&r, T0 + 2 * S, &wait));
  assert_int_equal(wait, S);
  assert_true(dps__ratelimit_acquire(&r, T0 + 3 * S, NULL));
}

/* Off again once past K with nothing refused for 5 s; not while demand is above the pace. */
static void test_off_again(void **state) {
  (void)state;
  dps__ratelimit r;
  engage_at(&r, 100);
  /* Demand above the pace: refusals all along, stays on. */
  for (uint64_t t = T0; t < T0 + 20 * S; t += MS) {
    if (dps__ratelimit_acquire(&r, t, NULL)) dps__ratelimit_on_success(&r, t);
  }
  assert_true(dps__ratelimit_rate(&r, T0 + 20 * S) > 0);
  /* Demand of 10/s, far below: off 5 s after the last refusal, once past K. */
  uint64_t t = T0 + 20 * S, off_at = 0;
  for (; t < T0 + 40 * S && !off_at; t += 100 * MS) {
    if (dps__ratelimit_acquire(&r, t, NULL)) dps__ratelimit_on_success(&r, t);
    if (dps__ratelimit_rate(&r, t) == 0.0) off_at = t;
  }
  assert_true(off_at >= T0 + 25 * S && off_at <= T0 + 26 * S);
}

/* ---- whole runs against a simulated service ------------------------------------------------ */

/* The service's token bucket, full at start. */
typedef struct service {
  double rate, burst, tokens;
  uint64_t at;
} service;

static bool service_take(service *s, uint64_t now) {
  s->tokens += (double)(now - s->at) / 1e9 * s->rate;
  if (s->tokens > s->burst) s->tokens = s->burst;
  s->at = now;
  if (s->tokens < 1) return false;
  s->tokens -= 1;
  return true;
}

#define MAX_CLIENTS 4
#define MAX_FLIGHT 4096

typedef struct client {
  dps__ratelimit rl;
  uint64_t sent_at[MAX_FLIGHT], answer_at[MAX_FLIGHT];
  bool ok[MAX_FLIGHT];
  size_t head, n; /* in flight, answered in send order (one RTT each) */
  uint64_t ok_total, ok_after, throttled_after, sent_after;
} client;

typedef struct run_result {
  double goodput; /* accepted/s after the first burst, all clients */
  double throttled_share;
  uint64_t ok[MAX_CLIENTS];
} run_result;

/*
 * @p nclients reporters with unlimited demand, each up to 200 requests in flight (the library's
 * default: 2 connections x 100 streams), RTT 2 ms, against one service bucket @p rate/@p burst for
 * @p secs. Counts from @p settle_s on (after the first burst and the cuts that follow it).
 */
static run_result simulate(int nclients, double rate, double burst, unsigned secs,
                           unsigned settle_s, uint64_t stagger) {
  static client cl[MAX_CLIENTS];
  service svc = {rate, burst, burst, T0};
  for (int c = 0; c < nclients; c++) {
    cl[c] = (client){0};
    dps__ratelimit_init(&cl[c].rl, 0, 0, T0);
  }
  const uint64_t rtt = 2 * MS, step = 50 * US, settle = T0 + settle_s * S;
  uint64_t round = 0;
  for (uint64_t t = T0; t < T0 + secs * S; t += step, round++) {
    for (int j = 0; j < nclients; j++) {
      int ci = (int)((round + (uint64_t)j) % (uint64_t)nclients); /* none always first */
      client *k = &cl[ci];
      if (t < T0 + (uint64_t)ci * stagger) continue; /* not started yet */
      while (k->n && k->answer_at[k->head] <= t) {   /* answers due */
        size_t i = k->head;
        if (k->ok[i]) {
          dps__ratelimit_on_success(&k->rl, t);
          k->ok_total++;
          if (k->sent_at[i] >= settle) k->ok_after++;
        } else {
          dps__ratelimit_on_throttle(&k->rl, t, k->sent_at[i]);
          if (k->sent_at[i] >= settle) k->throttled_after++;
        }
        k->head = (k->head + 1) % MAX_FLIGHT;
        k->n--;
      }
      while (k->n < 200 && dps__ratelimit_acquire(&k->rl, t, NULL)) {
        size_t i = (k->head + k->n++) % MAX_FLIGHT;
        k->sent_at[i] = t;
        k->answer_at[i] = t + rtt;
        k->ok[i] = service_take(&svc, t + rtt / 2);
        if (t >= settle) k->sent_after++;
      }
    }
  }
  run_result res = {0};
  uint64_t ok = 0, thr = 0, sent = 0;
  for (int c = 0; c < nclients; c++) {
    ok += cl[c].ok_after, thr += cl[c].throttled_after, sent += cl[c].sent_after;
    res.ok[c] = cl[c].ok_after;
  }
  res.goodput = (double)ok / (double)(secs - settle_s - 1); /* the last second's answers may miss */
  res.throttled_share = sent ? (double)thr / (double)sent : 0;
  return res;
}

/* One reporter against @p rate/@p burst for @p secs: prints the run; fails on goodput under
 * 0.95 R or more than @p max_throttled of the calls throttled. The README's targets are 1%; the
 * bounds here are what the controller is measured to do (below 10/s a cycle of K holds too few
 * calls for 1%: see ratelimit.h), so that a change that makes it worse fails. */
static int check_single(double rate, double burst, unsigned secs, double max_throttled) {
  run_result r = simulate(1, rate, burst, secs, 5, 0);
  printf("  %g/%g: goodput %.3f R, throttled %.3f%%\n", rate, burst, r.goodput / rate,
         100 * r.throttled_share);
  return (r.goodput < 0.95 * rate) + (r.throttled_share > max_throttled);
}

static void test_single_reporter_against_a_bucket(void **state) {
  (void)state;
  /* At 1/s the cap on K (12 s, against starvation) costs a throttle every ~13 calls. */
  int missed = check_single(1, 10, 400, 0.08) + check_single(5, 5, 200, 0.015) +
               check_single(10, 100, 200, 0.0125) + check_single(50, 50, 120, 0.005) +
               check_single(1000, 1000, 60, 0.001) + check_single(20000, 20000, 30, 0.001);
  if (missed) fail_msg("%d bounds missed (see the lines above)", missed);
}

static void test_four_reporters_share_fairly(void **state) {
  (void)state;
  run_result r = simulate(4, 50, 50, 300, 60, 0);
  printf("  4 x 50/50: goodput %.3f R, throttled %.3f%%, shares", r.goodput / 50,
         100 * r.throttled_share);
  uint64_t total = 0;
  for (int c = 0; c < 4; c++) total += r.ok[c];
  for (int c = 0; c < 4; c++) printf(" %.3f", (double)r.ok[c] / (double)total);
  printf("\n");
  assert_true(r.goodput >= 0.9 * 50);
  for (int c = 0; c < 4; c++) {
    double share = (double)r.ok[c] / (double)total;
    if (share < 0.75 * 0.25 || share > 1.25 * 0.25)
      fail_msg("reporter %d got %.1f%% of the calls, outside 25%% +- a quarter", c, 100 * share);
  }
  assert_true(r.throttled_share <= 0.05);
}

/* Started apart, reporters keep uneven shares (the open part: README, "Fair shares: not
 * reached"), but none starves: each keeps at least half of its fair share. Before K was capped, a
 * reporter squeezed to 1/s had K = 70 s and fell to 0.05 of 4 x 10/100 started 2 s apart. */
static void test_staggered_reporters_do_not_starve(void **state) {
  (void)state;
  static const struct {
    int n;
    double rate, burst, stagger_s;
  } sc[] = {{4, 10, 100, 2}, {4, 50, 50, 1}, {4, 10, 100, 1}, {2, 10, 100, 5}};
  int missed = 0;
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
    run_result r =
        simulate(sc[i].n, sc[i].rate, sc[i].burst, 300, 60, (uint64_t)(sc[i].stagger_s * 1e9));
    uint64_t total = 0;
    for (int c = 0; c < sc[i].n; c++) total += r.ok[c];
    printf("  %d x %g/%g, %g s apart: goodput %.3f R, throttled %.2f%%, shares", sc[i].n,
           sc[i].rate, sc[i].burst, sc[i].stagger_s, r.goodput / sc[i].rate,
           100 * r.throttled_share);
    for (int c = 0; c < sc[i].n; c++) {
      double share = (double)r.ok[c] / (double)total;
      printf(" %.3f", share);
      missed += share < 0.5 / sc[i].n;
    }
    printf("\n");
    missed += r.goodput < 0.9 * sc[i].rate;
  }
  if (missed) fail_msg("%d reporters below half their share, or runs below 0.9 R", missed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unlimited_while_off),
      cmocka_unit_test(test_user_cap),
      cmocka_unit_test(test_first_throttle_engages),
      cmocka_unit_test(test_one_cut_per_window),
      cmocka_unit_test(test_cut_from_the_pace_refused),
      cmocka_unit_test(test_probe_curve),
      cmocka_unit_test(test_sends_spaced),
      cmocka_unit_test(test_hold),
      cmocka_unit_test(test_off_again),
      cmocka_unit_test(test_single_reporter_against_a_bucket),
      cmocka_unit_test(test_four_reporters_share_fairly),
      cmocka_unit_test(test_staggered_reporters_do_not_starve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
