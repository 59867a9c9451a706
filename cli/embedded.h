/*
 * embedded.h: the emulator started inside the dpstatus process (send --embedded, load without
 * --endpoint-url): its own event_base on its own thread, on a free loopback port, verifying SigV4
 * with a key pair made up for the run.
 */
#ifndef DPS_CLI_EMBEDDED_H
#define DPS_CLI_EMBEDDED_H

#include <pthread.h>
#include <stdbool.h>

#include "dpstatus.h"
#include "emulator/server.h"

typedef struct dps_cli_embedded {
  struct event_base *base;
  dps__emu_server *srv;
  dps__emu_config cfg; /* its strings must outlive the server */
  pthread_t thread;
  bool running;
  char access_key[32], secret_key[48], url[64];
} dps_cli_embedded;

/* Starts the emulator for @p region (which must outlive it). Returns 0, or -1 with @p err. */
int dps_cli_embedded_start(dps_cli_embedded *e, const char *region, dps_error *err);

/* Points @p cfg at the emulator: its URL and key pair. */
void dps_cli_embedded_configure(const dps_cli_embedded *e, dps_config *cfg);

/* Stops the emulator (answering what is in flight) and returns its summary line (malloc'd; NULL
 * when none). Safe on a zeroed or already stopped one. */
char *dps_cli_embedded_stop(dps_cli_embedded *e);

#endif
