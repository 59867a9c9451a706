/*
 * h1.c: the HTTP/1.1 side of the emulator, on Debian's libhttp-parser. Owns request assembly
 * (URL, lowercased header names, Content-Length or chunked bodies capped at the limit), keep-alive
 * and Connection: close, answering pipelined requests strictly in order (the parser is paused
 * while an answer waits on the latency fault, so later requests stay unread in the input), the
 * early 413 for a declared Content-Length over the limit, 400 on unparseable input, and the
 * response head (Date, Content-Type, Content-Length, x-amzn-RequestId, the service's extras).
 */
#include <event2/buffer.h>
#include <event2/event_struct.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/conn.h"

typedef struct h1_conn {
  dps__emu_conn *c;
  http_parser parser;
  dps__buf arena; /* URL at offset 0, then header names (lowercased) and values */
  uint32_t url_len;
  dps__emu_hdr_ref hdr[DPS__EMU_MAX_HEADERS];
  size_t n_hdr;
  bool in_value;   /* the last header callback was a value */
  bool in_message; /* between message begin and complete */
  bool too_big;    /* declared Content-Length over the limit: answered before the body */
  dps__buf body;   /* at most max_body_bytes + 1 bytes */
  dps__emu_response resp;
  bool waiting; /* the answer waits on the latency timer */
  bool close_after;
  bool abort_after;
  bool eof; /* the peer shut its write side */
  struct event timer;
  bool timer_set;
} h1_conn;

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

/* A response head is built in one stack buffer and added to the output in one call. */
typedef struct head {
  char b[2048];
  size_t n;
  struct evbuffer *out;
} head;

static void put(head *h, const char *s, size_t n) {
  if (h->n + n > sizeof h->b) { /* only huge extra headers get here */
    evbuffer_add(h->out, h->b, h->n);
    h->n = 0;
    if (n > sizeof h->b) {
      evbuffer_add(h->out, s, n);
      return;
    }
  }
  memcpy(h->b + h->n, s, n);
  h->n += n;
}

static void puts_(head *h, const char *s) { put(h, s, strlen(s)); }

static void write_head(dps__emu_conn *c, int status, const char *ctype, size_t clen,
                       const char *request_id, const dps__header *extra, size_t n_extra,
                       bool close) {
  head h = {.n = 0, .out = bufferevent_get_output(c->bev)};
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nDate: ", status, reason(status));
  put(&h, line, (size_t)n);
  puts_(&h, dps__emu_date(c->srv));
  puts_(&h, "\r\nContent-Type: ");
  puts_(&h, ctype ? ctype : "application/x-amz-json-1.1");
  n = snprintf(line, sizeof line, "\r\nContent-Length: %zu\r\n", clen);
  put(&h, line, (size_t)n);
  if (request_id && *request_id) {
    puts_(&h, "x-amzn-RequestId: ");
    puts_(&h, request_id);
    puts_(&h, "\r\n");
  }
  for (size_t i = 0; i < n_extra; i++) {
    put(&h, extra[i].name, extra[i].name_len);
    put(&h, ": ", 2);
    put(&h, extra[i].value, extra[i].value_len);
    put(&h, "\r\n", 2);
  }
  if (close) puts_(&h, "Connection: close\r\n");
  put(&h, "\r\n", 2);
  evbuffer_add(h.out, h.b, h.n);
}

/* Answers a request we could not parse; the connection ends after it. */
static void bad_request(dps__emu_conn *c) {
  static const char body[] = "<html><body><h1>400 Bad Request</h1></body></html>\n";
  write_head(c, 400, "text/html", sizeof body - 1, NULL, NULL, 0, true);
  evbuffer_add(bufferevent_get_output(c->bev), body, sizeof body - 1);
  c->close_on_flush = true;
}

static void send_response(h1_conn *h) {
  dps__emu_conn *c = h->c;
  dps__emu_response *r = &h->resp;
  if (r->action == DPS__EMU_RESET_STREAM) {
    c->close_now = true; /* HTTP/1.1 has no stream to refuse: the connection goes, unanswered */
  } else {
    int status = r->status > 0 && r->status < 1000 ? r->status : 500;
    size_t ne =
        r->n_headers < DPS__EMU_MAX_RESPONSE_HEADERS ? r->n_headers : DPS__EMU_MAX_RESPONSE_HEADERS;
    write_head(c, status, r->content_type, r->body.len, r->request_id, r->headers, ne,
               h->close_after || h->abort_after);
    if (r->body.len) evbuffer_add(bufferevent_get_output(c->bev), r->body.data, r->body.len);
  }
  dps__emu_response_free(&h->resp);
  if (h->abort_after)
    c->abort_on_flush = true;
  else if (h->close_after)
    c->close_on_flush = true;
}

