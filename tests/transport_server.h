/*
 * transport_server.h: a tiny HTTP/2 + HTTP/1.1 server, plain or TLS, running on the test's own
 * event_base, that misbehaves exactly as a test asks: advertises a stream limit, answers late or
 * never, sends GOAWAY with a chosen last-stream-id, refuses streams, drops the connection, ignores
 * PINGs. It counts what it sees (connections, requests, the most streams open at once on one
 * connection). Included by tests/test_transport*.c only.
 */
#ifndef DPS_TESTS_TRANSPORT_SERVER_H
#define DPS_TESTS_TRANSPORT_SERVER_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TS_MAX_HELD 512
#define TS_MAX_DELAYED 512

typedef struct ts_config {
  bool h1;                /* speak HTTP/1.1 (in clear, or when ALPN picks it) */
  const char *cert, *key; /* TLS when set */
  const char *alpn;       /* the one protocol ALPN selects: "h2" or "http/1.1" */
  uint32_t max_streams;   /* SETTINGS_MAX_CONCURRENT_STREAMS (0: 100) */
  int delay_ms;           /* 0 answer at once, > 0 after that long, < 0 never */
  unsigned goaway_at;     /* on this request of a connection: GOAWAY(goaway_last), then answer
                             the held streams up to goaway_last */
  int32_t goaway_last;    /* < 0: the stream that triggered it */
  unsigned refuse_nth;    /* RST_STREAM REFUSED_STREAM every nth request */
  unsigned close_at;      /* drop the connection when the server's nth request arrives */
  bool no_ping_ack;
  bool ipv6; /* listen on [::1] (ts_start_server returns NULL when it cannot) */
} ts_config;

typedef struct ts_server ts_server;
typedef struct ts_conn ts_conn;

typedef struct ts_delayed {
  struct event ev;
  ts_conn *c;
  int32_t id;
  bool used;
} ts_delayed;

struct ts_conn {
  ts_server *s;
  ts_conn *next;
  struct bufferevent *bev;
  nghttp2_session *h2;
  http_parser hp;
  int open, max_open;
  unsigned reqs;
  int32_t held[TS_MAX_HELD];
  unsigned n_held;
  ts_delayed delayed[TS_MAX_DELAYED];
  bool dead;
};

struct ts_server {
  ts_config cfg;
  struct event_base *base;
  struct evconnlistener *lis;
  SSL_CTX *ctx;
  uint16_t port;
  ts_conn *conns;
  unsigned accepted, requests, pings, goaways;
  int max_open; /* over all connections, per connection */
};

static void ts_conn_free(ts_conn *c) {
  for (unsigned i = 0; i < TS_MAX_DELAYED; i++)
    if (c->delayed[i].used) event_del(&c->delayed[i].ev);
  if (c->bev) bufferevent_free(c->bev);
  if (c->h2) nghttp2_session_del(c->h2);
  for (ts_conn **pp = &c->s->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  free(c);
}

static void ts_h2_flush(ts_conn *c) {
  const uint8_t *d;
  ssize_t n;
  while (c->h2 && (n = nghttp2_session_mem_send(c->h2, &d)) > 0) bufferevent_write(c->bev, d, n);
}

static ssize_t ts_body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud) {
  memcpy(buf, "{}", 2);
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  return 2;
}

static void ts_respond(ts_conn *c, int32_t id) {
  if (c->s->cfg.h1) {
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-amzn-RequestId: h1-req\r\n"
        "Date: Tue, 24 Nov 2026 20:00:00 GMT\r\n\r\n{}";
    bufferevent_write(c->bev, resp, sizeof resp - 1);
    return;
  }
  char rid[32];
  int rl = snprintf(rid, sizeof rid, "req-%d", id);
  nghttp2_nv nv[] = {
      {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
      {(uint8_t *)"content-type", (uint8_t *)"application/x-amz-json-1.1", 12, 26, 0},
      {(uint8_t *)"x-amzn-requestid", (uint8_t *)rid, 16, (size_t)rl, 0},
      {(uint8_t *)"date", (uint8_t *)"Tue, 24 Nov 2026 20:00:00 GMT", 4, 29, 0}};
  nghttp2_data_provider dp = {.read_callback = ts_body_read};
  nghttp2_submit_response(c->h2, id, nv, 4, &dp);
}

static void ts_delayed_cb(evutil_socket_t fd, short what, void *arg) {
  ts_delayed *d = arg;
  d->used = false;
  ts_respond(d->c, d->id);
  if (d->c->h2) ts_h2_flush(d->c);
}

/* A whole request arrived on stream @p id (0 for HTTP/1.1). */
static void ts_on_request(ts_conn *c, int32_t id) {
  ts_server *s = c->s;
  s->requests++;
  c->reqs++;
  if (s->cfg.close_at && s->requests == s->cfg.close_at) {
    c->dead = true;
    return;
  }
  if (s->cfg.refuse_nth && s->requests % s->cfg.refuse_nth == 0) {
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (s->cfg.goaway_at && c->reqs == s->cfg.goaway_at) {
    int32_t last = s->cfg.goaway_last < 0 ? id : s->cfg.goaway_last;
    s->goaways++;
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
    if (id <= last) ts_respond(c, id);
    for (unsigned i = 0; i < c->n_held; i++)
      if (c->held[i] <= last) ts_respond(c, c->held[i]);
    c->n_held = 0;
    return;
  }
  if (s->cfg.delay_ms == 0) {
    ts_respond(c, id);
  } else if (s->cfg.delay_ms < 0) {
    if (c->n_held < TS_MAX_HELD) c->held[c->n_held++] = id;
  } else {
    for (unsigned i = 0; i < TS_MAX_DELAYED; i++)
      if (!c->delayed[i].used) {
        ts_delayed *d = &c->delayed[i];
        d->used = true;
        d->c = c;
        d->id = id;
        evtimer_assign(&d->ev, s->base, ts_delayed_cb, d);
        struct timeval tv = {0, s->cfg.delay_ms * 1000};
        evtimer_add(&d->ev, &tv);
        break;
      }
  }
}

static int ts_on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
  ts_conn *c = ud;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    c->open++;
    if (c->open > c->max_open) c->max_open = c->open;
    if (c->max_open > c->s->max_open) c->s->max_open = c->max_open;
  }
  return 0;
}

