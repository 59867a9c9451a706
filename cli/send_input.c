/*
 * send_input.c: where `dpstatus send` gets its updates: the flags (one update), an NDJSON stream
 * (one SetTaskStatus request body per line, read with getline so any length goes, parsed with
 * jansson), or a generator. A bad line becomes a REJECTED item with its reason; the stream goes
 * on. Validation against the service model is dps_submit's: this file only checks the shape.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli/send.h"
#include "core/buf.h"

typedef enum { SRC_SINGLE, SRC_NDJSON, SRC_GENERATE } src_kind;

struct dps_send_source {
  src_kind kind;
  /* SRC_SINGLE */
  const dps_update *single;
  bool single_done;
  /* SRC_NDJSON */
  FILE *f;
  bool close_f;
  char *line;
  size_t cap;
  uint64_t lineno;
  json_t *doc; /* the current line's document: item strings point into it */
  /* SRC_GENERATE */
  uint64_t n, i;
  char tid[48], msg[96], trace[96];
  /* SRC_GENERATE with a mix (load): prefix, cumulative weights, a message of msg_bytes */
  bool mixed;
  char *prefix, *mix_tid, *mix_msg;
  size_t prefix_len; /* mix_tid starts with the prefix; the number goes after it */
  unsigned cumulative[3];
};

static dps_send_source *source_new(src_kind kind) {
  dps_send_source *s = calloc(1, sizeof *s);
  if (s) s->kind = kind;
  return s;
}

int dps_send_source_single(dps_send_source **out, const dps_update *u) {
  if (!(*out = source_new(SRC_SINGLE))) return -1;
  (*out)->single = u;
  return 0;
}

int dps_send_source_ndjson(dps_send_source **out, const char *path, char *why, size_t why_len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    snprintf(why, why_len, "--input: cannot open \"%s\": %s", path, strerror(errno));
    return -1;
  }
  if (!(*out = source_new(SRC_NDJSON))) {
    if (f != stdin) fclose(f);
    snprintf(why, why_len, "out of memory");
    return -1;
  }
  (*out)->f = f;
  (*out)->close_f = f != stdin;
  return 0;
}

int dps_send_source_generate(dps_send_source **out, uint64_t n) {
  if (!(*out = source_new(SRC_GENERATE))) return -1;
  (*out)->n = n;
  return 0;
}

int dps_send_source_generate_mix(dps_send_source **out, uint64_t n, const dps_gen_mix *m) {
  if (!(*out = source_new(SRC_GENERATE))) return -1;
  dps_send_source *s = *out;
  s->n = n;
  s->mixed = true;
  s->cumulative[0] = m->weights[0];
  s->cumulative[1] = s->cumulative[0] + m->weights[1];
  s->cumulative[2] = s->cumulative[1] + m->weights[2];
  s->prefix = strdup(m->task_prefix);
  s->prefix_len = strlen(m->task_prefix);
  s->mix_tid = malloc(s->prefix_len + DPS__U64_DECIMAL_MAX);
  s->mix_msg = malloc(m->error_message_bytes + 1);
  if (!s->prefix || !s->mix_tid || !s->mix_msg || s->cumulative[2] == 0) {
    dps_send_source_free(s);
    *out = NULL;
    return -1;
  }
  memcpy(s->mix_tid, m->task_prefix, s->prefix_len);
  /* printable ASCII, so that bytes and characters agree */
  for (size_t i = 0; i < m->error_message_bytes; i++)
    s->mix_msg[i] = "abcdefghijklmnopqrstuvwxyz0123456789 "[i % 37];
  s->mix_msg[m->error_message_bytes] = '\0';
  return 0;
}

void dps_send_source_free(dps_send_source *s) {
  if (!s) return;
  free(s->prefix);
  free(s->mix_tid);
  free(s->mix_msg);
  if (s->close_f) fclose(s->f);
  json_decref(s->doc);
  free(s->line);
  free(s);
}

/* Update i of the generator: every fourth one FAILED with an error id and message, every
 * eighth with a stack trace too; the rest FINISHED. */
static void generate(dps_send_source *s, dps_send_item *it) {
  uint64_t i = s->i++;
  snprintf(s->tid, sizeof s->tid, "task-gen-%09" PRIu64, i);
  it->update.task_id = s->tid;
  it->update.task_id_len = DPS_NTS;
  it->update.task_status = DPS_TASK_FINISHED;
  if (i % 4 == 3) {
    snprintf(s->msg, sizeof s->msg, "synthetic failure of update %" PRIu64, i);
    it->update.task_status = DPS_TASK_FAILED;
    it->update.error_id = "SyntheticFailure";
    it->update.error_id_len = DPS_NTS;
    it->update.error_message = s->msg;
    it->update.error_message_len = DPS_NTS;
    if (i % 8 == 7) {
      snprintf(s->trace, sizeof s->trace, "at step %" PRIu64 "\n\tat pipeline run", i % 97);
      it->update.error_stack_trace = s->trace;
      it->update.error_stack_trace_len = DPS_NTS;
    }
  }
  it->line = i + 1;
  it->kind = DPS_SEND_ITEM_UPDATE;
}

/*
 * Update i of a mixed generator: taskId PREFIX<i>; the status follows the weights exactly over
 * every run of `total` updates (i * 37 mod total walks a permutation when total and 37 are
 * coprime, else the order is merely regular); FAILED and FALSE carry an errorId and the message.
 */
