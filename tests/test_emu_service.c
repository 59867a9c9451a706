/* test_emu_service.c: the emulated service through dps__emu_service_handle, with constructed
 * requests: routing and AWS error shapes, validation, task modes, the task-runner loop, SigV4
 * verification, faults, the record file and metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/sigv4.h"
#include "emulator/faults.h"
#include "emulator/limits.h"
#include "emulator/record.h"
#include "emulator/service.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct req_builder {
  dps__header h[16];
  size_t n;
  char auth[DPS__SIGV4_AUTHORIZATION_MAX];
  char date[17];
  dps__emu_request r;
} req_builder;

static void add_header(req_builder *b, const char *name, const char *value) {
  b->h[b->n++] = (dps__header){name, strlen(name), value, strlen(value)};
}

/* A POST / of @p body for DataPipeline.@p op with the content type AWS CLI sends. */
static dps__emu_request *api(req_builder *b, const char *op, const char *body) {
  static char target[128];
  memset(b, 0, sizeof *b);
  snprintf(target, sizeof target, "DataPipeline.%s", op);
  add_header(b, "host", "localhost:8080");
  add_header(b, "content-type", "application/x-amz-json-1.1");
  if (op) add_header(b, "x-amz-target", target);
  b->r = (dps__emu_request){"POST", "/", 1, b->h, 0, body, strlen(body), 2, 1};
  b->r.n_headers = b->n;
  return &b->r;
}

static void sync_req(req_builder *b) {
  b->r.headers = b->h;
  b->r.n_headers = b->n;
}

/* Signs @p b as botocore does (it signs host, content-type, x-amz-date, x-amz-target and more
 * than our client does; here user-agent too) with @p secret at @p epoch_ms. */
static void sign(req_builder *b, const char *region, const char *ak, const char *secret,
                 const char *token, int64_t epoch_ms) {
  add_header(b, "user-agent", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 botocore/2.4.5");
  dps__amz_date_format(epoch_ms, b->date);
  add_header(b, "x-amz-date", b->date);
  if (token) add_header(b, "x-amz-security-token", token);
  dps__sigv4_signer s = {0};
  assert_int_equal(dps__sigv4_signer_init(&s, region, "datapipeline", ak, secret, NULL), DPS_OK);
  dps__sigv4_request sr = {.method = b->r.method,
                           .path = "/",
                           .path_len = 1,
                           .headers = b->h,
                           .n_headers = b->n,
                           .payload = b->r.body,
                           .payload_len = b->r.body_len,
                           .amz_date = b->date,
                           .flags = DPS__SIGV4_NORMALIZE_PATH};
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_sign(&s, &sr, &res), DPS_OK);
  strcpy(b->auth, res.authorization);
  dps__sigv4_signer_clear(&s);
  add_header(b, "authorization", b->auth);
  sync_req(b);
}

static dps__emu_service *make(dps__emu_config *c) {
  dps__emu_service *s = NULL;
  dps_error err = {0};
  int rc = dps__emu_service_new(c, &s, &err);
  if (rc != DPS_OK) fail_msg("service_new: %s", err.message);
  return s;
}

static dps__emu_config cfg_none(void) {
  dps__emu_config c;
  dps__emu_config_init(&c);
  c.auth_mode = DPS__EMU_AUTH_NONE;
  return c;
}

typedef struct answer {
  int status;
  char type[128]; /* __type */
  char code[64];  /* x-amzn-errortype */
  char message[4096];
  char body[8192];
  const char *content_type;
  dps__emu_action action;
  uint32_t delay_ms;
  char request_id[40];
  char headers[DPS__EMU_MAX_RESPONSE_HEADERS][2][64]; /* extra headers: name, value */
  size_t n_headers;
} answer;

/* The value of extra response header @p name, or NULL. */
static const char *header_of(const answer *a, const char *name) {
  for (size_t i = 0; i < a->n_headers; i++)
    if (strcmp(a->headers[i][0], name) == 0) return a->headers[i][1];
  return NULL;
}

static answer call(dps__emu_service *s, const dps__emu_request *r) {
  dps__emu_response resp;
  dps__emu_service_handle(s, r, &resp);
  answer a;
  memset(&a, 0, sizeof a);
  a.status = resp.status;
  a.content_type = resp.content_type;
  a.action = resp.action;
  a.delay_ms = resp.delay_ms;
  strcpy(a.request_id, resp.request_id);
  if (resp.body.data) snprintf(a.body, sizeof a.body, "%s", resp.body.data);
  a.n_headers = resp.n_headers;
  for (size_t i = 0; i < resp.n_headers; i++) {
    snprintf(a.headers[i][0], 64, "%.*s", (int)resp.headers[i].name_len, resp.headers[i].name);
    snprintf(a.headers[i][1], 64, "%.*s", (int)resp.headers[i].value_len, resp.headers[i].value);
  }
  for (size_t i = 0; i < resp.n_headers; i++)
    if (strncmp(resp.headers[i].name, "x-amzn-errortype", resp.headers[i].name_len) == 0)
      snprintf(a.code, sizeof a.code, "%.*s", (int)resp.headers[i].value_len,
               resp.headers[i].value);
  json_t *j = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
  if (j && json_is_object(j)) {
    const char *t = json_string_value(json_object_get(j, "__type"));
    const char *m = json_string_value(json_object_get(j, "message"));
    if (t) snprintf(a.type, sizeof a.type, "%s", t);
    if (m) snprintf(a.message, sizeof a.message, "%s", m);
  }
  json_decref(j);
  dps__emu_response_free(&resp);
  return a;
}

/* Asserts an AWS JSON error: status, __type ending in #code, the header, and (when not NULL) a
 * message containing @p needle. */
static void expect_error(const answer *a, int status, const char *code, const char *needle) {
  if (a->status != status || strcmp(a->code, code) != 0)
    fail_msg("expected %d %s, got %d %s: %s", status, code, a->status, a->code, a->body);
  const char *hash = strrchr(a->type, '#');
  assert_non_null(hash);
  assert_string_equal(hash + 1, code);
  assert_string_equal(a->content_type, "application/x-amz-json-1.1");
  if (needle && !strstr(a->message, needle))
    fail_msg("message \"%s\" lacks \"%s\"", a->message, needle);
}

static answer set_status(dps__emu_service *s, const char *body) {
  req_builder b;
  return call(s, api(&b, "SetTaskStatus", body));
}

