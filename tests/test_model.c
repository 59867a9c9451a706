/*
 * test_model.c: the limits the core enforces are the service model's. Reads the vendored model
 * (tests/data/model/datapipeline-2012-10-29.service-2.json, from the AWS SDKs) with jansson and
 * checks, member by member of SetTaskStatusInput, that dps__update_check and the encoder agree
 * with it: the members and which are required, each string's min and max, the enum's values,
 * and the pattern's code point ranges (every code point, not a sample). The day a limit in core/
 * or the model changes, the failure names the member and the rule that no longer match.
 */
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
#include "core/request.h"
#include "core/update.h"
#include "core/utf8.h"
#include "dpstatus.h"

static json_t *model;

static int load_model(void **state) {
  (void)state;
  const char *data = getenv("DPS_TEST_DATA");
  if (!data) {
    fprintf(stderr, "DPS_TEST_DATA is not set (ctest sets it to tests/data)\n");
    return -1;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/model/datapipeline-2012-10-29.service-2.json", data);
  json_error_t e;
  model = json_load_file(path, 0, &e);
  if (!model) {
    fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
    return -1;
  }
  return 0;
}

static int free_model(void **state) {
  (void)state;
  json_decref(model);
  return 0;
}

static json_t *shape(const char *name) {
  json_t *s = json_object_get(json_object_get(model, "shapes"), name);
  if (!json_is_object(s)) fail_msg("the model has no shape %s", name);
  return s;
}

static json_t *input_shape(void) {
  json_t *op = json_object_get(json_object_get(model, "operations"), "SetTaskStatus");
  const char *in = json_string_value(json_object_get(json_object_get(op, "input"), "shape"));
  if (!in) fail_msg("the model has no SetTaskStatus input");
  json_t *s = shape(in);
  assert_string_equal(json_string_value(json_object_get(s, "type")), "structure");
  return s;
}

/* The member's shape, as the model names it. */
static json_t *member_shape(const char *member) {
  json_t *m = json_object_get(json_object_get(input_shape(), "members"), member);
  const char *name = json_string_value(json_object_get(m, "shape"));
  if (!name) fail_msg("SetTaskStatusInput has no member %s", member);
  return shape(name);
}

/* ---- the core's side: how each member is set in a dps_update --------------------------------- */

/* The members the core knows, in the order the encoder writes them. */
static const char *const core_members[] = {"taskId", "taskStatus", "errorId", "errorMessage",
                                           "errorStackTrace"};
#define N_MEMBERS (sizeof core_members / sizeof core_members[0])

static dps_update minimal(void) {
  return (dps_update){.task_id = "t", .task_id_len = DPS_NTS, .task_status = DPS_TASK_FINISHED};
}

/* Sets string member @p member of @p u to @p s (@p n bytes); NULL leaves it absent. */
static void set_string(dps_update *u, const char *member, const char *s, size_t n) {
  if (strcmp(member, "taskId") == 0) {
    u->task_id = s, u->task_id_len = n;
  } else if (strcmp(member, "errorId") == 0) {
    u->error_id = s, u->error_id_len = n;
  } else if (strcmp(member, "errorMessage") == 0) {
    u->error_message = s, u->error_message_len = n;
  } else if (strcmp(member, "errorStackTrace") == 0) {
    u->error_stack_trace = s, u->error_stack_trace_len = n;
  } else {
    fail_msg("the model's string member %s is one the core does not know", member);
  }
}

static int check(const dps_update *u, dps_error *err) {
  dps__update_view v;
  memset(err, 0, sizeof *err);
  return dps__update_check(u, SIZE_MAX, &v, err);
}

/* ---- members, required, metadata --------------------------------------------------------------
 */

/* The model's members are exactly the core's, and the encoder writes the model's names. */
static void test_members(void **state) {
  (void)state;
  json_t *members = json_object_get(input_shape(), "members");
  assert_int_equal(json_object_size(members), N_MEMBERS);
  for (size_t i = 0; i < N_MEMBERS; i++)
    if (!json_object_get(members, core_members[i]))
      fail_msg("the core writes %s, which the model's SetTaskStatusInput does not have",
               core_members[i]);

  /* Every member set: the body the encoder writes has each of the model's members, once. */
  dps_update u = minimal();
  u.task_status = DPS_TASK_FAILED;
  set_string(&u, "errorId", "E1", DPS_NTS);
  set_string(&u, "errorMessage", "boom", DPS_NTS);
  set_string(&u, "errorStackTrace", "at x", DPS_NTS);
  dps__update_view v;
  dps_error err;
  assert_int_equal(dps__update_check(&u, 0, &v, &err), DPS_OK);
  char *body = malloc(v.body_len);
  assert_non_null(body);
  assert_int_equal(dps__json_encode_update(&v, body), v.body_len);
  json_error_t je;
  json_t *j = json_loadb(body, v.body_len, JSON_REJECT_DUPLICATES, &je);
  if (!j) fail_msg("the encoder's body is not JSON: %s", je.text);
  assert_int_equal(json_object_size(j), json_object_size(members));
  const char *key;
  json_t *val;
  json_object_foreach(members, key, val) {
    if (!json_is_string(json_object_get(j, key)))
      fail_msg("the encoded body has no string member %s", key);
  }
  json_decref(j);
  free(body);
}

/* A required member absent is refused, naming it; an optional one absent is accepted. */
static void test_required(void **state) {
  (void)state;
  json_t *in = input_shape();
  json_t *required = json_object_get(in, "required");
  assert_true(json_is_array(required));
  for (size_t i = 0; i < N_MEMBERS; i++) {
    const char *m = core_members[i];
    bool req = false;
    size_t k;
    json_t *r;
    json_array_foreach(required, k, r) req = req || strcmp(json_string_value(r), m) == 0;

    dps_update u = minimal();
    if (strcmp(m, "taskStatus") == 0)
      u.task_status = 0; /* the zero value: no status set */
    else
      set_string(&u, m, NULL, 0);
    dps_error err;
    int rc = check(&u, &err);
    if (req) {
      if (rc != DPS_EINVAL) fail_msg("%s is required by the model; the core accepts it absent", m);
      assert_string_equal(err.field, m);
    } else if (rc != DPS_OK) {
      fail_msg("%s is optional in the model; the core refuses it absent: %s", m, err.message);
    }
  }
  /* Every name in the model's list is one of the members. */
  size_t k;
  json_t *r;
  json_array_foreach(required, k, r) {
    bool known = false;
    for (size_t i = 0; i < N_MEMBERS; i++)
      known = known || strcmp(json_string_value(r), core_members[i]) == 0;
    if (!known)
      fail_msg("the model requires %s, which the core does not know", json_string_value(r));
  }
}

/* What the request is addressed with: the model's metadata and the operation's name. */
static void test_metadata(void **state) {
  (void)state;
  json_t *md = json_object_get(model, "metadata");
  char target[128], ctype[64];
  snprintf(target, sizeof target, "%s.SetTaskStatus",
           json_string_value(json_object_get(md, "targetPrefix")));
  snprintf(ctype, sizeof ctype, "application/x-amz-json-%s",
           json_string_value(json_object_get(md, "jsonVersion")));
  assert_string_equal(DPS__TARGET_SET_TASK_STATUS, target);
  assert_string_equal(DPS__JSON_CONTENT_TYPE, ctype);
  assert_string_equal(DPS__SERVICE_NAME, json_string_value(json_object_get(md, "endpointPrefix")));
  assert_string_equal(json_string_value(json_object_get(md, "protocol")), "json");
  assert_string_equal(json_string_value(json_object_get(md, "signatureVersion")), "v4");
  json_t *http = json_object_get(
      json_object_get(json_object_get(model, "operations"), "SetTaskStatus"), "http");
  assert_string_equal(json_string_value(json_object_get(http, "method")), "POST");
  assert_string_equal(json_string_value(json_object_get(http, "requestUri")), "/");
}

/* ---- the enum ------------------------------------------------------------------------------- */

static void test_status_enum(void **state) {
  (void)state;
  json_t *e = json_object_get(member_shape("taskStatus"), "enum");
  assert_true(json_is_array(e));
  /* Each of the model's values parses, and names back to itself. */
  size_t i;
  json_t *v;
  json_array_foreach(e, i, v) {
    const char *name = json_string_value(v);
    dps_task_status s;
    if (dps_task_status_parse(name, DPS_NTS, &s) != DPS_OK)
      fail_msg("the model's taskStatus %s is not one the core parses", name);
    assert_string_equal(dps_task_status_name(s), name);
    dps_update u = minimal();
    u.task_status = s;
    dps_error err;
    assert_int_equal(check(&u, &err), DPS_OK);
  }
  /* The core has no value the model lacks: its names run out with the model's count. */
  size_t names = 0;
  for (int s = 0; s < 64; s++)
    if (dps_task_status_name((dps_task_status)s)) names++;
  assert_int_equal(names, json_array_size(e));
  dps_update u = minimal();
  u.task_status = (dps_task_status)(json_array_size(e) + 1);
  dps_error err;
  assert_int_equal(check(&u, &err), DPS_EINVAL);
  assert_string_equal(err.field, "taskStatus");
  dps_task_status s;
  assert_int_equal(dps_task_status_parse("finished", DPS_NTS, &s), DPS_EINVAL); /* case counts */
}

/* ---- lengths -------------------------------------------------------------------------------- */

/* A heap string of @p count 'x'; lengths in the model count characters, so ASCII is enough here
 * (test_update checks that every UTF-8 width counts as one). */
static char *xs(size_t count) {
  char *s = malloc(count + 1);
  assert_non_null(s);
  memset(s, 'x', count);
  s[count] = '\0';
  return s;
}

/* The length a string member accepts: its min passes and min-1 fails; its max passes and max+1
 * fails; a shape with no max takes a long string. */
static void check_lengths(const char *member, size_t core_min, size_t core_max) {
  json_t *sh = member_shape(member);
  assert_string_equal(json_string_value(json_object_get(sh, "type")), "string");
  json_t *jmin = json_object_get(sh, "min"), *jmax = json_object_get(sh, "max");
  size_t min = jmin ? (size_t)json_integer_value(jmin) : 0;
  if (core_min != min)
    fail_msg("%s: the model's min is %zu, the core's %zu", member, min, core_min);
  if (jmax) {
    size_t max = (size_t)json_integer_value(jmax);
    if (core_max != max)
      fail_msg("%s: the model's max is %zu, the core's %zu", member, max, core_max);
  } else if (core_max != SIZE_MAX) {
    fail_msg("%s: the model gives no max, the core has %zu", member, core_max);
  }

  size_t top = jmax ? (size_t)json_integer_value(jmax) : 100000; /* no max: a long one passes */
  char *s = xs(top + 1);
  dps_error err;
  struct {
    size_t len;
    bool ok;
  } probes[] = {{min, true}, {top, true}, {min ? min - 1 : 0, min == 0}, {top + 1, !jmax}};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    dps_update u = minimal();
    set_string(&u, member, s, probes[i].len);
    int rc = check(&u, &err);
    if ((rc == DPS_OK) != probes[i].ok)
      fail_msg("%s of %zu characters: the model %s it, the core %s it (%s)", member, probes[i].len,
               probes[i].ok ? "allows" : "refuses", rc ? "refuses" : "accepts",
               rc ? err.message : "");
    if (rc) assert_string_equal(err.field, member);
  }
  free(s);
}

