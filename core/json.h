/*
 * json.h: the JSON 1.1 body of SetTaskStatus, written by hand on the hot path. Members come in
 * the model's order (taskId, taskStatus, errorId, errorMessage, errorStackTrace); absent optional
 * members are omitted; strings are escaped per RFC 8259 (quote, backslash, control characters),
 * and UTF-8 passes through unchanged.
 */
#ifndef DPS_CORE_JSON_H
#define DPS_CORE_JSON_H

#include <stddef.h>

#include "core/buf.h"
#include "core/update.h"

/* Writes the body of a checked update (see dps__update_check) into @p out, which must hold
 * v->body_len bytes (no NUL is written). Returns the bytes written, always v->body_len. */
size_t dps__json_encode_update(const dps__update_view *v, char *out);

/* Appends the body to @p b. Returns DPS_OK or DPS_ENOMEM. */
int dps__json_encode_update_buf(const dps__update_view *v, dps__buf *b);

/* Writes @p n bytes of @p s escaped for a JSON string literal (no quotes) at @p out, which must
 * have room for the escaped size; returns the end. Exposed for the emulator's responses. */
char *dps__json_escape(char *out, const char *s, size_t n);

/* The taskId of a body this encoder wrote: its escaped bytes start at DPS__JSON_TASK_ID_OFFSET and
 * run to the first unescaped quote. Writes the unescaped taskId into @p out (which must hold as
 * many bytes as the escaped form) and returns its length. Only the escapes dps__json_escape
 * writes are understood. */
#define DPS__JSON_TASK_ID_OFFSET 11 /* strlen("{\"taskId\":\"") */
size_t dps__json_body_task_id(const char *body, size_t body_len, char *out);

#endif
