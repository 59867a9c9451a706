/*
 * service.c: the emulated Data Pipeline task-runner API (see service.h). Owns routing (method,
 * path, content type, X-Amz-Target, GET /metrics), the order of the checks (which mirrors AWS's
 * JSON services: transport limits and faults, then content type, JSON, operation, signature,
 * member types, model constraints, task state), the four operations, and AWS's error shapes.
 * The parts live beside it: tasks.c (store), faults.c, limits.c (rate limits), auth.c (SigV4),
 * record.c, metrics.c.
 */
#include "emulator/service.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/credentials.h"
#include "core/error.h"
#include "core/json.h"
#include "core/update.h"
#include "core/utf8.h"
#include "emulator/auth.h"
#include "emulator/faults.h"
#include "emulator/limits.h"
#include "emulator/metrics.h"
#include "emulator/record.h"
#include "emulator/tasks.h"

#define JSON_CT "application/x-amz-json-1.1"
#define NS_SERVICE "com.amazonaws.datapipeline#"
#define NS_CORAL "com.amazon.coral.service#"
#define NS_AVAILABILITY "com.amazon.coral.availability#"

struct dps__emu_service {
  dps__emu_tasks_mode tasks_mode;
  bool auth_on;
  size_t max_body;
  char *region;
  dps__emu_tasks tasks;
  dps__emu_faults faults;
  dps__emu_limits limits;
  char retry_after[12], amz_retry_after[12]; /* throttled answers' header values; "": none */
  dps__emu_auth auth;
  dps__emu_record record;
  dps__emu_metrics metrics;
  uint64_t id_state;   /* request ids: not the fault PRNG, so ids never disturb fault replay */
  uint64_t name_state; /* generated task, pipeline and attempt ids */
  uint64_t polls;
  dps__buf msg; /* the current error message, reused */
};

void dps__emu_config_init(dps__emu_config *c) {
  memset(c, 0, sizeof *c);
  c->listen = "127.0.0.1:8080";
  c->alpn = "h2,http/1.1";
  c->max_streams = 128;
  c->tasks_mode = DPS__EMU_TASKS_AUTO;
  c->auth_mode = DPS__EMU_AUTH_SIGV4;
  c->max_body_bytes = DPS_DEFAULT_MAX_BODY_BYTES;
}

void dps__emu_response_free(dps__emu_response *r) {
  if (r) dps__buf_free(&r->body);
}

/* ------------------------------------------------------------------------------------------- */

static int load_credentials(dps__emu_service *s, const dps__emu_config *cfg, dps_error *err) {
  dps__credentials creds = {0};
  dps__cred_options o = {.access_key_id = cfg->access_key,
                         .secret_access_key = cfg->secret_key,
                         .profile = cfg->profile};
  if ((cfg->access_key != NULL) != (cfg->secret_key != NULL))
    return dps__error_set(err, DPS_EINVAL, "--access-key",
                          "--access-key and --secret-key go together");
  int rc = dps__credentials_resolve(&o, &creds, err);
  if (rc != DPS_OK) return rc;
  rc = dps__emu_auth_init(&s->auth, creds.access_key_id, creds.secret_access_key,
                          creds.session_token, s->region);
  dps__credentials_free(&creds);
  if (rc != DPS_OK) return dps__error_set(err, rc, "--auth", "out of memory");
  return DPS_OK;
}