static void test_lengths(void **state) {
  (void)state;
  check_lengths("taskId", DPS__TASK_ID_MIN, DPS__TASK_ID_MAX);
  check_lengths("errorId", 0, DPS__STRING_MAX);
  check_lengths("errorStackTrace", 0, DPS__STRING_MAX);
  check_lengths("errorMessage", 0, SIZE_MAX);
}

/* The errorId rule the model states in prose: the reserved prefix is the core's. */
static void test_reserved_prefix(void **state) {
  (void)state;
  json_t *m = json_object_get(json_object_get(input_shape(), "members"), "errorId");
  const char *doc = json_string_value(json_object_get(m, "documentation"));
  assert_non_null(doc);
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", DPS__RESERVED_ERROR_ID_PREFIX);
  if (!strstr(doc, quoted))
    fail_msg("errorId's documentation no longer reserves %s: %s", quoted, doc);
  dps_update u = minimal();
  set_string(&u, "errorId", DPS__RESERVED_ERROR_ID_PREFIX "x", DPS_NTS);
  dps_error err;
  assert_int_equal(check(&u, &err), DPS_EINVAL);
  assert_string_equal(err.field, "errorId");
}

/* ---- the pattern ---------------------------------------------------------------------------- */

typedef struct range {
  uint32_t lo, hi;
} range;