static char *write_temp(const char *content) {
  static int n;
  char *path = malloc(64);
  snprintf(path, 64, "/tmp/test_emu_%d_%d.ndjson", (int)getpid(), n++);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
  return path;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* ---- routing and shapes --------------------------------------------------------------------- */

static void test_set_task_status_ok(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  dps__emu_service *s = make(&c);
  answer a = set_status(s, "{\"taskId\":\"t-1\",\"taskStatus\":\"FINISHED\"}");
  assert_int_equal(a.status, 200);
  assert_string_equal(a.body, "{}");
  assert_string_equal(a.code, "");
  assert_string_equal(a.content_type, "application/x-amz-json-1.1");
  /* A version-4 UUID, different on every response. */
  assert_int_equal(strlen(a.request_id), 36);
  assert_int_equal(a.request_id[14], '4');
  assert_true(strchr("89ab", a.request_id[19]) != NULL);
  answer b = set_status(s, "{\"taskId\":\"t-2\",\"taskStatus\":\"FAILED\"}");
  assert_string_not_equal(a.request_id, b.request_id);
  dps__emu_service_free(s);
}

static void test_routing_errors(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  dps__emu_service *s = make(&c);
  req_builder b;
  const char *ok = "{\"taskId\":\"t\",\"taskStatus\":\"FINISHED\"}";

  answer a = call(s, api(&b, "DeletePipelines", ok));
  expect_error(&a, 400, "UnknownOperationException", "DataPipeline.DeletePipelines");
  a = call(s, api(&b, NULL, ok));
  expect_error(&a, 400, "UnknownOperationException", "X-Amz-Target");
  api(&b, "SetTaskStatus", ok);
  b.h[2].value = "Dynamo.SetTaskStatus";
  b.h[2].value_len = strlen(b.h[2].value);
  a = call(s, &b.r);
  expect_error(&a, 400, "UnknownOperationException", NULL);

  /* Content types: AWS's JSON front end takes the JSON ones, parameters ignored. */
  const char *good[] = {"application/x-amz-json-1.1", "application/x-amz-json-1.0",
                        "application/json", "Application/X-Amz-Json-1.1; charset=utf-8"};
  for (size_t i = 0; i < 4; i++) {
    api(&b, "SetTaskStatus", ok);
    b.h[1].value = good[i];
    b.h[1].value_len = strlen(good[i]);
    assert_int_equal(call(s, &b.r).status, 200);
  }
  const char *bad[] = {"text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""};
  for (size_t i = 0; i < 4; i++) {
    api(&b, "SetTaskStatus", ok);
    b.h[1].value = bad[i];
    b.h[1].value_len = strlen(bad[i]);
    a = call(s, &b.r);
    expect_error(&a, 404, "UnknownOperationException", "Content-Type");
  }
  api(&b, "SetTaskStatus", ok);
  b.h[1] = b.h[2];
  b.r.n_headers = 2; /* no content-type at all */
  a = call(s, &b.r);
  expect_error(&a, 404, "UnknownOperationException", "Content-Type");

  /* Other paths and methods. */
  api(&b, "SetTaskStatus", ok);
  b.r.path = "/v1/x";
  b.r.path_len = 5;
  expect_error((a = call(s, &b.r), &a), 404, "UnknownOperationException", NULL);
  api(&b, "SetTaskStatus", ok);
  b.r.path = "/?a=b"; /* a query on / is still the API */
  b.r.path_len = 5;
  assert_int_equal(call(s, &b.r).status, 200);
  api(&b, "SetTaskStatus", ok);
  b.r.method = "PUT";
  expect_error((a = call(s, &b.r), &a), 404, "UnknownOperationException", "PUT");
  api(&b, "SetTaskStatus", "");
  b.r.method = "GET";
  expect_error((a = call(s, &b.r), &a), 404, "UnknownOperationException", NULL);
  dps__emu_service_free(s);
}

static void test_serialization_errors(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  dps__emu_service *s = make(&c);
  const char *bodies[] = {"",
                          "{",
                          "{\"taskId\":\"t\",}",
                          "[]",
                          "\"x\"",
                          "42",
                          "null",
                          "{\"taskId\":\"t\",\"taskStatus\":\"FINISHED\"} x",
                          "{\"taskId\":\"\\ud800\",\"taskStatus\":\"FINISHED\"}"};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    answer a = set_status(s, bodies[i]);
    expect_error(&a, 400, "SerializationException", NULL);
  }
  struct {
    const char *body, *member;
  } types[] = {
      {"{\"taskId\":5,\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"t\",\"taskStatus\":true}", "taskStatus"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorId\":[]}", "errorId"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorMessage\":{}}", "errorMessage"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorStackTrace\":1.5}", "errorStackTrace"}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    answer a = set_status(s, types[i].body);
    expect_error(&a, 400, "SerializationException", types[i].member);
  }
  dps__emu_service_free(s);
}

static void test_oversized_body(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  c.max_body_bytes = 64;
  dps__emu_service *s = make(&c);
  char body[128];
  snprintf(body, sizeof body, "{\"taskId\":\"%040d\",\"taskStatus\":\"FINISHED\"}", 7);
  assert_true(strlen(body) > 64);
  answer a = set_status(s, body);
  expect_error(&a, 413, "RequestEntityTooLargeException", "limit of 64 bytes");
  /* Exactly at the limit passes. */
  snprintf(body, sizeof body, "{\"taskId\":\"%0*d\",\"taskStatus\":\"FINISHED\"}", 64 - 37, 7);
  assert_int_equal(strlen(body), 64);
  assert_int_equal(set_status(s, body).status, 200);
  /* A declared Content-Length over the limit is refused even when the server stopped reading. */
  req_builder b;
  api(&b, "SetTaskStatus", "{}");
  add_header(&b, "content-length", "100000");
  sync_req(&b);
  expect_error((a = call(s, &b.r), &a), 413, "RequestEntityTooLargeException", "100000");
  dps__emu_service_free(s);
}

/* ---- validation ----------------------------------------------------------------------------- */

static char *json_with_repeat(const char *fmt, char ch, size_t count) {
  char *rep = malloc(count + 1);
  memset(rep, ch, count);
  rep[count] = '\0';
  /* fmt holds one "%s": spliced by hand (a non-literal format would defeat -Wformat). */
  const char *hole = strstr(fmt, "%s");
  size_t head = (size_t)(hole - fmt);
  char *out = malloc(strlen(fmt) + count + 1);
  memcpy(out, fmt, head);
  memcpy(out + head, rep, count);
  strcpy(out + head + count, hole + 2);
  free(rep);
  return out;
}

static void test_validation(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  dps__emu_service *s = make(&c);
  struct {
    const char *body, *field;
  } cases[] = {
      {"{\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":null,\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"\",\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"a\\u0001b\",\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"a\\u0000\",\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"a\\uffff\",\"taskStatus\":\"FINISHED\"}", "taskId"},
      {"{\"taskId\":\"t\"}", "taskStatus"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"DONE\"}", "taskStatus"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"finished\"}", "taskStatus"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorId\":\"Service_X\"}", "errorId"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorId\":\"\\u0007\"}", "errorId"},
      {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorStackTrace\":\"\\u001f\"}",
       "errorStackTrace"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    answer a = set_status(s, cases[i].body);
    expect_error(&a, 400, "InvalidRequestException", NULL);
    if (strncmp(a.message, cases[i].field, strlen(cases[i].field)) != 0)
      fail_msg("case %zu: message \"%s\" does not start with %s", i, a.message, cases[i].field);
  }
  /* Length limits, at and past the boundary. */
  struct {
    const char *fmt, *field;
    size_t limit;
  } lims[] = {{"{\"taskId\":\"%s\",\"taskStatus\":\"FINISHED\"}", "taskId", 2048},
              {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorId\":\"%s\"}", "errorId", 1024},
              {"{\"taskId\":\"t\",\"taskStatus\":\"FAILED\",\"errorStackTrace\":\"%s\"}",
               "errorStackTrace", 1024}};
  for (size_t i = 0; i < 3; i++) {
    char *ok = json_with_repeat(lims[i].fmt, 'x', lims[i].limit);
    char *over = json_with_repeat(lims[i].fmt, 'y', lims[i].limit + 1);
    answer a = set_status(s, ok);
    if (a.status != 200) fail_msg("%s at the limit: %s", lims[i].field, a.body);
    a = set_status(s, over);
    expect_error(&a, 400, "InvalidRequestException", lims[i].field);
    free(ok);
    free(over);
  }
  /* errorMessage has no limit and no pattern; null optionals are absent; empty errorId is fine;
   * unknown members are ignored as AWS's deserializer does. */
  const char *fine[] = {
      "{\"taskId\":\"u1\",\"taskStatus\":\"FAILED\",\"errorMessage\":\"a\\u0001\\u0000b\"}",
      "{\"taskId\":\"u2\",\"taskStatus\":\"FALSE\",\"errorId\":null,\"errorMessage\":null,"
      "\"errorStackTrace\":null}",
      "{\"taskId\":\"u3\",\"taskStatus\":\"FAILED\",\"errorId\":\"\",\"extra\":[1,2]}"};
  for (size_t i = 0; i < 3; i++) {
    answer a = set_status(s, fine[i]);
    if (a.status != 200) fail_msg("%s: %s", fine[i], a.body);
  }
  dps__emu_service_free(s);
}

static void test_first_status_stands(void **state) {
  (void)state;
  char *rec = write_temp("");
  dps__emu_config c = cfg_none();
  c.record_path = rec;
  dps__emu_service *s = make(&c);
  assert_int_equal(set_status(s, "{\"taskId\":\"t\",\"taskStatus\":\"FINISHED\"}").status, 200);
  /* A retry of the same status is accepted, even with different error fields. */
  assert_int_equal(
      set_status(s, "{\"taskId\":\"t\",\"taskStatus\":\"FINISHED\",\"errorMessage\":\"m\"}").status,
      200);
  answer a = set_status(s, "{\"taskId\":\"t\",\"taskStatus\":\"FAILED\"}");
  expect_error(&a, 400, "InvalidRequestException", "taskStatus");
  assert_non_null(strstr(a.message, "FINISHED"));
  a = set_status(s, "{\"taskId\":\"t\",\"taskStatus\":\"FALSE\"}");
  expect_error(&a, 400, "InvalidRequestException", "taskStatus");
  assert_int_equal(set_status(s, "{\"taskId\":\"t\",\"taskStatus\":\"FINISHED\"}").status, 200);
  /* Another task is independent. */
  assert_int_equal(set_status(s, "{\"taskId\":\"t2\",\"taskStatus\":\"FAILED\"}").status, 200);
  dps__emu_service_free(s);
  /* Only accepted calls are recorded; count counts them. */
  const char *text = read_all(rec);
  int lines = 0;
  for (const char *p = text; (p = strchr(p, '\n')); p++) lines++;
  assert_int_equal(lines, 4);
  assert_non_null(strstr(text, "\"taskId\":\"t\",\"taskStatus\":\"FINISHED\",\"receivedAt\""));
  assert_non_null(strstr(text, "\"count\":3}\n"));
  assert_null(strstr(text, "\"count\":4}"));
  assert_null(strstr(text, "\"taskId\":\"t\",\"taskStatus\":\"FAILED\""));
  assert_null(strstr(text, "\"taskStatus\":\"FALSE\""));
  unlink(rec);
  free(rec);
}

/* ---- task modes ----------------------------------------------------------------------------- */

static const char tasks_ndjson[] =
    "{\"taskId\":\"a1\",\"pipelineId\":\"df-A\",\"pipelineState\":\"ACTIVE\",\"workerGroup\":\"wg-"
    "a\"}\n"
    "\n"
    "{\"taskId\":\"gone\",\"pipelineId\":\"df-G\",\"pipelineState\":\"DELETED\"}\n"
    "{\"taskId\":\"lost\",\"pipelineId\":\"df-L\",\"pipelineState\":\"MISSING\"}\n"
    "{\"taskId\":\"any1\",\"pipelineId\":\"df-N\"}\n"
    "{\"taskId\":\"b1\",\"pipelineId\":\"df-B\",\"workerGroup\":\"wg-b\"}\n"
    "{\"taskId\":\"a2\",\"pipelineId\":\"df-A\",\"workerGroup\":\"wg-a\"}\n";

static void test_strict_mode(void **state) {
  (void)state;
  char *path = write_temp(tasks_ndjson);
  dps__emu_config c = cfg_none();
  c.tasks_mode = DPS__EMU_TASKS_STRICT;
  c.tasks_file = path;
  dps__emu_service *s = make(&c);
  answer a = set_status(s, "{\"taskId\":\"nope\",\"taskStatus\":\"FINISHED\"}");
  expect_error(&a, 400, "TaskNotFoundException", "nope");
  a = set_status(s, "{\"taskId\":\"lost\",\"taskStatus\":\"FINISHED\"}");
  expect_error(&a, 400, "PipelineNotFoundException", "df-L");
  a = set_status(s, "{\"taskId\":\"gone\",\"taskStatus\":\"FINISHED\"}");
  expect_error(&a, 400, "PipelineDeletedException", "df-G");
  assert_int_equal(set_status(s, "{\"taskId\":\"b1\",\"taskStatus\":\"FINISHED\"}").status, 200);
  req_builder b;
  a = call(s, api(&b, "ReportTaskProgress", "{\"taskId\":\"nope\"}"));
  expect_error(&a, 400, "TaskNotFoundException", NULL);
  a = call(s, api(&b, "ReportTaskProgress", "{\"taskId\":\"gone\"}"));
  expect_error(&a, 400, "PipelineDeletedException", NULL);
  a = call(s, api(&b, "ReportTaskProgress", "{\"taskId\":\"lost\"}"));
  expect_error(&a, 400, "PipelineNotFoundException", NULL);
  dps__emu_service_free(s);

  /* Auto mode: any task is known, but a listed pipeline state still applies. */
  c.tasks_mode = DPS__EMU_TASKS_AUTO;
  s = make(&c);
  assert_int_equal(set_status(s, "{\"taskId\":\"nope\",\"taskStatus\":\"FINISHED\"}").status, 200);
  a = set_status(s, "{\"taskId\":\"gone\",\"taskStatus\":\"FINISHED\"}");
  expect_error(&a, 400, "PipelineDeletedException", NULL);
  dps__emu_service_free(s);
  unlink(path);
  free(path);
}

static void expect_load_error(const char *content, const char *needle, int code) {
  char *path = write_temp(content);
  dps__emu_config c = cfg_none();
  c.tasks_file = path;
  dps__emu_service *s = NULL;
  dps_error err = {0};
  assert_int_equal(dps__emu_service_new(&c, &s, &err), code);
  assert_null(s);
  char where[96];
  snprintf(where, sizeof where, "%s%s", path, needle);
  if (!strstr(err.message, where)) fail_msg("\"%s\" lacks \"%s\"", err.message, where);
  unlink(path);
  free(path);
}

static void test_tasks_file_errors(void **state) {
  (void)state;
  const char ok[] = "{\"taskId\":\"a\",\"pipelineId\":\"df-1\"}\n";
  char buf[256];
  const struct {
    const char *line, *why;
  } bad[] = {
      {"{\"taskId\":\"a\"", "not JSON"},
      {"[1]", "object"},
      {"{\"pipelineId\":\"p\"}", "taskId"},
      {"{\"taskId\":\"x\"}", "pipelineId"},
      {"{\"taskId\":\"x\",\"pipelineId\":\"p\",\"pipelineState\":\"GONE\"}", "pipelineState"},
      {"{\"taskId\":7,\"pipelineId\":\"p\"}", "taskId"},
      {"{\"taskId\":\"\",\"pipelineId\":\"p\"}", "taskId"},
      {"{\"taskId\":\"a\",\"pipelineId\":\"p\"}", "twice"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(buf, sizeof buf, "%s%s\n", ok, bad[i].line);
    expect_load_error(buf, ":2: ", DPS_ECONFIG);
    snprintf(buf, sizeof buf, "%s%s\n", ok, bad[i].line);
    char *path = write_temp(buf);
    dps__emu_config c = cfg_none();
    c.tasks_file = path;
    dps__emu_service *s = NULL;
    dps_error err = {0};
    assert_int_not_equal(dps__emu_service_new(&c, &s, &err), DPS_OK);
    if (!strstr(err.message, bad[i].why)) fail_msg("\"%s\" lacks \"%s\"", err.message, bad[i].why);
    unlink(path);
    free(path);
  }
  dps__emu_config c = cfg_none();
  c.tasks_file = "/nonexistent/tasks.ndjson";
  dps__emu_service *s = NULL;
  dps_error err = {0};
  assert_int_equal(dps__emu_service_new(&c, &s, &err), DPS_EIO);
  assert_non_null(strstr(err.message, "/nonexistent/tasks.ndjson"));
}

/* ---- the task runner's loop ----------------------------------------------------------------- */

static json_t *poll(dps__emu_service *s, const char *group) {
  char body[128];
  snprintf(body, sizeof body, "{\"workerGroup\":\"%s\",\"hostname\":\"h1\"}", group);
  req_builder b;
  answer a = call(s, api(&b, "PollForTask", body));
  assert_int_equal(a.status, 200);
  json_t *j = json_loads(a.body, 0, NULL);
  assert_non_null(j);
  return j;
}

static const char *task_id_of(json_t *j) {
  return json_string_value(json_object_get(json_object_get(j, "taskObject"), "taskId"));
}

static void test_strict_poll_loop(void **state) {
  (void)state;
  char *path = write_temp(tasks_ndjson);
  dps__emu_config c = cfg_none();
  c.tasks_mode = DPS__EMU_TASKS_STRICT;
  c.tasks_file = path;
  dps__emu_service *s = make(&c);
  /* wg-a gets its own tasks and the group-less ones, in file order, skipping dead pipelines. */
  const char *expect_a[] = {"a1", "any1", "a2"};
  for (int i = 0; i < 3; i++) {
    json_t *j = poll(s, "wg-a");
    json_t *to = json_object_get(j, "taskObject");
    assert_string_equal(task_id_of(j), expect_a[i]);
    const char *attempt = json_string_value(json_object_get(to, "attemptId"));
    assert_non_null(attempt);
    assert_non_null(json_object_get(json_object_get(to, "objects"), attempt));
    assert_string_equal(json_string_value(json_object_get(to, "pipelineId")),
                        i == 1 ? "df-N" : "df-A");
    char body[256];
    req_builder b;
    snprintf(body, sizeof body,
             "{\"taskId\":\"%s\",\"fields\":[{\"key\":\"progress\",\"stringValue\":\"50\"}]}",
             expect_a[i]);
    answer a = call(s, api(&b, "ReportTaskProgress", body));
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"canceled\":false}");
    snprintf(body, sizeof body, "{\"taskId\":\"%s\",\"taskStatus\":\"FINISHED\"}", expect_a[i]);
    assert_int_equal(set_status(s, body).status, 200);
    json_decref(j);
  }
  json_t *j = poll(s, "wg-a");
  assert_null(json_object_get(j, "taskObject"));
  assert_int_equal(json_object_size(j), 0);
  json_decref(j);
  j = poll(s, "wg-b");
  assert_string_equal(task_id_of(j), "b1");
  json_decref(j);
  j = poll(s, "wg-b");
  assert_int_equal(json_object_size(j), 0);
  json_decref(j);
  req_builder b;
  answer a = call(s, api(&b, "ReportTaskRunnerHeartbeat",
                         "{\"taskrunnerId\":\"r1\",\"workerGroup\":\"wg-a\",\"hostname\":\"h\"}"));
  assert_int_equal(a.status, 200);
  assert_string_equal(a.body, "{\"terminate\":false}");
  dps__emu_service_free(s);
  unlink(path);
  free(path);
}

static void test_auto_poll_and_inputs(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  dps__emu_service *s = make(&c);
  json_t *j1 = poll(s, "wg"), *j2 = poll(s, "");
  const char *t1 = task_id_of(j1), *t2 = task_id_of(j2);
  assert_non_null(t1);
  assert_non_null(t2);
  assert_string_not_equal(t1, t2);
  json_t *to = json_object_get(j1, "taskObject");
  assert_true(strncmp(json_string_value(json_object_get(to, "pipelineId")), "df-", 3) == 0);
  char body[256];
  snprintf(body, sizeof body, "{\"taskId\":\"%s\",\"taskStatus\":\"FAILED\",\"errorId\":\"E\"}",
           t1);
  assert_int_equal(set_status(s, body).status, 200);
  json_decref(j1);
  json_decref(j2);

  req_builder b;
  struct {
    const char *op, *body, *code, *needle;
  } bad[] = {
      {"PollForTask", "{}", "InvalidRequestException", "workerGroup"},
      {"PollForTask", "{\"workerGroup\":null}", "InvalidRequestException", "workerGroup"},
      {"PollForTask", "{\"workerGroup\":3}", "SerializationException", "workerGroup"},
      {"PollForTask", "{\"workerGroup\":\"w\",\"hostname\":\"\"}", "InvalidRequestException",
       "hostname"},
      {"PollForTask", "{\"workerGroup\":\"w\",\"instanceIdentity\":\"x\"}",
       "SerializationException", "instanceIdentity"},
      {"ReportTaskProgress", "{}", "InvalidRequestException", "taskId"},
      {"ReportTaskProgress", "{\"taskId\":\"t\",\"fields\":{}}", "SerializationException",
       "fields"},
      {"ReportTaskProgress", "{\"taskId\":\"t\",\"fields\":[{\"stringValue\":\"v\"}]}",
       "InvalidRequestException", "fields[0].key"},
      {"ReportTaskProgress", "{\"taskId\":\"t\",\"fields\":[{\"key\":\"k\",\"refValue\":\"\"}]}",
       "InvalidRequestException", "fields[0].refValue"},
      {"ReportTaskRunnerHeartbeat", "{}", "InvalidRequestException", "taskrunnerId"},
      {"ReportTaskRunnerHeartbeat", "{\"taskrunnerId\":\"\"}", "InvalidRequestException",
       "taskrunnerId"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    answer a = call(s, api(&b, bad[i].op, bad[i].body));
    expect_error(&a, 400, bad[i].code, bad[i].needle);
  }
  char *long_group = json_with_repeat("{\"workerGroup\":\"%s\"}", 'g', 1025);
  answer a = call(s, api(&b, "PollForTask", long_group));
  expect_error(&a, 400, "InvalidRequestException", "workerGroup: 1025 characters");
  free(long_group);
  dps__emu_service_free(s);
}

/* ---- SigV4 ---------------------------------------------------------------------------------- */

static dps__emu_config cfg_sigv4(void) {
  dps__emu_config c;
  dps__emu_config_init(&c);
  c.access_key = AK;
  c.secret_key = SK;
  return c;
}

static const char *body_ok = "{\"taskId\":\"sig-1\",\"taskStatus\":\"FINISHED\"}";

static void test_sigv4_accepts_and_rejects(void **state) {
  (void)state;
  dps__emu_config c = cfg_sigv4();
  dps__emu_service *s = make(&c);
  int64_t now = dps__clock_local_ms();
  req_builder b;

  api(&b, "SetTaskStatus", body_ok);
  answer a = call(s, &b.r);
  expect_error(&a, 400, "MissingAuthenticationTokenException",
               "Request is missing Authentication Token");

  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now);
  a = call(s, &b.r);
  if (a.status != 200) fail_msg("signed request refused: %s", a.body);
  /* Another region's scope works too (no --region): each region has its own signing key. */
  for (int k = 0; k < 6; k++) {
    static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1",
                                          "sa-east-1", "us-west-2", "eu-west-1"};
    api(&b, "SetTaskStatus", body_ok);
    sign(&b, regions[k], AK, SK, NULL, now);
    a = call(s, &b.r);
    if (a.status != 200) fail_msg("region %s refused: %s", regions[k], a.body);
  }

  /* One byte of the body changed after signing. */
  char tampered[128];
  strcpy(tampered, body_ok);
  api(&b, "SetTaskStatus", tampered);
  sign(&b, "us-east-1", AK, SK, NULL, now);
  tampered[12] ^= 1;
  a = call(s, &b.r);
  expect_error(&a, 400, "InvalidSignatureException",
               "The request signature we calculated does not match the signature you provided.");
  assert_non_null(strstr(a.message, "The Canonical String for this request should have been"));
  /* One byte of a signed header. */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now);
  b.h[3].value = "aws-cli/2.15.1 Python/3.11.6 Linux/6.1 botocore/2.4.5";
  a = call(s, &b.r);
  expect_error(&a, 400, "InvalidSignatureException", "does not match");
  /* The wrong secret. */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, "not-the-secret", NULL, now);
  expect_error((a = call(s, &b.r), &a), 400, "InvalidSignatureException", "does not match");
  /* An unknown key. */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", "AKIDUNKNOWN", SK, NULL, now);
  expect_error((a = call(s, &b.r), &a), 400, "UnrecognizedClientException",
               "The security token included in the request is invalid.");
  /* A session token this key does not have. */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, "some-token", now);
  expect_error((a = call(s, &b.r), &a), 400, "UnrecognizedClientException", NULL);
  /* Expired and future dates, in AWS's words (the SDKs key clock-skew correction on them). */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now - 10 * 60 * 1000);
  expect_error((a = call(s, &b.r), &a), 400, "InvalidSignatureException", "Signature expired: ");
  assert_non_null(strstr(a.message, " is now earlier than "));
  assert_non_null(strstr(a.message, " - 5 min.)"));
  assert_non_null(strstr(a.message, b.date));
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now + 10 * 60 * 1000);
  expect_error((a = call(s, &b.r), &a), 400, "InvalidSignatureException",
               "Signature not yet current: ");
  /* Within the window is fine. */
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now - 4 * 60 * 1000);
  assert_int_equal(call(s, &b.r).status, 200);
  /* Malformed Authorization, missing date, host not signed, wrong service. */
  api(&b, "SetTaskStatus", body_ok);
  add_header(&b, "x-amz-date", "20240101T000000Z");
  add_header(&b, "authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101");
  sync_req(&b);
  expect_error((a = call(s, &b.r), &a), 400, "IncompleteSignatureException", NULL);
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now);
  b.h[4].name = "x-amz-datx"; /* the x-amz-date header, renamed */
  expect_error((a = call(s, &b.r), &a), 400, "IncompleteSignatureException", "X-Amz-Date");
  api(&b, "SetTaskStatus", body_ok);
  b.h[0].name = "x-host"; /* signed, but not as "host" */
  sign(&b, "us-east-1", AK, SK, NULL, now);
  expect_error((a = call(s, &b.r), &a), 400, "InvalidSignatureException", "'Host'");
  api(&b, "SetTaskStatus", body_ok);
  add_header(&b, "authorization", "Basic dXNlcjpwYXNz");
  sync_req(&b);
  expect_error((a = call(s, &b.r), &a), 400, "MissingAuthenticationTokenException", NULL);
  dps__emu_service_free(s);

  /* With --region, other scopes are refused. */
  c.region = "us-west-2";
  s = make(&c);
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", AK, SK, NULL, now);
  expect_error((a = call(s, &b.r), &a), 400, "InvalidSignatureException", "'us-east-1'");
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-west-2", AK, SK, NULL, now);
  assert_int_equal(call(s, &b.r).status, 200);
  dps__emu_service_free(s);
}