int dps__emu_service_new(const dps__emu_config *cfg, dps__emu_service **out, dps_error *err) {
  *out = NULL;
  dps__emu_service *s = calloc(1, sizeof *s);
  if (!s) return dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
  s->record.fd = -1;
  s->tasks_mode = cfg->tasks_mode;
  s->auth_on = cfg->auth_mode == DPS__EMU_AUTH_SIGV4;
  s->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : DPS_DEFAULT_MAX_BODY_BYTES;
  s->id_state = (uint64_t)dps__clock_local_ms() ^ ((uint64_t)dps__emu_monotonic_ns() << 20);
  s->name_state = cfg->seed ^ 0x5DEECE66DULL;
  int rc;
  if (cfg->region && !(s->region = strdup(cfg->region))) {
    rc = dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
    goto fail;
  }
  if ((rc = dps__emu_faults_init(&s->faults, cfg->faults, cfg->seed, err))) goto fail;
  if ((rc = dps__emu_limits_init(&s->limits, cfg->limits_aws, cfg->rate_limits, err))) goto fail;
  if (cfg->retry_after_s)
    snprintf(s->retry_after, sizeof s->retry_after, "%u", (unsigned)cfg->retry_after_s);
  if (cfg->amz_retry_after_ms)
    snprintf(s->amz_retry_after, sizeof s->amz_retry_after, "%u",
             (unsigned)cfg->amz_retry_after_ms);
  if ((rc = dps__emu_tasks_init(&s->tasks)) != DPS_OK) {
    dps__error_set(err, rc, NULL, "out of memory");
    goto fail;
  }
  if (cfg->tasks_file && (rc = dps__emu_tasks_load(&s->tasks, cfg->tasks_file, err))) goto fail;
  if (s->auth_on && (rc = load_credentials(s, cfg, err)) != DPS_OK) goto fail;
  if ((rc = dps__emu_record_open(&s->record, cfg->record_path, err)) != DPS_OK) goto fail;
  *out = s;
  return DPS_OK;
fail:
  dps__emu_service_free(s);
  return rc;
}

void dps__emu_service_free(dps__emu_service *s) {
  if (!s) return;
  dps__emu_record_close(&s->record);
  dps__emu_auth_clear(&s->auth);
  dps__emu_limits_clear(&s->limits);
  dps__emu_tasks_free(&s->tasks);
  dps__buf_free(&s->msg);
  free(s->region);
  free(s);
}

int dps__emu_service_flush(dps__emu_service *s) { return dps__emu_record_flush(&s->record); }

uint32_t dps__emu_service_goaway_every(const dps__emu_service *s) { return s->faults.goaway_every; }
uint32_t dps__emu_service_drop_every(const dps__emu_service *s) { return s->faults.drop_every; }

void dps__emu_service_note_connection(dps__emu_service *s, int delta) {
  s->metrics.connections_open += delta;
  if (delta > 0) s->metrics.connections_total += (uint64_t)delta;
}
void dps__emu_service_note_stream(dps__emu_service *s, int delta) {
  s->metrics.streams_in_flight += delta;
}
void dps__emu_service_note_fault(dps__emu_service *s, const char *kind) {
  int k = dps__emu_fault_kind_parse(kind);
  if (k >= 0) s->metrics.faults[k]++;
}

static void sync_gauges(dps__emu_service *s) {
  s->metrics.tasks_known = s->tasks.n;
  s->metrics.tasks_finished = s->tasks.finished;
  s->metrics.record_lines = s->record.lines;
}

void dps__emu_service_summary(const dps__emu_service *s, dps__buf *out) {
  dps__emu_metrics m = s->metrics;
  m.tasks_known = s->tasks.n;
  m.tasks_finished = s->tasks.finished;
  m.record_lines = s->record.lines;
  dps__emu_metrics_summary(&m, out);
}

void dps__emu_service_describe_limits(const dps__emu_service *s, dps__buf *out) {
  dps__emu_limits_describe(&s->limits, out);
}

/* ------------------------------------------------------------------------------------------- */
/* Responses */

static void put_hex(char *o, uint64_t v, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--, v >>= 4) o[i] = hex[v & 15];
}

/* A version-4 UUID, as AWS request ids are. */
static void make_request_id(dps__emu_service *s, char out[40]) {
  uint64_t a = dps__emu_splitmix64(&s->id_state), b = dps__emu_splitmix64(&s->id_state);
  put_hex(out, a >> 32, 8);
  out[8] = '-';
  put_hex(out + 9, a >> 16, 4);
  out[13] = '-';
  out[14] = '4';
  put_hex(out + 15, a, 3);
  out[18] = '-';
  put_hex(out + 19, 0x8000 | (b >> 48 & 0x3fff), 4);
  out[23] = '-';
  put_hex(out + 24, b, 12);
  out[36] = '\0';
}

/* Appends @p n bytes escaped for a JSON string; bytes that are not UTF-8 become '?' so that the
 * body always parses (messages can quote header values, which are arbitrary bytes). */
static void put_json_text(dps__buf *b, const char *p, size_t n) {
  dps__utf8_scan sc;
  if (n > (SIZE_MAX - 16) / 6 || !dps__buf_reserve(b, 6 * n + 1)) {
    b->oom = true;
    return;
  }
  if (dps__utf8_scan_str(p, n, false, &sc)) {
    char *e = dps__json_escape(b->data + b->len, p, n);
    b->len = (size_t)(e - b->data);
  } else {
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)p[i];
      char *e = dps__json_escape(b->data + b->len, c >= 0x80 ? "?" : p + i, 1);
      b->len = (size_t)(e - b->data);
    }
  }
  b->data[b->len] = '\0';
}

