/*
 * pool.c: the connection pool: slots that keep one connection each open (reconnecting with
 * backoff and jitter), the choice of connection per request, the requests' timers and their
 * single completion, flush batching, PING liveness, GOAWAY replacement, drain and free.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/error.h"
#include "transport/conn.h"

const char *dps__xfer_result_name(dps__xfer_result r) {
  switch (r) {
    case DPS__XFER_OK: return "OK";
    case DPS__XFER_REFUSED: return "REFUSED";
    case DPS__XFER_FAILED: return "FAILED";
    case DPS__XFER_TIMEOUT: return "TIMEOUT";
    case DPS__XFER_FATAL: return "FATAL";
    case DPS__XFER_CANCELLED: return "CANCELLED";
  }
  return "?";
}

void dps__pool_config_init(dps__pool_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->connections = 2;
  cfg->max_streams = 100;
  cfg->h1_factor = 8;
  cfg->attempt_timeout_ms = 10000;
  cfg->connect_timeout_ms = 10000;
  cfg->ping_interval_ms = 15000;
  cfg->ping_timeout_ms = 5000;
  cfg->window_bytes = 16u << 20;
  cfg->body_max = DPS__RESP_BODY_MAX_DEFAULT;
  cfg->reconnect.max_attempts = 0;
  cfg->reconnect.base_ms = 100;
  cfg->reconnect.cap_ms = 10000;
}

static struct timeval ms_tv(uint32_t ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

static bool closing(const dps__pool *p) { return p->draining || p->fatal[0]; }

static void slot_schedule(dps__slot *s, bool at_once);

/* ---- requests ---------------------------------------------------------------------------- */

/* Finished transfers are kept, their response buffer with them, up to one window's worth: a
 * sender in steady state then allocates and zeroes nothing per request (a transfer is ~600 bytes,
 * most of them header arrays that only need their first byte cleared). */
#define XFER_SPARE_MAX 1024

static dps__xfer *xfer_get(dps__pool *p) {
  dps__xfer *x = p->spare;
  if (!x) {
    x = calloc(1, sizeof *x);
    if (x) dps__buf_init(&x->resp_body);
    return x;
  }
  p->spare = x->next;
  p->n_spare--;
  dps__buf kept = x->resp_body;
  memset(x, 0, offsetof(dps__xfer, request_id));
  x->request_id[0] = x->error_type[0] = x->date[0] = '\0';
  x->retry_after[0] = x->amz_retry_after[0] = '\0';
  dps__buf_reset(&kept);
  x->resp_body = kept;
  return x;
}

static void xfer_release(dps__pool *p, dps__xfer *x) {
  if (p->n_spare >= XFER_SPARE_MAX || x->resp_body.cap > 4096) {
    dps__buf_free(&x->resp_body);
    free(x);
    return;
  }
  x->next = p->spare;
  p->spare = x;
  p->n_spare++;
}

void dps__xfer_finish(dps__xfer *x, dps__xfer_result r, const char *detail) {
  dps__conn *c = x->conn;
  dps__pool *p = c->pool;
  if (x->prev)
    x->prev->next = x->next;
  else
    c->xfers = x->next;
  if (x->next) x->next->prev = x->prev;
  c->n_xfers--;
  p->in_flight--;
  event_del(&x->timer);
  if (c->h2 && x->stream_id > 0) nghttp2_session_set_stream_user_data(c->h2, x->stream_id, NULL);
  if (c->h1_cur == x) c->h1_cur = NULL;

  dps__response resp = {.result = r,
                        .status = r == DPS__XFER_OK ? x->status : 0,
                        .body = x->resp_body.data ? x->resp_body.data : "",
                        .body_len = x->resp_body.len,
                        .body_truncated = x->truncated,
                        .request_id = x->request_id,
                        .error_type = x->error_type,
                        .date = x->date,
                        .retry_after = x->retry_after,
                        .amz_retry_after = x->amz_retry_after,
                        .detail = detail ? detail : "",
                        .http2 = c->proto == DPS__PROTO_H2};
  x->cb(&resp, x->user_data);
  xfer_release(p, x);

  if (c->state == DPS__CONN_RETIRED) dps__conn_maybe_done(c);
  if (p->draining && p->in_flight == 0) event_active(p->drain_ev, EV_TIMEOUT, 0);
}