static void delay_fired(evutil_socket_t fd, short what, void *arg) {
  h1_conn *h = arg;
  dps__emu_conn *c = h->c;
  h->timer_set = false;
  h->waiting = false;
  send_response(h);
  if (!c->close_now && !c->close_on_flush && !c->abort_on_flush) {
    if (h->eof || c->srv->draining) {
      c->close_on_flush = true;
    } else {
      /* Go on with whatever was pipelined behind the delayed request. */
      http_parser_pause(&h->parser, 0);
      dps__emu_conn_pause_read(c, false);
      dps__emu_h1_read(c);
    }
  }
  dps__emu_conn_settle(c);
}

/* Hands the complete request to the service and answers it (now or after the delay). Returns
 * true when parsing must stop here (answer pending or connection ending). */
static bool dispatch(h1_conn *h) {
  dps__emu_conn *c = h->c;
  dps__emu_server *srv = c->srv;
  const char *a = h->arena.data ? h->arena.data : "";
  dps__header hs[DPS__EMU_MAX_HEADERS];
  for (size_t i = 0; i < h->n_hdr; i++)
    hs[i] = (dps__header){a + h->hdr[i].name_off, h->hdr[i].name_len, a + h->hdr[i].value_off,
                          h->hdr[i].value_len};
  const char *body = h->body.data ? h->body.data : "";
  size_t body_len = h->body.len;
  if (h->too_big) {
    body = dps__emu_zero_body(srv);
    body_len = srv->cfg.max_body_bytes + 1;
    if (!body) {
      c->close_now = true;
      return true;
    }
  }
  dps__emu_request req = {
      .method = http_method_str((enum http_method)h->parser.method),
      .path = h->url_len ? a : "/",
      .path_len = h->url_len ? h->url_len : 1,
      .headers = hs,
      .n_headers = h->n_hdr,
      .body = body,
      .body_len = body_len,
      .http_version = 1,
      .conn_id = c->id,
  };
  h->abort_after = dps__emu_conn_count_request(c);
  if (h->abort_after) dps__emu_service_note_fault(srv->svc, "drop");
  /* The unread body of a too-large request, an upgrade we do not follow, a client asking to
   * close, a server draining: each ends the connection after this answer. */
  h->close_after =
      !http_should_keep_alive(&h->parser) || h->too_big || h->parser.upgrade || srv->draining;
  dps__emu_service_handle(srv->svc, &req, &h->resp);
  if (h->resp.delay_ms && h->resp.action == DPS__EMU_RESPOND) {
    struct timeval tv = {h->resp.delay_ms / 1000, (h->resp.delay_ms % 1000) * 1000};
    event_assign(&h->timer, srv->base, -1, 0, delay_fired, h);
    event_add(&h->timer, &tv);
    h->timer_set = true;
    h->waiting = true;
    dps__emu_conn_pause_read(c, true);
    return true;
  }
  send_response(h);
  return c->close_now || c->close_on_flush || c->abort_on_flush;
}

static h1_conn *of(http_parser *p) { return p->data; }

