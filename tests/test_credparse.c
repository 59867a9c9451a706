/* test_credparse.c: RFC 3339 times and the JSON credential documents (instance metadata, the
 * container endpoint, credential_process): what each must hold, every refusal's message, and that
 * no message carries a secret, a token or the body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "core/clock.h"
#include "core/credparse.h"
#include "dpstatus.h"

#define SECRET "wJalrXUtnFEMI-K7MDENG-SECRETMARKER"
#define TOKEN "IQoJb3JpZ2luX2VjTOKENMARKER"

static void test_rfc3339(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t ms;
  } ok[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2026-12-07T06:10:00Z", INT64_C(1796623800000)},
      {"2026-12-07t06:10:00z", INT64_C(1796623800000)},
      {"2026-12-07 06:10:00Z", INT64_C(1796623800000)},
      {"2026-12-07T06:10:00.5Z", INT64_C(1796623800500)},
      {"2026-12-07T06:10:00.123456789Z", INT64_C(1796623800123)},
      {"2026-12-07T08:10:00+02:00", INT64_C(1796623800000)},
      {"2026-12-07T01:40:00-04:30", INT64_C(1796623800000)},
      {"2028-02-29T00:00:00Z", INT64_C(1835395200000)},
      {"2026-12-31T23:59:60Z", INT64_C(1798761600000)}, /* a leap second: the next minute's 00 */
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t ms = -1;
    if (dps__rfc3339_parse(ok[i].s, DPS_NTS, &ms) != 0) fail_msg("refused %s", ok[i].s);
    if (ms != ok[i].ms)
      fail_msg("%s: %lld, expected %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
  }
  static const char *const bad[] = {
      "",
      "2026-12-07",
      "2026-12-07T06:10:00",      /* no zone */
      "2026-12-07T06:10Z",        /* no seconds */
      "2027-02-29T00:00:00Z",     /* not a leap year */
      "2026-13-01T00:00:00Z",     /* month */
      "2026-04-31T00:00:00Z",     /* day */
      "2026-12-07T24:00:00Z",     /* hour */
      "2026-12-07T06:60:00Z",     /* minute */
      "2026-12-07T06:10:61Z",     /* second */
      "2026-12-07T06:10:00.Z",    /* empty fraction */
      "2026-12-07T06:10:00+0200", /* offset without colon */
      "2026-12-07T06:10:00+24:00",
      "2026-12-07T06:10:00Z ", /* trailing */
      " 2026-12-07T06:10:00Z", /* leading */
      "2026-12-07X06:10:00Z",  /* separator */
      "20261207T061000Z",      /* the basic form is X-Amz-Date's, not RFC 3339 */
      "tomorrow",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t ms = 42;
    if (dps__rfc3339_parse(bad[i], DPS_NTS, &ms) == 0) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(ms, 42);
  }
  /* Length-bounded: the bytes after len are not read. */
  int64_t ms;
  assert_int_equal(dps__rfc3339_parse("1970-01-01T00:00:01Zjunk", 20, &ms), 0);
  assert_int_equal(ms, 1000);
}

typedef int (*parse_fn)(const char *, size_t, dps__cred_doc *, dps_error *);

static void parses(parse_fn f, const char *body, dps__cred_doc *d) {
  dps_error err = {0};
  int rc = f(body, strlen(body), d, &err);
  if (rc) fail_msg("refused (%d): %s", rc, err.message);
}

/* Refused with DPS_ECREDS, @p needle in the message, no secret and nothing left in @p d. */
static void refuses(parse_fn f, const char *body, const char *needle) {
  dps__cred_doc d;
  memset(&d, 0x5a, sizeof d);
  dps_error err = {0};
  int rc = f(body, strlen(body), &d, &err);
  if (rc != DPS_ECREDS) fail_msg("expected DPS_ECREDS, got %d for %s", rc, body);
  if (!strstr(err.message, needle)) fail_msg("\"%s\" lacks \"%s\"", err.message, needle);
  if (strstr(err.message, SECRET) || strstr(err.message, TOKEN))
    fail_msg("a secret in the message: %s", err.message);
  assert_null(d.creds.access_key_id);
  assert_null(d.creds.secret_access_key);
  assert_null(d.creds.session_token);
}

#define IMDS_OK                                                                           \
  "{\"Code\":\"Success\",\"LastUpdated\":\"2026-12-07T06:00:00Z\",\"Type\":\"AWS-HMAC\"," \
  "\"AccessKeyId\":\"ASIAIMDS\",\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN    \
  "\","                                                                                   \
  "\"Expiration\":\"2026-12-07T12:00:00Z\"}"