static void test_sigv4_session_token(void **state) {
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", "ASIATEMP", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "temp-secret", 1);
  setenv("AWS_SESSION_TOKEN", "tok-123", 1);
  dps__emu_config c;
  dps__emu_config_init(&c); /* keys from the standard chain: the environment here */
  dps__emu_service *s = make(&c);
  int64_t now = dps__clock_local_ms();
  req_builder b;
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", "ASIATEMP", "temp-secret", "tok-123", now);
  answer a = call(s, &b.r);
  if (a.status != 200) fail_msg("token request refused: %s", a.body);
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", "ASIATEMP", "temp-secret", NULL, now);
  expect_error((a = call(s, &b.r), &a), 400, "UnrecognizedClientException", NULL);
  api(&b, "SetTaskStatus", body_ok);
  sign(&b, "us-east-1", "ASIATEMP", "temp-secret", "tok-124", now);
  expect_error((a = call(s, &b.r), &a), 400, "UnrecognizedClientException", NULL);
  dps__emu_service_free(s);
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
}

/* ---- faults --------------------------------------------------------------------------------- */

static void run_faults(const char *spec, uint64_t seed, int n, int *statuses, uint32_t *delays) {
  dps__emu_config c = cfg_none();
  c.faults = spec;
  c.seed = seed;
  dps__emu_service *s = make(&c);
  for (int i = 0; i < n; i++) {
    char body[96];
    snprintf(body, sizeof body, "{\"taskId\":\"f-%d\",\"taskStatus\":\"FINISHED\"}", i);
    answer a = set_status(s, body);
    statuses[i] = a.action == DPS__EMU_RESET_STREAM ? -1 : a.status;
    if (delays) delays[i] = a.delay_ms;
    if (a.status == 503) {
      assert_string_equal(a.content_type, "text/html");
      assert_non_null(strstr(a.body, "<html>"));
    }
    if (a.status == 500) expect_error(&a, 500, "InternalServiceError", NULL);
    if (a.status == 400) expect_error(&a, 400, "ThrottlingException", "Rate exceeded");
  }
  dps__emu_service_free(s);
}