static const struct {
  int status;
  const char *type; /* __type */
} errors[DPS__EMU_OUTCOME_COUNT] = {
    [DPS__EMU_INVALID_REQUEST] = {400, NS_SERVICE "InvalidRequestException"},
    [DPS__EMU_TASK_NOT_FOUND] = {400, NS_SERVICE "TaskNotFoundException"},
    [DPS__EMU_PIPELINE_NOT_FOUND] = {400, NS_SERVICE "PipelineNotFoundException"},
    [DPS__EMU_PIPELINE_DELETED] = {400, NS_SERVICE "PipelineDeletedException"},
    [DPS__EMU_INTERNAL] = {500, NS_SERVICE "InternalServiceError"},
    [DPS__EMU_THROTTLING] = {400, NS_AVAILABILITY "ThrottlingException"},
    [DPS__EMU_UNKNOWN_OPERATION] = {400, NS_CORAL "UnknownOperationException"},
    [DPS__EMU_SERIALIZATION] = {400, NS_CORAL "SerializationException"},
    [DPS__EMU_MISSING_AUTH] = {400, NS_CORAL "MissingAuthenticationTokenException"},
    [DPS__EMU_INCOMPLETE_SIGNATURE] = {400, NS_CORAL "IncompleteSignatureException"},
    [DPS__EMU_INVALID_SIGNATURE] = {400, NS_CORAL "InvalidSignatureException"},
    [DPS__EMU_UNRECOGNIZED_CLIENT] = {400, NS_CORAL "UnrecognizedClientException"},
    [DPS__EMU_TOO_LARGE] = {413, NS_CORAL "RequestEntityTooLargeException"},
};

/* Fills @p resp with the AWS JSON 1.1 error for @p o and the message in s->msg. */
static void respond_error(dps__emu_service *s, dps__emu_response *resp, dps__emu_outcome o,
                          int status) {
  resp->status = status ? status : errors[o].status;
  resp->content_type = JSON_CT;
  const char *code = dps__emu_outcome_name(o);
  resp->headers[resp->n_headers++] = (dps__header){"x-amzn-errortype", 16, code, strlen(code)};
  if (o == DPS__EMU_THROTTLING) {
    /* The values live in the service, so they outlast a delayed answer. */
    if (s->retry_after[0])
      resp->headers[resp->n_headers++] =
          (dps__header){"retry-after", 11, s->retry_after, strlen(s->retry_after)};
    if (s->amz_retry_after[0])
      resp->headers[resp->n_headers++] =
          (dps__header){"x-amz-retry-after", 17, s->amz_retry_after, strlen(s->amz_retry_after)};
  }
  dps__buf *b = &resp->body;
  dps__buf_puts(b, "{\"__type\":\"");
  dps__buf_puts(b, errors[o].type);
  dps__buf_puts(b, "\",\"message\":\"");
  put_json_text(b, s->msg.data ? s->msg.data : "", s->msg.len);
  dps__buf_puts(b, "\"}");
}

static const char unavailable_page[] =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";

/* ------------------------------------------------------------------------------------------- */
/* Members */

#define MSG(...) dps__buf_printf(&s->msg, __VA_ARGS__)

/* Reads string member @p name: absent or null leaves *p NULL. A non-string is the
 * SerializationException AWS's deserializer raises. */
static dps__emu_outcome get_string(dps__emu_service *s, json_t *o, const char *name, const char **p,
                                   size_t *n) {
  json_t *v = json_object_get(o, name);
  *p = NULL;
  *n = 0;
  if (!v || json_is_null(v)) return DPS__EMU_OK;
  if (!json_is_string(v)) {
    MSG("Unexpected value type for member '%s': expected a string", name);
    return DPS__EMU_SERIALIZATION;
  }
  *p = json_string_value(v);
  *n = json_string_length(v);
  return DPS__EMU_OK;
}

