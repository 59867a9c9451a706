/*
 * test_aws_error.c: tests for core/aws_error.c: every response shape the reporter can meet (AWS
 * JSON errors, header-only codes, HTML from a load balancer, truncated and non-object JSON, huge
 * bodies), code sanitizing, message truncation at UTF-8 boundaries. Bodies are copied into
 * buffers of their exact length, without a NUL, so ASan catches any read past body_len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/aws_error.h"

/* Parses @p body through an exact-length heap copy (no NUL after it). */
static void parse_exact(int status, const char *body, size_t len, const char *type_hdr,
                        const char *rid_hdr, dps__aws_error *out) {
  char *copy = NULL;
  if (body != NULL) {
    copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
  }
  /* Poison first: the parser must fill every field, not rely on the caller zeroing. */
  memset(out, 0x5A, sizeof *out);
  dps__aws_error_parse(status, copy, len, type_hdr, rid_hdr, out);
  free(copy);
}

typedef struct parse_case {
  const char *name;
  int status;
  const char *body; /* NULL: no body at all */
  const char *type_hdr;
  const char *rid_hdr;
  const char *code;
  const char *message;
  bool json;
  const char *rid;
} parse_case;

static const parse_case cases[] = {
    {"modelled error, namespaced __type", 400,
     "{\"__type\":\"com.amazonaws.datapipeline#TaskNotFoundException\",\"message\":\"Task not "
     "found\"}",
     NULL, "rid-1", "TaskNotFoundException", "Task not found", true, "rid-1"},
    {"coral validate: hash then colon URL", 400,
     "{\"__type\":\"com.amazon.coral.validate#ValidationException:http://internal.amazon.com/"
     "coral/com.amazon.coral.validate/\",\"message\":\"1 validation error\"}",
     NULL, NULL, "ValidationException", "1 validation error", true, ""},
    {"plain __type", 400, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}",
     NULL, NULL, "ThrottlingException", "Rate exceeded", true, ""},
    {"Message capitalized", 400, "{\"__type\":\"InvalidRequestException\",\"Message\":\"bad\"}",
     NULL, NULL, "InvalidRequestException", "bad", true, ""},
    {"errorMessage", 400, "{\"__type\":\"InvalidRequestException\",\"errorMessage\":\"em\"}", NULL,
     NULL, "InvalidRequestException", "em", true, ""},
    {"message wins over Message and errorMessage", 400,
     "{\"errorMessage\":\"c\",\"Message\":\"b\",\"message\":\"a\",\"__type\":\"X\"}", NULL, NULL,
     "X", "a", true, ""},
    {"empty message falls to Message", 400, "{\"__type\":\"X\",\"message\":\"\",\"Message\":\"b\"}",
     NULL, NULL, "X", "b", true, ""},
    {"null message falls to Message", 400, "{\"__type\":\"X\",\"message\":null,\"Message\":\"b\"}",
     NULL, NULL, "X", "b", true, ""},
    {"non-string message falls to reason", 400, "{\"__type\":\"X\",\"message\":42}", NULL, NULL,
     "X", "Bad Request", true, ""},
    {"code member", 503, "{\"code\":\"SlowDown\",\"message\":\"m\"}", NULL, NULL, "SlowDown", "m",
     true, ""},
    {"Code member", 400, "{\"Code\":\"ns#Foo:bar\"}", NULL, NULL, "Foo", "Bad Request", true, ""},
    {"__type wins over code", 400, "{\"code\":\"B\",\"__type\":\"A\"}", NULL, NULL, "A",
     "Bad Request", true, ""},
    {"header only, colon suffix", 400, "{\"message\":\"Rate exceeded\"}",
     "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/", "r2",
     "ThrottlingException", "Rate exceeded", true, "r2"},
    {"header only, namespace and suffix", 400, "{}",
     "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon/", NULL,
     "FooError", "Bad Request", true, ""},
    {"header with blanks", 400, "", " ThrottlingException\t", NULL, "ThrottlingException",
     "Bad Request", false, ""},
    {"header repeated and joined by a comma", 400, "", "ThrottlingException, ThrottlingException",
     NULL, "ThrottlingException", "Bad Request", false, ""},
    {"body __type wins over header", 400, "{\"__type\":\"BodyCode\"}", "HeaderCode", NULL,
     "BodyCode", "Bad Request", true, ""},
    {"__type a number: header used", 400, "{\"__type\":42,\"message\":\"m\"}", "HeaderCode", NULL,
     "HeaderCode", "m", true, ""},
    {"__type an object: status used", 400, "{\"__type\":{\"a\":1}}", NULL, NULL, "400",
     "Bad Request", true, ""},
    {"__type null", 403, "{\"__type\":null}", NULL, NULL, "403", "Forbidden", true, ""},
    {"colon before hash: cut at colon first", 400, "{\"__type\":\"Abc:def#Ghi\"}", NULL, NULL,
     "Abc", "Bad Request", true, ""},
    {"several hashes: after the last", 400, "{\"__type\":\"a#b#LastOne\"}", NULL, NULL, "LastOne",
     "Bad Request", true, ""},
    {"trailing hash sanitizes to nothing: header", 400, "{\"__type\":\"com.example#\"}", "Hdr",
     NULL, "Hdr", "Bad Request", true, ""},
    {"only a URL suffix: status", 400, "{\"__type\":\":http://x\"}", NULL, NULL, "400",
     "Bad Request", true, ""},
    {"HTML 503 from a load balancer", 503,
     "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 "
     "Service Temporarily Unavailable</h1></center></body></html>\r\n",
     NULL, "lb-1", "503", "Service Unavailable", false, "lb-1"},
    {"HTML 502 with a header code", 502, "<html>bad gateway</html>", "InternalFailure", NULL,
     "InternalFailure", "Bad Gateway", false, ""},
    {"empty body 500", 500, "", NULL, NULL, "500", "Internal Server Error", false, ""},
    {"no body 504", 504, NULL, NULL, NULL, "504", "Gateway Timeout", false, ""},
    {"truncated JSON, header code", 400, "{\"__type\":\"Throttl", "ThrottlingException", NULL,
     "ThrottlingException", "Bad Request", false, ""},
    {"truncated JSON, nothing else", 500, "{\"__type\":\"InternalServiceError\",\"mess", NULL, NULL,
     "500", "Internal Server Error", false, ""},
    {"JSON array", 400, "[{\"__type\":\"X\"}]", NULL, NULL, "400", "Bad Request", false, ""},
    {"JSON string", 400, "\"oops\"", NULL, NULL, "400", "Bad Request", false, ""},
    {"JSON number", 429, "42", NULL, NULL, "429", "Too Many Requests", false, ""},
    {"JSON with trailing garbage", 400, "{\"__type\":\"X\"} trailing", NULL, NULL, "400",
     "Bad Request", false, ""},
    {"JSON with trailing newline", 400, "{\"__type\":\"X\",\"message\":\"m\"}\n", NULL, NULL, "X",
     "m", true, ""},
    {"escaped NUL in a string: document refused", 400,
     "{\"__type\":\"X\",\"message\":\"a\\u0000b\"}", NULL, NULL, "400", "Bad Request", false, ""},
    {"unicode escapes in message", 400,
     "{\"__type\":\"X\",\"message\":\"caf\\u00e9 \\ud83d\\ude00\"}", NULL, NULL, "X",
     "caf\xc3\xa9 \xf0\x9f\x98\x80", true, ""},
    {"unknown status: HTTP n", 599, "<html/>", NULL, NULL, "599", "HTTP 599", false, ""},
    {"3xx is an error too", 301, "", NULL, NULL, "301", "Moved Permanently", false, ""},
    {"success 200 {}", 200, "{}", NULL, "ok-1", "", "", true, "ok-1"},
    {"success 200 empty", 200, "", NULL, NULL, "", "", false, ""},
    {"transport failure", 0, NULL, NULL, NULL, "", "", false, ""},
    {"transport failure with garbage", 0, "xx", NULL, NULL, "", "", false, ""},
};