static void xfer_timeout_cb(evutil_socket_t fd, short what, void *arg) {
  dps__xfer *x = arg;
  dps__conn *c = x->conn;
  char why[64];
  snprintf(why, sizeof why, "no response within %u ms", (unsigned)x->timeout_ms);
  c->pool->st.timeouts++;
  if (c->proto == DPS__PROTO_H2) {
    dps__h2_cancel(c, x);
    dps__xfer_finish(x, DPS__XFER_TIMEOUT, why);
    dps__h2_send(c);
  } else {
    /* HTTP/1.1 cannot abandon a request and keep the connection */
    c->no_new = true;
    dps__xfer_finish(x, DPS__XFER_TIMEOUT, why);
    dps__conn_close(c, DPS__XFER_FAILED, "closed after a request timed out");
  }
}

static size_t conn_room(const dps__conn *c) {
  if (c->state != DPS__CONN_READY || c->no_new) return 0;
  size_t limit = c->proto == DPS__PROTO_H2 ? dps__h2_limit(c) : 1;
  return limit > c->n_xfers ? limit - c->n_xfers : 0;
}

size_t dps__pool_capacity(const dps__pool *p) {
  if (closing(p)) return 0;
  size_t n = 0;
  for (unsigned i = 0; i < p->n_slots; i++)
    if (p->slots[i].conn) n += conn_room(p->slots[i].conn);
  return n;
}

int dps__pool_submit(dps__pool *p, const dps__http_request *req, dps__pool_cb cb, void *user_data) {
  return dps__pool_submit_within(p, req, cb, user_data, 0);
}

int dps__pool_submit_within(dps__pool *p, const dps__http_request *req, dps__pool_cb cb,
                            void *user_data, uint32_t timeout_ms) {
  if (closing(p)) return DPS_ECLOSED;
  dps__conn *best = NULL;
  size_t best_room = 0;
  for (unsigned i = 0; i < p->n_slots; i++) {
    dps__conn *c = p->slots[i].conn;
    size_t room = c ? conn_room(c) : 0;
    if (room > best_room) best = c, best_room = room;
  }
  if (!best) return DPS_EFULL;
  dps__xfer *x = xfer_get(p);
  if (!x) return DPS_ENOMEM;
  x->conn = best;
  x->cb = cb;
  x->user_data = user_data;
  x->body = req->body;
  x->body_len = req->body_len;
  event_assign(&x->timer, p->base, -1, 0, xfer_timeout_cb, x);
  x->next = best->xfers;
  if (best->xfers) best->xfers->prev = x;
  best->xfers = x;
  best->n_xfers++;
  p->in_flight++;
  int rc =
      best->proto == DPS__PROTO_H2 ? dps__h2_submit(best, x, req) : dps__h1_submit(best, x, req);
  if (rc != DPS_OK) {
    best->xfers = x->next;
    if (x->next) x->next->prev = NULL;
    best->n_xfers--;
    p->in_flight--;
    xfer_release(p, x);
    return rc;
  }
  p->st.requests++;
  if (timeout_ms && timeout_ms < p->cfg.attempt_timeout_ms) {
    x->timeout_ms = timeout_ms;
    struct timeval tv = ms_tv(timeout_ms);
    event_add(&x->timer, &tv);
  } else {
    x->timeout_ms = (uint32_t)p->cfg.attempt_timeout_ms;
    event_add(&x->timer, p->attempt_tv); /* the common timeout: O(1) */
  }
  if (best->proto == DPS__PROTO_H2) event_active(p->flush_ev, EV_TIMEOUT, 0);
  return DPS_OK;
}

void dps__pool_flush(dps__pool *p) {
  for (unsigned i = 0; i < p->n_slots; i++) {
    dps__conn *c = p->slots[i].conn;
    if (c && c->dirty && c->proto == DPS__PROTO_H2) dps__h2_send(c);
  }
  for (dps__conn *c = p->retired, *next; c; c = next) {
    next = c->next;
    if (c->dirty && c->proto == DPS__PROTO_H2) dps__h2_send(c);
  }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) { dps__pool_flush(arg); }