static void test_fault_determinism_and_rates(void **state) {
  (void)state;
  enum { N = 20000 };
  static int s1[N], s2[N], s3[N];
  static uint32_t d1[N], d2[N];
  const char *spec = "internal=0.1,throttle=0.2,unavailable=0.05,reset=0.05,latency=3..9";
  run_faults(spec, 42, N, s1, d1);
  run_faults(spec, 42, N, s2, d2);
  run_faults(spec, 43, N, s3, NULL);
  assert_memory_equal(s1, s2, sizeof s1);
  assert_memory_equal(d1, d2, sizeof d1);
  assert_memory_not_equal(s1, s3, sizeof s1);
  int counts[4] = {0}, seen_delay[16] = {0};
  for (int i = 0; i < N; i++) {
    counts[s1[i] == 500   ? 0
           : s1[i] == 400 ? 1
           : s1[i] == 503 ? 2
           : s1[i] == -1  ? 3
                          : 0] += s1[i] != 200;
    if (s1[i] == -1) continue; /* a reset stream is never answered, so it has no latency */
    assert_true(d1[i] >= 3 && d1[i] <= 9);
    seen_delay[d1[i]] = 1;
  }
  /* 5 sigma of a binomial at these sizes is under 1.5 percentage points. */
  const double expect[4] = {0.1, 0.2, 0.05, 0.05};
  for (int k = 0; k < 4; k++) {
    double rate = (double)counts[k] / N;
    if (rate < expect[k] - 0.015 || rate > expect[k] + 0.015)
      fail_msg("fault %d: rate %.4f, expected %.2f", k, rate, expect[k]);
  }
  for (int d = 3; d <= 9; d++) assert_true(seen_delay[d]);
}

