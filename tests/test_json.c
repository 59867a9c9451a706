/* test_json.c: the hand-written SetTaskStatus body encoder, checked against jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/json.h"
#include "core/update.h"

static char *encode(const dps_update *u, size_t *len) {
  dps__update_view v;
  dps_error err;
  int rc = dps__update_check(u, 0, &v, &err);
  if (rc) fail_msg("unexpected refusal: %s", err.message);
  /* One byte of slack, poisoned, to catch a write past body_len. */
  char *out = malloc(v.body_len + 1);
  assert_non_null(out);
  out[v.body_len] = (char)0xA5;
  *len = dps__json_encode_update(&v, out);
  assert_int_equal(*len, v.body_len);
  assert_int_equal((unsigned char)out[v.body_len], 0xA5);
  return out;
}

static void test_golden_bodies(void **state) {
  (void)state;
  size_t len;
  dps_update u = {.task_id = "t1", .task_id_len = DPS_NTS, .task_status = DPS_TASK_FINISHED};
  char *b = encode(&u, &len);
  assert_memory_equal(b, "{\"taskId\":\"t1\",\"taskStatus\":\"FINISHED\"}", len);
  free(b);

  u.task_status = DPS_TASK_FAILED;
  u.error_id = "E\"1";
  u.error_id_len = DPS_NTS;
  u.error_message = "line1\nline2\ttab\\ \x01\x1f\b\f\r \xE2\x82\xAC";
  u.error_message_len = DPS_NTS;
  u.error_stack_trace = "";
  u.error_stack_trace_len = 0;
  b = encode(&u, &len);
  const char *want =
      "{\"taskId\":\"t1\",\"taskStatus\":\"FAILED\",\"errorId\":\"E\\\"1\","
      "\"errorMessage\":\"line1\\nline2\\ttab\\\\ \\u0001\\u001f\\b\\f\\r \xE2\x82\xAC\","
      "\"errorStackTrace\":\"\"}";
  assert_int_equal(len, strlen(want));
  assert_memory_equal(b, want, len);
  free(b);

  /* Absent members are omitted; the order holds whichever are present. */
  u = (dps_update){.task_id = "t",
                   .task_id_len = 1,
                   .task_status = DPS_TASK_FALSE,
                   .error_stack_trace = "st",
                   .error_stack_trace_len = 2};
  b = encode(&u, &len);
  assert_memory_equal(b, "{\"taskId\":\"t\",\"taskStatus\":\"FALSE\",\"errorStackTrace\":\"st\"}",
                      len);
  free(b);
}

/* xorshift64*: deterministic, so a failure can be replayed from the printed seed. */
static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

/* A random code point the field accepts, biased toward the characters that need escaping. */
static uint32_t random_cp(int model_pattern) {
  for (;;) {
    uint32_t cp;
    switch (rnd() % 6) {
      case 0: cp = (uint32_t)(rnd() % 0x20); break;                /* controls */
      case 1: cp = "\"\\/'"[rnd() % 4]; break;                     /* specials */
      case 2: cp = 0x20 + (uint32_t)(rnd() % 0x60); break;         /* ASCII */
      case 3: cp = 0x80 + (uint32_t)(rnd() % 0x780); break;        /* 2-byte */
      case 4: cp = 0x800 + (uint32_t)(rnd() % 0xF800); break;      /* 3-byte */
      default: cp = 0x10000 + (uint32_t)(rnd() % 0x100000); break; /* 4-byte */
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    if (model_pattern &&
        ((cp < 0x20 && cp != 9 && cp != 10 && cp != 13) || cp == 0xFFFE || cp == 0xFFFF))
      continue;
    return cp;
  }
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
  if (cp < 0x10000)
    return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)),
           o[2] = (char)(0x80 | (cp & 63)), 3;
  return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 63)),
         o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63)), 4;
}

static char *random_string(size_t max_chars, size_t min_chars, int pattern, size_t *len) {
  size_t chars = min_chars + (size_t)(rnd() % (max_chars - min_chars + 1));
  char *s = malloc(chars * 4 + 1);
  assert_non_null(s);
  size_t n = 0;
  for (size_t i = 0; i < chars; i++) n += put_utf8(s + n, random_cp(pattern));
  s[n] = '\0';
  *len = n;
  return s;
}

static void expect_member(json_t *obj, const char *key, const char *want, size_t want_len) {
  json_t *m = json_object_get(obj, key);
  if (!want) {
    assert_null(m);
    return;
  }
  assert_non_null(m);
  assert_true(json_is_string(m));
  assert_int_equal(json_string_length(m), want_len);
  assert_memory_equal(json_string_value(m), want, want_len);
}

