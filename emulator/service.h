/*
 * service.h: the emulated Data Pipeline task-runner API, independent of any transport. The
 * server (server.h) turns each HTTP/1.1 or HTTP/2 request into a dps__emu_request, calls
 * dps__emu_service_handle on its event-loop thread, and sends back the dps__emu_response (or
 * does what its action says). Owns: routing (X-Amz-Target, GET /metrics), SigV4 verification,
 * the task store (auto and strict modes), request-level faults (internal, throttle, unavailable,
 * reset, latency, rate limit) drawn deterministically from the seed, the --record file and the
 * counters behind /metrics and the exit summary.
 *
 * Single-threaded: every function is called from the server's one event-loop thread.
 */
#ifndef DPS_EMULATOR_SERVICE_H
#define DPS_EMULATOR_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/sigv4.h"
#include "dpstatus.h"

typedef enum dps__emu_tasks_mode { DPS__EMU_TASKS_AUTO = 0, DPS__EMU_TASKS_STRICT } dps__emu_tasks_mode;
typedef enum dps__emu_auth_mode { DPS__EMU_AUTH_SIGV4 = 0, DPS__EMU_AUTH_NONE } dps__emu_auth_mode;

/* Everything `dpstatus serve` can be told; filled with defaults by dps__emu_config_init. */
typedef struct dps__emu_config {
  /* server (transport) */
  const char *listen;       /* "127.0.0.1:8080" (default); "[::1]:0"; port 0 picks a free port */
  bool allow_remote;        /* false (default): refuse a --listen address beyond loopback */
  const char *port_file;    /* written with the bound port once listening, or NULL */
  const char *tls_cert;     /* PEM files; both or neither */
  const char *tls_key;
  const char *alpn;         /* "h2,http/1.1" (default) or "http/1.1" */
  uint32_t max_streams;     /* SETTINGS_MAX_CONCURRENT_STREAMS, default 128 */
  /* service */
  dps__emu_tasks_mode tasks_mode;
  const char *tasks_file;   /* NDJSON {"taskId","pipelineId","pipelineState"} */
  dps__emu_auth_mode auth_mode;
  const char *access_key;   /* NULL: the standard credential chain (core/credentials.h) */
  const char *secret_key;
  const char *profile;
  const char *region;       /* the region signatures must be scoped to; NULL: accept any */
  const char *faults;       /* the --fault list, e.g. "internal=0.05,latency=1..5"; NULL: none */
  uint64_t seed;            /* faults are a deterministic function of the seed */
  bool limits_aws;          /* --limits aws: the service's documented per-account limits */
  const char *rate_limits;  /* --rate-limit "OP=RATE[/BURST],..." over them; NULL: none */
  uint32_t retry_after_s;   /* throttled answers carry Retry-After: N (seconds); 0: not sent */
  uint32_t amz_retry_after_ms; /* ... and x-amz-retry-after: N (milliseconds); 0: not sent */
  const char *record_path;  /* NDJSON of accepted SetTaskStatus calls, or NULL */
  size_t max_body_bytes;    /* larger request bodies are refused; default DPS_DEFAULT_MAX_BODY_BYTES */
} dps__emu_config;

void dps__emu_config_init(dps__emu_config *c);

/* One received request. Header names are lowercase (HTTP/2 sends them so; the HTTP/1.1 reader
 * lowercases them); for HTTP/2 the server adds a "host" header from :authority, because clients
 * sign "host". Everything is borrowed for the duration of the call only. */
typedef struct dps__emu_request {
  const char *method;
  const char *path;   /* the raw request target, query included, as received */
  size_t path_len;
  const dps__header *headers;
  size_t n_headers;
  const char *body;
  size_t body_len;
  int http_version;   /* 1 or 2 */
  uint64_t conn_id;   /* for the metrics and logs */
} dps__emu_request;

/* What the server must do with a request. */
typedef enum dps__emu_action {
  DPS__EMU_RESPOND = 0,      /* send status, headers and body (after delay_ms) */
  DPS__EMU_RESET_STREAM,     /* HTTP/2: RST_STREAM REFUSED_STREAM, nothing processed; HTTP/1.1:
                                close the connection without answering */
} dps__emu_action;

#define DPS__EMU_MAX_RESPONSE_HEADERS 6

typedef struct dps__emu_response {
  dps__emu_action action;
  int status;                    /* 200, 400, 403, 404, 413, 500, 503, ... */
  uint32_t delay_ms;             /* the latency fault: answer after this long */
  const char *content_type;      /* "application/x-amz-json-1.1", "text/html", ... */
  char request_id[40];           /* x-amzn-RequestId, a UUID */
  dps__header headers[DPS__EMU_MAX_RESPONSE_HEADERS]; /* extra headers (names lowercase) */
  size_t n_headers;
  dps__buf body;                 /* owned by the response: the server frees it with
                                    dps__emu_response_free once sent */
} dps__emu_response;

void dps__emu_response_free(dps__emu_response *r);

typedef struct dps__emu_service dps__emu_service;

/* Loads the tasks file, the credentials (sigv4 mode), parses the fault list, opens the record.
 * @return DPS_OK, or DPS_EINVAL/DPS_ECONFIG/DPS_EIO/DPS_ENOCREDS with @p err naming the flag or
 * file and what is wrong (e.g. "--fault: \"internal=2\": a probability must be in [0, 1]"). */
int dps__emu_service_new(const dps__emu_config *cfg, dps__emu_service **out, dps_error *err);

/* Flushes and closes the record, frees everything. NULL is fine. */
void dps__emu_service_free(dps__emu_service *s);

/* Answers one request. Never fails: every problem is an HTTP answer in AWS's error shapes. */
void dps__emu_service_handle(dps__emu_service *s, const dps__emu_request *req,
                             dps__emu_response *resp);

/* Connection-level faults, enacted by the server: GOAWAY after this many streams on a connection,
 * close the TCP connection abruptly after this many requests; 0 = never. */
uint32_t dps__emu_service_goaway_every(const dps__emu_service *s);
uint32_t dps__emu_service_drop_every(const dps__emu_service *s);

/* Transport events, for /metrics: connections opened/closed, streams in flight (+1/-1), and the
 * connection faults the server enacted ("goaway", "drop"). */
void dps__emu_service_note_connection(dps__emu_service *s, int delta);
void dps__emu_service_note_stream(dps__emu_service *s, int delta);
void dps__emu_service_note_fault(dps__emu_service *s, const char *kind);

/* Appends the one-line summary printed on exit ("served 1234 requests: 1200 ok, ... "). */
void dps__emu_service_summary(const dps__emu_service *s, dps__buf *out);

/* Appends the rate limits in force ("SetTaskStatus 10/s burst 100, ..." or "none"). */
void dps__emu_service_describe_limits(const dps__emu_service *s, dps__buf *out);

/* Flushes the record file to disk (also done by _free). */
int dps__emu_service_flush(dps__emu_service *s);

#endif
