/*
 * conn.h: the pool's insides, shared by pool.c (slots, sockets, requests, timers), h2.c (the
 * nghttp2 client session of one connection), h1.c (one HTTP/1.1 keep-alive connection) and tls.c.
 * Nothing here is seen outside transport/.
 *
 * Lifetimes: a slot lives as long as the pool and holds at most one connection that takes new
 * requests; a connection lives for one socket. A connection that received GOAWAY leaves its slot
 * (which opens a replacement at once) and finishes its streams as a "retired" one. A dead
 * connection is unlinked, its requests completed, and it is freed from the reap event: never from
 * inside an nghttp2 callback.
 */
#ifndef DPS_TRANSPORT_CONN_H
#define DPS_TRANSPORT_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "transport/pool.h"

typedef struct dps__conn dps__conn;
typedef struct dps__slot dps__slot;

/* One submitted request, from submit to its callback. */
typedef struct dps__xfer {
  struct dps__xfer *prev, *next; /* in its connection's list */
  dps__conn *conn;
  dps__pool_cb cb;
  void *user_data;
  struct event timer;  /* attempt timeout */
  uint32_t timeout_ms; /* its length */
  int32_t stream_id;   /* HTTP/2; 0 before submit */
  bool sent;           /* its request headers went out */
  bool complete;       /* the whole response arrived */
  int status;
  const char *body; /* the caller's, borrowed until the callback */
  size_t body_len, body_off;
  dps__buf resp_body;
  bool truncated;
  /* The arrays come last: a reused transfer is cleared up to here, and they only by their first
   * byte (pool.c, xfer_get). */
  char request_id[DPS__RESP_HEADER_MAX];
  char error_type[DPS__RESP_HEADER_MAX];
  char date[64];
  char retry_after[32];     /* Retry-After (seconds or an HTTP-date) */
  char amz_retry_after[32]; /* x-amz-retry-after (milliseconds) */
} dps__xfer;

typedef enum dps__conn_state {
  DPS__CONN_CONNECTING, /* resolving, connecting, TLS, waiting for the server's SETTINGS */
  DPS__CONN_READY,      /* takes requests */
  DPS__CONN_RETIRED,    /* GOAWAY received: finishes its streams, takes nothing new */
  DPS__CONN_DEAD        /* unlinked, waiting for the reap event */
} dps__conn_state;

typedef enum dps__proto { DPS__PROTO_NONE, DPS__PROTO_H2, DPS__PROTO_H1 } dps__proto;

struct dps__conn {
  dps__pool *pool;
  dps__slot *slot; /* NULL once retired */
  dps__conn *next; /* in the retired list or the graveyard */
  dps__conn_state state;
  dps__proto proto;
  struct bufferevent *bev;
  SSL *ssl; /* owned by bev */
  dps__xfer *xfers;
  size_t n_xfers;
  struct event connect_timer, ping_timer, ping_timeout;
  bool received; /* something arrived since the last ping tick */
  bool ping_out; /* a PING waits for its ACK */
  bool in_recv;  /* inside nghttp2_session_mem_recv: no send, no close */
  bool dirty;    /* frames were queued since the last send */
  bool goaway;   /* GOAWAY received, handled after mem_recv returns */
  bool served;   /* a response arrived on it */
  bool no_new;   /* about to close: takes no new request */
  /* HTTP/2 */
  nghttp2_session *h2;
  /* HTTP/1.1 */
  http_parser parser;
  dps__xfer *h1_cur;
  dps__buf h1_field, h1_value;
  bool h1_in_value;
};

struct dps__slot {
  dps__pool *pool;
  dps__conn *conn;
  struct event retry_timer;
  uint32_t failures; /* consecutive connection attempts that failed, for the backoff */
  bool opened;       /* a connection was attempted before (later ones count as reconnects) */
};

struct dps__pool {
  struct event_base *base;
  struct evdns_base *dns;
  bool own_dns;
  dps__url url;
  dps__pool_config cfg;
  char *ca_bundle;
  SSL_CTX *ssl_ctx;
  dps__slot *slots;
  unsigned n_slots, max_slots;
  dps__conn *retired;
  dps__conn *graveyard;
  struct event *flush_ev, *reap_ev, *drain_ev, *drain_timer, *capacity_ev;
  const struct timeval *attempt_tv; /* a libevent common timeout: O(1) add and remove */
  struct evbuffer *scratch;
  dps__xfer *spare; /* finished transfers kept for reuse (next-linked), up to XFER_SPARE_MAX */
  size_t n_spare;
  size_t in_flight;
  bool draining, drain_done_called;
  void (*drain_done)(void *);
  void *drain_arg;
  char fatal[384]; /* "" until a fatal error */
  uint64_t rng;
  dps__pool_stats st;
};

/* pool.c, for the protocol files */
void dps__xfer_finish(dps__xfer *x, dps__xfer_result r, const char *detail);
void dps__conn_ready(dps__conn *c);
void dps__conn_close(dps__conn *c, dps__xfer_result r, const char *detail);
void dps__conn_write(dps__conn *c, struct evbuffer *data); /* one write, counted */
void dps__conn_maybe_done(dps__conn *c);      /* a retired connection without streams goes away */
void dps__conn_goaway(dps__conn *c);          /* leave the slot, which opens a replacement */
void dps__pool_notify_capacity(dps__pool *p); /* on_capacity, from the loop */

/* h2.c */
int dps__h2_start(dps__conn *c);
int dps__h2_submit(dps__conn *c, dps__xfer *x, const dps__http_request *req);
void dps__h2_send(dps__conn *c);
void dps__h2_on_read(dps__conn *c);
void dps__h2_cancel(dps__conn *c, dps__xfer *x); /* RST_STREAM CANCEL, forget the stream */
void dps__h2_ping(dps__conn *c);
size_t dps__h2_limit(const dps__conn *c);
void dps__h2_free(dps__conn *c);

/* h1.c */
void dps__h1_start(dps__conn *c);
int dps__h1_submit(dps__conn *c, dps__xfer *x, const dps__http_request *req);
void dps__h1_on_read(dps__conn *c);
void dps__h1_on_eof(dps__conn *c);
void dps__h1_free(dps__conn *c);

/* tls.c */
/* The pool's context. @return DPS_OK, DPS_ECONFIG (unreadable CA bundle), DPS_ENOMEM. */
int dps__tls_ctx_new(const dps__pool_config *cfg, SSL_CTX **out, dps_error *err);
SSL *dps__tls_ssl_new(SSL_CTX *ctx, const dps__url *url, bool verify);
/* Describes why the handshake on @p ssl failed (@p err: the first OpenSSL error queued, or 0)
 * into @p buf; returns true when retrying cannot help (the peer's certificate or name was refused,
 * which only counts when @p verify). */
bool dps__tls_error(SSL *ssl, bool verify, unsigned long err, char *buf, size_t bufsz);
/* The protocol ALPN picked: H2, H1 (http/1.1 or none). */
dps__proto dps__tls_alpn(SSL *ssl);

#endif