/* The model's constraints on a string member: UTF-8 and pattern, length in characters. */
static dps__emu_outcome check_string(dps__emu_service *s, const char *field, const char *p,
                                     size_t n, bool required, size_t min, size_t max) {
  if (!p) {
    if (!required) return DPS__EMU_OK;
    MSG("%s: required, but absent", field);
    return DPS__EMU_INVALID_REQUEST;
  }
  dps__utf8_scan sc;
  if (!dps__utf8_scan_str(p, n, true, &sc)) {
    MSG("%s: invalid character at byte %zu: %s", field, sc.fault_byte,
        dps__utf8_fault_name(sc.fault));
    return DPS__EMU_INVALID_REQUEST;
  }
  if (sc.chars < min) {
    MSG("%s: %zu characters, the minimum is %zu", field, sc.chars, min);
    return DPS__EMU_INVALID_REQUEST;
  }
  if (sc.chars > max) {
    MSG("%s: %zu characters, the limit is %zu", field, sc.chars, max);
    return DPS__EMU_INVALID_REQUEST;
  }
  return DPS__EMU_OK;
}

/* Appends the first bytes of @p id (whole UTF-8 characters) for messages. */
static void msg_id(dps__emu_service *s, const char *id, size_t n) {
  size_t cut = n > 128 ? 128 : n;
  while (cut < n && cut > 0 && ((unsigned char)id[cut] & 0xC0) == 0x80) cut--;
  dps__buf_append(&s->msg, id, cut);
  if (cut < n) dps__buf_puts(&s->msg, "...");
}

/* The task's state as the operation sees it: not found, pipeline missing or deleted. */
static dps__emu_outcome task_state(dps__emu_service *s, const dps__emu_task *e, const char *id,
                                   size_t n) {
  if (s->tasks_mode == DPS__EMU_TASKS_STRICT && (!e || !e->listed)) {
    MSG("Task not found: ");
    msg_id(s, id, n);
    return DPS__EMU_TASK_NOT_FOUND;
  }
  if (e && e->pipeline == DPS__EMU_PSTATE_MISSING) {
    MSG("Pipeline not found: %s", e->pipeline_id ? e->pipeline_id : "");
    return DPS__EMU_PIPELINE_NOT_FOUND;
  }
  if (e && e->pipeline == DPS__EMU_PSTATE_DELETED) {
    MSG("Pipeline has been deleted: %s", e->pipeline_id ? e->pipeline_id : "");
    return DPS__EMU_PIPELINE_DELETED;
  }
  return DPS__EMU_OK;
}

#define TRY(expr)                             \
  do {                                        \
    dps__emu_outcome try_o_ = (expr);         \
    if (try_o_ != DPS__EMU_OK) return try_o_; \
  } while (0)

/* ------------------------------------------------------------------------------------------- */
/* Operations */

static dps__emu_outcome set_task_status(dps__emu_service *s, json_t *root, int64_t now_ms,
                                        dps__emu_response *resp) {
  const char *id, *st, *eid, *emsg, *etr;
  size_t id_n, st_n, eid_n, emsg_n, etr_n;
  TRY(get_string(s, root, "taskId", &id, &id_n));
  if (id) dps__emu_tasks_prefetch(&s->tasks, id, id_n); /* the lookup below, after validation */
  TRY(get_string(s, root, "taskStatus", &st, &st_n));
  TRY(get_string(s, root, "errorId", &eid, &eid_n));
  TRY(get_string(s, root, "errorMessage", &emsg, &emsg_n));
  TRY(get_string(s, root, "errorStackTrace", &etr, &etr_n));
  dps_update u = {.task_id = id,
                  .task_id_len = id_n,
                  .error_id = eid,
                  .error_id_len = eid_n,
                  .error_message = emsg,
                  .error_message_len = emsg_n,
                  .error_stack_trace = etr,
                  .error_stack_trace_len = etr_n};
  /* taskId first, as the client checks it first; then the status the update struct needs. */
  if (!id) {
    MSG("taskId: required, but absent");
    return DPS__EMU_INVALID_REQUEST;
  }
  if (!st) {
    MSG("taskStatus: required, but absent");
    return DPS__EMU_INVALID_REQUEST;
  }
  if (dps_task_status_parse(st, st_n, &u.task_status) != DPS_OK) {
    MSG("taskStatus: must be one of FINISHED, FAILED, FALSE");
    return DPS__EMU_INVALID_REQUEST;
  }
  dps__update_view view;
  dps_error err;
  /* The body limit was enforced on what was received; no second limit on the re-encoding. */
  if (dps__update_check(&u, SIZE_MAX, &view, &err) != DPS_OK) {
    MSG("%s", err.message);
    return DPS__EMU_INVALID_REQUEST;
  }
  dps__emu_task *e;
  if (s->tasks_mode == DPS__EMU_TASKS_STRICT) {
    e = dps__emu_tasks_find(&s->tasks, id, id_n);
  } else if (dps__emu_tasks_upsert(&s->tasks, id, id_n, &e, NULL) != DPS_OK) {
    MSG("out of memory");
    return DPS__EMU_INTERNAL;
  }
  TRY(task_state(s, e, id, id_n));
  if (e->status && e->status != (uint8_t)u.task_status) {
    MSG("taskStatus: the task was already reported %s, and a task's first final status stands",
        dps_task_status_name((dps_task_status)e->status));
    return DPS__EMU_INVALID_REQUEST;
  }
  if (!e->status) {
    e->status = (uint8_t)u.task_status;
    s->tasks.finished++;
  }
  e->count++;
  dps__emu_record_add(&s->record, &u, now_ms, e->count);
  dps__buf_append(&resp->body, "{}", 2);
  return DPS__EMU_OK;
}

