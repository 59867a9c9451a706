/*
 * retry.h: what to do after an attempt: done, try again after a delay, or give up. Combines the
 * classification of the response (classify.h) with the retry budget, the AWS SDKs' standard
 * backoff (full jitter, exponential, capped) and the one-time clock-skew correction. Pure apart
 * from the clock it corrects, so the sender and the load tester share it and tests drive it.
 */
#ifndef DPS_CORE_RETRY_H
#define DPS_CORE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/aws_error.h"
#include "core/classify.h"
#include "core/clock.h"

typedef struct dps__retry_policy {
  uint32_t max_attempts; /* 0: no limit, the update's deadline alone ends retries */
  uint32_t base_ms;      /* backoff before retry i (1-based) is uniform in [0, base * 2^(i-1)) */
  uint32_t cap_ms;       /* ...capped here */
} dps__retry_policy;

/* The AWS SDKs' standard mode figures (base 1 s, cap 20 s), without its 3-attempt limit: a
 * reporter must not give up on an update while its deadline allows another try. */
void dps__retry_policy_init(dps__retry_policy *p);

/* Per update, zeroed before the first attempt. */
typedef struct dps__attempt_state {
  uint32_t attempts; /* attempts made, counting the one being decided on */
  bool skew_retried; /* the free retry after a clock correction has been used */
} dps__attempt_state;

typedef enum dps__retry_action {
  DPS__ACTION_DELIVERED, /* 2xx: report success */
  DPS__ACTION_RETRY,     /* send again after delay_ms */
  DPS__ACTION_FAIL       /* report failure with the response's code */
} dps__retry_action;

typedef struct dps__retry_decision {
  dps__retry_action action;
  dps__outcome_class cls; /* what the response was */
  uint32_t delay_ms;
  bool clock_corrected; /* the clock offset was updated from the Date header */
} dps__retry_decision;

/*
 * Decides on the response @p e to attempt number st->attempts (the caller increments it before
 * calling). A clock-skew response with a parsable @p date_header corrects @p clock and is retried
 * at once, once per update; without a usable Date, or a second time, it fails. Retryable
 * responses back off (dps__backoff_ms) until max_attempts is reached. @p rng is the caller's
 * xorshift64 state (non-zero), so each thread keeps its own and tests are deterministic.
 */
dps__retry_decision dps__retry_decide(const dps__retry_policy *p, dps__attempt_state *st,
                                      const dps__aws_error *e, const char *date_header,
                                      int64_t local_ms_at_response, dps__clock *clock,
                                      uint64_t *rng);

/* The delay before retry number @p retry (1 = the first retry): uniform in
 * [0, min(cap, base * 2^(retry-1))). */
uint32_t dps__backoff_ms(const dps__retry_policy *p, uint32_t retry, uint64_t *rng);

#endif
