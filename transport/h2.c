/*
 * h2.c: one HTTP/2 client connection: the nghttp2 session over the connection's bufferevent.
 * Requests become streams; their frames are serialized by dps__h2_send() in one go per flush
 * (one write per connection per batch). The callbacks below only record what arrived and
 * complete requests; closing the connection waits until nghttp2_session_mem_recv() returns.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport/conn.h"

/* Stop serializing while this much waits in the socket's buffer; the write callback resumes. */
#define H2_OUTPUT_HIGH ((size_t)4 << 20)

static dps__xfer *stream_xfer(dps__conn *c, int32_t id) {
  return nghttp2_session_get_stream_user_data(c->h2, id);
}

static void copy_header(char *dst, size_t dstsz, const uint8_t *v, size_t n) {
  if (n >= dstsz) n = dstsz - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  dps__conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  dps__xfer *x = stream_xfer(c, f->hd.stream_id);
  if (!x) return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
  if (IS(":status")) {
    int st = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++) st = st * 10 + (value[i] - '0');
    if (st >= 200) x->status = st; /* 1xx: an interim response, the final one follows */
  } else if (IS("x-amzn-requestid")) {
    copy_header(x->request_id, sizeof x->request_id, value, valuelen);
  } else if (IS("x-amz-request-id")) {
    if (!x->request_id[0]) copy_header(x->request_id, sizeof x->request_id, value, valuelen);
  } else if (IS("x-amzn-errortype")) {
    copy_header(x->error_type, sizeof x->error_type, value, valuelen);
  } else if (IS("date")) {
    copy_header(x->date, sizeof x->date, value, valuelen);
  } else if (IS("retry-after")) {
    copy_header(x->retry_after, sizeof x->retry_after, value, valuelen);
  } else if (IS("x-amz-retry-after")) {
    copy_header(x->amz_retry_after, sizeof x->amz_retry_after, value, valuelen);
  }
#undef IS
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
  dps__conn *c = ud;
  dps__xfer *x = stream_xfer(c, id);
  if (!x) return 0;
  size_t room = c->pool->cfg.body_max - x->resp_body.len;
  if (len > room) {
    x->truncated = true;
    len = room;
  }
  if (len) dps__buf_append(&x->resp_body, data, len);
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  dps__conn *c = ud;
  switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
      if (f->hd.flags & NGHTTP2_FLAG_ACK) break;
      if (c->state == DPS__CONN_CONNECTING)
        dps__conn_ready(c);
      else if (c->state == DPS__CONN_READY)
        dps__pool_notify_capacity(c->pool); /* the stream limit may have grown */
      break;
    case NGHTTP2_PING:
      if (f->hd.flags & NGHTTP2_FLAG_ACK) {
        c->ping_out = false;
        event_del(&c->ping_timeout);
      }
      break;
    case NGHTTP2_GOAWAY:
      c->pool->st.goaways++;
      c->goaway = true;
      break;
    case NGHTTP2_RST_STREAM:
      if (f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) c->pool->st.refused_streams++;
      break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        dps__xfer *x = stream_xfer(c, f->hd.stream_id);
        if (x && x->status) x->complete = true;
      }
      break;
    default: break;
  }
  return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  dps__conn *c = ud;
  if (f->hd.type == NGHTTP2_HEADERS) {
    dps__xfer *x = stream_xfer(c, f->hd.stream_id);
    if (x) x->sent = true;
  }
  return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud) {
  dps__conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  /* The stream may not exist in the session yet: find the request by its stream id. */
  for (dps__xfer *x = c->xfers; x; x = x->next)
    if (x->stream_id == f->hd.stream_id) {
      nghttp2_session_set_stream_user_data(s, x->stream_id, NULL);
      dps__xfer_finish(x, DPS__XFER_REFUSED, nghttp2_strerror(lib_error));
      break;
    }
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  dps__conn *c = ud;
  dps__xfer *x = stream_xfer(c, id);
  if (!x) return 0; /* already completed (timed out) */
  nghttp2_session_set_stream_user_data(s, id, NULL);
  if (x->complete) {
    dps__xfer_finish(x, DPS__XFER_OK, NULL);
  } else if (error_code == NGHTTP2_REFUSED_STREAM || !x->sent) {
    /* RST_STREAM REFUSED_STREAM, or above a GOAWAY's last-stream-id (nghttp2 closes those with
     * REFUSED_STREAM): the server did not process it */
    dps__xfer_finish(x, DPS__XFER_REFUSED,
                     c->goaway ? "GOAWAY: not processed" : "stream refused (REFUSED_STREAM)");
  } else {
    char why[96];
    snprintf(why, sizeof why, "stream reset: %s", nghttp2_http2_strerror(error_code));
    dps__xfer_finish(x, DPS__XFER_FAILED, why);
  }
  return 0;
}

