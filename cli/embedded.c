/* embedded.c: the in-process emulator of send --embedded and load (see embedded.h). */
#include "cli/embedded.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "emulator/service.h"

static void *embedded_main(void *arg) {
  dps_cli_embedded *e = arg;
  event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

static void embedded_drained(void *arg) {
  event_base_loopexit(((dps_cli_embedded *)arg)->base, NULL);
}

/* On the emulator's thread: answer what is in flight, then stop the loop. */
static void embedded_drain(evutil_socket_t fd, short what, void *arg) {
  dps_cli_embedded *e = arg;
  dps__emu_server_drain(e->srv, 2000, embedded_drained, e);
}

/* A made-up key pair: the emulator verifies signatures with it and the reporter signs with it. */
static int random_hex(char *out, size_t n_hex) {
  unsigned char raw[32];
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t got = read(fd, raw, (n_hex + 1) / 2);
  close(fd);
  if (got != (ssize_t)((n_hex + 1) / 2)) return -1;
  for (size_t i = 0; i < n_hex; i++)
    out[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
  out[n_hex] = '\0';
  return 0;
}

int dps_cli_embedded_start(dps_cli_embedded *e, const char *region, dps_error *err) {
  memset(e, 0, sizeof *e);
  char hex[17];
  if (random_hex(hex, 16) || (snprintf(e->access_key, sizeof e->access_key, "AKIDEMBED%s", hex),
                              random_hex(e->secret_key, 40))) {
    snprintf(err->message, sizeof err->message, "cannot read /dev/urandom for a key pair");
    return -1;
  }
  /* the base is touched from this thread too (to stop it): it must be lockable */
  if (evthread_use_pthreads() != 0 || !(e->base = dps__emu_base_new(true))) {
    snprintf(err->message, sizeof err->message, "cannot create the emulator's event loop");
    return -1;
  }
  dps__emu_config_init(&e->cfg);
  e->cfg.listen = "127.0.0.1:0";
  e->cfg.auth_mode = DPS__EMU_AUTH_SIGV4;
  e->cfg.access_key = e->access_key;
  e->cfg.secret_key = e->secret_key;
  e->cfg.region = region;
  if (dps__emu_server_start(e->base, &e->cfg, &e->srv, err) != DPS_OK) {
    event_base_free(e->base);
    e->base = NULL;
    return -1;
  }
  snprintf(e->url, sizeof e->url, "http://127.0.0.1:%u", (unsigned)dps__emu_server_port(e->srv));
  if (pthread_create(&e->thread, NULL, embedded_main, e) != 0) {
    dps__emu_server_stop(e->srv);
    event_base_free(e->base);
    e->base = NULL;
    snprintf(err->message, sizeof err->message, "cannot start the emulator's thread");
    return -1;
  }
  e->running = true;
  return 0;
}

/* Stops the emulator and returns its summary line (malloc'd; NULL when none). */
char *dps_cli_embedded_stop(dps_cli_embedded *e) {
  if (!e->base) return NULL;
  char *summary = NULL;
  if (e->running) {
    struct timeval now = {0, 0};
    if (event_base_once(e->base, -1, EV_TIMEOUT, embedded_drain, e, &now) != 0)
      event_base_loopbreak(e->base);
    pthread_join(e->thread, NULL);
    dps__buf b = DPS__BUF_INIT;
    dps__emu_service_summary(dps__emu_server_service(e->srv), &b);
    if (b.data) summary = strdup(b.data);
    dps__buf_free(&b);
  }
  dps__emu_server_stop(e->srv);
  event_base_free(e->base);
  e->base = NULL;
  return summary;
}

void dps_cli_embedded_configure(const dps_cli_embedded *e, dps_config *cfg) {
  cfg->endpoint_url = e->url;
  cfg->access_key_id = e->access_key;
  cfg->secret_access_key = e->secret_key;
  cfg->session_token = NULL;
}