static int ts_on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
  ts_conn *c = ud;
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    ts_on_request(c, f->hd.stream_id);
  if (f->hd.type == NGHTTP2_PING && !(f->hd.flags & NGHTTP2_FLAG_ACK)) c->s->pings++;
  return 0;
}

static int ts_on_stream_close(nghttp2_session *ss, int32_t id, uint32_t ec, void *ud) {
  ts_conn *c = ud;
  c->open--;
  return 0;
}

static int ts_h1_done(http_parser *p) {
  ts_conn *c = p->data;
  c->open = 1;
  if (c->s->max_open < 1) c->s->max_open = 1;
  ts_on_request(c, 0);
  return 0;
}

static const http_parser_settings ts_h1_settings = {.on_message_complete = ts_h1_done};

static void ts_read_cb(struct bufferevent *bev, void *arg) {
  ts_conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  size_t len = evbuffer_get_length(in);
  unsigned char *data = evbuffer_pullup(in, (ssize_t)len);
  if (c->s->cfg.h1) {
    http_parser_execute(&c->hp, &ts_h1_settings, (const char *)data, len);
  } else if (nghttp2_session_mem_recv(c->h2, data, len) < 0) {
    c->dead = true;
  }
  evbuffer_drain(in, len);
  if (c->dead) {
    ts_conn_free(c);
    return;
  }
  ts_h2_flush(c);
}

static void ts_start(ts_conn *c) {
  if (c->s->cfg.h1) {
    http_parser_init(&c->hp, HTTP_REQUEST);
    c->hp.data = c;
    return;
  }
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, ts_on_begin_headers);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, ts_on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, ts_on_stream_close);
  nghttp2_option *opt;
  nghttp2_option_new(&opt);
  if (c->s->cfg.no_ping_ack) nghttp2_option_set_no_auto_ping_ack(opt, 1);
  nghttp2_session_server_new2(&c->h2, cbs, c, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                  c->s->cfg.max_streams ? c->s->cfg.max_streams : 100}};
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1);
  ts_h2_flush(c);
}

static void ts_event_cb(struct bufferevent *bev, short what, void *arg) {
  ts_conn *c = arg;
  if (what & BEV_EVENT_CONNECTED) {
    ts_start(c);
    return;
  }
  ts_conn_free(c);
}

static void ts_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg) {
  ts_server *s = arg;
  ts_conn *c = calloc(1, sizeof *c);
  c->s = s;
  c->next = s->conns;
  s->conns = c;
  s->accepted++;
  if (s->ctx) {
    SSL *ssl = SSL_new(s->ctx);
    c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
  } else {
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  bufferevent_setcb(c->bev, ts_read_cb, NULL, ts_event_cb, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  if (!s->ctx) ts_start(c);
}

static int ts_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                      const unsigned char *in, unsigned inlen, void *arg) {
  ts_server *s = arg;
  size_t want = strlen(s->cfg.alpn);
  for (unsigned i = 0; i < inlen; i += 1u + in[i])
    if (in[i] == want && memcmp(in + i + 1, s->cfg.alpn, want) == 0) {
      *out = in + i + 1;
      *outlen = in[i];
      return SSL_TLSEXT_ERR_OK;
    }
  return SSL_TLSEXT_ERR_NOACK;
}

static ts_server *ts_start_server(struct event_base *base, const ts_config *cfg) {
  ts_server *s = calloc(1, sizeof *s);
  s->cfg = *cfg;
  s->base = base;
  if (cfg->cert) {
    s->ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(s->ctx, cfg->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
      fprintf(stderr, "test server: cannot load %s / %s\n", cfg->cert, cfg->key);
      abort();
    }
    if (!s->cfg.alpn) s->cfg.alpn = cfg->h1 ? "http/1.1" : "h2";
    SSL_CTX_set_alpn_select_cb(s->ctx, ts_alpn_cb, s);
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (cfg->ipv6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    sl = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof *a;
  }
  s->lis = evconnlistener_new_bind(base, ts_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                   64, (struct sockaddr *)&ss, (int)sl);
  if (!s->lis) {
    if (s->ctx) SSL_CTX_free(s->ctx);
    free(s);
    if (cfg->ipv6) return NULL;
    abort();
  }
  getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&ss, &sl);
  s->port = ntohs(cfg->ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port);
  return s;
}

static void ts_stop(ts_server *s) {
  while (s->conns) ts_conn_free(s->conns);
  evconnlistener_free(s->lis);
  if (s->ctx) SSL_CTX_free(s->ctx);
  free(s);
}

#endif