/* Checks the optional "fields" list of ReportTaskProgress (the model's Field shape). */
static dps__emu_outcome check_fields(dps__emu_service *s, json_t *root) {
  json_t *fields = json_object_get(root, "fields");
  if (!fields || json_is_null(fields)) return DPS__EMU_OK;
  if (!json_is_array(fields)) {
    MSG("Unexpected value type for member 'fields': expected a list");
    return DPS__EMU_SERIALIZATION;
  }
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (!json_is_object(f)) {
      MSG("Unexpected value type for member 'fields[%zu]': expected a structure", i);
      return DPS__EMU_SERIALIZATION;
    }
    static const char *const names[3] = {"key", "stringValue", "refValue"};
    static const size_t min[3] = {1, 0, 1}, max[3] = {256, 10240, 256};
    for (int k = 0; k < 3; k++) {
      const char *p;
      size_t n;
      char field[48];
      snprintf(field, sizeof field, "fields[%zu].%s", i, names[k]);
      if (get_string(s, f, names[k], &p, &n) != DPS__EMU_OK) {
        dps__buf_reset(&s->msg);
        MSG("Unexpected value type for member '%s': expected a string", field);
        return DPS__EMU_SERIALIZATION;
      }
      TRY(check_string(s, field, p, n, k == 0, min[k], max[k]));
    }
  }
  return DPS__EMU_OK;
}

static dps__emu_outcome report_task_progress(dps__emu_service *s, json_t *root,
                                             dps__emu_response *resp) {
  const char *id;
  size_t n;
  TRY(get_string(s, root, "taskId", &id, &n));
  TRY(check_string(s, "taskId", id, n, true, DPS__TASK_ID_MIN, DPS__TASK_ID_MAX));
  TRY(check_fields(s, root));
  TRY(task_state(s, dps__emu_tasks_find(&s->tasks, id, n), id, n));
  dps__buf_puts(&resp->body, "{\"canceled\":false}");
  return DPS__EMU_OK;
}

static dps__emu_outcome report_heartbeat(dps__emu_service *s, json_t *root,
                                         dps__emu_response *resp) {
  const char *runner, *group, *host;
  size_t rn, gn, hn;
  TRY(get_string(s, root, "taskrunnerId", &runner, &rn));
  TRY(get_string(s, root, "workerGroup", &group, &gn));
  TRY(get_string(s, root, "hostname", &host, &hn));
  TRY(check_string(s, "taskrunnerId", runner, rn, true, 1, 1024));
  TRY(check_string(s, "workerGroup", group, gn, false, 0, 1024));
  TRY(check_string(s, "hostname", host, hn, false, 1, 1024));
  dps__buf_puts(&resp->body, "{\"terminate\":false}");
  return DPS__EMU_OK;
}

/* Writes @p n characters of [0-9A-Z] from @p v's bits, like AWS's opaque ids. */
static void put_base36(char *o, uint64_t v, uint64_t w, int n) {
  static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int i = 0; i < n; i++) {
    if (i == 12) v = w;
    o[i] = digits[v % 36];
    v /= 36;
  }
}