/* ---- connections ------------------------------------------------------------------------- */

/*
 * Writes what the socket takes of @p data now and drains that from it; false on an error other
 * than "would block" (the rest then goes through the bufferevent, which meets the error again and
 * reports it the usual way). MSG_NOSIGNAL: a peer that reset the connection is an error to
 * handle, never a SIGPIPE in the host process.
 */
static bool write_now(evutil_socket_t fd, struct evbuffer *data) {
  enum { MAX_IOV = 64 };
  struct evbuffer_iovec v[MAX_IOV];
  struct iovec iov[MAX_IOV];
  int n = evbuffer_peek(data, -1, NULL, v, MAX_IOV);
  if (n > MAX_IOV) n = MAX_IOV; /* the rest on the next write */
  for (int i = 0; i < n; i++) iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
  ssize_t w;
  while ((w = sendmsg(fd, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  if (w > 0) evbuffer_drain(data, (size_t)w);
  return w >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

void dps__conn_write(dps__conn *c, struct evbuffer *data) {
  size_t n = evbuffer_get_length(data);
  /* Plain TCP with nothing queued before this: write from here, now. Through the bufferevent,
   * every write would cost a loop turn and two epoll_ctl calls (watch for writability, then stop
   * watching); only what the socket does not take now goes that way. TLS goes through OpenSSL's
   * bufferevent. */
  if (!c->ssl && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && write_now(fd, data) && evbuffer_get_length(data) == 0) {
      c->pool->st.bytes_sent += n;
      c->pool->st.write_calls++;
      return;
    }
  }
  /* OpenSSL's bufferevent makes an SSL_write, so a TLS record and a write(2), of every chain of
   * the buffer: frames added one by one made records of a few requests each (measured: 37,000
   * writes for 200,000 requests; the server then reads twice per record). One chain: records of
   * up to 16 KiB. */
  if (c->ssl) evbuffer_pullup(data, -1);
  if (bufferevent_write_buffer(c->bev, data) != 0) {
    evbuffer_drain(data, n);
    return;
  }
  c->pool->st.bytes_sent += n;
  c->pool->st.write_calls++;
}

static void ping_tick_cb(evutil_socket_t fd, short what, void *arg) {
  dps__conn *c = arg;
  if (!c->received && !c->ping_out && c->h2) {
    c->ping_out = true;
    struct timeval tv = ms_tv(c->pool->cfg.ping_timeout_ms);
    event_add(&c->ping_timeout, &tv);
    dps__h2_ping(c);
  }
  c->received = false;
}

static void ping_timeout_cb(evutil_socket_t fd, short what, void *arg) {
  dps__conn *c = arg;
  c->pool->st.ping_timeouts++;
  dps__conn_close(c, DPS__XFER_FAILED, "connection lost: PING not acknowledged");
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg) {
  dps__conn_close(arg, DPS__XFER_FAILED, "connect timeout");
}

static void open_more_slots(dps__pool *p) {
  unsigned from = p->n_slots;
  p->n_slots = p->max_slots;
  for (unsigned i = from; i < p->n_slots; i++) slot_schedule(&p->slots[i], true);
}

void dps__conn_ready(dps__conn *c) {
  dps__pool *p = c->pool;
  c->state = DPS__CONN_READY;
  event_del(&c->connect_timer);
  if (c->slot) c->slot->failures = 0;
  p->st.connects++;
  if (c->proto == DPS__PROTO_H2 && p->cfg.ping_interval_ms) {
    struct timeval tv = ms_tv(p->cfg.ping_interval_ms);
    event_add(&c->ping_timer, &tv);
  }
  if (c->proto == DPS__PROTO_H1) {
    p->st.http1 = true;
    if (p->n_slots < p->max_slots && !closing(p)) open_more_slots(p);
  }
  dps__pool_notify_capacity(p);
}

void dps__pool_notify_capacity(dps__pool *p) {
  if (p->cfg.on_capacity) event_active(p->capacity_ev, EV_TIMEOUT, 0);
}

static void capacity_cb(evutil_socket_t fd, short what, void *arg) {
  dps__pool *p = arg;
  if (p->cfg.on_capacity && !closing(p)) p->cfg.on_capacity(p->cfg.on_capacity_arg);
}

void dps__conn_goaway(dps__conn *c) {
  dps__pool *p = c->pool;
  dps__slot *s = c->slot;
  bool was_ready = c->state == DPS__CONN_READY;
  c->state = DPS__CONN_RETIRED;
  event_del(&c->connect_timer);
  c->slot = NULL;
  c->next = p->retired;
  p->retired = c;
  if (s) {
    s->conn = NULL;
    /* a routine GOAWAY (server restart, max requests per connection) is replaced at once; one
     * before the connection was even ready backs off like a failure */
    if (!closing(p)) slot_schedule(s, was_ready);
  }
}

void dps__conn_maybe_done(dps__conn *c) {
  if (c->state == DPS__CONN_RETIRED && c->n_xfers == 0 && !c->in_recv)
    dps__conn_close(c, DPS__XFER_FAILED, "GOAWAY");
}

static void unlink_retired(dps__conn *c) {
  for (dps__conn **pp = &c->pool->retired; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      return;
    }
}

void dps__conn_close(dps__conn *c, dps__xfer_result r, const char *detail) {
  if (c->state == DPS__CONN_DEAD) return;
  dps__pool *p = c->pool;
  dps__conn_state was = c->state;
  c->state = DPS__CONN_DEAD;
  dps__slot *s = c->slot;
  if (s) {
    s->conn = NULL;
    c->slot = NULL;
  } else if (was == DPS__CONN_RETIRED) {
    unlink_retired(c);
  }
  event_del(&c->connect_timer);
  event_del(&c->ping_timer);
  event_del(&c->ping_timeout);
  if (c->bev) bufferevent_free(c->bev); /* closes the socket and frees the SSL */
  c->bev = NULL;
  if (was == DPS__CONN_CONNECTING) p->st.connect_failures++;
  c->next = p->graveyard;
  p->graveyard = c;
  event_active(p->reap_ev, EV_TIMEOUT, 0);
  /* A connection that served and then closed (keep-alive limit, idle close) is replaced at once;
   * one that failed counts toward the backoff. */
  if (s && !closing(p)) slot_schedule(s, was == DPS__CONN_READY && c->served);

  char why[384];
  snprintf(why, sizeof why, "%s", detail);
  while (c->xfers) {
    dps__xfer *x = c->xfers;
    dps__xfer_result xr = r;
    /* never left this host: the server cannot have processed it */
    if (r == DPS__XFER_FAILED && !x->sent) xr = DPS__XFER_REFUSED;
    dps__xfer_finish(x, xr, why);
  }
}

static void describe_socket_error(dps__conn *c, char *buf, size_t n) {
  int dns = bufferevent_socket_get_dns_error(c->bev);
  int err = EVUTIL_SOCKET_ERROR();
  if (dns)
    snprintf(buf, n, "cannot resolve %.200s: %s", c->pool->url.host, evutil_gai_strerror(dns));
  else if (err)
    snprintf(buf, n, "%s: %s", c->state == DPS__CONN_CONNECTING ? "connect" : "connection lost",
             evutil_socket_error_to_string(err));
  else
    snprintf(buf, n, "connection lost");
}

static void pool_fatal(dps__pool *p, const char *detail);

static void conn_connected(dps__conn *c) {
  dps__pool *p = c->pool;
  int one = 1;
  setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c->ssl)
    c->proto = dps__tls_alpn(c->ssl);
  else
    c->proto = p->cfg.http1_only ? DPS__PROTO_H1 : DPS__PROTO_H2;
  if (c->proto == DPS__PROTO_H2) {
    /* ready when the server's SETTINGS arrive: only then is its stream limit known */
    if (dps__h2_start(c) != DPS_OK) dps__conn_close(c, DPS__XFER_FAILED, "out of memory");
  } else {
    dps__h1_start(c);
    dps__conn_ready(c);
  }
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  dps__conn *c = arg;
  if (what & BEV_EVENT_CONNECTED) {
    conn_connected(c);
    return;
  }
  char why[384];
  if (c->ssl && c->state == DPS__CONN_CONNECTING && (what & BEV_EVENT_ERROR)) {
    unsigned long e = bufferevent_get_openssl_error(bev);
    bool verify = !c->pool->cfg.no_verify;
    if (e || (verify && SSL_get_verify_result(c->ssl) != X509_V_OK)) {
      bool fatal = dps__tls_error(c->ssl, verify, e, why, sizeof why);
      while (bufferevent_get_openssl_error(bev)) {
      }
      if (fatal) {
        pool_fatal(c->pool, why);
        return;
      }
      dps__conn_close(c, DPS__XFER_FAILED, why);
      return;
    }
  }
  if (what & BEV_EVENT_EOF) {
    if (c->proto == DPS__PROTO_H1) {
      dps__h1_on_eof(c);
      return;
    }
    snprintf(why, sizeof why, "connection lost: EOF");
  } else {
    describe_socket_error(c, why, sizeof why);
    if (c->ssl) /* an error in the TLS layer after the handshake */
      for (unsigned long e; (e = bufferevent_get_openssl_error(bev));)
        dps__tls_error(NULL, false, e, why, sizeof why);
  }
  dps__conn_close(c, DPS__XFER_FAILED, why);
}

/*
 * libevent 2.1 reads at most 4096 bytes per read event (EVBUFFER_MAX_READ; 2.2 makes it settable):
 * a few dozen answers, so a window of answers took several loop turns, each sending its share of
 * new requests in a write of its own. When that read came back full, take what else is there
 * now, up to READ_MORE_MAX, in one more read. Plain TCP only (TLS reads go through OpenSSL's
 * bufferevent).
 */
#define LIBEVENT_READ_MAX 4096
#define READ_MORE_MAX (256 * 1024)

static void read_more(dps__conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  if (c->ssl || evbuffer_get_length(in) < LIBEVENT_READ_MAX) return;
  /* The bufferevent keeps its input's end frozen but while it reads itself: the same here. */
  evbuffer_unfreeze(in, 0);
  struct evbuffer_iovec v;
  if (evbuffer_reserve_space(in, READ_MORE_MAX, &v, 1) == 1) {
    ssize_t n;
    while ((n = recv(bufferevent_getfd(c->bev), v.iov_base, v.iov_len, MSG_DONTWAIT)) < 0 &&
           errno == EINTR) {
    }
    /* EOF or an error: left for the bufferevent's next read, which reports it as always. */
    v.iov_len = n > 0 ? (size_t)n : 0;
    evbuffer_commit_space(in, &v, 1);
  }
  evbuffer_freeze(in, 0);
}

static void read_cb(struct bufferevent *bev, void *arg) {
  dps__conn *c = arg;
  read_more(c);
  c->pool->st.bytes_received += evbuffer_get_length(bufferevent_get_input(bev));
  c->received = true;
  if (c->proto == DPS__PROTO_H2)
    dps__h2_on_read(c);
  else if (c->proto == DPS__PROTO_H1)
    dps__h1_on_read(c);
}

static void write_cb(struct bufferevent *bev, void *arg) {
  dps__conn *c = arg;
  if (c->proto == DPS__PROTO_H2 && c->dirty) dps__h2_send(c);
}

static void conn_open(dps__slot *s) {
  dps__pool *p = s->pool;
  dps__conn *c = calloc(1, sizeof *c);
  if (!c) {
    slot_schedule(s, false);
    return;
  }
  c->pool = p;
  c->slot = s;
  c->state = DPS__CONN_CONNECTING;
  event_assign(&c->connect_timer, p->base, -1, 0, connect_timeout_cb, c);
  event_assign(&c->ping_timer, p->base, -1, EV_PERSIST, ping_tick_cb, c);
  event_assign(&c->ping_timeout, p->base, -1, 0, ping_timeout_cb, c);
  s->conn = c;
  if (s->opened) p->st.reconnects++;
  s->opened = true;
  if (p->url.tls) {
    c->ssl = dps__tls_ssl_new(p->ssl_ctx, &p->url, !p->cfg.no_verify);
    if (c->ssl)
      /* deferred callbacks: a write into an OpenSSL bufferevent may fail inside SSL_write and
       * would otherwise call event_cb (which frees it) from within our own write */
      c->bev = bufferevent_openssl_socket_new(p->base, -1, c->ssl, BUFFEREVENT_SSL_CONNECTING,
                                              BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!c->bev) SSL_free(c->ssl);
    if (c->bev) bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
  } else {
    c->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
  }
  struct timeval tv = ms_tv(p->cfg.connect_timeout_ms);
  event_add(&c->connect_timer, &tv);
  if (!c->bev) {
    c->ssl = NULL;
    dps__conn_close(c, DPS__XFER_FAILED, "out of memory");
    return;
  }
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  /* Resolution through evdns (an IP literal needs none); errors come back through event_cb,
   * possibly before this returns. */
  if (bufferevent_socket_connect_hostname(c->bev, p->dns, AF_UNSPEC, p->url.host, p->url.port) !=
          0 &&
      c->state == DPS__CONN_CONNECTING) {
    char why[384];
    describe_socket_error(c, why, sizeof why);
    dps__conn_close(c, DPS__XFER_FAILED, why);
  }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg) {
  dps__slot *s = arg;
  if (!s->conn && !closing(s->pool)) conn_open(s);
}

static void slot_schedule(dps__slot *s, bool at_once) {
  dps__pool *p = s->pool;
  uint32_t ms = 0;
  if (!at_once) ms = dps__backoff_ms(&p->cfg.reconnect, ++s->failures, &p->rng);
  struct timeval tv = ms_tv(ms);
  event_add(&s->retry_timer, &tv);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg) {
  dps__pool *p = arg;
  while (p->graveyard) {
    dps__conn *c = p->graveyard;
    p->graveyard = c->next;
    dps__h2_free(c);
    dps__h1_free(c);
    free(c);
  }
}

static void close_all(dps__pool *p, dps__xfer_result r, const char *detail) {
  for (unsigned i = 0; i < p->max_slots; i++) {
    event_del(&p->slots[i].retry_timer);
    if (p->slots[i].conn) dps__conn_close(p->slots[i].conn, r, detail);
  }
  while (p->retired) dps__conn_close(p->retired, r, detail);
}

static void pool_fatal(dps__pool *p, const char *detail) {
  if (p->fatal[0]) return;
  snprintf(p->fatal, sizeof p->fatal, "%s", detail);
  close_all(p, DPS__XFER_FATAL, detail);
  if (p->cfg.on_fatal) p->cfg.on_fatal(p->fatal, p->cfg.on_fatal_arg);
}

const char *dps__pool_error(const dps__pool *p) { return p->fatal[0] ? p->fatal : NULL; }

/* ---- drain and life ---------------------------------------------------------------------- */

static void drain_ev_cb(evutil_socket_t fd, short what, void *arg) {
  dps__pool *p = arg;
  if (!p->draining || p->drain_done_called || p->in_flight) return;
  p->drain_done_called = true;
  event_del(p->drain_timer);
  if (p->drain_done) p->drain_done(p->drain_arg);
}

static void drain_timer_cb(evutil_socket_t fd, short what, void *arg) {
  dps__pool *p = arg;
  close_all(p, DPS__XFER_CANCELLED, "drain deadline passed");
  drain_ev_cb(fd, what, p);
}

void dps__pool_drain(dps__pool *p, uint32_t timeout_ms, void (*done)(void *), void *arg) {
  p->draining = true;
  p->drain_done = done;
  p->drain_arg = arg;
  if (p->in_flight == 0) {
    event_active(p->drain_ev, EV_TIMEOUT, 0);
    return;
  }
  struct timeval tv = ms_tv(timeout_ms);
  event_add(p->drain_timer, &tv);
}

void dps__pool_stats_get(const dps__pool *p, dps__pool_stats *out) {
  *out = p->st;
  out->connections_live = out->connections_open = 0;
  for (unsigned i = 0; i < p->n_slots; i++) {
    const dps__conn *c = p->slots[i].conn;
    if (!c) continue;
    out->connections_open++;
    if (c->state == DPS__CONN_READY) out->connections_live++;
  }
  for (const dps__conn *c = p->retired; c; c = c->next) out->connections_open++;
  out->in_flight = p->in_flight;
  out->capacity = dps__pool_capacity(p);
}

int dps__pool_new(dps__pool **out, struct event_base *base, struct evdns_base *dns,
                  const dps__url *url, const dps__pool_config *cfg, dps_error *err) {
  *out = NULL;
  dps__pool_config def;
  if (!cfg) {
    dps__pool_config_init(&def);
    cfg = &def;
  }
  if (cfg->connections == 0 || cfg->connections > 1024 || cfg->max_streams == 0 ||
      cfg->h1_factor == 0 || cfg->h1_factor > 64 || cfg->attempt_timeout_ms == 0 ||
      cfg->connect_timeout_ms == 0 || cfg->window_bytes < 65535 || cfg->window_bytes > INT32_MAX)
    return dps__error_set(err, DPS_ECONFIG, "transport",
                          "transport: connections 1-1024, max_streams >= 1, h1_factor 1-64, "
                          "timeouts > 0, window 65535-2^31-1");
  dps__pool *p = calloc(1, sizeof *p);
  if (!p) return dps__error_set(err, DPS_ENOMEM, "", "out of memory");
  p->base = base;
  p->url = *url;
  p->cfg = *cfg;
  p->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15u;
  if (!p->rng) p->rng = 1;
  int rc = DPS_ENOMEM;
  if (cfg->ca_bundle && !(p->ca_bundle = strdup(cfg->ca_bundle))) goto fail;
  p->cfg.ca_bundle = p->ca_bundle;
  if (url->tls && (rc = dps__tls_ctx_new(&p->cfg, &p->ssl_ctx, err)) != DPS_OK) {
    free(p->ca_bundle);
    free(p);
    return rc;
  }
  rc = DPS_ENOMEM;
  p->dns = dns;
  if (!p->dns) {
    p->dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!p->dns && (p->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE)))
      evdns_base_load_hosts(p->dns, NULL); /* no resolv.conf: /etc/hosts and literals */
    if (!p->dns) goto fail;
    p->own_dns = true;
  }
  struct timeval tv = ms_tv(cfg->attempt_timeout_ms);
  p->attempt_tv = event_base_init_common_timeout(base, &tv);
  p->scratch = evbuffer_new();
  p->flush_ev = event_new(base, -1, 0, flush_cb, p);
  p->reap_ev = event_new(base, -1, 0, reap_cb, p);
  p->drain_ev = event_new(base, -1, 0, drain_ev_cb, p);
  p->drain_timer = evtimer_new(base, drain_timer_cb, p);
  p->capacity_ev = event_new(base, -1, 0, capacity_cb, p);
  p->max_slots = cfg->connections * cfg->h1_factor;
  p->n_slots = cfg->http1_only ? p->max_slots : cfg->connections;
  if (!p->attempt_tv || !p->scratch || !p->flush_ev || !p->reap_ev || !p->drain_ev ||
      !p->drain_timer || !p->capacity_ev || !(p->slots = calloc(p->max_slots, sizeof *p->slots)))
    goto fail;
  for (unsigned i = 0; i < p->max_slots; i++) {
    p->slots[i].pool = p;
    event_assign(&p->slots[i].retry_timer, base, -1, 0, retry_cb, &p->slots[i]);
  }
  for (unsigned i = 0; i < p->n_slots; i++) conn_open(&p->slots[i]);
  *out = p;
  return DPS_OK;
fail:
  dps__pool_free(p);
  return dps__error_set(err, rc, "", "out of memory");
}

void dps__pool_free(dps__pool *p) {
  if (!p) return;
  p->draining = true; /* no reconnects from here on */
  if (p->slots) close_all(p, DPS__XFER_CANCELLED, "pool freed");
  reap_cb(-1, 0, p);
  if (p->flush_ev) event_free(p->flush_ev);
  if (p->reap_ev) event_free(p->reap_ev);
  if (p->drain_ev) event_free(p->drain_ev);
  if (p->drain_timer) event_free(p->drain_timer);
  if (p->capacity_ev) event_free(p->capacity_ev);
  if (p->scratch) evbuffer_free(p->scratch);
  for (dps__xfer *x = p->spare, *next; x; x = next) {
    next = x->next;
    dps__buf_free(&x->resp_body);
    free(x);
  }
  if (p->own_dns && p->dns) evdns_base_free(p->dns, 0);
  if (p->ssl_ctx) SSL_CTX_free(p->ssl_ctx);
  free(p->slots);
  free(p->ca_bundle);
  free(p);
}