static void test_parse_table(void **state) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const parse_case *c = &cases[i];
    dps__aws_error e;
    size_t len = c->body != NULL ? strlen(c->body) : 0;
    parse_exact(c->status, c->body, len, c->type_hdr, c->rid_hdr, &e);
    if (e.http_status != c->status || strcmp(e.code, c->code) != 0 ||
        strcmp(e.message, c->message) != 0 || e.body_was_json != c->json ||
        strcmp(e.request_id, c->rid) != 0)
      fail_msg("case \"%s\": got status %d code \"%s\" message \"%s\" json %d rid \"%s\"", c->name,
               e.http_status, e.code, e.message, (int)e.body_was_json, e.request_id);
  }
}

/* The index after the longest prefix of @p s no longer than @p max that ends at a UTF-8
 * character boundary, computed by decoding forward (the parser backs up: two ways). */
static size_t boundary_at_most(const char *s, size_t max) {
  size_t i = 0, best = 0;
  size_t n = strlen(s);
  while (i < n) {
    unsigned char b = (unsigned char)s[i];
    size_t w = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    if (i + w > max) break;
    i += w;
    best = i;
  }
  return best;
}

static void test_message_truncated_at_utf8_boundary(void **state) {
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  char msg[1100], body[1200];
  for (size_t k = 0; k < 3; k++) {
    size_t w = strlen(chars[k]);
    for (size_t prefix = 1010; prefix <= 1030; prefix++) {
      memset(msg, 'a', prefix);
      size_t n = prefix;
      while (n + w < sizeof msg - 1) { /* fill the rest with the multi-byte character */
        memcpy(msg + n, chars[k], w);
        n += w;
      }
      msg[n] = '\0';
      int blen = snprintf(body, sizeof body, "{\"__type\":\"X\",\"message\":\"%s\"}", msg);
      assert_true(blen > 0 && (size_t)blen < sizeof body);
      dps__aws_error e;
      parse_exact(400, body, (size_t)blen, NULL, NULL, &e);
      size_t want = boundary_at_most(msg, sizeof e.message - 1);
      assert_int_equal(strlen(e.message), want);
      assert_memory_equal(e.message, msg, want);
    }
  }
}