static void test_fault_reset_records_nothing(void **state) {
  (void)state;
  char *rec = write_temp("");
  dps__emu_config c = cfg_none();
  c.faults = "reset=1";
  c.record_path = rec;
  dps__emu_service *s = make(&c);
  answer a = set_status(s, "{\"taskId\":\"r\",\"taskStatus\":\"FINISHED\"}");
  assert_int_equal(a.action, DPS__EMU_RESET_STREAM);
  /* /metrics is not subject to faults. */
  req_builder b;
  api(&b, "x", "");
  b.r.method = "GET";
  b.r.path = "/metrics";
  b.r.path_len = 8;
  a = call(s, &b.r);
  assert_int_equal(a.action, DPS__EMU_RESPOND);
  assert_int_equal(a.status, 200);
  assert_non_null(strstr(a.body, "dpstatus_faults_injected_total{kind=\"reset\"} 1\n"));
  assert_non_null(strstr(a.body, "outcome=\"reset\"} 1\n"));
  assert_non_null(strstr(a.body, "dpstatus_tasks_finished 0\n"));
  dps__emu_service_free(s);
  assert_string_equal(read_all(rec), "");
  unlink(rec);
  free(rec);
}

static void test_fault_spec_errors(void **state) {
  (void)state;
  const struct {
    const char *spec, *needle;
  } bad[] = {{"internal=2", "\"internal=2\": a probability must be in [0, 1]"},
             {"internal=-0.1", "internal=-0.1"},
             {"internal=abc", "internal=abc"},
             {"internal=", "internal="},
             {"bogus=1", "\"bogus=1\": unknown kind"},
             {"internal", "\"internal\": expected KIND=VALUE"},
             {"latency=5..1", "MIN is larger than MAX"},
             {"latency=5", "latency=MIN..MAX"},
             {"latency=a..3", "latency=a..3"},
             {"goaway-every=0", "goaway-every=0"},
             {"drop-every=x", "drop-every=x"},
             {"internal=0.6,throttle=0.6", "add up to more than 1"},
             {"internal=0.1,,throttle=0.1", "empty item"},
             {"internal=0.1,internal=0.2", "given twice"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dps__emu_config c = cfg_none();
    c.faults = bad[i].spec;
    dps__emu_service *s = NULL;
    dps_error err = {0};
    assert_int_equal(dps__emu_service_new(&c, &s, &err), DPS_EINVAL);
    assert_null(s);
    if (!strstr(err.message, bad[i].needle) || strncmp(err.message, "--fault", 7) != 0)
      fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].spec, err.message, bad[i].needle);
  }
  dps__emu_config c = cfg_none();
  c.faults = "goaway-every=10000,drop-every=7,latency=0..0";
  dps__emu_service *s = make(&c);
  assert_int_equal(dps__emu_service_goaway_every(s), 10000);
  assert_int_equal(dps__emu_service_drop_every(s), 7);
  assert_int_equal(set_status(s, "{\"taskId\":\"x\",\"taskStatus\":\"FINISHED\"}").status, 200);
  dps__emu_service_free(s);
}