static void put_member(dps__buf *b, const char *lead, const char *s, size_t n) {
  dps__buf_puts(b, lead);
  put_json_text(b, s, n);
  dps__buf_putc(b, '"');
}

/* {"taskObject":{...}} for one task: the model's TaskObject, with the attempt as its object. */
static void write_task_object(dps__emu_service *s, dps__buf *b, const char *id, size_t id_n,
                              const char *pipeline, size_t pipeline_n, const char *group,
                              size_t group_n) {
  char attempt[40];
  uint64_t a = dps__emu_splitmix64(&s->name_state);
  memcpy(attempt, "@Attempt_", 9);
  put_base36(attempt + 9, a, a >> 7, 20);
  attempt[29] = '\0';
  put_member(b, "{\"taskObject\":{\"taskId\":\"", id, id_n);
  put_member(b, ",\"pipelineId\":\"", pipeline, pipeline_n);
  put_member(b, ",\"attemptId\":\"", attempt, 29);
  put_member(b, ",\"objects\":{\"", attempt, 29);
  put_member(b, ":{\"id\":\"", attempt, 29);
  put_member(b, ",\"name\":\"", attempt, 29);
  dps__buf_puts(b, ",\"fields\":[{\"key\":\"@status\",\"stringValue\":\"RUNNING\"}");
  put_member(b, ",{\"key\":\"@pipelineId\",\"stringValue\":\"", pipeline, pipeline_n);
  put_member(b, "},{\"key\":\"workerGroup\",\"stringValue\":\"", group, group_n);
  dps__buf_puts(b, "}]}}}}");
}

static dps__emu_outcome poll_for_task(dps__emu_service *s, json_t *root, dps__emu_response *resp) {
  const char *group, *host, *doc, *sig;
  size_t gn, hn, dn = 0, sn = 0;
  TRY(get_string(s, root, "workerGroup", &group, &gn));
  TRY(get_string(s, root, "hostname", &host, &hn));
  json_t *ident = json_object_get(root, "instanceIdentity");
  doc = sig = NULL;
  if (ident && !json_is_null(ident)) {
    if (!json_is_object(ident)) {
      MSG("Unexpected value type for member 'instanceIdentity': expected a structure");
      return DPS__EMU_SERIALIZATION;
    }
    TRY(get_string(s, ident, "document", &doc, &dn));
    TRY(get_string(s, ident, "signature", &sig, &sn));
  }
  TRY(check_string(s, "workerGroup", group, gn, true, 0, 1024));
  TRY(check_string(s, "hostname", host, hn, false, 1, 1024));
  TRY(check_string(s, "instanceIdentity.document", doc, dn, false, 0, 1024));
  TRY(check_string(s, "instanceIdentity.signature", sig, sn, false, 0, 1024));
  s->polls++;
  if (s->tasks_mode == DPS__EMU_TASKS_STRICT) {
    dps__emu_task *e = dps__emu_tasks_next_pending(&s->tasks, group, gn);
    if (!e) {
      dps__buf_puts(&resp->body, "{}");
      return DPS__EMU_OK;
    }
    write_task_object(s, &resp->body, e->id, e->id_len, e->pipeline_id, e->pipeline_id_len, group,
                      gn);
    return DPS__EMU_OK;
  }
  /* Auto mode: a fresh task every time; any well-formed id is known, so nothing is stored. */
  char id[40], pipeline[24];
  uint64_t a = dps__emu_splitmix64(&s->name_state), b = dps__emu_splitmix64(&s->name_state);
  memcpy(id, "tsk-", 4);
  put_base36(id + 4, a, b, 24);
  memcpy(pipeline, "df-", 3);
  put_base36(pipeline + 3, b ^ (a << 7), a ^ (b << 3), 20);
  write_task_object(s, &resp->body, id, 28, pipeline, 23, group, gn);
  return DPS__EMU_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Routing */

static const struct {
  const char *name;
  dps__emu_op op;
} ops[] = {{"SetTaskStatus", DPS__EMU_OP_SET_TASK_STATUS},
           {"PollForTask", DPS__EMU_OP_POLL_FOR_TASK},
           {"ReportTaskProgress", DPS__EMU_OP_REPORT_TASK_PROGRESS},
           {"ReportTaskRunnerHeartbeat", DPS__EMU_OP_REPORT_TASK_RUNNER_HEARTBEAT}};

static dps__emu_op parse_target(const char *t, size_t n) {
  static const char prefix[] = "DataPipeline.";
  if (!t || n <= sizeof prefix - 1 || memcmp(t, prefix, sizeof prefix - 1) != 0)
    return DPS__EMU_OP_OTHER;
  t += sizeof prefix - 1;
  n -= sizeof prefix - 1;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strlen(ops[i].name) == n && memcmp(ops[i].name, t, n) == 0) return ops[i].op;
  return DPS__EMU_OP_OTHER;
}

