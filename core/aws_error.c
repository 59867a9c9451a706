/*
 * aws_error.c: owns reading an AWS JSON 1.1 error response into code, message and request id,
 * and the table of HTTP reason phrases. Follows what the SDKs do (botocore's BaseJSONParser,
 * smithy-rs and aws-sdk-js-v3 error-code sanitizing) and falls back on the HTTP status whenever
 * the body is not an AWS error document: load balancers answer with HTML, connections get cut
 * mid-body, and a reporter must still say something useful.
 */
#include "core/aws_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the longest prefix of s[0..len) that fits in max bytes without splitting a UTF-8
 * sequence. At most three continuation bytes are skipped: beyond that the input is not UTF-8
 * (header bytes can be anything) and any cut is as good as another. */
static size_t utf8_prefix(const char *s, size_t len, size_t max) {
  if (len <= max) return len;
  size_t n = max;
  for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++) n--;
  return n;
}

static void copy_truncated(char *dst, size_t cap, const char *src, size_t len) {
  size_t n = utf8_prefix(src, len, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Writes the shape name inside a wire error code ("ns#Name:http://..." -> "Name"). The cut at
 * ':' comes first so that a '#' inside the URL suffix is never taken for the namespace mark.
 * Returns false (and writes "") when nothing is left. */
static bool sanitize_code(const char *raw, size_t len, char *out, size_t cap) {
  const char *end = raw;
  while (end < raw + len && *end != ':' && *end != ',') end++;
  const char *start = raw;
  for (const char *p = raw; p < end; p++)
    if (*p == '#') start = p + 1;
  while (start < end && is_blank(*start)) start++;
  while (end > start && is_blank(end[-1])) end--;
  copy_truncated(out, cap, start, (size_t)(end - start));
  return out[0] != '\0';
}

/* The first of @p keys whose value is a non-empty string; a member of another type (a number
 * in "__type", null in "message") is treated as absent rather than as an error. */
static const char *first_string(json_t *obj, const char *const *keys, size_t nkeys, size_t *len) {
  for (size_t i = 0; i < nkeys; i++) {
    json_t *v = json_object_get(obj, keys[i]);
    if (json_is_string(v) && json_string_length(v) > 0) {
      *len = json_string_length(v);
      return json_string_value(v);
    }
  }
  return NULL;
}

static void parse_body(const char *body, size_t body_len, dps__aws_error *out) {
  if (body == NULL || body_len == 0 || body_len > DPS__AWS_ERROR_MAX_JSON) return;
  json_error_t jerr;
  /* json_loadb reads exactly body_len bytes: the body is not NUL-terminated. Without
   * JSON_ALLOW_NUL a "\u0000" fails the whole document, so strings never hide a NUL. */
  json_t *root = json_loadb(body, body_len, 0, &jerr);
  if (root == NULL) return;
  if (json_is_object(root)) {
    static const char *const code_keys[] = {"__type", "code", "Code"};
    static const char *const message_keys[] = {"message", "Message", "errorMessage"};
    out->body_was_json = true;
    size_t len = 0;
    const char *v = first_string(root, code_keys, sizeof code_keys / sizeof *code_keys, &len);
    if (v != NULL) sanitize_code(v, len, out->code, sizeof out->code);
    v = first_string(root, message_keys, sizeof message_keys / sizeof *message_keys, &len);
    if (v != NULL) copy_truncated(out->message, sizeof out->message, v, len);
  }
  json_decref(root);
}

void dps__aws_error_parse(int http_status, const char *body, size_t body_len,
                          const char *error_type_header, const char *request_id_header,
                          dps__aws_error *out) {
  memset(out, 0, sizeof *out);
  out->http_status = http_status;
  if (request_id_header != NULL)
    copy_truncated(out->request_id, sizeof out->request_id, request_id_header,
                   strlen(request_id_header));

  parse_body(body, body_len, out);
  if (out->code[0] == '\0' && error_type_header != NULL)
    sanitize_code(error_type_header, strlen(error_type_header), out->code, sizeof out->code);

  if (http_status < 300) return;
  if (out->code[0] == '\0') snprintf(out->code, sizeof out->code, "%d", http_status);
  if (out->message[0] == '\0') {
    const char *reason = dps__http_reason(http_status);
    if (reason != NULL)
      snprintf(out->message, sizeof out->message, "%s", reason);
    else
      snprintf(out->message, sizeof out->message, "HTTP %d", http_status);
  }
}

typedef struct reason_entry {
  int status;
  const char *reason;
} reason_entry;

/* Sorted by status for bsearch. */
static const reason_entry reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

static int cmp_reason(const void *key, const void *elem) {
  int k = *(const int *)key, s = ((const reason_entry *)elem)->status;
  return (k > s) - (k < s);
}

const char *dps__http_reason(int status) {
  const reason_entry *e =
      bsearch(&status, reasons, sizeof reasons / sizeof *reasons, sizeof *reasons, cmp_reason);
  return e != NULL ? e->reason : NULL;
}