static bool admit(dps__emu_limits *l, dps__emu_op op, const char *account, int64_t ns) {
  return dps__emu_limits_admit(l, op, account, strlen(account), ns);
}

static void test_rate_limit(void **state) {
  (void)state;
  dps__emu_limits l;
  /* A bare RATE is SetTaskStatus, with a burst of RATE: the bucket holds one second. */
  assert_int_equal(dps__emu_limits_init(&l, false, "10", NULL), DPS_OK);
  int64_t t = 1000000000LL;
  int admitted = 0;
  for (int i = 0; i < 30; i++) admitted += admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "", t);
  assert_int_equal(admitted, 10);
  assert_false(admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "", t + 50 * 1000000LL));
  assert_true(admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "", t + 100 * 1000000LL)); /* 1/10 s on */
  assert_false(admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "", t + 100 * 1000000LL));
  admitted = 0;
  for (int ms = 200; ms <= 10100; ms += 10)
    admitted += admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "", t + ms * 1000000LL);
  assert_in_range(admitted, 98, 101); /* 10 per second over ~10 s */
  /* The other operations are not limited. */
  for (int i = 0; i < 100; i++) assert_true(admit(&l, DPS__EMU_OP_POLL_FOR_TASK, "", t));
  dps__emu_limits_clear(&l);

  /* --limits aws, with one operation set over it; each account has its own buckets. */
  assert_int_equal(dps__emu_limits_init(&l, true, "PollForTask=5/3,ReportTaskProgress=0.5", NULL),
                   DPS_OK);
  assert_true(l.op[DPS__EMU_OP_SET_TASK_STATUS].rate == 10);
  assert_true(l.op[DPS__EMU_OP_SET_TASK_STATUS].burst == 100);
  assert_true(l.op[DPS__EMU_OP_REPORT_TASK_RUNNER_HEARTBEAT].rate == 1);
  assert_true(l.op[DPS__EMU_OP_POLL_FOR_TASK].rate == 5 &&
              l.op[DPS__EMU_OP_POLL_FOR_TASK].burst == 3);
  assert_true(l.op[DPS__EMU_OP_REPORT_TASK_PROGRESS].burst == 1); /* at least one call */
  const char *accounts[] = {"AKIDONE", "AKIDTWO"};
  for (int a = 0; a < 2; a++) {
    admitted = 0;
    for (int i = 0; i < 150; i++)
      admitted += admit(&l, DPS__EMU_OP_SET_TASK_STATUS, accounts[a], t);
    assert_int_equal(admitted, 100); /* the burst of 100, for each account */
    admitted = 0;
    for (int i = 0; i < 10; i++) admitted += admit(&l, DPS__EMU_OP_POLL_FOR_TASK, accounts[a], t);
    assert_int_equal(admitted, 3);
  }
  /* One second later each account has 10 more SetTaskStatus calls, the heartbeat 100 then 1. */
  admitted = 0;
  for (int i = 0; i < 50; i++)
    admitted += admit(&l, DPS__EMU_OP_SET_TASK_STATUS, "AKIDONE", t + 1000000000LL);
  assert_int_equal(admitted, 10);
  dps__buf m = DPS__BUF_INIT;
  dps__emu_limits_render(&l, &m);
  assert_non_null(strstr(
      m.data, "dpstatus_throttled_total{operation=\"SetTaskStatus\",account=\"AKIDONE\"} 90\n"));
  assert_non_null(strstr(
      m.data, "dpstatus_throttled_total{operation=\"SetTaskStatus\",account=\"AKIDTWO\"} 50\n"));
  assert_non_null(strstr(
      m.data, "dpstatus_throttled_total{operation=\"PollForTask\",account=\"AKIDTWO\"} 7\n"));
  assert_non_null(strstr(m.data, "dpstatus_rate_limit{operation=\"PollForTask\"} 5\n"));
  assert_non_null(strstr(m.data, "dpstatus_rate_limit_burst{operation=\"SetTaskStatus\"} 100\n"));
  dps__buf_reset(&m);
  dps__emu_limits_describe(&l, &m);
  assert_string_equal(m.data,
                      "SetTaskStatus 10/s burst 100, PollForTask 5/s burst 3, ReportTaskProgress "
                      "0.5/s burst 1, ReportTaskRunnerHeartbeat 1/s burst 100");
  dps__buf_free(&m);
  dps__emu_limits_clear(&l);

  /* More accounts than tracked share the last set of buckets, "other". */
  assert_int_equal(dps__emu_limits_init(&l, false, "1/1", NULL), DPS_OK);
  char id[32];
  for (int i = 0; i < DPS__EMU_LIMITS_MAX_ACCOUNTS + 10; i++) {
    snprintf(id, sizeof id, "AKID%d", i);
    bool ok = admit(&l, DPS__EMU_OP_SET_TASK_STATUS, id, t);
    /* The first MAX-1 have their own bucket; the MAX-th opens "other", whose one token the
     * rest then find taken. */
    assert_true(ok == (i < DPS__EMU_LIMITS_MAX_ACCOUNTS));
  }
  assert_int_equal(l.n_accounts, DPS__EMU_LIMITS_MAX_ACCOUNTS);
  assert_string_equal(l.accounts[DPS__EMU_LIMITS_MAX_ACCOUNTS - 1].id, "other");
  dps__emu_limits_clear(&l);

  /* Bad lists name the item and what is wrong. */
  static const struct {
    const char *spec, *needle;
  } bad[] = {{"", "no limit given"},
             {"0", "RATE must be"},
             {"10/0", "BURST after '/'"},
             {"SetTaskStatus=", "RATE must be"},
             {"Poll=2", "unknown operation \"Poll\""},
             {"10,,PollForTask=2", "empty item"},
             {"10,", "empty item"},
             {"x", "RATE must be"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dps_error err = {0};
    assert_int_equal(dps__emu_limits_init(&l, false, bad[i].spec, &err), DPS_EINVAL);
    if (!strstr(err.message, bad[i].needle) || strcmp(err.field, "--rate-limit") != 0)
      fail_msg("\"%s\": \"%s\" (field %s) lacks \"%s\"", bad[i].spec, err.message, err.field,
               bad[i].needle);
    dps__emu_limits_clear(&l);
  }

  /* Through the service: throttled as AWS answers, with the configured retry headers. */
  dps__emu_config c = cfg_none();
  c.rate_limits = "5";
  c.retry_after_s = 2;
  c.amz_retry_after_ms = 1500;
  dps__emu_service *s = make(&c);
  int throttled = 0;
  for (int i = 0; i < 20; i++) {
    answer a = set_status(s, "{\"taskId\":\"x\",\"taskStatus\":\"FINISHED\"}");
    if (a.status == 400) {
      expect_error(&a, 400, "ThrottlingException", "Rate exceeded");
      assert_string_equal(header_of(&a, "retry-after"), "2");
      assert_string_equal(header_of(&a, "x-amz-retry-after"), "1500");
      throttled++;
    } else {
      assert_null(header_of(&a, "retry-after"));
    }
  }
  assert_in_range(throttled, 14, 15);
  dps__emu_service_free(s);
}

