/*
 * pool.h: the client transport. A pool of connections to one endpoint that sends signed requests
 * (core/request.h) and hands each one's outcome back exactly once. http:// endpoints speak HTTP/2
 * with prior knowledge (h2c); https:// ones TLS whose ALPN picks h2 or http/1.1. Retries are not
 * its business: it says what happened (response, refused, failed, timed out, fatal) and the
 * sender decides.
 *
 * Threading: none. Every function, and every callback, runs on the thread of the event_base the
 * pool was created on, and only there.
 *
 * Capacity: the pool never queues. An HTTP/2 connection carries up to min(the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, max_streams) requests at once, an HTTP/1.1 connection one.
 * dps__pool_capacity() says how many more requests fit right now; dps__pool_submit() beyond that
 * returns DPS_EFULL, so the sender takes from its ring only what fits.
 *
 * Ownership: the request struct and its headers are copied (or serialized) during
 * dps__pool_submit() and may be reused when it returns. The request BODY is borrowed, never
 * duplicated into pool-owned storage: HTTP/2 reads it chunk by chunk into outgoing DATA frames
 * as flow control admits them (so it must stay valid and unchanged until the request's callback
 * has been called); HTTP/1.1 appends it to the socket's output buffer at submit. The rule for
 * callers is the same for both: valid until the callback. The response handed to the callback,
 * and everything it points to, lives only during the callback.
 */
#ifndef DPS_TRANSPORT_POOL_H
#define DPS_TRANSPORT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/endpoint.h"
#include "core/request.h"
#include "core/retry.h"
#include "dpstatus.h"

struct event_base;
struct evdns_base;

/* What became of one submitted request. */
typedef enum dps__xfer_result {
  DPS__XFER_OK = 0,   /* an HTTP response arrived, whatever its status */
  DPS__XFER_REFUSED,  /* the server did not process it (GOAWAY above last-stream-id,
                         RST_STREAM REFUSED_STREAM, or it never left this host): resend it
                         without charging an attempt */
  DPS__XFER_FAILED,   /* the connection was lost with the request in flight (EOF, reset, TLS
                         error, PING timeout), or its stream was reset with another code than
                         REFUSED_STREAM: an attempt was used, the server may or may not have
                         processed it. (A request whose HEADERS had not left yet when the
                         connection was lost completes REFUSED instead.) */
  DPS__XFER_TIMEOUT,  /* no complete response within the attempt timeout */
  DPS__XFER_FATAL,    /* the endpoint cannot be reached in a way retrying cannot mend
                         (certificate refused, host name mismatch): end the run */
  DPS__XFER_CANCELLED /* the pool was freed, or a drain deadline passed, before an outcome */
} dps__xfer_result;

/* "OK", "REFUSED", ..., for logs. Never NULL. */
const char *dps__xfer_result_name(dps__xfer_result r);

/* Limits on what is kept of a response. */
#define DPS__RESP_BODY_MAX_DEFAULT ((size_t)64 * 1024)
#define DPS__RESP_HEADER_MAX 128

/* One outcome. Valid during the callback only. Strings are NUL-terminated, "" when absent. */
typedef struct dps__response {
  dps__xfer_result result;
  int status;             /* HTTP status; 0 unless result is OK */
  const char *body;       /* the first body_max bytes of the body (NUL-terminated) */
  size_t body_len;        /* bytes in body */
  bool body_truncated;    /* the body was longer than what is kept */
  const char *request_id; /* x-amzn-requestid, else x-amz-request-id */
  const char *error_type; /* x-amzn-errortype */
  const char *date;       /* date */
  const char *retry_after;     /* retry-after, "" when absent */
  const char *amz_retry_after; /* x-amz-retry-after, "" when absent */
  const char *detail;     /* why, for anything but OK: "connection lost: EOF", "GOAWAY", ... */
  bool http2;             /* it went over HTTP/2 */
} dps__response;

/* Called once per submitted request, on the loop thread. It may call dps__pool_submit(),
 * dps__pool_capacity(), dps__pool_flush() and dps__pool_stats_get(); it must not call
 * dps__pool_free() (drain, then free from outside a callback). */
typedef void (*dps__pool_cb)(const dps__response *resp, void *user_data);

/* Called once when the pool meets a fatal error (see DPS__XFER_FATAL): @p detail says what, e.g.
 * "TLS: certificate verify failed: unable to get local issuer certificate". Afterwards the pool
 * stays closed: capacity 0, submit returns DPS_ECLOSED, dps__pool_error() gives the detail. */
typedef void (*dps__pool_fatal_cb)(const char *detail, void *arg);

