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
  uint32_t max_attempts; /* attempts per update, the first included; 0: no limit (the deadline
                            alone ends retries) */
  uint32_t base_ms;      /* backoff before retry i (1-based) is uniform in [0, base * 2^(i-1)) */
  uint32_t cap_ms;       /* ...capped here */
} dps__retry_policy;

/* The AWS SDKs' standard mode backoff (base 1 s, cap 20 s) with 8 attempts instead of its 3: a
 * lost status stalls a pipeline, so a reporter tries harder than an interactive call. */
#define DPS__RETRY_DEFAULT_MAX_ATTEMPTS 8
void dps__retry_policy_init(dps__retry_policy *p);

/*
 * The standard mode's retry quota: a bucket of tokens shared by all updates of a reporter, so a
 * failing endpoint is not hit with every retry of every update at once. A retry takes retry_cost
 * tokens (timeout_cost after a timeout); a success gives back what its update took, or
 * success_refund when it needed no retry. Loop-thread only (not atomic).
 */
typedef struct dps__retry_quota {
  uint32_t capacity, available;
  uint32_t retry_cost, timeout_cost, success_refund;
} dps__retry_quota;

/* 500 tokens, cost 5, 10 after a timeout, refund 1: the SDKs' figures. */
void dps__retry_quota_init(dps__retry_quota *q);

/* Takes the cost of one retry, adding it to *@p taken (the update's running total). Returns false,
 * taking nothing, when the bucket cannot cover it: the update then waits for tokens rather than
 * failing early. */
bool dps__retry_quota_take(dps__retry_quota *q, bool after_timeout, uint32_t *taken);

/* Records a success of an update whose retries took @p taken tokens. */
void dps__retry_quota_success(dps__retry_quota *q, uint32_t taken);

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

/*
 * How long a response asks the client to wait before its next call, in ms; 0 when it asks
 * nothing (or says it in a form not understood: a bad value is ignored, never trusted).
 * @p amz_retry_after is x-amz-retry-after (milliseconds), which wins when valid; @p retry_after
 * is Retry-After (RFC 9110 10.2.3: delay-seconds, or an HTTP-date, measured from @p now_ms).
 * Either may be NULL or "". At most DPS__RETRY_AFTER_MAX_MS: the update's deadline bounds the
 * wait anyway, and no server holds a client longer than that.
 */
#define DPS__RETRY_AFTER_MAX_MS 300000u
uint32_t dps__retry_after_ms(const char *retry_after, const char *amz_retry_after, int64_t now_ms);

#endif
