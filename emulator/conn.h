/*
 * conn.h: what the transport files share (server.c, h1.c, h2.c; not part of the service
 * contract): the server's state, one accepted connection, and the small set of calls through
 * which a protocol handler asks the server to write, close or drop a connection. Protocol
 * handlers never free a connection themselves: they set a flag and the server settles it
 * (dps__emu_conn_settle) once the handler has returned, so no callback runs on freed memory.
 */
#ifndef DPS_EMULATOR_CONN_H
#define DPS_EMULATOR_CONN_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "emulator/server.h"
#include "emulator/service.h"

/* Past this much unsent output a connection stops reading (and HTTP/2 stops producing frames)
 * until the peer has taken it: a client that never reads cannot make us buffer without end. */
#define DPS__EMU_OUTPUT_MAX (256 * 1024)
/* Request head limits (HTTP/1.1 and HTTP/2 alike). */
#define DPS__EMU_MAX_HEADERS 64
#define DPS__EMU_MAX_HEAD_BYTES (64 * 1024)

typedef enum dps__emu_proto { DPS__EMU_SNIFF = 0, DPS__EMU_H1, DPS__EMU_H2 } dps__emu_proto;

/* A header stored as offsets into a growable arena (which may move while it fills). */
typedef struct dps__emu_hdr_ref {
  uint32_t name_off, name_len, value_off, value_len;
} dps__emu_hdr_ref;

typedef struct dps__emu_conn dps__emu_conn;

struct dps__emu_conn {
  dps__emu_server *srv;
  struct bufferevent *bev;
  uint64_t id;
  dps__emu_proto proto;
  bool tls;
  bool close_now;      /* free at the next settle */
  bool close_on_flush; /* close (gracefully) once the output is written */
  bool abort_on_flush; /* drop fault: RST once the output is written */
  bool lingering;      /* write side shut; discarding input until EOF or timeout */
  bool read_paused;    /* reading stopped by a protocol handler (delay, output backlog) */
  uint32_t requests;   /* requests handed to the service on this connection */
  void *proto_state;   /* h1_conn or h2_conn */
  dps__emu_conn *prev, *next;
};

struct dps__emu_server {
  struct event_base *base;
  dps__emu_config cfg; /* strings borrowed from the caller */
  dps__emu_service *svc;
  struct evconnlistener *listener;
  struct event *relisten; /* re-enables accepting after an accept error (EMFILE) */
  SSL_CTX *ssl_ctx;
  bool alpn_h2; /* --alpn offers h2 */
  uint16_t port;
  uint32_t goaway_every, drop_every;
  dps__emu_conn *conns;
  size_t n_conns;
  uint64_t next_conn_id;
  bool draining;
  struct event *drain_timer;
  void (*drained)(void *arg);
  void *drained_arg;
  char *zero_body; /* max_body_bytes + 1 zero bytes, for early 413s (see h1.c) */
  time_t date_sec;
  char date[32];              /* IMF-fixdate of date_sec */
  void *h2_callbacks;         /* nghttp2_session_callbacks *, shared by every session */
  struct evbuffer *out_batch; /* one connection's frames on their way to dps__emu_conn_write */
};

/* The Date header value for now (cached per second; event loop's cached clock: no syscall). */
const char *dps__emu_date(dps__emu_server *srv);

/* A buffer of max_body_bytes + 1 zeros: what the service gets as the body of a request whose
 * declared Content-Length already exceeds the limit (body_len > max means "too large"; the bytes
 * themselves are not meaningful). NULL when out of memory. */
const char *dps__emu_zero_body(dps__emu_server *srv);

/* Counts one request handed to the service; true when it is the drop-every'th on this connection
 * (the caller then answers it and sets abort_on_flush, and hands no further request over). */
bool dps__emu_conn_count_request(dps__emu_conn *c);

/* Stops / restarts reading from the socket. */
void dps__emu_conn_pause_read(dps__emu_conn *c, bool pause);

/* Sends @p data (drained from it): on plain TCP with nothing queued before it, written now, from
 * here; what the socket does not take now, and all TLS, through the bufferevent. */
void dps__emu_conn_write(dps__emu_conn *c, struct evbuffer *data);

/* Bytes queued in the bufferevent, waiting for the socket (what dps__emu_conn_write could not
 * write at once). */
size_t dps__emu_conn_backlog(dps__emu_conn *c);

/* Applies the close flags: frees the connection now, or closes it when its output is written.
 * The caller must not touch @p c afterwards. */
void dps__emu_conn_settle(dps__emu_conn *c);

/* Protocol handlers. *_start set up proto_state (DPS_OK or DPS_ENOMEM); *_read consume the
 * input buffer; *_written run when the output buffer has drained; *_eof the peer closed its side;
 * *_shutdown stop taking new requests (graceful drain); *_free release proto_state. */
int dps__emu_h1_start(dps__emu_conn *c);
void dps__emu_h1_read(dps__emu_conn *c);
void dps__emu_h1_written(dps__emu_conn *c);
void dps__emu_h1_eof(dps__emu_conn *c);
void dps__emu_h1_shutdown(dps__emu_conn *c);
void dps__emu_h1_free(dps__emu_conn *c);

int dps__emu_h2_callbacks_new(void **out);
void dps__emu_h2_callbacks_free(void *cbs);
int dps__emu_h2_start(dps__emu_conn *c);
void dps__emu_h2_read(dps__emu_conn *c);
void dps__emu_h2_written(dps__emu_conn *c);
void dps__emu_h2_shutdown(dps__emu_conn *c);
void dps__emu_h2_free(dps__emu_conn *c);

#endif
