/*
 * h1.c: one HTTP/1.1 keep-alive connection, one request at a time, for endpoints whose ALPN
 * picks http/1.1 (as AWS JSON endpoints do). Responses are read with Debian's libhttp-parser.
 * A response that asks to close, or any framing surprise, ends the connection; the slot opens
 * a fresh one.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport/conn.h"

static dps__conn *conn_of(http_parser *p) { return p->data; }

static void commit_header(dps__conn *c) {
  dps__xfer *x = c->h1_cur;
  if (x && c->h1_field.len) {
    const char *n = c->h1_field.data, *v = c->h1_value.data ? c->h1_value.data : "";
    char *dst = NULL;
    size_t dstsz = 0;
    if (strcasecmp(n, "x-amzn-requestid") == 0 ||
        (strcasecmp(n, "x-amz-request-id") == 0 && !x->request_id[0])) {
      dst = x->request_id, dstsz = sizeof x->request_id;
    } else if (strcasecmp(n, "x-amzn-errortype") == 0) {
      dst = x->error_type, dstsz = sizeof x->error_type;
    } else if (strcasecmp(n, "date") == 0) {
      dst = x->date, dstsz = sizeof x->date;
    } else if (strcasecmp(n, "retry-after") == 0) {
      dst = x->retry_after, dstsz = sizeof x->retry_after;
    } else if (strcasecmp(n, "x-amz-retry-after") == 0) {
      dst = x->amz_retry_after, dstsz = sizeof x->amz_retry_after;
    }
    if (dst) snprintf(dst, dstsz, "%s", v);
  }
  dps__buf_reset(&c->h1_field);
  dps__buf_reset(&c->h1_value);
  c->h1_in_value = false;
}

/* Header names and values may arrive in pieces; a new name ends the previous header. */
static int on_field(http_parser *p, const char *at, size_t len) {
  dps__conn *c = conn_of(p);
  if (c->h1_in_value) commit_header(c);
  if (c->h1_field.len + len < DPS__RESP_HEADER_MAX) dps__buf_append(&c->h1_field, at, len);
  return 0;
}

static int on_value(http_parser *p, const char *at, size_t len) {
  dps__conn *c = conn_of(p);
  c->h1_in_value = true;
  if (c->h1_value.len + len < DPS__RESP_HEADER_MAX) dps__buf_append(&c->h1_value, at, len);
  return 0;
}

static int on_headers_complete(http_parser *p) {
  dps__conn *c = conn_of(p);
  if (c->h1_in_value) commit_header(c);
  if (c->h1_cur) c->h1_cur->status = p->status_code;
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  dps__conn *c = conn_of(p);
  dps__xfer *x = c->h1_cur;
  if (!x) return 0;
  size_t room = c->pool->cfg.body_max - x->resp_body.len;
  if (len > room) {
    x->truncated = true;
    len = room;
  }
  if (len) dps__buf_append(&x->resp_body, at, len);
  return 0;
}

static int on_message_begin(http_parser *p) {
  dps__conn *c = conn_of(p);
  dps__buf_reset(&c->h1_field);
  dps__buf_reset(&c->h1_value);
  c->h1_in_value = false;
  return 0;
}

static int on_message_complete(http_parser *p) {
  dps__conn *c = conn_of(p);
  if (p->status_code >= 100 && p->status_code < 200) return 0; /* interim: the final follows */
  if (c->h1_cur) c->h1_cur->complete = true;
  http_parser_pause(p, 1); /* one response per request: stop here and look */
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void dps__h1_start(dps__conn *c) {
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  dps__buf_init(&c->h1_field);
  dps__buf_init(&c->h1_value);
}

int dps__h1_submit(dps__conn *c, dps__xfer *x, const dps__http_request *req) {
  struct evbuffer *b = c->pool->scratch;
  bool host = false;
  evbuffer_add_printf(b, "%s %s HTTP/1.1\r\n", req->method, req->path);
  for (size_t i = 0; i < req->n_headers; i++) {
    const dps__header *h = &req->headers[i];
    if (h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0) host = true;
    evbuffer_add(b, h->name, h->name_len);
    evbuffer_add(b, ": ", 2);
    evbuffer_add(b, h->value, h->value_len);
    evbuffer_add(b, "\r\n", 2);
  }
  if (!host) evbuffer_add_printf(b, "host: %s\r\n", req->authority);
  evbuffer_add(b, "\r\n", 2);
  /* The body is copied into the socket's buffer as it is written, as nghttp2 copies it into
   * its frames; the pool itself keeps nothing of it. */
  if (req->body_len) evbuffer_add(b, req->body, req->body_len);
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  c->h1_cur = x;
  x->sent = true;
  dps__conn_write(c, b);
  return DPS_OK;
}

/* Runs the parser over what arrived; completes the request when its response is whole. */
static void feed(dps__conn *c, const char *data, size_t len, bool eof) {
  size_t used = http_parser_execute(&c->parser, &settings, data, len);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  dps__xfer *x = c->h1_cur;
  if (x && x->complete) {
    bool keep = !eof && http_should_keep_alive(&c->parser) && used == len;
    c->h1_cur = NULL;
    c->served = true;
    c->no_new = !keep; /* the callback must not pick this connection for its next request */
    http_parser_pause(&c->parser, 0);
    dps__xfer_finish(x, DPS__XFER_OK, NULL);
    if (!keep && c->state != DPS__CONN_DEAD)
      dps__conn_close(c, DPS__XFER_FAILED, "HTTP/1.1 connection closed after the response");
    return;
  }
  if (e != HPE_OK && e != HPE_PAUSED) {
    char why[128];
    snprintf(why, sizeof why, "HTTP/1.1 response: %s", http_errno_description(e));
    dps__conn_close(c, DPS__XFER_FAILED, why);
    return;
  }
  if (len && !x) dps__conn_close(c, DPS__XFER_FAILED, "HTTP/1.1: data with no request");
}

void dps__h1_on_read(dps__conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t len = evbuffer_get_length(in);
  if (!len) return;
  const char *data = (const char *)evbuffer_pullup(in, (ssize_t)len);
  feed(c, data, len, false);
  if (c->state != DPS__CONN_DEAD) evbuffer_drain(in, len);
}

void dps__h1_on_eof(dps__conn *c) {
  if (c->h1_cur) feed(c, NULL, 0, true); /* a body delimited by the close ends here */
  if (c->state != DPS__CONN_DEAD) dps__conn_close(c, DPS__XFER_FAILED, "connection lost: EOF");
}

void dps__h1_free(dps__conn *c) {
  dps__buf_free(&c->h1_field);
  dps__buf_free(&c->h1_value);
}