static void generate_mix(dps_send_source *s, dps_send_item *it) {
  uint64_t i = s->i++;
  size_t len = s->prefix_len + dps__u64_decimal(s->mix_tid + s->prefix_len, i);
  unsigned total = s->cumulative[2];
  unsigned k = (unsigned)((i * 37) % total);
  it->update.task_id = s->mix_tid;
  it->update.task_id_len = len;
  it->update.task_status = k < s->cumulative[0]   ? DPS_TASK_FINISHED
                           : k < s->cumulative[1] ? DPS_TASK_FAILED
                                                  : DPS_TASK_FALSE;
  if (it->update.task_status != DPS_TASK_FINISHED) {
    it->update.error_id = "LoadTestFailure";
    it->update.error_id_len = DPS_NTS;
    it->update.error_message = s->mix_msg;
    it->update.error_message_len = DPS_NTS;
  }
  it->line = i + 1;
  it->kind = DPS_SEND_ITEM_UPDATE;
}

static const char *json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
  }
}

static dps_send_item_kind reject(dps_send_item *it, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static dps_send_item_kind reject(dps_send_item *it, const char *error, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(it->reason, sizeof it->reason, fmt, ap);
  va_end(ap);
  it->error = error;
  return it->kind = DPS_SEND_ITEM_REJECTED;
}

static const char members_list[] = "taskId, taskStatus, errorId, errorMessage, errorStackTrace";

/* An optional string member: absent or null leaves it NULL; anything but a string is refused. */
static int string_member(json_t *o, const char *name, const char **p, size_t *len,
                         dps_send_item *it) {
  json_t *v = json_object_get(o, name);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    reject(it, "InvalidInput", "%s: expected a string, got %s", name, json_type_name(v));
    return -1;
  }
  *p = json_string_value(v);
  *len = json_string_length(v);
  return 0;
}

/* Turns one line (no newline) into an update, or a rejection saying why. */
static dps_send_item_kind parse_line(dps_send_source *s, const char *buf, size_t len,
                                     dps_send_item *it) {
  json_error_t je;
  json_decref(s->doc);
  /* NULs inside strings are let through so that validation names the character and field */
  s->doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (!s->doc)
    return reject(it, "InvalidJSON", "invalid JSON at column %d: %s", je.column, je.text);
  json_t *o = s->doc;
  if (!json_is_object(o))
    return reject(it, "InvalidJSON", "expected a JSON object, got %s", json_type_name(o));
  /* the taskId first, so that every later rejection can carry it */
  json_t *tid = json_object_get(o, "taskId");
  if (json_is_string(tid)) {
    it->task_id = json_string_value(tid);
    it->task_id_len = json_string_length(tid);
  }
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    if (strcmp(key, "taskId") && strcmp(key, "taskStatus") && strcmp(key, "errorId") &&
        strcmp(key, "errorMessage") && strcmp(key, "errorStackTrace"))
      return reject(it, "InvalidInput", "unknown member \"%.64s\" (the members are %s)", key,
                    members_list);
  }
  dps_update *u = &it->update;
  const char *status = NULL;
  size_t status_len = 0;
  if (string_member(o, "taskId", &u->task_id, &u->task_id_len, it) ||
      string_member(o, "taskStatus", &status, &status_len, it) ||
      string_member(o, "errorId", &u->error_id, &u->error_id_len, it) ||
      string_member(o, "errorMessage", &u->error_message, &u->error_message_len, it) ||
      string_member(o, "errorStackTrace", &u->error_stack_trace, &u->error_stack_trace_len, it))
    return it->kind;
  if (!u->task_id) return reject(it, "InvalidInput", "taskId: required");
  if (!status) return reject(it, "InvalidInput", "taskStatus: required");
  if (dps_task_status_parse(status, status_len, &u->task_status))
    return reject(it, "InvalidInput", "taskStatus: \"%.64s\" is not one of FINISHED, FAILED, FALSE",
                  status);
  return it->kind = DPS_SEND_ITEM_UPDATE;
}

static bool blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
  return true;
}

dps_send_item_kind dps_send_source_next(dps_send_source *s, dps_send_item *it) {
  memset(it, 0, sizeof *it);
  switch (s->kind) {
    case SRC_SINGLE:
      if (s->single_done) return it->kind = DPS_SEND_ITEM_END;
      s->single_done = true;
      it->update = *s->single;
      it->line = 1;
      return it->kind = DPS_SEND_ITEM_UPDATE;
    case SRC_GENERATE:
      if (s->i >= s->n) return it->kind = DPS_SEND_ITEM_END;
      if (s->mixed)
        generate_mix(s, it);
      else
        generate(s, it);
      return it->kind;
    case SRC_NDJSON: break;
  }
  for (;;) {
    errno = 0;
    ssize_t n = getline(&s->line, &s->cap, s->f);
    if (n < 0) {
      if (ferror(s->f)) {
        snprintf(it->reason, sizeof it->reason, "reading the input after line %" PRIu64 ": %s",
                 s->lineno, strerror(errno ? errno : EIO));
        return it->kind = DPS_SEND_ITEM_READ_ERROR;
      }
      return it->kind = DPS_SEND_ITEM_END;
    }
    s->lineno++;
    size_t len = (size_t)n;
    if (len && s->line[len - 1] == '\n') len--;
    if (len && s->line[len - 1] == '\r') len--;
    if (blank(s->line, len)) continue;
    it->line = s->lineno;
    return parse_line(s, s->line, len, it);
  }
}