/* AWS JSON services take the x-amz-json versions and plain application/json, parameters
 * (charset) ignored; anything else is not a JSON protocol request at all. */
static bool content_type_ok(const char *v, size_t n) {
  if (!v) return false;
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  size_t end = 0;
  while (end < n && v[end] != ';' && v[end] != ' ' && v[end] != '\t') end++;
  static const char *const ok[] = {"application/x-amz-json-1.1", "application/x-amz-json-1.0",
                                   "application/json"};
  for (size_t i = 0; i < 3; i++)
    if (strlen(ok[i]) == end && strncasecmp(ok[i], v, end) == 0) return true;
  return false;
}

static bool parse_length(const char *v, size_t n, size_t *out) {
  size_t x = 0;
  if (!v || !n) return false;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return false;
    if (x > (SIZE_MAX - 9) / 10) return false;
    x = x * 10 + (size_t)(v[i] - '0');
  }
  *out = x;
  return true;
}

/* Everything for one API request (POST); returns the outcome, which the caller counts. */
static dps__emu_outcome handle_api(dps__emu_service *s, const dps__emu_request *req,
                                   dps__emu_response *resp, dps__emu_op *op_out) {
  size_t n = 0, target_len = 0;
  const char *target = dps__emu_header(req->headers, req->n_headers, "x-amz-target", &target_len);
  dps__emu_op op = parse_target(target, target_len);
  *op_out = op;

  /* One draw per API request, first, whatever happens next: runs with one seed replay. */
  uint32_t delay;
  dps__emu_fault fault = dps__emu_faults_draw(&s->faults, &delay);
  if (fault == DPS__EMU_FAULT_RESET) {
    s->metrics.faults[DPS__EMU_FK_RESET]++;
    resp->action = DPS__EMU_RESET_STREAM;
    return DPS__EMU_RESET;
  }
  resp->delay_ms = delay;
  if (delay) s->metrics.faults[DPS__EMU_FK_LATENCY]++;

  size_t declared;
  const char *cl = dps__emu_header(req->headers, req->n_headers, "content-length", &n);
  if (req->body_len > s->max_body || (parse_length(cl, n, &declared) && declared > s->max_body)) {
    MSG("Request body of %zu bytes exceeds the limit of %zu bytes",
        req->body_len > s->max_body ? req->body_len : declared, s->max_body);
    return DPS__EMU_TOO_LARGE;
  }
  switch (fault) {
    case DPS__EMU_FAULT_UNAVAILABLE:
      s->metrics.faults[DPS__EMU_FK_UNAVAILABLE]++;
      resp->status = 503;
      resp->content_type = "text/html";
      dps__buf_append(&resp->body, unavailable_page, sizeof unavailable_page - 1);
      return DPS__EMU_UNAVAILABLE;
    case DPS__EMU_FAULT_INTERNAL:
      s->metrics.faults[DPS__EMU_FK_INTERNAL]++;
      MSG("Internal service error (injected fault)");
      return DPS__EMU_INTERNAL;
    case DPS__EMU_FAULT_THROTTLE:
      s->metrics.faults[DPS__EMU_FK_THROTTLE]++;
      MSG("Rate exceeded");
      return DPS__EMU_THROTTLING;
    default: break;
  }
  /* Not a JSON protocol request: AWS's front end answers 404 UnknownOperationException. */
  const char *q = memchr(req->path, '?', req->path_len);
  size_t plen = q ? (size_t)(q - req->path) : req->path_len;
  const char *ct = dps__emu_header(req->headers, req->n_headers, "content-type", &n);
  if (plen != 1 || req->path[0] != '/' || !content_type_ok(ct, n)) {
    *op_out = DPS__EMU_OP_OTHER;
    resp->status = 404;
    MSG(plen != 1 || req->path[0] != '/' ? "No operation at this path: POST / is the only one"
                                         : "Content-Type must be application/x-amz-json-1.1");
    return DPS__EMU_UNKNOWN_OPERATION;
  }

  json_error_t je;
  json_t *root = json_loadb(req->body ? req->body : "", req->body_len, JSON_ALLOW_NUL, &je);
  dps__emu_outcome o = DPS__EMU_OK;
  if (!root) {
    MSG("Malformed JSON: %s at byte %d", je.text, je.position);
    o = DPS__EMU_SERIALIZATION;
  } else if (op == DPS__EMU_OP_OTHER) {
    if (target) {
      MSG("Unknown operation: %.*s", (int)(target_len > 128 ? 128 : target_len), target);
    } else {
      MSG("Missing X-Amz-Target header");
    }
    o = DPS__EMU_UNKNOWN_OPERATION;
  }
  int64_t now_ms = dps__clock_local_ms();
  if (o == DPS__EMU_OK && s->auth_on) {
    dps__emu_auth_request ar = {req->method,    req->path, req->path_len, req->headers,
                                req->n_headers, req->body, req->body_len};
    o = dps__emu_auth_verify(&s->auth, &ar, now_ms, &s->msg);
  }
  /* The limits are the account's: checked once the caller is known (its signature verified), as
   * the service does, and before the operation touches anything. */
  if (o == DPS__EMU_OK) {
    const char *account = s->auth_on ? s->auth.access_key_id : "";
    if (!dps__emu_limits_admit(&s->limits, op, account, strlen(account), dps__emu_monotonic_ns())) {
      s->metrics.faults[DPS__EMU_FK_RATE_LIMIT]++;
      MSG("Rate exceeded");
      o = DPS__EMU_THROTTLING;
    }
  }
  if (o == DPS__EMU_OK && !json_is_object(root)) {
    MSG("Expected a JSON object as the request body");
    o = DPS__EMU_SERIALIZATION;
  }
  if (o == DPS__EMU_OK) {
    switch (op) {
      case DPS__EMU_OP_SET_TASK_STATUS: o = set_task_status(s, root, now_ms, resp); break;
      case DPS__EMU_OP_POLL_FOR_TASK: o = poll_for_task(s, root, resp); break;
      case DPS__EMU_OP_REPORT_TASK_PROGRESS: o = report_task_progress(s, root, resp); break;
      default: o = report_heartbeat(s, root, resp); break;
    }
  }
  json_decref(root);
  return o;
}