/* strstr for a body that is not NUL-terminated. */
static const char *find(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(hay + i, needle, n) == 0) return hay + i;
  return NULL;
}

/* Random strings full of escapes survive encode -> jansson parse unchanged, in the fixed order. */
static void test_round_trip_random(void **state) {
  (void)state;
  const char *seed_env = getenv("DPS_TEST_SEED");
  uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x9E3779B97F4A7C15ULL;
  rng_state = seed;
  printf("seed %#llx (set DPS_TEST_SEED to replay)\n", (unsigned long long)seed);
  for (int iter = 0; iter < 3000; iter++) {
    size_t tl, il = 0, ml = 0, sl = 0;
    char *tid = random_string(60, 1, 1, &tl);
    char *eid = rnd() % 2 ? random_string(40, 0, 1, &il) : NULL;
    char *msg = rnd() % 2 ? random_string(200, 0, 0, &ml) : NULL;
    char *st = rnd() % 2 ? random_string(80, 0, 1, &sl) : NULL;
    if (eid && strncmp(eid, "Service_", 8) == 0) eid[0] = 'X';
    dps_update u = {.task_id = tid,
                    .task_id_len = tl,
                    .task_status = (dps_task_status)(1 + rnd() % 3),
                    .error_id = eid,
                    .error_id_len = il,
                    .error_message = msg,
                    .error_message_len = ml,
                    .error_stack_trace = st,
                    .error_stack_trace_len = sl};
    size_t len;
    char *body = encode(&u, &len);
    json_error_t jerr;
    json_t *obj = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (!obj) fail_msg("iteration %d: jansson rejects our body: %s", iter, jerr.text);
    expect_member(obj, "taskId", tid, tl);
    char *back = malloc(len);
    assert_non_null(back);
    size_t bl = dps__json_body_task_id(body, len, back);
    assert_int_equal(bl, tl);
    assert_memory_equal(back, tid, tl);
    free(back);
    expect_member(obj, "taskStatus", dps_task_status_name(u.task_status),
                  strlen(dps_task_status_name(u.task_status)));
    expect_member(obj, "errorId", eid, il);
    expect_member(obj, "errorMessage", msg, ml);
    expect_member(obj, "errorStackTrace", st, sl);
    assert_int_equal(json_object_size(obj), 2 + !!eid + !!msg + !!st);
    /* Member order: each key's first appearance in the text comes after the previous one's
     * (keys cannot appear earlier inside values: quotes in values are escaped). */
    const char *keys[] = {"\"taskId\":", "\"taskStatus\":", "\"errorId\":", "\"errorMessage\":",
                          "\"errorStackTrace\":"};
    const char *prev = body;
    for (size_t k = 0; k < 5; k++) {
      const char *at = find(body, len, keys[k]);
      if (!at) continue;
      assert_true(at >= prev);
      prev = at;
    }
    json_decref(obj);
    free(body);
    free(tid), free(eid), free(msg), free(st);
  }
}

/* dps__json_escape alone: every single byte below 0x80 round-trips. */
static void test_escape_every_ascii(void **state) {
  (void)state;
  for (unsigned c = 0; c < 0x80; c++) {
    char in = (char)c, out[16] = "\"";
    char *end = dps__json_escape(out + 1, &in, 1);
    *end++ = '"';
    json_t *j = json_loadb(out, (size_t)(end - out), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), 1);
    assert_int_equal((unsigned char)json_string_value(j)[0], c);
    json_decref(j);
  }
}

/* Every byte that needs an escape, at every offset of a long ASCII string (the encoder skips plain
 * text 8 bytes at a time), is escaped and measured exactly. */
static void test_escape_at_every_offset(void **state) {
  (void)state;
  for (unsigned c = 0; c < 0x80; c++) {
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    for (size_t at = 0; at < 40; at++) {
      char msg[40];
      memset(msg, 'm', sizeof msg);
      msg[at] = (char)c;
      dps_update u = {.task_id = "t",
                      .task_id_len = 1,
                      .task_status = DPS_TASK_FAILED,
                      .error_message = msg,
                      .error_message_len = sizeof msg};
      size_t len;
      char *body = encode(&u, &len); /* asserts len == the size validation measured */
      json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
      assert_non_null(j);
      json_t *m = json_object_get(j, "errorMessage");
      assert_int_equal(json_string_length(m), sizeof msg);
      assert_memory_equal(json_string_value(m), msg, sizeof msg);
      json_decref(j);
      free(body);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_bodies),
      cmocka_unit_test(test_round_trip_random),
      cmocka_unit_test(test_escape_every_ascii),
      cmocka_unit_test(test_escape_at_every_offset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
