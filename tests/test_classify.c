/*
 * test_classify.c: tests for core/classify.c: every code of the SDKs' throttling, transient and
 * clock-skew lists, every modelled Data Pipeline error, auth failures, the retryable statuses,
 * unknown 4xx/5xx, and a few whole responses through dps__aws_error_parse first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/aws_error.h"
#include "core/classify.h"

#define D DPS__OUTCOME_DELIVERED
#define R DPS__OUTCOME_RETRYABLE
#define T DPS__OUTCOME_TERMINAL
#define S DPS__OUTCOME_CLOCK_SKEW

typedef struct class_case {
  int status;
  const char *code;
  const char *message;
  dps__outcome_class want;
  bool throttle;
} class_case;

static const class_case cases[] = {
    /* Delivered: any 2xx, whatever else is there. */
    {200, "", "", D, false},
    {204, "", "", D, false},
    {299, "ThrottlingException", "", D, false},

    /* Transport failure. */
    {0, "", "", R, false},
    {-1, "", "", R, false},
    {0, "ThrottlingException", "", R, false}, /* no response: retried, but not a throttle */

    /* Throttling codes (botocore standard.py), with a 400 and with other statuses. */
    {400, "Throttling", "", R, true},
    {400, "ThrottlingException", "Rate exceeded", R, true},
    {400, "ThrottledException", "", R, true},
    {400, "RequestThrottledException", "", R, true},
    {400, "TooManyRequestsException", "", R, true},
    {400, "ProvisionedThroughputExceededException", "", R, true},
    {400, "TransactionInProgressException", "", R, true},
    {400, "RequestLimitExceeded", "", R, true},
    {509, "BandwidthLimitExceeded", "", R, true},
    {400, "LimitExceededException", "", R, true},
    {400, "RequestThrottled", "", R, true},
    {503, "SlowDown", "", R, true},
    {400, "EC2ThrottledException", "", R, true},
    {403, "ThrottlingException", "", R, true},

    /* Transient codes: retryable, not throttles. */
    {400, "RequestTimeout", "", R, false},
    {408, "RequestTimeoutException", "", R, false},
    {400, "PriorRequestNotComplete", "", R, false},

    /* Retryable statuses whatever the code. */
    {500, "InternalServiceError", "", R, false},
    {500, "InternalFailure", "", R, false},
    {500, "500", "Internal Server Error", R, false},
    {502, "502", "", R, false},
    {503, "503", "", R, false},
    {503, "ServiceUnavailable", "", R, false},
    {504, "", "", R, false},
    {500, "TaskNotFoundException", "", R, false},
    {429, "429", "Too Many Requests", R, true},
    {429, "SomethingElse", "", R, true},

    /* Modelled client errors. */
    {400, "TaskNotFoundException", "", T, false},
    {400, "InvalidRequestException", "", T, false},
    {400, "PipelineNotFoundException", "", T, false},
    {400, "PipelineDeletedException", "", T, false},

    /* Auth failures. */
    {400, "InvalidSignatureException", "The request signature we calculated does not match", T,
     false},
    {400, "UnrecognizedClientException", "The security token included in the request is invalid", T,
     false},
    {400, "AccessDeniedException", "", T, false},
    {403, "AccessDeniedException", "", T, false},
    {400, "ExpiredTokenException", "The security token included in the request is expired", T,
     false},
    {400, "IncompleteSignature", "", T, false},
    {403, "MissingAuthenticationToken", "", T, false},
    {403, "InvalidClientTokenId", "", T, false},
    {403, "SignatureDoesNotMatch", "The request signature we calculated does not match", T, false},
    {401, "AuthFailure", "AWS was not able to validate the provided access credentials", T, false},
    {403, "NotAuthorized", "", T, false},

    /* Clock skew: always for these codes. */
    {403, "RequestTimeTooSkewed", "", S, false},
    {400, "RequestExpired", "Request has expired.", S, false},
    {400, "RequestInTheFuture", "", S, false},
    {500, "RequestTimeTooSkewed", "", S, false},

    /* Clock skew: the ambiguous codes only with the wording. */
    {400, "InvalidSignatureException",
     "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z (20150830T130100Z "
     "- 15 min.)",
     S, false},
    {400, "InvalidSignatureException",
     "Signature not yet current: 20150830T133600Z is still later than 20150830T132100Z "
     "(20150830T130600Z + 15 min.)",
     S, false},
    {403, "SignatureDoesNotMatch", "Signature expired: 20150830T123600Z is now earlier than ...", S,
     false},
    {401, "AuthFailure", "signature EXPIRED: ...", S, false},
    {400, "InvalidSignatureException", "xx Signature expired", S, false},
    {400, "InvalidSignatureException", "Signature expire", T, false},
    {400, "UnrecognizedClientException", "Signature expired: ...", T, false},

    /* Exact matching: case, prefixes, extensions. */
    {400, "throttlingexception", "", T, false},
    {400, "Throttlin", "", T, false},
    {400, "ThrottlingExceptionX", "", T, false},
    {400, "A", "", T, false},
    {400, "Zzz", "", T, false},
    {400, "", "", T, false},

    /* Unknown 4xx and 5xx, other statuses. */
    {400, "ValidationException", "", T, false},
    {404, "404", "Not Found", T, false},
    {413, "413", "", T, false},
    {418, "ImATeapot", "", T, false},
    {499, "", "", T, false},
    {501, "501", "Not Implemented", T, false},
    {505, "505", "", T, false},
    {507, "", "", T, false},
    {599, "599", "", T, false},
    {301, "301", "", T, false},
    {100, "", "", T, false},
};

