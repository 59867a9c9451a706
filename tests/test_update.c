/* test_update.c: validation of updates against the service model, boundary by boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/update.h"
#include "dpstatus.h"

/* One character of each UTF-8 width, all allowed by the model's pattern. */
static const char *const widths[5] = {NULL, "a", "\xC3\xA9" /* é */, "\xE2\x82\xAC" /* € */,
                                      "\xF0\x9F\x98\x80" /* U+1F600 */};

/* A heap string of @p count copies of the @p w-byte character; caller frees. */
static char *repeat_char(int w, size_t count, size_t *len) {
  size_t n = strlen(widths[w]);
  char *s = malloc(n * count + 1);
  assert_non_null(s);
  for (size_t i = 0; i < count; i++) memcpy(s + i * n, widths[w], n);
  s[n * count] = '\0';
  *len = n * count;
  return s;
}

static dps_update base(void) {
  dps_update u = {0};
  u.task_id = "task-1";
  u.task_id_len = DPS_NTS;
  u.task_status = DPS_TASK_FINISHED;
  return u;
}

static int check(const dps_update *u, dps_error *err) {
  dps__update_view v;
  memset(err, 0, sizeof *err);
  return dps__update_check(u, 0, &v, err);
}

/* Length limits count characters: exactly the limit passes, one more fails with the count. */
static void test_length_boundaries(void **state) {
  (void)state;
  struct {
    const char *field;
    size_t limit;
  } fields[] = {{"taskId", 2048}, {"errorId", 1024}, {"errorStackTrace", 1024}};
  for (size_t f = 0; f < 3; f++) {
    for (int w = 1; w <= 4; w++) {
      for (size_t extra = 0; extra <= 1; extra++) {
        size_t len;
        char *s = repeat_char(w, fields[f].limit + extra, &len);
        dps_update u = base();
        if (f == 0) u.task_id = s, u.task_id_len = len;
        if (f == 1) u.error_id = s, u.error_id_len = len;
        if (f == 2) u.error_stack_trace = s, u.error_stack_trace_len = len;
        dps_error err;
        int rc = check(&u, &err);
        if (extra == 0) {
          assert_int_equal(rc, DPS_OK);
        } else {
          char want[128];
          snprintf(want, sizeof want, "%s: %zu characters, the limit is %zu", fields[f].field,
                   fields[f].limit + 1, fields[f].limit);
          assert_int_equal(rc, DPS_EINVAL);
          assert_string_equal(err.message, want);
          assert_string_equal(err.field, fields[f].field);
          assert_int_equal(err.code, DPS_EINVAL);
        }
        free(s);
      }
    }
  }
}

static void test_task_id_required_and_nonempty(void **state) {
  (void)state;
  dps_error err;
  dps_update u = base();
  u.task_id = NULL;
  assert_int_equal(check(&u, &err), DPS_EINVAL);
  assert_string_equal(err.field, "taskId");
  u.task_id = "";
  u.task_id_len = 0;
  assert_int_equal(check(&u, &err), DPS_EINVAL);
  assert_string_equal(err.message, "taskId: 0 characters, the minimum is 1");
  /* errorId and errorStackTrace may be present and empty. */
  u = base();
  u.error_id = "";
  u.error_id_len = 0;
  u.error_stack_trace = "";
  u.error_stack_trace_len = 0;
  assert_int_equal(check(&u, &err), DPS_OK);
}

static void test_status(void **state) {
  (void)state;
  dps_error err;
  dps_update u = base();
  for (int s = DPS_TASK_FINISHED; s <= DPS_TASK_FALSE; s++) {
    u.task_status = (dps_task_status)s;
    assert_int_equal(check(&u, &err), DPS_OK);
  }
  u.task_status = (dps_task_status)0;
  assert_int_equal(check(&u, &err), DPS_EINVAL);
  assert_string_equal(err.message, "taskStatus: 0 is not one of FINISHED, FAILED, FALSE");
  u.task_status = (dps_task_status)4;
  assert_int_equal(check(&u, &err), DPS_EINVAL);

  dps_task_status st;
  assert_int_equal(dps_task_status_parse("FAILED", DPS_NTS, &st), DPS_OK);
  assert_int_equal(st, DPS_TASK_FAILED);
  assert_int_equal(dps_task_status_parse("FALSE", 5, &st), DPS_OK);
  assert_int_equal(st, DPS_TASK_FALSE);
  assert_int_equal(dps_task_status_parse("finished", DPS_NTS, &st), DPS_EINVAL);
  assert_int_equal(dps_task_status_parse("FINISHEDX", DPS_NTS, &st), DPS_EINVAL);
  assert_int_equal(dps_task_status_parse("FINISHED", 7, &st), DPS_EINVAL);
  assert_string_equal(dps_task_status_name(DPS_TASK_FINISHED), "FINISHED");
  assert_null(dps_task_status_name((dps_task_status)9));
}

