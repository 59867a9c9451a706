/*
 * test_transport_emu.c: the connection pool against the in-process `dpstatus serve` emulator
 * (emulator/server.h) on loopback: h2c and HTTP/1.1 in clear, with the emulator's connection
 * faults (GOAWAY every N streams, dropped connections, REFUSED_STREAM resets). REFUSED and
 * FAILED requests are resubmitted, as the sender will, until each one has a response; every
 * callback runs exactly once per submission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "core/endpoint.h"
#include "emulator/server.h"
#include "transport/pool.h"

#define TOTAL 3000

static struct event_base *base;
static dps__pool *pool;
static dps__http_request req;
static char authority[300];
static const char body[] = "{\"taskId\":\"emu-task-1\",\"taskStatus\":\"FINISHED\"}";
static int calls[TOTAL], ok_calls[TOTAL], pending[TOTAL], n_pending, n_ok, resubmits;
static int statuses[600];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

static void make_req(void) {
  dps__request_init(&req, authority, "/", DPS__TARGET_SET_TASK_STATUS, body, sizeof body - 1);
}

static void on_result(const dps__response *r, void *ud) {
  int i = (int)(intptr_t)ud;
  calls[i]++;
  if (r->result == DPS__XFER_REFUSED || r->result == DPS__XFER_FAILED) {
    resubmits++;
    if (dps__pool_submit(pool, &req, on_result, ud) != DPS_OK) pending[n_pending++] = i;
    return;
  }
  assert_int_equal(r->result, DPS__XFER_OK);
  assert_true(r->status >= 200 && r->status < 600);
  statuses[r->status]++;
  ok_calls[i]++;
  n_ok++;
}

static void run(const char *faults, bool http1) {
  base = event_base_new();
  struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
  struct timeval tv = {0, 5000};
  event_add(tick, &tv);
  dps__emu_config ec;
  dps__emu_config_init(&ec);
  ec.listen = "127.0.0.1:0";
  ec.auth_mode = DPS__EMU_AUTH_NONE;
  ec.faults = faults;
  ec.seed = 7;
  dps__emu_server *srv = NULL;
  dps_error err;
  int rc = dps__emu_server_start(base, &ec, &srv, &err);
  if (rc) fprintf(stderr, "emulator: %s\n", err.message);
  assert_int_equal(rc, 0);

  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)dps__emu_server_port(srv));
  dps__url u;
  assert_int_equal(dps__url_parse(url, &u, &err), 0);
  snprintf(authority, sizeof authority, "%s", u.authority);
  make_req();
  dps__pool_config cfg;
  dps__pool_config_init(&cfg);
  cfg.http1_only = http1;
  cfg.reconnect.base_ms = 5;
  cfg.reconnect.cap_ms = 50;
  assert_int_equal(dps__pool_new(&pool, base, NULL, &u, &cfg, &err), 0);

  memset(calls, 0, sizeof calls);
  memset(ok_calls, 0, sizeof ok_calls);
  memset(statuses, 0, sizeof statuses);
  n_pending = n_ok = resubmits = 0;
  int next = 0;
  int64_t end = now_ms() + 60000;
  while (n_ok < TOTAL && now_ms() < end) {
    while (n_pending && dps__pool_capacity(pool) > 0) {
      int i = pending[--n_pending];
      assert_int_equal(dps__pool_submit(pool, &req, on_result, (void *)(intptr_t)i), 0);
    }
    while (next < TOTAL && dps__pool_capacity(pool) > 0)
      assert_int_equal(dps__pool_submit(pool, &req, on_result, (void *)(intptr_t)next++), 0);
    event_base_loop(base, EVLOOP_ONCE);
  }
  assert_int_equal(n_ok, TOTAL);
  for (int i = 0; i < TOTAL; i++) assert_int_equal(ok_calls[i], 1);
  dps__pool_stats st;
  dps__pool_stats_get(pool, &st);
  fprintf(stderr,
          "%s [%s]: %d answered (200: %d), %d resubmitted, %llu GOAWAYs, %llu refused streams, "
          "%llu reconnects\n",
          http1 ? "h1" : "h2c", faults ? faults : "no faults", n_ok, statuses[200], resubmits,
          (unsigned long long)st.goaways, (unsigned long long)st.refused_streams,
          (unsigned long long)st.reconnects);
  assert_int_equal(st.in_flight, 0);
  assert_int_equal(st.requests, (uint64_t)(TOTAL + resubmits));
  dps__pool_free(pool);
  dps__emu_server_stop(srv);
  event_free(tick);
  event_base_free(base);
}

static void test_emu_h2c_clean(void **state) { run(NULL, false); }
static void test_emu_h2c_faults(void **state) {
  run("goaway-every=100,drop-every=400,reset=0.05,internal=0.05", false);
}
static void test_emu_h1_faults(void **state) { run("drop-every=300,reset=0.02", true); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_emu_h2c_clean),
      cmocka_unit_test(test_emu_h2c_faults),
      cmocka_unit_test(test_emu_h1_faults),
  };
  return cmocka_run_group_tests_name("transport_emu", tests, NULL, NULL);
}
