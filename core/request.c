/* request.c: building, signing and printing the SetTaskStatus HTTP request (see request.h). */
#include "core/request.h"

#include <string.h>
#include <strings.h>

#include "dpstatus.h"

#define H(n, v) ((dps__header){(n), sizeof(n) - 1, (v), strlen(v)})

/* The signed headers first, then the signer's (none yet), then content-length and user-agent. */
static void put_tail(dps__http_request *out, size_t n) {
  dps__header *h = out->headers;
  h[n++] = H("content-length", out->content_length);
  h[n++] = H("user-agent", "dpstatus/" DPS_VERSION_STRING);
  out->n_headers = n;
}

void dps__request_init(dps__http_request *out, const char *authority, const char *path,
                       const char *target, const char *body, size_t body_len) {
  memset(out, 0, sizeof *out);
  out->method = "POST";
  out->path = path;
  out->authority = authority;
  out->body = body;
  out->body_len = body_len;
  dps__u64_decimal(out->content_length, body_len); /* a sender builds one request per update */
  dps__header *h = out->headers;
  h[0] = H("host", authority);
  h[1] = H("content-type", DPS__JSON_CONTENT_TYPE);
  h[2] = H("x-amz-target", target);
  put_tail(out, 3);
}

int dps__request_sign(dps__sigv4_signer *s, const char *authority, const char *path,
                      const char *target, const char *amz_date, const char *body, size_t body_len,
                      dps__http_request *out) {
  dps__request_init(out, authority, path, target, body, body_len);
  /* The first three headers are the signed ones; the signer's go between them and the tail. */
  dps__header *h = out->headers;
  dps__sigv4_request sr = {.method = out->method,
                           .path = path,
                           .path_len = strlen(path),
                           .headers = h,
                           .n_headers = 3,
                           .payload = body,
                           .payload_len = body_len,
                           .amz_date = amz_date,
                           .flags = DPS__SIGV4_NORMALIZE_PATH};
  int rc = dps__sigv4_sign(s, &sr, &out->sig);
  if (rc) return rc;
  size_t n = 3;
  h[n++] = H("x-amz-date", out->sig.amz_date);
  if (out->sig.security_token) h[n++] = H("x-amz-security-token", out->sig.security_token);
  h[n++] = (dps__header){"authorization", 13, out->sig.authorization, out->sig.authorization_len};
  put_tail(out, n);
  return DPS_OK;
}

/* HTTP/1.1 capitalisation of the names we send. */
static const char *display_name(const dps__header *h) {
  static const char *const names[] = {
      "Host",          "Content-Type",   "X-Amz-Target", "X-Amz-Date", "X-Amz-Security-Token",
      "Authorization", "Content-Length", "User-Agent"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i]) == h->name_len && strncasecmp(names[i], h->name, h->name_len) == 0)
      return names[i];
  return NULL;
}

void dps__request_dump_http1(const dps__http_request *r, bool redact_token, dps__buf *out) {
  dps__buf_printf(out, "%s %s HTTP/1.1\r\n", r->method, r->path);
  for (size_t i = 0; i < r->n_headers; i++) {
    const dps__header *h = &r->headers[i];
    const char *name = display_name(h);
    if (name)
      dps__buf_puts(out, name);
    else
      dps__buf_append(out, h->name, h->name_len);
    dps__buf_puts(out, ": ");
    if (redact_token && !strcmp(name ? name : "", "X-Amz-Security-Token"))
      dps__buf_printf(out, "<session token, %zu characters, not shown>", h->value_len);
    else
      dps__buf_append(out, h->value, h->value_len);
    dps__buf_puts(out, "\r\n");
  }
  dps__buf_puts(out, "\r\n");
  dps__buf_append(out, r->body, r->body_len);
}
