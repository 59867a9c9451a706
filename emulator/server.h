/*
 * server.h: `dpstatus serve`'s network side. One listening socket (loopback by default) on a
 * libevent loop; each accepted connection speaks HTTP/2 with prior knowledge (h2c) or HTTP/1.1
 * keep-alive, told apart by the HTTP/2 connection preface; with a certificate, TLS whose ALPN
 * picks h2 or http/1.1. HTTP/2 through an nghttp2 server session, HTTP/1.1 through Debian's
 * libhttp-parser. Every request goes to the service (service.h); the server enacts what the
 * response says (delay, stream reset) and the connection faults (GOAWAY every N streams, drop
 * every N requests). SIGINT/SIGTERM: stop accepting, finish in-flight requests, flush, exit.
 */
#ifndef DPS_EMULATOR_SERVER_H
#define DPS_EMULATOR_SERVER_H

#include <stdbool.h>

#include "dpstatus.h"
#include "emulator/service.h"

/* Runs the emulator until SIGINT/SIGTERM; prints the summary line on stderr on exit.
 * @return DPS_OK after a clean shutdown, or an error (bad --listen, port in use, unreadable
 * certificate, ...) with @p err saying what is wrong, before anything is served. */
int dps__emu_run(const dps__emu_config *cfg, dps_error *err);

/* In-process use (tests, benchmarks): the same server on a caller's event_base. */
struct event_base;
typedef struct dps__emu_server dps__emu_server;

/* Checks @p cfg's transport settings (listen address, loopback rule, --alpn, --max-streams,
 * certificate and key), creates the service, binds and listens, and writes the port file.
 * @p cfg's strings are borrowed and must outlive the server. Nothing is served until the caller
 * runs @p base. Ignores SIGPIPE process-wide (a peer closing mid-write must not kill us).
 * @return DPS_OK, or DPS_EINVAL / DPS_ECONFIG (a bad setting), DPS_EIO (a file, or the address
 * cannot be bound), DPS_ENOCREDS, DPS_ENOMEM, with @p err naming the flag and the problem. */
int dps__emu_server_start(struct event_base *base, const dps__emu_config *cfg,
                          dps__emu_server **out, dps_error *err);

/* A libevent base for a server: precise timers (the latency fault depends on them); with
 * @p locking, usable from other threads (evthread_use_pthreads() must have been called). */
struct event_base *dps__emu_base_new(bool locking);

/* The bound port (useful with port 0). */
uint16_t dps__emu_server_port(const dps__emu_server *srv);

/* The service behind the server (for summaries and counters). */
dps__emu_service *dps__emu_server_service(dps__emu_server *srv);

/* Graceful stop: stops accepting, lets every connection finish what it is answering (HTTP/2
 * gets a GOAWAY, idle HTTP/1.1 connections close), then calls @p done(@p arg) once, when the
 * last connection is gone or after @p timeout_ms, whichever comes first (then the rest are
 * closed). The server stays allocated: call dps__emu_server_stop afterwards. */
void dps__emu_server_drain(dps__emu_server *srv, uint32_t timeout_ms, void (*done)(void *arg),
                           void *arg);

/* Closes every connection and the listener at once, flushes and frees the service (the record
 * file), frees the server. NULL is fine. */
void dps__emu_server_stop(dps__emu_server *srv);

#endif
