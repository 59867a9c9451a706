/*
 * classify.c: owns the retry decision for one attempt: the tables of throttling, transient and
 * clock-skew error codes, and the statuses the AWS SDKs' "standard" retry mode retries.
 * Sources: botocore retries/standard.py (throttling and transient codes, 500/502/503/504), the
 * SDKs' retry behavior reference (429 as throttling, as aws-sdk-js-v3 does), and the clock-skew
 * codes the SDKs that correct skew share (aws-sdk-js-v3, Java v2, .NET); botocore corrects none.
 */
#include "core/classify.h"

#include <stdlib.h>
#include <string.h>

typedef enum code_kind {
  KIND_THROTTLE,
  KIND_TRANSIENT,
  KIND_SKEW,        /* only ever means a skewed clock */
  KIND_SKEW_IF_SAID /* also means a bad key or signature: skew only when the message says so */
} code_kind;

typedef struct code_entry {
  const char *code;
  code_kind kind;
} code_entry;

/* Sorted by strcmp (bytewise) for bsearch; every entry is exercised by tests/test_classify.c, so
 * an entry out of order fails there. */
static const code_entry codes[] = {
    {"AuthFailure", KIND_SKEW_IF_SAID},
    {"BandwidthLimitExceeded", KIND_THROTTLE},
    {"EC2ThrottledException", KIND_THROTTLE},
    {"InvalidSignatureException", KIND_SKEW_IF_SAID},
    {"LimitExceededException", KIND_THROTTLE},
    {"PriorRequestNotComplete", KIND_TRANSIENT},
    {"ProvisionedThroughputExceededException", KIND_THROTTLE},
    {"RequestExpired", KIND_SKEW},
    {"RequestInTheFuture", KIND_SKEW},
    {"RequestLimitExceeded", KIND_THROTTLE},
    {"RequestThrottled", KIND_THROTTLE},
    {"RequestThrottledException", KIND_THROTTLE},
    {"RequestTimeTooSkewed", KIND_SKEW},
    {"RequestTimeout", KIND_TRANSIENT},
    {"RequestTimeoutException", KIND_TRANSIENT},
    {"SignatureDoesNotMatch", KIND_SKEW_IF_SAID},
    {"SlowDown", KIND_THROTTLE},
    {"ThrottledException", KIND_THROTTLE},
    {"Throttling", KIND_THROTTLE},
    {"ThrottlingException", KIND_THROTTLE},
    {"TooManyRequestsException", KIND_THROTTLE},
    {"TransactionInProgressException", KIND_THROTTLE},
};

static int cmp_code(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const code_entry *)elem)->code);
}

static const code_entry *lookup(const char *code) {
  if (code[0] == '\0') return NULL;
  return bsearch(code, codes, sizeof codes / sizeof *codes, sizeof *codes, cmp_code);
}

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++) {
    size_t i = 0;
    /* Folding with | 0x20 is exact here because the needles hold only letters and spaces. */
    while (i < n && hay[i] != '\0' && (hay[i] | 0x20) == (needle[i] | 0x20)) i++;
    if (i == n) return true;
  }
  return false;
}

/* The wording SigV4 services use when the signing time is outside their window, e.g.
 * "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z (... - 15 min.)" and
 * "Signature not yet current: ... is still later than ... (... + 15 min.)". */
static bool says_skew(const char *message) {
  return contains_ci(message, "Signature expired") ||
         contains_ci(message, "Signature not yet current");
}

dps__outcome_class dps__classify(const dps__aws_error *e) {
  const int s = e->http_status;
  if (s <= 0) return DPS__OUTCOME_RETRYABLE;
  if (s >= 200 && s < 300) return DPS__OUTCOME_DELIVERED;

  const code_entry *k = lookup(e->code);
  if (k != NULL) {
    switch (k->kind) {
      case KIND_SKEW: return DPS__OUTCOME_CLOCK_SKEW;
      case KIND_SKEW_IF_SAID:
        if (says_skew(e->message)) return DPS__OUTCOME_CLOCK_SKEW;
        break;
      case KIND_THROTTLE:
      case KIND_TRANSIENT: return DPS__OUTCOME_RETRYABLE;
    }
  }

  switch (s) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return DPS__OUTCOME_RETRYABLE;
    default: return DPS__OUTCOME_TERMINAL;
  }
}

bool dps__is_throttle(const dps__aws_error *e) {
  /* Only an error response throttles: a 2xx is delivered whatever its body names. */
  if (e->http_status < 300) return false;
  if (e->http_status == 429) return true;
  const code_entry *k = lookup(e->code);
  return k != NULL && k->kind == KIND_THROTTLE;
}

const char *dps__outcome_class_name(dps__outcome_class c) {
  switch (c) {
    case DPS__OUTCOME_DELIVERED: return "delivered";
    case DPS__OUTCOME_RETRYABLE: return "retryable";
    case DPS__OUTCOME_TERMINAL: return "terminal";
    case DPS__OUTCOME_CLOCK_SKEW: return "clock_skew";
  }
  return "unknown";
}