/* One character of a Java regex character class as the models write them: \uXXXX (a surrogate
 * pair is one supplementary code point), \r \n \t, or a literal ASCII character. */
static uint32_t class_char(const char **pp) {
  const char *p = *pp;
  uint32_t cp;
  if (p[0] != '\\') {
    *pp = p + 1;
    return (unsigned char)p[0];
  }
  switch (p[1]) {
    case 'r': *pp = p + 2; return '\r';
    case 'n': *pp = p + 2; return '\n';
    case 't': *pp = p + 2; return '\t';
    case 'u': break;
    default: fail_msg("pattern: escape \\%c is not one this test reads", p[1]);
  }
  char hex[5] = {0};
  memcpy(hex, p + 2, 4);
  char *end;
  cp = (uint32_t)strtoul(hex, &end, 16);
  if (end != hex + 4) fail_msg("pattern: bad \\u escape at \"%.6s\"", p);
  p += 6;
  if (cp >= 0xD800 && cp <= 0xDBFF && p[0] == '\\' && p[1] == 'u') {
    memcpy(hex, p + 2, 4);
    uint32_t lo = (uint32_t)strtoul(hex, &end, 16);
    if (end == hex + 4 && lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
  }
  *pp = p;
  return cp;
}

/* Parses "[...]*" into ranges; returns their count. */
static size_t parse_pattern(const char *pat, range *out, size_t cap) {
  size_t n = strlen(pat);
  if (n < 3 || pat[0] != '[' || pat[n - 2] != ']' || pat[n - 1] != '*')
    fail_msg("pattern %s is not one character class, repeated", pat);
  const char *p = pat + 1, *end = pat + n - 2;
  size_t count = 0;
  while (p < end) {
    uint32_t lo = class_char(&p), hi = lo;
    if (p < end && *p == '-') {
      p++;
      hi = class_char(&p);
    }
    if (hi < lo || count == cap) fail_msg("pattern %s: bad range or too many", pat);
    out[count++] = (range){lo, hi};
  }
  return count;
}

static bool in_ranges(const range *r, size_t n, uint32_t cp) {
  for (size_t i = 0; i < n; i++)
    if (cp >= r[i].lo && cp <= r[i].hi) return true;
  return false;
}

static size_t utf8_put(uint32_t cp, char *o) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Every code point, through the scanner the core validates with: allowed exactly when the
 * model's pattern allows it. At each range's edges, also through dps__update_check for each
 * member, so a member that forgot its pattern (or has one the model lacks) is caught too. */
static void test_pattern(void **state) {
  (void)state;
  const char *members[] = {"taskId", "errorId", "errorStackTrace", "errorMessage"};
  range r[32];
  size_t nr = 0;
  const char *pattern = NULL;
  for (size_t m = 0; m < sizeof members / sizeof members[0]; m++) {
    const char *pat = json_string_value(json_object_get(member_shape(members[m]), "pattern"));
    if (!pat) continue;
    if (pattern && strcmp(pattern, pat) != 0)
      fail_msg("%s has a pattern of its own (%s); the core has one for all", members[m], pat);
    pattern = pat;
  }
  assert_non_null(pattern);
  nr = parse_pattern(pattern, r, 32);

  size_t allowed = 0;
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    bool model_ok = in_ranges(r, nr, cp);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      /* UTF-8 cannot carry a surrogate: a model that allowed one alone could not be matched. */
      if (model_ok) fail_msg("the model allows the lone surrogate U+%04X", (unsigned)cp);
      continue;
    }
    char b[4];
    size_t n = utf8_put(cp, b);
    dps__utf8_scan sc;
    bool core_ok = dps__utf8_scan_str(b, n, true, &sc);
    if (core_ok != model_ok)
      fail_msg("U+%04X: the model's pattern %s it, the core %s it", (unsigned)cp,
               model_ok ? "allows" : "refuses", core_ok ? "allows" : "refuses");
    allowed += model_ok;
  }
  assert_true(allowed > 0x10000); /* the parse found the supplementary range */

  /* Edges, member by member: a member with a pattern refuses what lies outside it; one without
   * (errorMessage) takes any scalar value. */
  for (size_t m = 0; m < sizeof members / sizeof members[0]; m++) {
    bool has = json_object_get(member_shape(members[m]), "pattern") != NULL;
    for (size_t i = 0; i < nr; i++) {
      uint32_t probe[4] = {r[i].lo, r[i].hi, r[i].lo - 1, r[i].hi + 1};
      for (size_t k = 0; k < 4; k++) {
        uint32_t cp = probe[k];
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) continue;
        char b[5] = {'a'};
        size_t n = 1 + utf8_put(cp, b + 1);
        dps_update u = minimal();
        set_string(&u, members[m], b, n);
        dps_error err;
        bool core_ok = check(&u, &err) == DPS_OK;
        bool model_ok = !has || in_ranges(r, nr, cp);
        if (core_ok != model_ok)
          fail_msg("%s with U+%04X: the model %s it, the core %s it", members[m], (unsigned)cp,
                   model_ok ? "allows" : "refuses", core_ok ? "allows" : "refuses");
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_members),  cmocka_unit_test(test_required),
      cmocka_unit_test(test_metadata), cmocka_unit_test(test_status_enum),
      cmocka_unit_test(test_lengths),  cmocka_unit_test(test_reserved_prefix),
      cmocka_unit_test(test_pattern),
  };
  return cmocka_run_group_tests(tests, load_model, free_model);
}