static void test_imds(void **state) {
  (void)state;
  dps__cred_doc d;
  parses(dps__cred_parse_imds, IMDS_OK, &d);
  assert_string_equal(d.creds.access_key_id, "ASIAIMDS");
  assert_string_equal(d.creds.secret_access_key, SECRET);
  assert_string_equal(d.creds.session_token, TOKEN);
  assert_true(d.expiration_ms == INT64_C(1796644800000));
  dps__cred_doc_free(&d);
  assert_null(d.creds.access_key_id);

  refuses(dps__cred_parse_imds,
          "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"EC2 cannot assume the role\","
          "\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}",
          "Code AssumeRoleUnauthorizedAccess: EC2 cannot assume the role");
  refuses(dps__cred_parse_imds,
          "{\"Type\":\"OTHER\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET
          "\",\"Token\":\"" TOKEN "\",\"Expiration\":\"2026-12-07T12:00:00Z\"}",
          "Type OTHER, expected AWS-HMAC");
  refuses(dps__cred_parse_imds, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}",
          "member \"Token\" is missing");
  refuses(dps__cred_parse_imds,
          "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN "\"}",
          "member \"Expiration\" is missing");
  refuses(dps__cred_parse_imds,
          "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN
          "\",\"Expiration\":\"tomorrow\"}",
          "\"Expiration\" is not an RFC 3339 time: \"tomorrow\"");
  refuses(dps__cred_parse_imds,
          "{\"AccessKeyId\":7,\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN
          "\",\"Expiration\":\"2026-12-07T12:00:00Z\"}",
          "member \"AccessKeyId\" is not a non-empty string");
  refuses(dps__cred_parse_imds,
          "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET " \\r\\nX: y\",\"Token\":\"" TOKEN
          "\",\"Expiration\":\"2026-12-07T12:00:00Z\"}",
          "\"SecretAccessKey\" holds a blank, control or non-ASCII character");
  refuses(dps__cred_parse_imds, "{\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\"}", "not JSON");
  refuses(dps__cred_parse_imds, "[\"" SECRET "\"]", "expected a JSON object");
  refuses(dps__cred_parse_imds, "{\"AccessKeyId\":\"" SECRET, "not JSON");
  refuses(dps__cred_parse_imds, "<html>" SECRET "</html>", "not JSON");
  char *big = malloc(DPS__CREDDOC_MAX_BYTES + 2);
  memset(big, ' ', DPS__CREDDOC_MAX_BYTES + 1);
  big[DPS__CREDDOC_MAX_BYTES + 1] = '\0';
  refuses(dps__cred_parse_imds, big, "more than the 65536");
  free(big);
}

static void test_container(void **state) {
  (void)state;
  dps__cred_doc d;
  parses(
      dps__cred_parse_container,
      "{\"AccessKeyId\":\"ASIAECS\",\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN
      "\",\"Expiration\":\"2026-12-07T06:30:00.000+00:00\",\"RoleArn\":\"arn:aws:iam::1:role/t\"}",
      &d);
  assert_string_equal(d.creds.access_key_id, "ASIAECS");
  assert_true(d.expiration_ms == INT64_C(1796625000000));
  dps__cred_doc_free(&d);
  refuses(dps__cred_parse_container,
          "{\"code\":\"InvalidToken\",\"message\":\"the authorization token is not valid\"}",
          "the endpoint answered an error: InvalidToken: the authorization token is not valid");
  refuses(dps__cred_parse_container, "{\"Code\":\"Throttled\"}", "answered an error: Throttled");
  refuses(dps__cred_parse_container,
          "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\",\"Expiration\":\"x\"}",
          "member \"Token\" is missing");
}

static void test_process(void **state) {
  (void)state;
  dps__cred_doc d;
  parses(dps__cred_parse_process,
         "{\"Version\":1,\"AccessKeyId\":\"AKIAPROC\",\"SecretAccessKey\":\"" SECRET "\"}", &d);
  assert_string_equal(d.creds.access_key_id, "AKIAPROC");
  assert_null(d.creds.session_token);
  assert_true(d.expiration_ms == DPS__CREDDOC_NO_EXPIRY); /* never refreshed */
  dps__cred_doc_free(&d);
  parses(dps__cred_parse_process,
         "{\"Version\":1,\"AccessKeyId\":\"ASIAPROC\",\"SecretAccessKey\":\"" SECRET
         "\",\"SessionToken\":\"" TOKEN "\",\"Expiration\":\"2026-12-07T07:00:00Z\"}",
         &d);
  assert_string_equal(d.creds.session_token, TOKEN);
  assert_true(d.expiration_ms == INT64_C(1796626800000));
  dps__cred_doc_free(&d);
  refuses(dps__cred_parse_process,
          "{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}",
          "\"Version\" is 2, expected 1");
  refuses(dps__cred_parse_process,
          "{\"Version\":\"1\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}",
          "\"Version\" is not a whole number");
  refuses(dps__cred_parse_process, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}",
          "member \"Version\" is missing");
  refuses(dps__cred_parse_process, "{\"Version\":1,\"SecretAccessKey\":\"" SECRET "\"}",
          "member \"AccessKeyId\" is missing");
  refuses(dps__cred_parse_process, "{\"Version\":1,\"AccessKeyId\":\"A\"}",
          "member \"SecretAccessKey\" is missing");
  refuses(dps__cred_parse_process,
          "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET
          "\",\"SessionToken\":\"\"}",
          "member \"SessionToken\" is not a non-empty string");
  char key[200];
  memset(key, 'A', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  char body[512];
  snprintf(body, sizeof body,
           "{\"Version\":1,\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"" SECRET "\"}", key);
  refuses(dps__cred_parse_process, body, "AccessKeyId is longer than 128");
}