static void test_message_exactly_fits(void **state) {
  char msg[1024], body[1100];
  memset(msg, 'm', 1023);
  msg[1023] = '\0';
  int blen = snprintf(body, sizeof body, "{\"message\":\"%s\"}", msg);
  dps__aws_error e;
  parse_exact(400, body, (size_t)blen, NULL, NULL, &e);
  assert_string_equal(e.message, msg);
}

static void test_long_code_and_request_id_truncated(void **state) {
  char code[300], body[400], rid[300];
  memset(code, 'C', 299);
  code[299] = '\0';
  snprintf(body, sizeof body, "{\"__type\":\"ns#%s\"}", code);
  memset(rid, 'r', 299);
  rid[299] = '\0';
  dps__aws_error e;
  parse_exact(400, body, strlen(body), NULL, rid, &e);
  assert_int_equal(strlen(e.code), sizeof e.code - 1);
  assert_memory_equal(e.code, code, sizeof e.code - 1);
  assert_int_equal(strlen(e.request_id), sizeof e.request_id - 1);

  /* A header code of multi-byte characters is cut at a boundary too. */
  char hdr[400] = "";
  for (int i = 0; i < 100; i++) strcat(hdr, "\xe2\x82\xac");
  parse_exact(400, "", 0, hdr, NULL, &e);
  assert_int_equal(strlen(e.code), 126); /* 42 three-byte characters; 127 would split one */
}

static void test_large_message_parsed_and_truncated(void **state) {
  size_t mlen = 100 * 1024;
  size_t cap = mlen + 64;
  char *body = malloc(cap);
  assert_non_null(body);
  int head = snprintf(body, cap, "{\"__type\":\"X\",\"message\":\"");
  memset(body + head, 'z', mlen);
  memcpy(body + head + mlen, "\"}", 2);
  dps__aws_error e;
  parse_exact(400, body, (size_t)head + mlen + 2, NULL, NULL, &e);
  assert_string_equal(e.code, "X");
  assert_int_equal(strlen(e.message), sizeof e.message - 1);
  assert_true(e.body_was_json);
  free(body);
}