/* ---- record and metrics --------------------------------------------------------------------- */

static void test_record_byte_exact(void **state) {
  (void)state;
  char *rec = write_temp("");
  dps__emu_config c = cfg_none();
  c.record_path = rec;
  dps__emu_service *s = make(&c);
  int64_t before = dps__clock_local_ms();
  assert_int_equal(
      set_status(s,
                 "{\"taskId\":\"q\\\"uote\\\\\",\"taskStatus\":\"FAILED\",\"errorId\":\"E1\","
                 "\"errorMessage\":\"line1\\nline2\\t\\u0001\\u0000 caf\\u00e9 \\u20ac\","
                 "\"errorStackTrace\":\"at x\\r\\n\"}")
          .status,
      200);
  assert_int_equal(set_status(s, "{\"taskId\":\"q\\\"uote\\\\\",\"taskStatus\":\"FAILED\"}").status,
                   200);
  assert_int_equal(
      set_status(s, "{\"taskId\":\"plain\",\"taskStatus\":\"FALSE\",\"errorId\":\"\"}").status,
      200);
  assert_int_equal(dps__emu_service_flush(s), DPS_OK);
  const char *text = read_all(rec);
  /* Replace the three timestamps by a marker after checking their shape. */
  char copy[4096], out[4096];
  size_t text_len = strlen(text);
  assert_true(text_len < sizeof copy);
  memcpy(copy, text, text_len + 1);
  char *o = out;
  const char *p = copy;
  const char *key = "\"receivedAt\":\"";
  const char *k;
  while ((k = strstr(p, key))) {
    k += strlen(key);
    memcpy(o, p, (size_t)(k - p));
    o += k - p;
    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++)
      if (shape[i] == 'd' ? !(k[i] >= '0' && k[i] <= '9') : k[i] != shape[i])
        fail_msg("bad receivedAt: %.24s", k);
    o += sprintf(o, "T");
    p = k + 24;
  }
  strcpy(o, p);
  assert_string_equal(
      out,
      "{\"taskId\":\"q\\\"uote\\\\\",\"taskStatus\":\"FAILED\",\"errorId\":\"E1\","
      "\"errorMessage\":\"line1\\nline2\\t\\u0001\\u0000 caf\xC3\xA9 \xE2\x82\xAC\","
      "\"errorStackTrace\":\"at x\\r\\n\",\"receivedAt\":\"T\",\"count\":1}\n"
      "{\"taskId\":\"q\\\"uote\\\\\",\"taskStatus\":\"FAILED\",\"receivedAt\":\"T\","
      "\"count\":2}\n"
      "{\"taskId\":\"plain\",\"taskStatus\":\"FALSE\",\"errorId\":\"\","
      "\"receivedAt\":\"T\",\"count\":1}\n");
  /* The time is now, to the millisecond. */
  char now_text[25];
  dps__emu_rfc3339_ms(before, now_text);
  assert_memory_equal(strstr(text, key) + strlen(key), now_text, 16); /* same minute */
  /* Each line parses back to the values sent. */
  json_t *j = json_loadb(text, (size_t)(strchr(text, '\n') - text), JSON_ALLOW_NUL, NULL);
  assert_non_null(j);
  json_t *m = json_object_get(j, "errorMessage");
  assert_int_equal(json_string_length(m),
                   strlen("line1\nline2\t\x01") + 1 + strlen(" caf\xC3\xA9 \xE2\x82\xAC"));
  json_decref(j);
  dps__emu_service_free(s);
  unlink(rec);
  free(rec);
}

