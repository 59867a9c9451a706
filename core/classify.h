/*
 * classify.h: what to do with the outcome of one SetTaskStatus attempt (delivered, retry,
 * give up, or correct the clock and retry), following the AWS SDKs' "standard" retry mode.
 * Pure and thread-safe.
 */
#ifndef DPS_CORE_CLASSIFY_H
#define DPS_CORE_CLASSIFY_H

#include <stdbool.h>

#include "core/aws_error.h"

typedef enum {
  DPS__OUTCOME_DELIVERED, /* 2xx */
  DPS__OUTCOME_RETRYABLE, /* throttling, transient, 429/500/502/503/504, no response */
  DPS__OUTCOME_TERMINAL,  /* the request can never succeed as it is */
  DPS__OUTCOME_CLOCK_SKEW /* our clock is off: correct it from the Date header, retry once */
} dps__outcome_class;

/*
 * Classifies one attempt, in this order:
 *  1. status 0 (no response: connection refused, reset, timeout)  -> RETRYABLE;
 *  2. 2xx                                                           -> DELIVERED;
 *  3. a clock-skew code: RequestTimeTooSkewed, RequestExpired, RequestInTheFuture always;
 *     InvalidSignatureException, SignatureDoesNotMatch, AuthFailure only when the message says
 *     "Signature expired" or "Signature not yet current" (they also mean a bad key or
 *     signature, which no clock correction fixes)                  -> CLOCK_SKEW;
 *  4. a throttling or transient code, whatever the status          -> RETRYABLE;
 *  5. status 429, 500, 502, 503 or 504, whatever the code          -> RETRYABLE;
 *  6. anything else (modelled client errors, auth failures, unknown 4xx, 501, 505, 3xx)
 *                                                                   -> TERMINAL.
 * Codes compare exactly (case-sensitive), as the SDKs compare them. "Retry once" for CLOCK_SKEW
 * is the retry policy's to enforce: a second skew error after a correction is terminal there.
 * @p e must not be NULL.
 */
dps__outcome_class dps__classify(const dps__aws_error *e);

/* True for an error response (status >= 300) with a throttling code (the SDKs' list) or with
 * status 429: backoff treats these differently (and the SDKs' retry quota charges them less).
 * Transient codes are not throttles. */
bool dps__is_throttle(const dps__aws_error *e);

/* "delivered", "retryable", "terminal", "clock_skew"; "unknown" outside the enum. Static. */
const char *dps__outcome_class_name(dps__outcome_class c);

#endif
