/* retry.c: the retry decision and backoff (see retry.h). */
#include "core/retry.h"

#include <stddef.h>

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
