/* test_retry.c: the retry decision: delivered, terminal, backoff with jitter, skew correction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/retry.h"

static dps__aws_error response(int status, const char *code, const char *message) {
  dps__aws_error e;
  memset(&e, 0, sizeof e);
  e.http_status = status;
  snprintf(e.code, sizeof e.code, "%s", code);
  snprintf(e.message, sizeof e.message, "%s", message);
  return e;
}

static void test_delivered_and_terminal(void **state) {
  (void)state;
  dps__retry_policy p;
  dps__retry_policy_init(&p);
  dps__clock clk;
  dps__clock_init(&clk);
  uint64_t rng = 1;
  dps__attempt_state st = {.attempts = 1};
  dps__aws_error e = response(200, "", "");
  dps__retry_decision d = dps__retry_decide(&p, &st, &e, NULL, 0, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_DELIVERED);
  const char *terminal[] = {"InvalidRequestException",     "TaskNotFoundException",
                            "PipelineNotFoundException",   "PipelineDeletedException",
                            "UnrecognizedClientException", "AccessDeniedException"};
  for (size_t i = 0; i < sizeof terminal / sizeof *terminal; i++) {
    e = response(400, terminal[i], "no");
    d = dps__retry_decide(&p, &st, &e, NULL, 0, &clk, &rng);
    assert_int_equal(d.action, DPS__ACTION_FAIL);
    assert_int_equal(d.cls, DPS__OUTCOME_TERMINAL);
  }
}

/* Retryable responses back off with full jitter under a doubling ceiling, capped. */
static void test_backoff_ceiling_and_jitter(void **state) {
  (void)state;
  dps__retry_policy p = {.max_attempts = 0, .base_ms = 100, .cap_ms = 1000};
  dps__clock clk;
  dps__clock_init(&clk);
  uint64_t rng = 42;
  const uint32_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (uint32_t attempt = 1; attempt <= 7; attempt++) {
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int k = 0; k < 2000; k++) {
      dps__attempt_state st = {.attempts = attempt};
      dps__aws_error e =
          response(attempt % 2 ? 503 : 400, attempt % 2 ? "" : "ThrottlingException", "slow down");
      dps__retry_decision d = dps__retry_decide(&p, &st, &e, NULL, 0, &clk, &rng);
      assert_int_equal(d.action, DPS__ACTION_RETRY);
      if (d.delay_ms < lo) lo = d.delay_ms;
      if (d.delay_ms > hi) hi = d.delay_ms;
    }
    uint32_t c = ceilings[attempt - 1];
    assert_true(hi < c);           /* never reaches the ceiling */
    assert_true(hi >= c * 9 / 10); /* but spreads up to it */
    assert_true(lo <= c / 10);     /* and down to near zero */
  }
  /* A huge attempt number neither overflows nor passes the cap. */
  assert_true(dps__backoff_ms(&p, 4000000000u, &rng) < 1000);
  /* The same seed gives the same delays. */
  uint64_t a = 7, b = 7;
  for (int k = 0; k < 100; k++)
    assert_int_equal(dps__backoff_ms(&p, 3, &a), dps__backoff_ms(&p, 3, &b));
}

static void test_max_attempts(void **state) {
  (void)state;
  dps__retry_policy p = {.max_attempts = 3, .base_ms = 10, .cap_ms = 100};
  dps__clock clk;
  dps__clock_init(&clk);
  uint64_t rng = 3;
  dps__aws_error e = response(0, "", ""); /* a transport failure */
  dps__attempt_state st = {.attempts = 2};
  assert_int_equal(dps__retry_decide(&p, &st, &e, NULL, 0, &clk, &rng).action, DPS__ACTION_RETRY);
  st.attempts = 3;
  dps__retry_decision d = dps__retry_decide(&p, &st, &e, NULL, 0, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_FAIL);
  assert_int_equal(d.cls, DPS__OUTCOME_RETRYABLE);
}

/* A skew error corrects the clock from Date and is retried at once, once per update. */
static void test_clock_skew_retried_once(void **state) {
  (void)state;
  dps__retry_policy p;
  dps__retry_policy_init(&p);
  p.max_attempts = 1; /* the skew retry does not depend on the retry budget */
  dps__clock clk;
  dps__clock_init(&clk);
  uint64_t rng = 5;
  /* Local clock at 2015-08-30T12:36:00.250Z; the server says 12:41:00 (5 minutes ahead). */
  const int64_t local = 1440938160250;
  const char *date = "Sun, 30 Aug 2015 12:41:00 GMT";
  dps__attempt_state st = {.attempts = 1};
  dps__aws_error e = response(400, "InvalidSignatureException",
                              "Signature expired: 20150830T123600Z is now earlier than "
                              "20150830T123600Z (20150830T124100Z - 5 min.)");
  dps__retry_decision d = dps__retry_decide(&p, &st, &e, date, local, &clk, &rng);
  assert_int_equal(d.cls, DPS__OUTCOME_CLOCK_SKEW);
  assert_int_equal(d.action, DPS__ACTION_RETRY);
  assert_int_equal(d.delay_ms, 0);
  assert_true(d.clock_corrected);
  int64_t off = dps__clock_offset_ms(&clk);
  assert_true(off >= 300000 - 1000 && off <= 300000 + 1000);
  /* The second skew error of the same update fails. */
  st.attempts = 2;
  e = response(400, "RequestTimeTooSkewed", "still skewed");
  d = dps__retry_decide(&p, &st, &e, date, local, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_FAIL);
  /* Without a usable Date header, nothing can be corrected: fail. */
  dps__attempt_state fresh = {.attempts = 1};
  d = dps__retry_decide(&p, &fresh, &e, NULL, local, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_FAIL);
  d = dps__retry_decide(&p, &fresh, &e, "yesterday", local, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_FAIL);
  assert_false(fresh.skew_retried);
  /* An InvalidSignatureException that is not about time is terminal, never a skew retry. */
  e = response(400, "InvalidSignatureException",
               "The request signature we calculated does not "
               "match the signature you provided.");
  d = dps__retry_decide(&p, &fresh, &e, date, local, &clk, &rng);
  assert_int_equal(d.action, DPS__ACTION_FAIL);
  assert_int_equal(d.cls, DPS__OUTCOME_TERMINAL);
}

