/* retry.c: the retry decision and backoff (see retry.h). */
#include "core/retry.h"

#include <stddef.h>
#include <string.h>

#include "core/clock.h"
#include "dpstatus.h"

void dps__retry_policy_init(dps__retry_policy *p) {
  *p = (dps__retry_policy){
      .max_attempts = DPS__RETRY_DEFAULT_MAX_ATTEMPTS, .base_ms = 1000, .cap_ms = 20000};
}

void dps__retry_quota_init(dps__retry_quota *q) {
  *q = (dps__retry_quota){
      .capacity = 500, .available = 500, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1};
}

bool dps__retry_quota_take(dps__retry_quota *q, bool after_timeout, uint32_t *taken) {
  uint32_t cost = after_timeout ? q->timeout_cost : q->retry_cost;
  if (q->available < cost) return false;
  q->available -= cost;
  *taken += cost;
  return true;
}

void dps__retry_quota_success(dps__retry_quota *q, uint32_t taken) {
  uint32_t refund = taken ? taken : q->success_refund;
  q->available = q->capacity - q->available < refund ? q->capacity : q->available + refund;
}

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL; /* a zero state would stay zero */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

uint32_t dps__backoff_ms(const dps__retry_policy *p, uint32_t retry, uint64_t *rng) {
  if (retry == 0) retry = 1;
  uint64_t ceiling = p->base_ms;
  for (uint32_t i = 1; i < retry && ceiling < p->cap_ms; i++) ceiling *= 2;
  if (ceiling > p->cap_ms) ceiling = p->cap_ms;
  if (ceiling == 0) return 0;
  return (uint32_t)(xorshift64(rng) % ceiling);
}

dps__retry_decision dps__retry_decide(const dps__retry_policy *p, dps__attempt_state *st,
                                      const dps__aws_error *e, const char *date_header,
                                      int64_t local_ms_at_response, dps__clock *clock,
                                      uint64_t *rng) {
  dps__retry_decision d = {.cls = dps__classify(e)};
  switch (d.cls) {
    case DPS__OUTCOME_DELIVERED: d.action = DPS__ACTION_DELIVERED; return d;
    case DPS__OUTCOME_TERMINAL: d.action = DPS__ACTION_FAIL; return d;
    case DPS__OUTCOME_CLOCK_SKEW: {
      int64_t server;
      if (st->skew_retried || !date_header ||
          dps__http_date_parse(date_header, DPS_NTS, &server) != 0) {
        d.action = DPS__ACTION_FAIL;
        return d;
      }
      dps__clock_correct(clock, server, local_ms_at_response);
      st->skew_retried = true;
      d.clock_corrected = true;
      d.action = DPS__ACTION_RETRY; /* at once: waiting would not fix the clock */
      return d;
    }
    case DPS__OUTCOME_RETRYABLE: break;
  }
  if (p->max_attempts && st->attempts >= p->max_attempts) {
    d.action = DPS__ACTION_FAIL;
    return d;
  }
  d.action = DPS__ACTION_RETRY;
  d.delay_ms = dps__backoff_ms(p, st->attempts, rng);
  return d;
}

/* A whole number of at most 12 digits, nothing else; -1 otherwise. */
static int64_t whole(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 12) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

uint32_t dps__retry_after_ms(const char *retry_after, const char *amz_retry_after, int64_t now_ms) {
  int64_t ms = -1, secs;
  if (amz_retry_after && *amz_retry_after) ms = whole(amz_retry_after);
  if (ms < 0 && retry_after && *retry_after) {
    if ((secs = whole(retry_after)) >= 0)
      ms = secs * 1000;
    else if (dps__http_date_parse(retry_after, strlen(retry_after), &secs) == DPS_OK)
      ms = secs * 1000 > now_ms ? secs * 1000 - now_ms : 0;
  }
  if (ms <= 0) return 0;
  return ms > DPS__RETRY_AFTER_MAX_MS ? DPS__RETRY_AFTER_MAX_MS : (uint32_t)ms;
}
