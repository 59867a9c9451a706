/*
 * h2.c: the HTTP/2 side of the emulator: one nghttp2 server session per connection, fed from the
 * bufferevent's input with nghttp2_session_mem_recv and drained into its output with
 * nghttp2_session_mem_send (once per read event, so the frames of every stream answered in that
 * event leave in one write). Owns the per-stream state (headers, body, the response, the latency
 * timer), the GOAWAY-every and drop-every connection faults, and reuses stream objects through a
 * per-connection free list so the steady state allocates nothing of ours per request.
 */
#include <event2/buffer.h>
#include <event2/event_struct.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/conn.h"

/* Big windows: a SetTaskStatus body is small, and a load test must never wait on flow control. */
#define H2_WINDOW (1 << 24)

typedef struct h2_conn h2_conn;

typedef struct h2_stream {
  struct h2_stream *next_free;   /* on the free list */
  struct h2_stream *prev, *next; /* on the open list, so a closing connection finds them */
  h2_conn *hc;
  int32_t id;
  dps__buf arena; /* header names and values; offsets in hdr */
  dps__emu_hdr_ref hdr[DPS__EMU_MAX_HEADERS];
  size_t n_hdr;
  int method_i, path_i, authority_i; /* indices into hdr of the pseudo-headers, or -1 */
  bool has_host;
  dps__buf body; /* at most max_body_bytes + 1 bytes are kept */
  dps__emu_response resp;
  bool has_resp;
  size_t resp_off;
  struct event timer; /* the latency fault */
  bool timer_set;
} h2_stream;

struct h2_conn {
  dps__emu_conn *c;
  nghttp2_session *session;
  h2_stream *free_list;
  h2_stream *open;     /* streams with state, for h2_free */
  uint32_t dispatched; /* streams handed to the service (goaway-every counts these) */
  bool goaway_sent;
  bool dropping;          /* drop fault decided: no further request is handed over */
  int32_t drop_stream_id; /* reset the connection once this stream's answer is out */
};

static h2_stream *stream_get(h2_conn *h, int32_t id) {
  h2_stream *st = h->free_list;
  if (st) {
    h->free_list = st->next_free;
  } else {
    st = calloc(1, sizeof *st);
    if (!st) return NULL;
  }
  dps__buf_reset(&st->arena);
  dps__buf_reset(&st->body);
  st->hc = h;
  st->id = id;
  st->n_hdr = 0;
  st->method_i = st->path_i = st->authority_i = -1;
  st->has_host = false;
  st->has_resp = false;
  st->resp_off = 0;
  st->timer_set = false;
  st->prev = NULL;
  st->next = h->open;
  if (h->open) h->open->prev = st;
  h->open = st;
  return st;
}

static void stream_release(h2_stream *st) {
  h2_conn *h = st->hc;
  if (st->timer_set) event_del(&st->timer);
  st->timer_set = false;
  if (st->has_resp) dps__emu_response_free(&st->resp);
  st->has_resp = false;
  if (st->prev)
    st->prev->next = st->next;
  else
    h->open = st->next;
  if (st->next) st->next->prev = st->prev;
  /* Keep big buffers from pinning memory: only modest ones go back on the free list. */
  if (st->body.cap > 64 * 1024) dps__buf_free(&st->body);
  if (st->arena.cap > 16 * 1024) dps__buf_free(&st->arena);
  st->next_free = h->free_list;
  h->free_list = st;
}

static void stream_destroy(h2_stream *st) {
  dps__buf_free(&st->arena);
  dps__buf_free(&st->body);
  free(st);
}

/* Moves frames from nghttp2 to the socket (dps__emu_conn_write), a write per DPS__EMU_OUTPUT_MAX
 * bytes at most, until nghttp2 has nothing more or the backlog reaches that limit. */