/* The body goes straight from the caller's buffer into the frame: nothing is kept. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  dps__conn *c = ud;
  dps__xfer *x = stream_xfer(c, id);
  if (!x) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* completed: reset the stream */
  size_t n = x->body_len - x->body_off;
  if (n > len) n = len;
  if (n) memcpy(buf, x->body + x->body_off, n);
  x->body_off += n;
  if (x->body_off == x->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

int dps__h2_start(dps__conn *c) {
  nghttp2_session_callbacks *n;
  if (nghttp2_session_callbacks_new(&n) != 0) return DPS_ENOMEM;
  nghttp2_session_callbacks_set_on_header_callback(n, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(n, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(n, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(n, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(n, on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(n, on_stream_close);
  /* No request is submitted before the server's SETTINGS (the connection is not ready until
   * then), so nghttp2's own stream limit never queues anything: ours is the same or lower. */
  int rv = nghttp2_session_client_new(&c->h2, n, c); /* copies the callbacks */
  nghttp2_session_callbacks_del(n);
  if (rv != 0) return DPS_ENOMEM;
  uint32_t win = c->pool->cfg.window_bytes;
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, win}};
  if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, (int32_t)win) != 0)
    return DPS_ENOMEM;
  c->dirty = true;
  dps__h2_send(c);
  return DPS_OK;
}

size_t dps__h2_limit(const dps__conn *c) {
  uint32_t srv =
      nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return srv < c->pool->cfg.max_streams ? srv : c->pool->cfg.max_streams;
}

#define NV(n, v, vl) \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE }

int dps__h2_submit(dps__conn *c, dps__xfer *x, const dps__http_request *req) {
  nghttp2_nv nv[4 + DPS__REQUEST_MAX_HEADERS];
  size_t n = 0;
  nv[n++] = (nghttp2_nv)NV(":method", req->method, strlen(req->method));
  nv[n++] =
      (nghttp2_nv)NV(":scheme", c->pool->url.tls ? "https" : "http", c->pool->url.tls ? 5 : 4);
  nv[n++] = (nghttp2_nv)NV(":path", req->path, strlen(req->path));
  nv[n++] = (nghttp2_nv)NV(":authority", req->authority, strlen(req->authority));
  for (size_t i = 0; i < req->n_headers; i++) {
    const dps__header *h = &req->headers[i];
    if (h->name_len == 4 && memcmp(h->name, "host", 4) == 0) continue; /* :authority */
    /* Credentials are never indexed (RFC 7541 section 7.1.3): nghttp2 already treats
     * authorization so, and the flag says it here. (The signature differs in every request, so
     * indexing it would only push the headers that repeat out of both HPACK tables.) */
    uint8_t flags = h->name_len == 13 && memcmp(h->name, "authorization", 13) == 0
                        ? NGHTTP2_NV_FLAG_NO_INDEX
                        : NGHTTP2_NV_FLAG_NONE;
    nv[n++] =
        (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, h->name_len, h->value_len, flags};
  }
  nghttp2_data_provider dp = {.source = {.ptr = NULL}, .read_callback = read_body};
  int32_t id = nghttp2_submit_request(c->h2, NULL, nv, n, req->body_len ? &dp : NULL, x);
  if (id < 0) return id == NGHTTP2_ERR_NOMEM ? DPS_ENOMEM : DPS_EFULL;
  x->stream_id = id;
  c->dirty = true;
  return DPS_OK;
}

void dps__h2_send(dps__conn *c) {
  if (c->in_recv || !c->h2 || c->state == DPS__CONN_DEAD) return; /* sent after recv returns */
  struct evbuffer *out = bufferevent_get_output(c->bev);
  struct evbuffer *batch = c->pool->scratch;
  c->dirty = false;
  for (;;) {
    if (evbuffer_get_length(out) + evbuffer_get_length(batch) > H2_OUTPUT_HIGH) {
      c->dirty = true; /* the write callback comes back for the rest */
      break;
    }
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) {
      evbuffer_drain(batch, evbuffer_get_length(batch));
      dps__conn_close(c, DPS__XFER_FAILED, nghttp2_strerror((int)n));
      return;
    }
    if (n == 0) break;
    evbuffer_add(batch, data, (size_t)n);
  }
  if (evbuffer_get_length(batch)) dps__conn_write(c, batch);
  if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
      evbuffer_get_length(out) == 0)
    dps__conn_close(c, DPS__XFER_FAILED, "connection finished");
}

void dps__h2_on_read(dps__conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  ssize_t rv = 0;
  c->in_recv = true;
  size_t len;
  while ((len = evbuffer_get_contiguous_space(in)) > 0) {
    rv = nghttp2_session_mem_recv(c->h2, evbuffer_pullup(in, (ssize_t)len), len);
    if (rv < 0) break;
    evbuffer_drain(in, len);
  }
  c->in_recv = false;
  if (rv < 0) {
    char why[96];
    snprintf(why, sizeof why, "HTTP/2 error: %s", nghttp2_strerror((int)rv));
    dps__conn_close(c, DPS__XFER_FAILED, why);
    return;
  }
  if (c->goaway && c->state != DPS__CONN_RETIRED && c->state != DPS__CONN_DEAD) dps__conn_goaway(c);
  dps__h2_send(c);
  if (c->state == DPS__CONN_RETIRED) dps__conn_maybe_done(c);
}

void dps__h2_cancel(dps__conn *c, dps__xfer *x) {
  if (x->stream_id <= 0) return;
  nghttp2_session_set_stream_user_data(c->h2, x->stream_id, NULL);
  nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, x->stream_id, NGHTTP2_CANCEL);
  c->dirty = true;
}

void dps__h2_ping(dps__conn *c) {
  nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
  c->dirty = true;
  dps__h2_send(c);
}

void dps__h2_free(dps__conn *c) {
  if (c->h2) nghttp2_session_del(c->h2);
  c->h2 = NULL;
}