/* Byte sequences and what validation must say of them, in taskId (pattern) and errorMessage. */
static const struct {
  const char *bytes;
  size_t len;
  int ok_in_task_id, ok_in_message;
  const char *phrase; /* expected in the taskId message */
} utf8_cases[] = {
    {"ok\x7F", 3, 1, 1, NULL},           /* DEL is inside U+0020-U+D7FF */
    {"\xC2\x80", 2, 1, 1, NULL},         /* U+0080, a C1 control, allowed */
    {"\xED\x9F\xBF", 3, 1, 1, NULL},     /* U+D7FF, last before surrogates */
    {"\xEE\x80\x80", 3, 1, 1, NULL},     /* U+E000 */
    {"\xEF\xBF\xBD", 3, 1, 1, NULL},     /* U+FFFD */
    {"\xF0\x90\x80\x80", 4, 1, 1, NULL}, /* U+10000 */
    {"\xF4\x8F\xBF\xBF", 4, 1, 1, NULL}, /* U+10FFFF */
    {"a\tb\r\nc", 6, 1, 1, NULL},        /* tab, CR, LF */
    {"a\0b", 3, 0, 1, "character U+0000 at byte 1 is not allowed"},
    {"\x01", 1, 0, 1, "character U+0001 at byte 0 is not allowed"},
    {"ab\x1F", 3, 0, 1, "character U+001F at byte 2"},
    {"\x0B", 1, 0, 1, "U+000B"}, /* vertical tab */
    {"\xEF\xBF\xBE", 3, 0, 1, "character U+FFFE at byte 0 is not allowed"},
    {"\xEF\xBF\xBF", 3, 0, 1, "character U+FFFF"},
    {"\xED\xA0\x80", 3, 0, 0, "invalid UTF-8 at byte 0: an encoded UTF-16 surrogate (U+D800)"},
    {"x\xED\xBF\xBF", 4, 0, 0, "invalid UTF-8 at byte 1: an encoded UTF-16 surrogate (U+DFFF)"},
    {"\xC0\x80", 2, 0, 0, "invalid UTF-8 at byte 0: an overlong UTF-8 encoding"},
    {"\xC1\xBF", 2, 0, 0, "an overlong UTF-8 encoding"},
    {"\xE0\x80\x80", 3, 0, 0, "an overlong UTF-8 encoding"},
    {"\xE0\x9F\xBF", 3, 0, 0, "an overlong UTF-8 encoding"},
    {"\xF0\x80\x80\x80", 4, 0, 0, "an overlong UTF-8 encoding"},
    {"\xF0\x8F\xBF\xBF", 4, 0, 0, "an overlong UTF-8 encoding"},
    {"\xF4\x90\x80\x80", 4, 0, 0, "a code point beyond U+10FFFF"},
    {"\xF5\x80\x80\x80", 4, 0, 0, "a code point beyond U+10FFFF"},
    {"\xF8\x88\x80\x80\x80", 5, 0, 0, "a byte that cannot start a UTF-8 sequence"},
    {"\xFF", 1, 0, 0, "a byte that cannot start a UTF-8 sequence"},
    {"ab\x80", 3, 0, 0, "invalid UTF-8 at byte 2: a byte that cannot start"},
    {"\xC3", 1, 0, 0, "a truncated UTF-8 sequence"},
    {"ab\xE2\x82", 4, 0, 0, "invalid UTF-8 at byte 2: a truncated UTF-8 sequence"},
    {"\xE2\x28\xA1", 3, 0, 0, "a truncated UTF-8 sequence"},
    {"\xF0\x9F\x98", 3, 0, 0, "a truncated UTF-8 sequence"},
    {"\xF0\x9F\x98\x41", 4, 0, 0, "a truncated UTF-8 sequence"},
};

static void test_utf8_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
    dps_error err;
    dps_update u = base();
    u.task_id = utf8_cases[i].bytes;
    u.task_id_len = utf8_cases[i].len;
    int rc = check(&u, &err);
    if (utf8_cases[i].ok_in_task_id) {
      assert_int_equal(rc, DPS_OK);
    } else {
      assert_int_equal(rc, DPS_EINVAL);
      assert_string_equal(err.field, "taskId");
      assert_non_null(strstr(err.message, utf8_cases[i].phrase));
      assert_true(strncmp(err.message, "taskId: ", 8) == 0);
    }
    /* errorId and errorStackTrace follow the same pattern. */
    u = base();
    u.error_stack_trace = utf8_cases[i].bytes;
    u.error_stack_trace_len = utf8_cases[i].len;
    assert_int_equal(check(&u, &err), utf8_cases[i].ok_in_task_id ? DPS_OK : DPS_EINVAL);
    /* errorMessage has no pattern in the model: only well-formed UTF-8 is required. */
    u = base();
    u.error_message = utf8_cases[i].bytes;
    u.error_message_len = utf8_cases[i].len;
    rc = check(&u, &err);
    assert_int_equal(rc, utf8_cases[i].ok_in_message ? DPS_OK : DPS_EINVAL);
    if (rc) assert_string_equal(err.field, "errorMessage");
  }
}