static void test_classify_table(void **state) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const class_case *c = &cases[i];
    dps__aws_error e;
    memset(&e, 0, sizeof e);
    e.http_status = c->status;
    snprintf(e.code, sizeof e.code, "%s", c->code);
    snprintf(e.message, sizeof e.message, "%s", c->message);
    dps__outcome_class got = dps__classify(&e);
    if (got != c->want)
      fail_msg("case %zu (%d %s \"%s\"): got %s, want %s", i, c->status, c->code, c->message,
               dps__outcome_class_name(got), dps__outcome_class_name(c->want));
    if (dps__is_throttle(&e) != c->throttle)
      fail_msg("case %zu (%d %s): is_throttle %d", i, c->status, c->code, !c->throttle);
  }
}

static void test_names(void **state) {
  assert_string_equal(dps__outcome_class_name(DPS__OUTCOME_DELIVERED), "delivered");
  assert_string_equal(dps__outcome_class_name(DPS__OUTCOME_RETRYABLE), "retryable");
  assert_string_equal(dps__outcome_class_name(DPS__OUTCOME_TERMINAL), "terminal");
  assert_string_equal(dps__outcome_class_name(DPS__OUTCOME_CLOCK_SKEW), "clock_skew");
  assert_string_equal(dps__outcome_class_name((dps__outcome_class)42), "unknown");
}

/* Whole responses: what the transport hands over, through the parser, to a decision. */
typedef struct response_case {
  int status;
  const char *body;
  const char *type_hdr;
  dps__outcome_class want;
} response_case;

static void test_parsed_responses(void **state) {
  static const response_case rs[] = {
      {200, "{}", NULL, D},
      {400,
       "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\",\"message\":\"Rate "
       "exceeded\"}",
       NULL, R},
      {400, "{\"__type\":\"com.amazonaws.datapipeline#TaskNotFoundException\"}", NULL, T},
      {500, "{\"__type\":\"com.amazonaws.datapipeline#InternalServiceError\"}", NULL, R},
      {503, "<html><body>503 Service Unavailable</body></html>", NULL, R},
      {403, "<html><body>Forbidden by proxy</body></html>", NULL, T},
      {400, "{\"message\":\"Rate exceeded\"}", "ThrottlingException:http://internal/", R},
      {400,
       "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature expired: "
       "20150830T123600Z is now earlier than 20150830T124600Z (20150830T130100Z - 15 min.)\"}",
       NULL, S},
      {403, "{\"__type\":\"RequestTimeTooSkewed\"}", NULL, S},
      {0, NULL, NULL, R},
  };
  for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) {
    dps__aws_error e;
    dps__aws_error_parse(rs[i].status, rs[i].body, rs[i].body ? strlen(rs[i].body) : 0,
                         rs[i].type_hdr, NULL, &e);
    dps__outcome_class got = dps__classify(&e);
    if (got != rs[i].want)
      fail_msg("response %zu: got %s (code %s), want %s", i, dps__outcome_class_name(got), e.code,
               dps__outcome_class_name(rs[i].want));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_table),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_parsed_responses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