static void h2_flush(h2_conn *h) {
  dps__emu_conn *c = h->c;
  if (c->close_now || c->abort_on_flush || c->lingering) return;
  struct evbuffer *batch = c->srv->out_batch;
  bool more = true;
  while (more && dps__emu_conn_backlog(c) < DPS__EMU_OUTPUT_MAX) {
    more = false;
    while (!more) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(h->session, &data);
      if (n == 0) break;
      if (n < 0 || evbuffer_add(batch, data, (size_t)n)) {
        evbuffer_drain(batch, evbuffer_get_length(batch));
        c->close_now = true;
        return;
      }
      more = dps__emu_conn_backlog(c) + evbuffer_get_length(batch) >= DPS__EMU_OUTPUT_MAX;
    }
    if (evbuffer_get_length(batch)) dps__emu_conn_write(c, batch);
  }
  /* Backlog: stop reading until the peer takes what we wrote (h2_written resumes). */
  dps__emu_conn_pause_read(c, dps__emu_conn_backlog(c) >= DPS__EMU_OUTPUT_MAX);
  if (!nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session))
    c->close_on_flush = true; /* GOAWAY done and every stream answered, or a protocol error */
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
  h2_stream *st = source->ptr;
  size_t left = st->resp.body.len - st->resp_off;
  size_t n = left < length ? left : length;
  if (n) memcpy(buf, st->resp.body.data + st->resp_off, n);
  st->resp_off += n;
  if (st->resp_off == st->resp.body.len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

#define NV(n, v, vl) \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE }

static void submit_response(h2_stream *st) {
  h2_conn *h = st->hc;
  dps__emu_response *r = &st->resp;
  char status[8], clen[24];
  int sl =
      snprintf(status, sizeof status, "%d", r->status > 0 && r->status < 1000 ? r->status : 500);
  int cl = snprintf(clen, sizeof clen, "%zu", r->body.len);
  const char *date = dps__emu_date(h->c->srv);
  const char *ct = r->content_type ? r->content_type : "application/x-amz-json-1.1";
  nghttp2_nv nva[5 + DPS__EMU_MAX_RESPONSE_HEADERS] = {
      NV(":status", status, (size_t)sl),
      NV("content-type", ct, strlen(ct)),
      NV("content-length", clen, (size_t)cl),
      NV("x-amzn-requestid", r->request_id, strlen(r->request_id)),
      NV("date", date, strlen(date)),
  };
  size_t n = 5;
  for (size_t i = 0; i < r->n_headers && i < DPS__EMU_MAX_RESPONSE_HEADERS; i++)
    nva[n++] = (nghttp2_nv){(uint8_t *)r->headers[i].name, (uint8_t *)r->headers[i].value,
                            r->headers[i].name_len, r->headers[i].value_len, NGHTTP2_NV_FLAG_NONE};
  nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
  if (nghttp2_submit_response(h->session, st->id, nva, n, r->body.len ? &prd : NULL))
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void delay_fired(evutil_socket_t fd, short what, void *arg) {
  h2_stream *st = arg;
  h2_conn *h = st->hc;
  st->timer_set = false;
  submit_response(st);
  h2_flush(h);
  dps__emu_conn_settle(h->c);
}

static void dispatch(h2_conn *h, h2_stream *st) {
  dps__emu_conn *c = h->c;
  dps__emu_server *srv = c->srv;
  if (h->dropping) return; /* the connection is about to be reset: nothing more is processed */

  dps__header hs[DPS__EMU_MAX_HEADERS + 1];
  size_t n = 0;
  const char *a = st->arena.data ? st->arena.data : "";
  for (size_t i = 0; i < st->n_hdr; i++) {
    const dps__emu_hdr_ref *r = &st->hdr[i];
    if (a[r->name_off] == ':') continue;
    hs[n++] = (dps__header){a + r->name_off, r->name_len, a + r->value_off, r->value_len};
  }
  /* Clients sign "host", which HTTP/2 carries as :authority. */
  if (!st->has_host && st->authority_i >= 0) {
    const dps__emu_hdr_ref *r = &st->hdr[st->authority_i];
    hs[n++] = (dps__header){"host", 4, a + r->value_off, r->value_len};
  }
  const dps__emu_hdr_ref *m = st->method_i >= 0 ? &st->hdr[st->method_i] : NULL;
  const dps__emu_hdr_ref *p = st->path_i >= 0 ? &st->hdr[st->path_i] : NULL;
  /* Pseudo-header values are NUL-terminated in the arena (see on_header). */
  dps__emu_request req = {
      .method = m ? a + m->value_off : "GET",
      .path = p ? a + p->value_off : "/",
      .path_len = p ? p->value_len : 1,
      .headers = hs,
      .n_headers = n,
      .body = st->body.data ? st->body.data : "",
      .body_len = st->body.len,
      .http_version = 2,
      .conn_id = c->id,
  };
  bool drop = dps__emu_conn_count_request(c);
  dps__emu_service_handle(srv->svc, &req, &st->resp);
  st->has_resp = true;
  h->dispatched++;

  if (st->resp.action == DPS__EMU_RESET_STREAM) {
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
  } else if (st->resp.delay_ms) {
    struct timeval tv = {st->resp.delay_ms / 1000, (st->resp.delay_ms % 1000) * 1000};
    event_assign(&st->timer, srv->base, -1, 0, delay_fired, st);
    event_add(&st->timer, &tv);
    st->timer_set = true;
  } else {
    submit_response(st);
  }
  if (drop) {
    h->dropping = true;
    h->drop_stream_id = st->id;
    dps__emu_service_note_fault(srv->svc, "drop");
  }
  if (srv->goaway_every && h->dispatched == srv->goaway_every && !h->goaway_sent) {
    /* Like a load balancer retiring a connection: every stream opened so far is still
     * answered, then the connection closes (h2_flush sees want_read/want_write drop to 0). */
    h->goaway_sent = true;
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
    dps__emu_service_note_fault(srv->svc, "goaway");
  }
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  h2_conn *h = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  h2_stream *st = stream_get(h, frame->hd.stream_id);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st);
  dps__emu_service_note_stream(h->c->srv->svc, +1);
  return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  h2_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!st) return 0;
  /* Too many or too large: refuse the stream rather than buffer without bound. */
  if (st->n_hdr == DPS__EMU_MAX_HEADERS ||
      st->arena.len + namelen + valuelen + 2 > DPS__EMU_MAX_HEAD_BYTES)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  dps__emu_hdr_ref *r = &st->hdr[st->n_hdr];
  r->name_off = (uint32_t)st->arena.len;
  r->name_len = (uint32_t)namelen;
  dps__buf_append(&st->arena, name, namelen);
  dps__buf_putc(&st->arena, '\0');
  r->value_off = (uint32_t)st->arena.len;
  r->value_len = (uint32_t)valuelen;
  dps__buf_append(&st->arena, value, valuelen);
  dps__buf_putc(&st->arena, '\0');
  if (dps__buf_failed(&st->arena)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  int i = (int)st->n_hdr++;
  /* nghttp2 has already checked the names are lowercase and the pseudo-headers well placed. */
  if (namelen == 7 && !memcmp(name, ":method", 7))
    st->method_i = i;
  else if (namelen == 5 && !memcmp(name, ":path", 5))
    st->path_i = i;
  else if (namelen == 10 && !memcmp(name, ":authority", 10))
    st->authority_i = i;
  else if (namelen == 4 && !memcmp(name, "host", 4))
    st->has_host = true;
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data) {
  h2_conn *h = user_data;
  h2_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!st) return 0;
  /* Keep at most one byte more than the limit: enough for the service to see "too large". */
  size_t keep = h->c->srv->cfg.max_body_bytes + 1;
  if (st->body.len < keep) {
    size_t n = keep - st->body.len < len ? keep - st->body.len : len;
    dps__buf_append(&st->body, data, n);
    if (dps__buf_failed(&st->body)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  h2_conn *h = user_data;
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    h2_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st && !st->has_resp) dispatch(h, st);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data) {
  h2_conn *h = user_data;
  h2_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!st) return 0;
  nghttp2_session_set_stream_user_data(session, stream_id, NULL);
  stream_release(st);
  dps__emu_service_note_stream(h->c->srv->svc, -1);
  /* The dropped request's answer is now in the output: reset once it is written. */
  if (h->dropping && stream_id == h->drop_stream_id) h->c->abort_on_flush = true;
  return 0;
}