static void test_default_policy(void **state) {
  (void)state;
  dps__retry_policy p;
  dps__retry_policy_init(&p);
  assert_int_equal(p.max_attempts, 8);
  assert_int_equal(p.base_ms, 1000);
  assert_int_equal(p.cap_ms, 20000);
}

/* The shared bucket: retries drain it, successes refill it, and it never passes its capacity. */
static void test_retry_quota(void **state) {
  (void)state;
  dps__retry_quota q;
  dps__retry_quota_init(&q);
  assert_int_equal(q.available, 500);
  uint32_t taken = 0;
  for (int i = 0; i < 100; i++) assert_true(dps__retry_quota_take(&q, false, &taken));
  assert_int_equal(q.available, 0);
  assert_int_equal(taken, 500);
  uint32_t more = 0;
  assert_false(dps__retry_quota_take(&q, false, &more)); /* empty: wait, take nothing */
  assert_int_equal(more, 0);
  dps__retry_quota_success(&q, 15); /* an update that retried three times gives back 15 */
  assert_int_equal(q.available, 15);
  assert_true(dps__retry_quota_take(&q, true, &more)); /* a timeout costs 10 */
  assert_int_equal(more, 10);
  assert_int_equal(q.available, 5);
  assert_false(dps__retry_quota_take(&q, true, &more));
  dps__retry_quota_success(&q, 0); /* a first-try success refunds 1 */
  assert_int_equal(q.available, 6);
  dps__retry_quota_success(&q, 1000); /* never beyond capacity */
  assert_int_equal(q.available, 500);
  dps__retry_quota_success(&q, 0);
  assert_int_equal(q.available, 500);
}

/* Retry-After (delay-seconds or an HTTP-date) and x-amz-retry-after (ms): what a response asks
 * for; nonsense is ignored, never trusted; x-amz-retry-after wins; capped at 5 minutes. */
static void test_retry_after(void **state) {
  (void)state;
  const int64_t now_ms = 1440938160000; /* Sun, 30 Aug 2015 12:36:00 GMT */
  assert_int_equal(dps__retry_after_ms(NULL, NULL, now_ms), 0);
  assert_int_equal(dps__retry_after_ms("", "", now_ms), 0);
  assert_int_equal(dps__retry_after_ms("2", NULL, now_ms), 2000);
  assert_int_equal(dps__retry_after_ms("0", NULL, now_ms), 0);
  assert_int_equal(dps__retry_after_ms(NULL, "1500", now_ms), 1500);
  assert_int_equal(dps__retry_after_ms("2", "1500", now_ms), 1500); /* the precise one wins */
  assert_int_equal(dps__retry_after_ms("2", "soon", now_ms), 2000); /* a bad one is ignored */
  assert_int_equal(dps__retry_after_ms("Sun, 30 Aug 2015 12:36:07 GMT", NULL, now_ms), 7000);
  assert_int_equal(dps__retry_after_ms("Sun, 30 Aug 2015 12:35:00 GMT", NULL, now_ms), 0);
  const char *bad[] = {"-1", "1.5", " 2", "2 ", "0x10", "12345678901234", "tomorrow"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(dps__retry_after_ms(bad[i], NULL, now_ms), 0);
    assert_int_equal(dps__retry_after_ms(NULL, bad[i], now_ms), 0);
  }
  assert_int_equal(dps__retry_after_ms("86400", NULL, now_ms), DPS__RETRY_AFTER_MAX_MS);
  assert_int_equal(dps__retry_after_ms(NULL, "999999999", now_ms), DPS__RETRY_AFTER_MAX_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delivered_and_terminal),
      cmocka_unit_test(test_backoff_ceiling_and_jitter),
      cmocka_unit_test(test_max_attempts),
      cmocka_unit_test(test_clock_skew_retried_once),
      cmocka_unit_test(test_default_policy),
      cmocka_unit_test(test_retry_quota),
      cmocka_unit_test(test_retry_after),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
