/*
 * json.c: the hand-written JSON encoder for SetTaskStatus bodies (see json.h). The size is known
 * in advance from validation, so the encoder never checks room while it writes.
 */
#include "core/json.h"

#include <string.h>

#include "core/utf8.h"

char *dps__json_escape(char *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    /* Copy the longest run that needs no escape in one memcpy. */
    const unsigned char *run = p;
    while (end - p >= 8 && dps__ascii8_plain(p)) p += 8;
    while (p < end && dps__json_escape_extra[*p] == 0) p++;
    memcpy(out, run, (size_t)(p - run));
    out += p - run;
    if (p == end) break;
    unsigned c = *p++;
    *out++ = '\\';
    switch (c) {
      case '"': *out++ = '"'; break;
      case '\\': *out++ = '\\'; break;
      case '\b': *out++ = 'b'; break;
      case '\t': *out++ = 't'; break;
      case '\n': *out++ = 'n'; break;
      case '\f': *out++ = 'f'; break;
      case '\r': *out++ = 'r'; break;
      default:
        memcpy(out, "u00", 3);
        out[3] = hex[c >> 4];
        out[4] = hex[c & 15];
        out += 5;
    }
  }
  return out;
}

#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* Writes ,"name":"escaped value" for an optional member. */
static char *put_member(char *o, const char *name_lit, size_t name_len, const char *s, size_t n) {
  memcpy(o, name_lit, name_len);
  o = dps__json_escape(o + name_len, s, n);
  *o++ = '"';
  return o;
}

size_t dps__json_encode_update(const dps__update_view *v, char *out) {
  const dps_update *u = v->u;
  char *o = out;
  o = PUT_LIT(o, "{\"taskId\":\"");
  o = dps__json_escape(o, u->task_id, v->task_id_len);
  o = PUT_LIT(o, "\",\"taskStatus\":\"");
  size_t sl = strlen(v->status_name);
  memcpy(o, v->status_name, sl);
  o += sl;
  *o++ = '"';
#define MEMBER(lit, s, n) \
  if (s) o = put_member(o, lit, sizeof(lit) - 1, s, n)
  MEMBER(",\"errorId\":\"", u->error_id, v->error_id_len);
  MEMBER(",\"errorMessage\":\"", u->error_message, v->error_message_len);
  MEMBER(",\"errorStackTrace\":\"", u->error_stack_trace, v->error_stack_trace_len);
#undef MEMBER
  *o++ = '}';
  return (size_t)(o - out);
}

int dps__json_encode_update_buf(const dps__update_view *v, dps__buf *b) {
  if (!dps__buf_reserve(b, v->body_len)) return DPS_ENOMEM;
  b->len += dps__json_encode_update(v, b->data + b->len);
  b->data[b->len] = '\0';
  return DPS_OK;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

size_t dps__json_body_task_id(const char *body, size_t body_len, char *out) {
  size_t i = DPS__JSON_TASK_ID_OFFSET, n = 0;
  while (i < body_len && body[i] != '"') {
    char c = body[i++];
    if (c != '\\' || i >= body_len) {
      out[n++] = c;
      continue;
    }
    switch (c = body[i++]) {
      case 'b': out[n++] = '\b'; break;
      case 't': out[n++] = '\t'; break;
      case 'n': out[n++] = '\n'; break;
      case 'f': out[n++] = '\f'; break;
      case 'r': out[n++] = '\r'; break;
      case 'u': /* \u00XX: the only form we write */
        if (i + 4 <= body_len)
          out[n++] = (char)(hex_digit(body[i + 2]) << 4 | hex_digit(body[i + 3]));
        i += 4;
        break;
      default: out[n++] = c; /* '"' and '\\' */
    }
  }
  return n;
}