static void test_rfc3339(void **state) {
  (void)state;
  char t[25];
  dps__emu_rfc3339_ms(1440938160123LL, t); /* 2015-08-30T12:36:00.123Z */
  assert_string_equal(t, "2015-08-30T12:36:00.123Z");
  dps__emu_rfc3339_ms(951782400000LL, t); /* leap day 2000 */
  assert_string_equal(t, "2000-02-29T00:00:00.000Z");
}

static void test_metrics_and_summary(void **state) {
  (void)state;
  dps__emu_config c = cfg_none();
  c.faults = "latency=1..1";
  dps__emu_service *s = make(&c);
  for (int i = 0; i < 3; i++) {
    char body[64];
    snprintf(body, sizeof body, "{\"taskId\":\"m%d\",\"taskStatus\":\"FINISHED\"}", i);
    assert_int_equal(set_status(s, body).status, 200);
  }
  set_status(s, "{\"taskId\":\"\",\"taskStatus\":\"FINISHED\"}");
  set_status(s, "{");
  req_builder b;
  call(s, api(&b, "Nope", "{}"));
  json_decref(poll(s, "w"));
  dps__emu_service_note_connection(s, 1);
  dps__emu_service_note_connection(s, 1);
  dps__emu_service_note_connection(s, -1);
  dps__emu_service_note_stream(s, 1);
  dps__emu_service_note_fault(s, "goaway");
  dps__emu_service_note_fault(s, "drop");
  dps__emu_service_note_fault(s, "drop");
  api(&b, "x", "");
  b.r.method = "GET";
  b.r.path = "/metrics";
  b.r.path_len = 8;
  answer a = call(s, &b.r);
  assert_int_equal(a.status, 200);
  assert_non_null(strstr(a.content_type, "text/plain"));
  const char *want[] = {
      "# HELP dpstatus_requests_total ",
      "# TYPE dpstatus_requests_total counter\n",
      "dpstatus_requests_total{operation=\"SetTaskStatus\",outcome=\"ok\"} 3\n",
      "dpstatus_requests_total{operation=\"SetTaskStatus\",outcome=\"InvalidRequestException\"} "
      "1\n",
      "dpstatus_requests_total{operation=\"SetTaskStatus\",outcome=\"SerializationException\"} 1\n",
      "dpstatus_requests_total{operation=\"other\",outcome=\"UnknownOperationException\"} 1\n",
      "dpstatus_requests_total{operation=\"PollForTask\",outcome=\"ok\"} 1\n",
      "dpstatus_requests_total{operation=\"ReportTaskProgress\",outcome=\"ok\"} 0\n",
      "# TYPE dpstatus_faults_injected_total counter\n",
      "dpstatus_faults_injected_total{kind=\"latency\"} 7\n",
      "dpstatus_faults_injected_total{kind=\"goaway\"} 1\n",
      "dpstatus_faults_injected_total{kind=\"drop\"} 2\n",
      "# TYPE dpstatus_connections_open gauge\n",
      "dpstatus_connections_open 1\n",
      "dpstatus_connections_total 2\n",
      "dpstatus_streams_in_flight 1\n",
      "dpstatus_tasks_known 3\n",
      "dpstatus_tasks_finished 3\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(a.body, want[i])) fail_msg("metrics lack %s\n%s", want[i], a.body);
  dps__buf sum = DPS__BUF_INIT;
  dps__emu_service_summary(s, &sum);
  assert_non_null(strstr(sum.data, "served 7 requests: 4 ok"));
  assert_non_null(strstr(sum.data, "1 InvalidRequestException"));
  assert_non_null(strstr(sum.data, "3 finished"));
  dps__buf_free(&sum);
  dps__emu_service_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_task_status_ok),
      cmocka_unit_test(test_routing_errors),
      cmocka_unit_test(test_serialization_errors),
      cmocka_unit_test(test_oversized_body),
      cmocka_unit_test(test_validation),
      cmocka_unit_test(test_first_status_stands),
      cmocka_unit_test(test_strict_mode),
      cmocka_unit_test(test_tasks_file_errors),
      cmocka_unit_test(test_strict_poll_loop),
      cmocka_unit_test(test_auto_poll_and_inputs),
      cmocka_unit_test(test_sigv4_accepts_and_rejects),
      cmocka_unit_test(test_sigv4_session_token),
      cmocka_unit_test(test_fault_determinism_and_rates),
      cmocka_unit_test(test_fault_reset_records_nothing),
      cmocka_unit_test(test_fault_spec_errors),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_record_byte_exact),
      cmocka_unit_test(test_rfc3339),
      cmocka_unit_test(test_metrics_and_summary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