static void test_huge_body_not_parsed(void **state) {
  /* A valid JSON error past the cap is not parsed: the header and the status decide. */
  size_t pad = DPS__AWS_ERROR_MAX_JSON;
  size_t cap = pad + 64;
  char *body = malloc(cap);
  assert_non_null(body);
  int head = snprintf(body, cap, "{\"__type\":\"BodyCode\",\"message\":\"");
  memset(body + head, 'z', pad);
  memcpy(body + head + pad, "\"}", 2);
  dps__aws_error e;
  parse_exact(503, body, (size_t)head + pad + 2, "HeaderCode", NULL, &e);
  assert_string_equal(e.code, "HeaderCode");
  assert_string_equal(e.message, "Service Unavailable");
  assert_false(e.body_was_json);
  parse_exact(503, body, (size_t)head + pad + 2, NULL, NULL, &e);
  assert_string_equal(e.code, "503");
  free(body);
}

static void test_deeply_nested_json(void **state) {
  /* Jansson bounds its recursion; a hostile nesting depth must not take the stack. */
  size_t depth = 100000;
  char *body = malloc(2 * depth);
  assert_non_null(body);
  memset(body, '[', depth);
  memset(body + depth, ']', depth);
  dps__aws_error e;
  parse_exact(400, body, 2 * depth, NULL, NULL, &e);
  assert_string_equal(e.code, "400");
  assert_false(e.body_was_json);
  free(body);
}

static void test_every_prefix_of_a_body(void **state) {
  /* Every cut of a real error body: never a crash, never a read past the cut, and only the whole
   * document (or its whitespace-trimmed form) counts as JSON. */
  const char *full =
      "{\"__type\":\"com.amazonaws.datapipeline#InternalServiceError\","
      "\"message\":\"An internal error occurred \\u00e9\"}";
  size_t n = strlen(full);
  for (size_t len = 0; len <= n; len++) {
    dps__aws_error e;
    parse_exact(500, full, len, NULL, "rid", &e);
    assert_int_equal(e.body_was_json, len == n);
    assert_string_equal(e.code, len == n ? "InternalServiceError" : "500");
    assert_string_equal(e.request_id, "rid");
    assert_true(memchr(e.message, '\0', sizeof e.message) != NULL);
  }
}

static void test_random_bytes(void **state) {
  /* Garbage of every kind, including JSON-ish bytes: fields always terminated, code always set
   * for an error status. */
  static const char alphabet[] = "{}[]\":,#\\u0aZ \x80\xc3\xff";
  unsigned seed = 12345;
  char buf[256];
  for (int iter = 0; iter < 20000; iter++) {
    seed = seed * 1103515245u + 12345u;
    size_t len = (seed >> 16) % sizeof buf;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      buf[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
    }
    dps__aws_error e;
    parse_exact(400 + iter % 200, buf, len, iter % 3 == 0 ? "a#b:c" : NULL, NULL, &e);
    assert_true(memchr(e.code, '\0', sizeof e.code) != NULL);
    assert_true(memchr(e.message, '\0', sizeof e.message) != NULL);
    assert_true(e.code[0] != '\0');
    assert_true(e.message[0] != '\0');
  }
}

static void test_http_reason(void **state) {
  assert_string_equal(dps__http_reason(200), "OK");
  assert_string_equal(dps__http_reason(100), "Continue");
  assert_string_equal(dps__http_reason(429), "Too Many Requests");
  assert_string_equal(dps__http_reason(503), "Service Unavailable");
  assert_string_equal(dps__http_reason(505), "HTTP Version Not Supported");
  assert_null(dps__http_reason(0));
  assert_null(dps__http_reason(-1));
  assert_null(dps__http_reason(418));
  assert_null(dps__http_reason(599));
  /* Every status from 100 to 599 either has no phrase or finds its own (the table is sorted). */
  int found = 0;
  for (int s = 100; s < 600; s++)
    if (dps__http_reason(s) != NULL) found++;
  assert_int_equal(found, 47);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_message_truncated_at_utf8_boundary),
      cmocka_unit_test(test_message_exactly_fits),
      cmocka_unit_test(test_long_code_and_request_id_truncated),
      cmocka_unit_test(test_large_message_parsed_and_truncated),
      cmocka_unit_test(test_huge_body_not_parsed),
      cmocka_unit_test(test_deeply_nested_json),
      cmocka_unit_test(test_every_prefix_of_a_body),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_http_reason),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