int dps__emu_h2_callbacks_new(void **out) {
  nghttp2_session_callbacks *cbs;
  if (nghttp2_session_callbacks_new(&cbs)) return DPS_ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  *out = cbs;
  return DPS_OK;
}

void dps__emu_h2_callbacks_free(void *cbs) { nghttp2_session_callbacks_del(cbs); }

int dps__emu_h2_start(dps__emu_conn *c) {
  h2_conn *h = calloc(1, sizeof *h);
  if (!h) return DPS_ENOMEM;
  h->c = c;
  if (nghttp2_session_server_new(&h->session, c->srv->h2_callbacks, h)) {
    free(h);
    return DPS_ENOMEM;
  }
  c->proto_state = h;
  c->proto = DPS__EMU_H2;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->cfg.max_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
  };
  if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) ||
      nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, H2_WINDOW))
    c->close_now = true;
  return DPS_OK;
}

void dps__emu_h2_read(dps__emu_conn *c) {
  h2_conn *h = c->proto_state;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  if (h->dropping || c->close_on_flush || c->abort_on_flush) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  /* Feed every chunk without copying (no pullup); frames may span chunks, nghttp2 buffers. */
  while (evbuffer_get_length(in) && !c->close_now) {
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
    ssize_t n = nghttp2_session_mem_recv(h->session, v.iov_base, v.iov_len);
    if (n < 0) {
      /* A protocol error (bad preface, malformed frames): nghttp2 has queued a GOAWAY where it
       * can; send it, then close. */
      evbuffer_drain(in, evbuffer_get_length(in));
      h2_flush(h);
      c->close_on_flush = true;
      return;
    }
    evbuffer_drain(in, (size_t)n);
    if (h->dropping) {
      evbuffer_drain(in, evbuffer_get_length(in));
      break;
    }
  }
  h2_flush(h);
}

void dps__emu_h2_written(dps__emu_conn *c) { h2_flush(c->proto_state); }

void dps__emu_h2_shutdown(dps__emu_conn *c) {
  h2_conn *h = c->proto_state;
  if (!h->goaway_sent) {
    h->goaway_sent = true;
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
  }
  h2_flush(h);
}

void dps__emu_h2_free(dps__emu_conn *c) {
  h2_conn *h = c->proto_state;
  if (!h) return;
  /* nghttp2_session_del runs no stream-close callbacks: release the open streams ourselves. */
  while (h->open) {
    stream_release(h->open);
    dps__emu_service_note_stream(c->srv->svc, -1);
  }
  nghttp2_session_del(h->session);
  for (h2_stream *st = h->free_list, *next; st; st = next) {
    next = st->next_free;
    stream_destroy(st);
  }
  free(h);
  c->proto_state = NULL;
}
