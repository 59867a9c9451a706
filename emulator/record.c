/* record.c: the buffered --record NDJSON writer (see record.h). */
#include "emulator/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/json.h"

#define RECORD_FLUSH_AT ((size_t)256 * 1024)

int dps__emu_record_open(dps__emu_record *r, const char *path, dps_error *err) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->stamp_sec = INT64_MIN;
  if (!path) return DPS_OK;
  r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (r->fd < 0)
    return dps__error_set(err, DPS_EIO, "--record", "--record: %s: %s", path, strerror(errno));
  return DPS_OK;
}

/* Writes @p n decimal digits of @p v (zero-padded). */
static char *put_digits(char *o, int v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10) o[i] = (char)('0' + v % 10);
  return o + n;
}

/* "YYYY-MM-DDTHH:MM:SS." (20 characters and a NUL); years outside 0-9999 are clamped. */
static void format_second(int64_t sec, char out[21]) {
  time_t t = (time_t)sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  int year = tm.tm_year + 1900;
  char *o = put_digits(out, year < 0 ? 0 : year > 9999 ? 9999 : year, 4);
  *o++ = '-';
  o = put_digits(o, tm.tm_mon + 1, 2);
  *o++ = '-';
  o = put_digits(o, tm.tm_mday, 2);
  *o++ = 'T';
  o = put_digits(o, tm.tm_hour, 2);
  *o++ = ':';
  o = put_digits(o, tm.tm_min, 2);
  *o++ = ':';
  o = put_digits(o, tm.tm_sec, 2);
  *o++ = '.';
  *o = '\0';
}

/* The prefix for one second: cached, as most lines share their second with the previous one. */
static const char *stamp_prefix(dps__emu_record *r, int64_t sec) {
  if (sec != r->stamp_sec) {
    format_second(sec, r->stamp_text);
    r->stamp_sec = sec;
  }
  return r->stamp_text;
}

void dps__emu_rfc3339_ms(int64_t epoch_ms, char out[25]) {
  int64_t sec = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
  format_second(sec, out);
  char *o = put_digits(out + 20, (int)(epoch_ms - sec * 1000), 3);
  *o++ = 'Z';
  *o = '\0';
}

/* Appends ,"name":"escaped" (or the first member without the comma). */
static void put_string(dps__buf *b, const char *lead, const char *s, size_t n) {
  size_t lead_len = strlen(lead);
  /* 6 bytes is the worst an escape takes (\u00XX). */
  if (n > (SIZE_MAX - 64) / 6 || !dps__buf_reserve(b, lead_len + 6 * n + 2)) {
    b->oom = true;
    return;
  }
  char *o = b->data + b->len;
  memcpy(o, lead, lead_len);
  o = dps__json_escape(o + lead_len, s, n);
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->data);
}

void dps__emu_record_add(dps__emu_record *r, const dps_update *u, int64_t epoch_ms,
                         uint32_t count) {
  if (r->fd < 0) return;
  dps__buf *b = &r->buf;
  put_string(b, "{\"taskId\":\"", u->task_id, u->task_id_len);
  dps__buf_puts(b, ",\"taskStatus\":\"");
  dps__buf_puts(b, dps_task_status_name(u->task_status));
  dps__buf_putc(b, '"');
  if (u->error_id) put_string(b, ",\"errorId\":\"", u->error_id, u->error_id_len);
  if (u->error_message)
    put_string(b, ",\"errorMessage\":\"", u->error_message, u->error_message_len);
  if (u->error_stack_trace)
    put_string(b, ",\"errorStackTrace\":\"", u->error_stack_trace, u->error_stack_trace_len);
  int64_t sec = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
  dps__buf_printf(b, ",\"receivedAt\":\"%s%03dZ\",\"count\":%u}\n", stamp_prefix(r, sec),
                  (int)(epoch_ms - sec * 1000), count);
  r->lines++;
  if (b->len >= RECORD_FLUSH_AT) dps__emu_record_flush(r);
}

int dps__emu_record_flush(dps__emu_record *r) {
  if (r->fd < 0) return DPS_OK;
  if (dps__buf_failed(&r->buf) && !r->failed_errno) r->failed_errno = ENOMEM;
  size_t off = 0;
  while (off < r->buf.len) {
    ssize_t w = write(r->fd, r->buf.data + off, r->buf.len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (!r->failed_errno) r->failed_errno = errno;
      break;
    }
    off += (size_t)w;
  }
  dps__buf_reset(&r->buf);
  r->buf.oom = false;
  return r->failed_errno ? DPS_EIO : DPS_OK;
}

int dps__emu_record_close(dps__emu_record *r) {
  int rc = dps__emu_record_flush(r);
  if (r->fd >= 0 && close(r->fd) != 0 && rc == DPS_OK) rc = DPS_EIO;
  r->fd = -1;
  dps__buf_free(&r->buf);
  return rc;
}
