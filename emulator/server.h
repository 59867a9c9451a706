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

#include "dpstatus.h"
#include "emulator/service.h"

/* Runs the emulator until SIGINT/SIGTERM; prints the summary line on stderr on exit.
 * @return DPS_OK after a clean shutdown, or an error (bad --listen, port in use, unreadable
 * certificate, ...) with @p err saying what is wrong, before anything is served. */
int dps__emu_run(const dps__emu_config *cfg, dps_error *err);

#endif