static int on_message_begin(http_parser *p) {
  h1_conn *h = of(p);
  dps__buf_reset(&h->arena);
  dps__buf_reset(&h->body);
  h->url_len = 0;
  h->n_hdr = 0;
  h->in_value = false;
  h->in_message = true;
  h->too_big = false;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  h1_conn *h = of(p);
  if (h->arena.len + len > DPS__EMU_MAX_HEAD_BYTES) return 1;
  dps__buf_append(&h->arena, at, len);
  h->url_len += (uint32_t)len;
  return dps__buf_failed(&h->arena);
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  h1_conn *h = of(p);
  if (h->arena.len + len + 1 > DPS__EMU_MAX_HEAD_BYTES) return 1;
  if (h->n_hdr == 0 || h->in_value) {
    if (h->n_hdr == DPS__EMU_MAX_HEADERS) return 1;
    if (h->n_hdr == 0) dps__buf_putc(&h->arena, '\0'); /* ends the URL */
    h->hdr[h->n_hdr++] = (dps__emu_hdr_ref){(uint32_t)h->arena.len, 0, 0, 0};
    h->in_value = false;
  }
  dps__emu_hdr_ref *r = &h->hdr[h->n_hdr - 1];
  if (!dps__buf_reserve(&h->arena, len)) return 1;
  for (size_t i = 0; i < len; i++) {
    char ch = at[i];
    h->arena.data[h->arena.len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
  }
  h->arena.data[h->arena.len] = '\0';
  r->name_len += (uint32_t)len;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  h1_conn *h = of(p);
  if (h->n_hdr == 0 || h->arena.len + len > DPS__EMU_MAX_HEAD_BYTES) return 1;
  dps__emu_hdr_ref *r = &h->hdr[h->n_hdr - 1];
  if (!h->in_value) {
    r->value_off = (uint32_t)h->arena.len;
    h->in_value = true;
  }
  dps__buf_append(&h->arena, at, len);
  r->value_len += (uint32_t)len;
  return dps__buf_failed(&h->arena);
}

static int on_headers_complete(http_parser *p) {
  h1_conn *h = of(p);
  if (h->n_hdr == 0) dps__buf_putc(&h->arena, '\0'); /* ends the URL */
  if (dps__buf_failed(&h->arena)) return -1;
  /* A declared length over the limit is answered at once, without reading the body: returning
   * 1 tells the parser there is no body, and the connection closes after the answer. */
  if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
      p->content_length > h->c->srv->cfg.max_body_bytes) {
    h->too_big = true;
    return 1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  h1_conn *h = of(p);
  size_t keep = h->c->srv->cfg.max_body_bytes + 1;
  if (h->body.len < keep) {
    dps__buf_append(&h->body, at, keep - h->body.len < len ? keep - h->body.len : len);
    if (dps__buf_failed(&h->body)) return 1;
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  h1_conn *h = of(p);
  h->in_message = false;
  /* Pausing returns control to h1_read with the rest of the input (later pipelined requests)
   * left for after this answer. */
  if (dispatch(h)) http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int dps__emu_h1_start(dps__emu_conn *c) {
  h1_conn *h = calloc(1, sizeof *h);
  if (!h) return DPS_ENOMEM;
  h->c = c;
  http_parser_init(&h->parser, HTTP_REQUEST);
  h->parser.data = h;
  c->proto_state = h;
  c->proto = DPS__EMU_H1;
  return DPS_OK;
}

void dps__emu_h1_read(dps__emu_conn *c) {
  h1_conn *h = c->proto_state;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  struct evbuffer *out = bufferevent_get_output(c->bev);
  if (c->close_on_flush || c->abort_on_flush || c->close_now) {
    evbuffer_drain(in, evbuffer_get_length(in)); /* nothing more will be answered */
    return;
  }
  while (!h->waiting && evbuffer_get_length(in)) {
    /* A client pipelining faster than it reads: wait until it takes our answers. */
    if (evbuffer_get_length(out) >= DPS__EMU_OUTPUT_MAX) {
      dps__emu_conn_pause_read(c, true);
      return;
    }
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
    size_t n = http_parser_execute(&h->parser, &settings, v.iov_base, v.iov_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
    if (e == HPE_PAUSED) {
      evbuffer_drain(in, n);
      if (h->waiting) return; /* delay_fired resumes */
      if (c->close_now || c->close_on_flush || c->abort_on_flush) break;
      http_parser_pause(&h->parser, 0);
      continue;
    }
    if (e != HPE_OK) {
      evbuffer_drain(in, evbuffer_get_length(in));
      bad_request(c);
      return;
    }
    evbuffer_drain(in, n);
  }
  if (c->close_now || c->close_on_flush || c->abort_on_flush)
    evbuffer_drain(in, evbuffer_get_length(in));
  else if (!h->waiting)
    dps__emu_conn_pause_read(c, false);
}

void dps__emu_h1_written(dps__emu_conn *c) {
  h1_conn *h = c->proto_state;
  if (c->read_paused && !h->waiting) {
    dps__emu_conn_pause_read(c, false);
    dps__emu_h1_read(c);
  }
}

void dps__emu_h1_eof(dps__emu_conn *c) {
  h1_conn *h = c->proto_state;
  h->eof = true;
  if (h->waiting) return; /* answer the delayed request first (delay_fired closes) */
  /* A request cut short (the peer closed mid-message) gets a 400: the client may still read. */
  if (h->in_message)
    bad_request(c);
  else
    c->close_on_flush = true;
}

void dps__emu_h1_shutdown(dps__emu_conn *c) {
  h1_conn *h = c->proto_state;
  /* Idle: close now. Mid-request or waiting: dispatch sees srv->draining and closes after. */
  if (!h->in_message && !h->waiting) c->close_on_flush = true;
}

void dps__emu_h1_free(dps__emu_conn *c) {
  h1_conn *h = c->proto_state;
  if (!h) return;
  if (h->timer_set) event_del(&h->timer);
  if (h->waiting) dps__emu_response_free(&h->resp);
  dps__buf_free(&h->arena);
  dps__buf_free(&h->body);
  free(h);
  c->proto_state = NULL;
}