void dps__emu_service_handle(dps__emu_service *s, const dps__emu_request *req,
                             dps__emu_response *resp) {
  memset(resp, 0, sizeof *resp);
  resp->action = DPS__EMU_RESPOND;
  resp->status = 200;
  resp->content_type = JSON_CT;
  make_request_id(s, resp->request_id);
  dps__buf_reset(&s->msg);
  const char *method = req->method ? req->method : "";
  const char *path = req->path ? req->path : "";
  size_t plen = req->path ? req->path_len : 0;
  const char *q = memchr(path, '?', plen);
  size_t bare = q ? (size_t)(q - path) : plen;

  if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) && bare == 8 &&
      memcmp(path, "/metrics", 8) == 0) {
    s->metrics.metrics_requests++;
    sync_gauges(s);
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    dps__emu_metrics_render(&s->metrics, &resp->body);
    dps__emu_limits_render(&s->limits, &resp->body);
    return;
  }
  dps__emu_op op = DPS__EMU_OP_OTHER;
  dps__emu_outcome o;
  int status = 0;
  if (strcmp(method, "POST") != 0) {
    /* AWS's JSON endpoints only take POST; anything else is no operation they know. */
    status = 404;
    MSG("Method %.16s is not supported: the API is POST /", method);
    o = DPS__EMU_UNKNOWN_OPERATION;
  } else {
    o = handle_api(s, req, resp, &op);
    if (o == DPS__EMU_UNKNOWN_OPERATION && resp->status == 404) status = 404;
  }
  s->metrics.requests[op][o]++;
  if (o != DPS__EMU_OK && o != DPS__EMU_RESET && o != DPS__EMU_UNAVAILABLE) {
    dps__buf_reset(&resp->body);
    respond_error(s, resp, o, status);
  }
  if (dps__buf_failed(&resp->body)) {
    /* Out of memory while writing the answer: say so without allocating. */
    dps__buf_free(&resp->body);
    resp->status = 500;
    resp->n_headers = 0;
  }
}