/* The scanner moves 8 bytes at a time through plain ASCII: a bad byte at any offset of a long
 * string, inside or after a word, must still be found at its exact offset. */
static void test_fault_at_every_offset(void **state) {
  (void)state;
  const unsigned char bad[] = {0x00, 0x01, 0x08, 0x0B, 0x1F, 0x80, 0xC0, 0xFF};
  for (size_t b = 0; b < sizeof bad; b++) {
    for (size_t at = 0; at < 40; at++) {
      char s[41];
      memset(s, 'q', 40);
      s[40] = '\0';
      s[at] = (char)bad[b];
      dps_update u = base();
      u.task_id = s;
      u.task_id_len = 40;
      dps_error err;
      assert_int_equal(check(&u, &err), DPS_EINVAL);
      char want[32];
      snprintf(want, sizeof want, " at byte %zu", at);
      if (!strstr(err.message, want)) fail_msg("byte %#x at %zu: %s", bad[b], at, err.message);
    }
  }
}

static void test_reserved_error_id(void **state) {
  (void)state;
  dps_error err;
  dps_update u = base();
  const char *bad[] = {"Service_", "Service_Failure"};
  const char *good[] = {"Service", "service_x", "xService_", "Servic_", "TaskFailed"};
  for (size_t i = 0; i < 2; i++) {
    u.error_id = bad[i];
    u.error_id_len = DPS_NTS;
    assert_int_equal(check(&u, &err), DPS_EINVAL);
    assert_string_equal(err.message,
                        "errorId: must not start with \"Service_\" (reserved by the service)");
  }
  for (size_t i = 0; i < 5; i++) {
    u.error_id = good[i];
    u.error_id_len = DPS_NTS;
    assert_int_equal(check(&u, &err), DPS_OK);
  }
}

/* The body limit applies to the encoded size, escapes included, with the exact boundary. */
static void test_body_limit(void **state) {
  (void)state;
  dps_update u = base();
  u.error_message = "quote\" and NUL\0!";
  u.error_message_len = 16;
  dps__update_view v;
  dps_error err;
  assert_int_equal(dps__update_check(&u, 0, &v, &err), DPS_OK);
  size_t exact = v.body_len;
  /* {"taskId":"task-1","taskStatus":"FINISHED","errorMessage":"quote\" and NUL\u0000!"} */
  assert_int_equal(exact, strlen("{\"taskId\":\"task-1\",\"taskStatus\":\"FINISHED\","
                                 "\"errorMessage\":\"quote\\\" and NUL\\u0000!\"}"));
  assert_int_equal(dps__update_check(&u, exact, &v, &err), DPS_OK);
  assert_int_equal(dps__update_check(&u, exact - 1, &v, &err), DPS_ETOOBIG);
  assert_string_equal(err.field, "body");
  char want[96];
  snprintf(want, sizeof want, "body: %zu bytes once encoded, the limit is %zu", exact, exact - 1);
  assert_string_equal(err.message, want);

  /* The default limit is 1 MiB: a 1 MiB errorMessage goes over it. */
  size_t big = (size_t)1 << 20;
  char *m = malloc(big);
  assert_non_null(m);
  memset(m, 'x', big);
  u.error_message = m;
  u.error_message_len = big;
  assert_int_equal(dps_update_validate(&u, 0, &err), DPS_ETOOBIG);
  u.error_message_len = big - 200;
  assert_int_equal(dps_update_validate(&u, 0, &err), DPS_OK);
  free(m);
}

static void test_public_validate_and_nts(void **state) {
  (void)state;
  dps_update u = base();
  u.error_id = "E1";
  u.error_id_len = DPS_NTS;
  u.error_message = "boom";
  u.error_message_len = DPS_NTS;
  assert_int_equal(dps_update_validate(&u, 0, NULL), DPS_OK);
  assert_int_equal(dps_update_validate(NULL, 0, NULL), DPS_EINVAL);
  u.error_id = "Service_1";
  dps_error err = {0};
  assert_int_equal(dps_update_validate(&u, 0, &err), DPS_EINVAL);
  assert_int_equal(err.code, DPS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_length_boundaries),
      cmocka_unit_test(test_task_id_required_and_nonempty),
      cmocka_unit_test(test_status),
      cmocka_unit_test(test_utf8_table),
      cmocka_unit_test(test_reserved_error_id),
      cmocka_unit_test(test_fault_at_every_offset),
      cmocka_unit_test(test_body_limit),
      cmocka_unit_test(test_public_validate_and_nts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
