/*
 * update.c: validation of an update against the Data Pipeline service model
 * (SetTaskStatusInput: taskId, taskStatus, errorId, errorMessage, errorStackTrace).
 */
#include "core/update.h"

#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "core/utf8.h"

static const char *const status_names[] = {NULL, "FINISHED", "FAILED", "FALSE"};

const char *dps_task_status_name(dps_task_status s) {
  return (s >= DPS_TASK_FINISHED && s <= DPS_TASK_FALSE) ? status_names[s] : NULL;
}

int dps_task_status_parse(const char *name, size_t len, dps_task_status *out) {
  if (!name) return DPS_EINVAL;
  if (len == DPS_NTS) len = strlen(name);
  for (int s = DPS_TASK_FINISHED; s <= DPS_TASK_FALSE; s++) {
    if (strlen(status_names[s]) == len && memcmp(status_names[s], name, len) == 0) {
      *out = (dps_task_status)s;
      return DPS_OK;
    }
  }
  return DPS_EINVAL;
}

static size_t resolve_len(const char *p, size_t n) { return p && n == DPS_NTS ? strlen(p) : n; }

/* Checks one string field; adds its encoded member size to *body. */
static int check_string(const char *field, const char *p, size_t n, size_t min_chars,
                        size_t max_chars, int pattern, size_t *body, dps_error *err) {
  dps__utf8_scan sc;
  if (!dps__utf8_scan_str(p, n, pattern, &sc)) {
    if (sc.fault == DPS__UTF8_DISALLOWED)
      return dps__error_set(
          err, DPS_EINVAL, field,
          "character U+%04X at byte %zu is not allowed (the model allows tab, CR, "
          "LF, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF)",
          (unsigned)sc.fault_cp, sc.fault_byte);
    if (sc.fault == DPS__UTF8_SURROGATE)
      return dps__error_set(err, DPS_EINVAL, field, "invalid UTF-8 at byte %zu: %s (U+%04X)",
                            sc.fault_byte, dps__utf8_fault_name(sc.fault), (unsigned)sc.fault_cp);
    return dps__error_set(err, DPS_EINVAL, field, "invalid UTF-8 at byte %zu: %s", sc.fault_byte,
                          dps__utf8_fault_name(sc.fault));
  }
  if (sc.chars < min_chars)
    return dps__error_set(err, DPS_EINVAL, field, "%zu characters, the minimum is %zu", sc.chars,
                          min_chars);
  if (sc.chars > max_chars)
    return dps__error_set(err, DPS_EINVAL, field, "%zu characters, the limit is %zu", sc.chars,
                          max_chars);
  /* ,"name":"value" ; the leading comma of the first member pays for the opening brace. */
  *body += 1 + strlen(field) + 2 + 1 + 2 + sc.escaped_len;
  return DPS_OK;
}

int dps__update_check(const dps_update *u, size_t max_body, dps__update_view *v, dps_error *err) {
  if (!u) return dps__error_set(err, DPS_EINVAL, "update", "NULL update");
  if (max_body == 0) max_body = DPS_DEFAULT_MAX_BODY_BYTES;
  *v = (dps__update_view){.u = u};
  size_t body = 1; /* the closing brace */
  int rc;

  if (!u->task_id) return dps__error_set(err, DPS_EINVAL, "taskId", "required, but absent");
  v->task_id_len = resolve_len(u->task_id, u->task_id_len);
  rc = check_string("taskId", u->task_id, v->task_id_len, DPS__TASK_ID_MIN, DPS__TASK_ID_MAX, 1,
                    &body, err);
  if (rc) return rc;

  v->status_name = dps_task_status_name(u->task_status);
  if (!v->status_name)
    return dps__error_set(err, DPS_EINVAL, "taskStatus", "%d is not one of FINISHED, FAILED, FALSE",
                          (int)u->task_status);
  body += sizeof ",\"taskStatus\":\"\"" - 1 + strlen(v->status_name);

  if (u->error_id) {
    v->error_id_len = resolve_len(u->error_id, u->error_id_len);
    rc = check_string("errorId", u->error_id, v->error_id_len, 0, DPS__STRING_MAX, 1, &body, err);
    if (rc) return rc;
    size_t plen = sizeof DPS__RESERVED_ERROR_ID_PREFIX - 1;
    if (v->error_id_len >= plen && memcmp(u->error_id, DPS__RESERVED_ERROR_ID_PREFIX, plen) == 0)
      return dps__error_set(err, DPS_EINVAL, "errorId",
                            "must not start with \"" DPS__RESERVED_ERROR_ID_PREFIX
                            "\" (reserved by the service)");
  }
  if (u->error_message) {
    /* The model gives errorMessage no length and no pattern: any Unicode text. */
    v->error_message_len = resolve_len(u->error_message, u->error_message_len);
    rc = check_string("errorMessage", u->error_message, v->error_message_len, 0, (size_t)-1, 0,
                      &body, err);
    if (rc) return rc;
  }
  if (u->error_stack_trace) {
    v->error_stack_trace_len = resolve_len(u->error_stack_trace, u->error_stack_trace_len);
    rc = check_string("errorStackTrace", u->error_stack_trace, v->error_stack_trace_len, 0,
                      DPS__STRING_MAX, 1, &body, err);
    if (rc) return rc;
  }
  if (body > max_body)
    return dps__error_set(err, DPS_ETOOBIG, "body", "%zu bytes once encoded, the limit is %zu",
                          body, max_body);
  v->body_len = body;
  return DPS_OK;
}

int dps_update_validate(const dps_update *u, size_t max_body_bytes, dps_error *err) {
  dps__update_view v;
  return dps__update_check(u, max_body_bytes, &v, err);
}