typedef struct dps__pool_config {
  unsigned connections; /* K: HTTP/2 connections (default 2) */
  unsigned max_streams; /* per HTTP/2 connection, capped by the server's setting (default 100) */
  unsigned h1_factor;   /* when ALPN picks http/1.1 the pool keeps K * h1_factor keep-alive
                           connections, one request each (default 8: 16 in flight with K=2) */
  bool http1_only;      /* offer only http/1.1 in ALPN; with http:// speak HTTP/1.1 in clear */
  uint32_t attempt_timeout_ms; /* per request, from submit to the end of the response (10 s) */
  uint32_t connect_timeout_ms; /* DNS + TCP + TLS + the server's first SETTINGS (10 s) */
  uint32_t ping_interval_ms;   /* an HTTP/2 connection that received nothing for this long is
                                  PINGed (default 15 s; 0 = never) */
  uint32_t ping_timeout_ms;    /* ...and closed as dead when the ACK is not back in this (5 s) */
  uint32_t window_bytes;       /* HTTP/2 stream and connection receive window (16 MiB) */
  size_t body_max;             /* response body bytes kept (64 KiB) */
  const char *ca_bundle;       /* PEM file of trusted CAs instead of the system store; copied */
  bool no_verify;              /* do not verify the peer's certificate or name (explicit only) */
  dps__retry_policy reconnect; /* backoff between reconnects of one slot (base 100 ms, cap 10 s;
                                  max_attempts unused: the pool reconnects as long as it lives) */
  dps__pool_fatal_cb on_fatal; /* may be NULL */
  void *on_fatal_arg;
  /* Called from the loop (never from inside a pool call) after a connection became ready: the
   * capacity grew without any request completing, so the sender may take more from its ring.
   * May be NULL. */
  void (*on_capacity)(void *arg);
  void *on_capacity_arg;
} dps__pool_config;

/* Fills @p cfg with the defaults above. */
void dps__pool_config_init(dps__pool_config *cfg);

typedef struct dps__pool_stats {
  unsigned connections_live; /* ready to take requests */
  unsigned connections_open; /* with a socket: connecting, ready or finishing after a GOAWAY */
  size_t in_flight;          /* requests submitted whose callback has not run yet */
  size_t capacity;           /* dps__pool_capacity() */
  uint64_t requests;         /* submitted */
  uint64_t connects;         /* connections that became ready */
  uint64_t reconnects;       /* connection attempts after the first one of each slot */
  uint64_t connect_failures; /* attempts that never became ready */
  uint64_t goaways;          /* GOAWAY frames received */
  uint64_t refused_streams;  /* RST_STREAM REFUSED_STREAM received */
  uint64_t ping_timeouts;    /* connections closed because a PING was not acknowledged */
  uint64_t timeouts;         /* requests that timed out */
  uint64_t bytes_sent, bytes_received; /* on the wire (TLS: the plaintext) */
  uint64_t write_calls; /* writes handed to the sockets' buffers: one per connection per
                           flush, however many requests the flush carries */
  bool http1;           /* ALPN (or http1_only) chose HTTP/1.1 */
} dps__pool_stats;

typedef struct dps__pool dps__pool;

/*
 * Creates a pool for @p url on @p base and starts connecting its connections. @p dns resolves
 * host names (evdns, never a blocking lookup); NULL makes the pool create and own one from
 * /etc/resolv.conf. @p cfg is copied (ca_bundle included); NULL means the defaults.
 * @return DPS_OK, or DPS_ENOMEM, DPS_ECONFIG (unreadable CA bundle, bad value) with @p err set.
 */
int dps__pool_new(dps__pool **out, struct event_base *base, struct evdns_base *dns,
                  const dps__url *url, const dps__pool_config *cfg, dps_error *err);

/*
 * Sends @p req on the least-loaded live connection. Frames are queued, not written: they leave
 * with the next dps__pool_flush(), or at the end of this loop iteration at the latest, together
 * with those of every other request submitted meanwhile. @p cb runs exactly once with the outcome,
 * never from inside this call. req->body must stay valid until then (see Ownership above).
 * @return DPS_OK, or
 *         DPS_EFULL   no live connection has room (dps__pool_capacity() == 0): nothing queued,
 *         DPS_ECLOSED the pool is draining or met a fatal error,
 *         DPS_ENOMEM  (the callback will not run).
 */
int dps__pool_submit(dps__pool *p, const dps__http_request *req, dps__pool_cb cb, void *user_data);

/* The same with this request's own timeout: @p timeout_ms (1 and up) when it is shorter than the
 * pool's attempt timeout, which applies otherwise (and with 0). The sender uses it so that an
 * attempt never outlives its update's deadline. */
int dps__pool_submit_within(dps__pool *p, const dps__http_request *req, dps__pool_cb cb,
                            void *user_data, uint32_t timeout_ms);

/* How many more requests dps__pool_submit() accepts right now. */
size_t dps__pool_capacity(const dps__pool *p);

/* Writes what the submits since the last flush queued: one write per connection. */
void dps__pool_flush(dps__pool *p);

/*
 * Graceful close: from now on submit returns DPS_ECLOSED; @p done(@p arg) runs (once, from the
 * loop) when nothing is in flight, or when @p timeout_ms has passed, after the requests still in
 * flight were completed with CANCELLED. Free the pool afterwards (e.g. from @p done's caller, or
 * from @p done itself: it is not a request callback).
 */
void dps__pool_drain(dps__pool *p, uint32_t timeout_ms, void (*done)(void *arg), void *arg);

/* The fatal error's detail, or NULL while there is none. */
const char *dps__pool_error(const dps__pool *p);

void dps__pool_stats_get(const dps__pool *p, dps__pool_stats *out);

/*
 * Completes every request still in flight with CANCELLED (their callbacks run inside this call),
 * closes the connections without waiting and frees everything. NULL is a no-op. Not from inside a
 * request callback.
 */
void dps__pool_free(dps__pool *p);

#endif