#define STS_OK(action, key, exp)                                                     \
  "<?xml version=\"1.0\"?>\n<" action                                                \
  "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"                    \
  "<" action                                                                         \
  "Result><SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>"            \
  "<Credentials>\n  <AccessKeyId>" key "</AccessKeyId>\n  <SecretAccessKey>" SECRET  \
  "</SecretAccessKey>\n  <SessionToken>" TOKEN "</SessionToken>\n  <Expiration>" exp \
  "</Expiration>\n</Credentials></" action                                           \
  "Result><ResponseMetadata><RequestId>r-1</RequestId>"                              \
  "</ResponseMetadata></" action "Response>"

static int sts_role(const char *b, size_t n, dps__cred_doc *d, dps_error *e) {
  return dps__cred_parse_sts(b, n, "AssumeRole", d, e);
}

static void test_sts(void **state) {
  (void)state;
  dps__cred_doc d;
  parses(sts_role, STS_OK("AssumeRole", "ASIASTS", "2026-12-07T07:00:00Z"), &d);
  assert_string_equal(d.creds.access_key_id, "ASIASTS");
  assert_string_equal(d.creds.secret_access_key, SECRET);
  assert_string_equal(d.creds.session_token, TOKEN);
  assert_true(d.expiration_ms == INT64_C(1796626800000));
  dps__cred_doc_free(&d);
  const char wi[] = STS_OK("AssumeRoleWithWebIdentity", "ASIAWI", "2026-12-07T07:00:00Z");
  dps_error err = {0};
  assert_int_equal(dps__cred_parse_sts(wi, strlen(wi), "AssumeRoleWithWebIdentity", &d, &err), 0);
  assert_string_equal(d.creds.access_key_id, "ASIAWI");
  dps__cred_doc_free(&d);
  /* The answer to another action is not this one's. */
  refuses(sts_role, wi, "no AccessKeyId in the answer's Credentials");
  refuses(sts_role,
          "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
          "<Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/u is "
          "not authorized to perform: sts:AssumeRole</Message></Error><RequestId>x</RequestId>"
          "</ErrorResponse>",
          "sts AssumeRole: AccessDenied: User: arn:aws:iam::1:user/u is not authorized");
  refuses(sts_role, "<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>",
          "sts AssumeRole: ExpiredToken");
  refuses(sts_role, STS_OK("AssumeRole", "ASIASTS", "soon"),
          "Expiration is not an RFC 3339 time: \"soon\"");
  refuses(sts_role, STS_OK("AssumeRole", "AS IA", "2026-12-07T07:00:00Z"),
          "AccessKeyId is empty or holds a blank");
  refuses(sts_role, STS_OK("AssumeRole", "", "2026-12-07T07:00:00Z"),
          "AccessKeyId is empty or holds a blank");
  refuses(sts_role, "<AssumeRoleResponse><AssumeRoleResult></AssumeRoleResponse>",
          "sts AssumeRole: malformed XML: mismatched end tag");
  refuses(sts_role, "<!DOCTYPE x><x/>", "malformed XML: a DOCTYPE");
  refuses(sts_role, "{\"json\": \"" SECRET "\"}", "malformed XML: expected the root element");
  /* A secret in a malformed document is never quoted. */
  refuses(sts_role,
          "<AssumeRoleResponse><AssumeRoleResult><Credentials><SecretAccessKey>" SECRET
          "</Secret></Credentials></AssumeRoleResult></AssumeRoleResponse>",
          "mismatched end tag");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc3339), cmocka_unit_test(test_imds), cmocka_unit_test(test_container),
      cmocka_unit_test(test_process), cmocka_unit_test(test_sts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
