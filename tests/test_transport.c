/*
 * test_transport.c: the connection pool (transport/pool.h) on loopback, against nghttpd and
 * against the in-test server of transport_server.h: h2c multiplexing over K connections,
 * least-loaded choice, the server's stream limit, GOAWAY, REFUSED_STREAM, dropped connections,
 * attempt and PING timeouts, one write per batch, TLS verification and ALPN http/1.1, drain and
 * free. Every test checks that each request's callback ran exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/endpoint.h"
#include "transport/conn.h"
#include "transport/pool.h"
#include "transport_server.h"

#define MAX_REQS 4096

typedef struct rec {
  int calls;
  dps__xfer_result result;
  int status;
  char detail[160];
  char request_id[64];
  char date[64];
  char body[16];
} rec;

static struct event_base *base;
static struct event *tick;
static rec recs[MAX_REQS];
static int n_done;
static char fatal_msg[400];
static int fatal_calls;

static const char body[] = "{\"taskId\":\"t-1\",\"taskStatus\":\"FINISHED\"}";
static dps__http_request req;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until cond holds or ms pass; the tick keeps each round short. */
#define RUN_UNTIL(cond, ms)                                                \
  do {                                                                     \
    int64_t end_ = now_ms() + (ms);                                        \
    while (!(cond) && now_ms() < end_) event_base_loop(base, EVLOOP_ONCE); \
  } while (0)

static void on_result(const dps__response *r, void *ud) {
  rec *x = ud;
  x->calls++;
  x->result = r->result;
  x->status = r->status;
  snprintf(x->detail, sizeof x->detail, "%s", r->detail);
  snprintf(x->request_id, sizeof x->request_id, "%s", r->request_id);
  snprintf(x->date, sizeof x->date, "%s", r->date);
  snprintf(x->body, sizeof x->body, "%.*s", (int)r->body_len, r->body);
  n_done++;
}

static void on_fatal(const char *detail, void *arg) {
  fatal_calls++;
  snprintf(fatal_msg, sizeof fatal_msg, "%s", detail);
}

static char req_authority[300];

static void make_req(const char *auth) {
  snprintf(req_authority, sizeof req_authority, "%s", auth);
  dps__request_init(&req, req_authority, "/", DPS__TARGET_SET_TASK_STATUS, body, sizeof body - 1);
}

static int setup(void **state) {
  base = event_base_new();
  tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
  struct timeval tv = {0, 5000};
  event_add(tick, &tv);
  memset(recs, 0, sizeof recs);
  n_done = 0;
  fatal_calls = 0;
  fatal_msg[0] = '\0';
  return 0;
}

static pid_t nghttpd_pid; /* killed by teardown too, should an assertion end the test early */
static char nghttpd_dir[64];

static int teardown(void **state) {
  if (nghttpd_pid > 0) {
    kill(nghttpd_pid, SIGTERM);
    waitpid(nghttpd_pid, NULL, 0);
    nghttpd_pid = 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", nghttpd_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", nghttpd_dir);
  }
  event_free(tick);
  event_base_free(base);
  return 0;
}

static dps__url url_of(const char *scheme, const char *host, uint16_t port) {
  char s[300];
  snprintf(s, sizeof s, "%s://%s:%u", scheme, host, (unsigned)port);
  dps__url u;
  dps_error err;
  assert_int_equal(dps__url_parse(s, &u, &err), 0);
  make_req(u.authority);
  return u;
}

static dps__pool *new_pool(const dps__url *u, dps__pool_config *cfg) {
  dps__pool *p = NULL;
  dps_error err;
  int rc = dps__pool_new(&p, base, NULL, u, cfg, &err);
  if (rc) fprintf(stderr, "pool_new: %s\n", err.message);
  assert_int_equal(rc, 0);
  return p;
}

static dps__pool_config cfg_default(void) {
  dps__pool_config c;
  dps__pool_config_init(&c);
  c.on_fatal = on_fatal;
  c.reconnect.base_ms = 20;
  c.reconnect.cap_ms = 200;
  return c;
}

static unsigned live(dps__pool *p) {
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  return st.connections_live;
}

static void assert_once(int n) {
  for (int i = 0; i < n; i++) assert_int_equal(recs[i].calls, 1);
  for (int i = n; i < MAX_REQS; i++) assert_int_equal(recs[i].calls, 0);
  assert_int_equal(n_done, n);
}

static int count_result(int n, dps__xfer_result r) {
  if (getenv("DPS_TEST_DEBUG"))
    for (int i = 0; i < n && i < 5; i++)
      fprintf(stderr, "rec %d: %s %d %s\n", i, dps__xfer_result_name(recs[i].result),
              recs[i].status, recs[i].detail);
  int k = 0;
  for (int i = 0; i < n; i++) k += recs[i].result == r;
  return k;
}

/* Submits requests [*next, total) while they fit. */
static void fill(dps__pool *p, int *next, int total) {
  while (*next < total && dps__pool_capacity(p) > 0) {
    assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[*next]), 0);
    (*next)++;
  }
}

/* ---- nghttpd ----------------------------------------------------------------------------- */

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&sin, sizeof sin);
  socklen_t sl = sizeof sin;
  getsockname(fd, (struct sockaddr *)&sin, &sl);
  close(fd);
  return ntohs(sin.sin_port);
}

static bool port_open(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {
      .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
  close(fd);
  return ok;
}

static const char *nghttpd_path(void) {
  static const char *const paths[] = {"/usr/sbin/nghttpd", "/usr/bin/nghttpd",
                                      "/usr/local/bin/nghttpd"};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
    if (access(paths[i], X_OK) == 0) return paths[i];
  return NULL;
}

static void test_h2c_nghttpd_many_streams(void **state) {
  const char *bin = nghttpd_path();
  if (!bin) {
    fprintf(stderr, "nghttpd not installed (apt-get install nghttp2-server): skipped\n");
    skip();
  }
  snprintf(nghttpd_dir, sizeof nghttpd_dir, "/tmp/dps-nghttpd-XXXXXX");
  assert_non_null(mkdtemp(nghttpd_dir));
  const char *dir = nghttpd_dir;
  char file[96];
  snprintf(file, sizeof file, "%s/index.html", dir);
  FILE *f = fopen(file, "w");
  fputs("{}", f);
  fclose(f);
  uint16_t port = free_port();
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", port);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(bin, "nghttpd", "--no-tls", "-d", dir, portstr, (char *)NULL);
    _exit(127);
  }
  nghttpd_pid = pid;
  int64_t end = now_ms() + 5000;
  while (!port_open(port) && now_ms() < end) nanosleep(&(struct timespec){0, 20000000}, NULL);
  assert_true(port_open(port));

  dps__url u = url_of("http", "127.0.0.1", port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  assert_int_equal(live(p), 2);
  assert_int_equal(dps__pool_capacity(p), 200); /* nghttpd advertises 100 per connection */
  /* least loaded: 10 at once spread 5 and 5 */
  int next = 0;
  for (; next < 10; next++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[next]), 0);
  assert_int_equal(p->slots[0].conn->n_xfers, 5);
  assert_int_equal(p->slots[1].conn->n_xfers, 5);
  const int total = 2000;
  while (n_done < total && next <= total) {
    fill(p, &next, total);
    event_base_loop(base, EVLOOP_ONCE);
    if (now_ms() > end + 20000) break;
  }
  assert_once(total);
  assert_int_equal(count_result(total, DPS__XFER_OK), total);
  for (int i = 0; i < total; i++) assert_int_equal(recs[i].status, 200);
  assert_string_equal(recs[0].body, "{}");
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.requests, total);
  assert_int_equal(st.connects, 2);
  assert_int_equal(st.reconnects, 0);
  assert_true(st.bytes_sent > (uint64_t)total * (sizeof body - 1));
  assert_true(st.bytes_received > 0);
  assert_true(st.write_calls < (uint64_t)total); /* batched */
  dps__pool_free(p);                             /* teardown stops nghttpd */
}

/* ---- in-test server ---------------------------------------------------------------------- */

static void test_least_loaded_and_headers(void **state) {
  ts_config sc = {.delay_ms = -1};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  assert_int_equal(dps__pool_capacity(p), 0);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), DPS_EFULL);
  RUN_UNTIL(live(p) == 2, 3000);
  for (int i = 0; i < 7; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  assert_int_equal(p->slots[0].conn->n_xfers + p->slots[1].conn->n_xfers, 7);
  assert_true(p->slots[0].conn->n_xfers >= 3 && p->slots[1].conn->n_xfers >= 3);
  RUN_UNTIL(s->requests == 7, 3000);
  assert_int_equal(n_done, 0);
  s->cfg.delay_ms = 0;
  for (ts_conn *c = s->conns; c; c = c->next) {
    for (unsigned i = 0; i < c->n_held; i++) ts_respond(c, c->held[i]);
    c->n_held = 0;
    ts_h2_flush(c);
  }
  RUN_UNTIL(n_done == 7, 3000);
  assert_once(7);
  for (int i = 0; i < 7; i++) {
    assert_int_equal(recs[i].result, DPS__XFER_OK);
    assert_int_equal(recs[i].status, 200);
    assert_memory_equal(recs[i].request_id, "req-", 4);
    assert_string_equal(recs[i].date, "Tue, 24 Nov 2026 20:00:00 GMT");
    assert_string_equal(recs[i].body, "{}");
  }
  dps__pool_free(p);
  ts_stop(s);
}

static void test_max_streams_cap(void **state) {
  ts_config sc = {.max_streams = 4, .delay_ms = 5};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  assert_int_equal(dps__pool_capacity(p), 8);
  int next = 0;
  fill(p, &next, 200);
  assert_int_equal(next, 8);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[100]), DPS_EFULL);
  int64_t end = now_ms() + 10000;
  while (n_done < 200 && now_ms() < end) {
    fill(p, &next, 200);
    event_base_loop(base, EVLOOP_ONCE);
  }
  assert_once(200);
  assert_int_equal(count_result(200, DPS__XFER_OK), 200);
  assert_true(s->max_open <= 4);
  assert_int_equal(s->max_open, 4);
  /* a lower --max-streams wins over the server's 4 */
  dps__pool_free(p);
  cfg.max_streams = 3;
  p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  assert_int_equal(dps__pool_capacity(p), 6);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_goaway_refused_and_replaced(void **state) {
  ts_config sc = {.delay_ms = -1, .goaway_at = 6, .goaway_last = 5};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  for (int i = 0; i < 6; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  RUN_UNTIL(n_done == 6, 3000);
  assert_once(6);
  /* streams 1, 3, 5 answered; 7, 9, 11 above last-stream-id: not processed */
  assert_int_equal(count_result(6, DPS__XFER_OK), 3);
  assert_int_equal(count_result(6, DPS__XFER_REFUSED), 3);
  RUN_UNTIL(live(p) == 1 && s->accepted == 2, 3000);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.goaways, 1);
  assert_int_equal(st.reconnects, 1);
  assert_int_equal(s->accepted, 2);
  s->cfg.delay_ms = 0;
  s->cfg.goaway_at = 0;
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[6]), 0);
  RUN_UNTIL(n_done == 7, 3000);
  assert_once(7);
  assert_int_equal(recs[6].result, DPS__XFER_OK);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_refused_stream(void **state) {
  ts_config sc = {.refuse_nth = 2};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  for (int i = 0; i < 20; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  RUN_UNTIL(n_done == 20, 3000);
  assert_once(20);
  assert_int_equal(count_result(20, DPS__XFER_REFUSED), 10);
  assert_int_equal(count_result(20, DPS__XFER_OK), 10);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.refused_streams, 10);
  assert_int_equal(st.connects, 2); /* the connections stay */
  dps__pool_free(p);
  ts_stop(s);
}

static void test_connection_drop_fails_and_reconnects(void **state) {
  ts_config sc = {.delay_ms = -1, .close_at = 3};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  for (int i = 0; i < 5; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  RUN_UNTIL(n_done == 5, 3000);
  assert_once(5);
  assert_int_equal(count_result(5, DPS__XFER_FAILED), 5);
  assert_non_null(strstr(recs[0].detail, "connection lost"));
  s->cfg.close_at = 0;
  s->cfg.delay_ms = 0;
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[5]), 0);
  RUN_UNTIL(n_done == 6, 3000);
  assert_once(6);
  assert_int_equal(recs[5].result, DPS__XFER_OK);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.reconnects, 1);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_connect_refused_backs_off(void **state) {
  uint16_t port = free_port(); /* nothing listens there */
  dps__url u = url_of("http", "127.0.0.1", port);
  dps__pool_config cfg = cfg_default();
  cfg.reconnect.base_ms = 50;
  cfg.reconnect.cap_ms = 100;
  dps__pool *p = new_pool(&u, &cfg);
  int64_t t0 = now_ms();
  RUN_UNTIL(now_ms() - t0 > 400, 1000);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  /* two slots, each at most one attempt per ~50 ms on average: bounded, not a busy loop */
  assert_true(st.connect_failures >= 4);
  assert_true(st.connect_failures < 80);
  assert_int_equal(st.connections_live, 0);
  assert_int_equal(dps__pool_capacity(p), 0);
  assert_null(dps__pool_error(p)); /* refused is retryable, not fatal */
  dps__pool_free(p);
}

/* A server that accepts TCP (the kernel does) but never speaks: no SETTINGS, so never ready. */
static void test_connect_timeout_silent_server(void **state) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(listen(fd, 16), 0);
  socklen_t sl = sizeof sin;
  getsockname(fd, (struct sockaddr *)&sin, &sl);
  dps__url u = url_of("http", "127.0.0.1", ntohs(sin.sin_port));
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  cfg.connect_timeout_ms = 100;
  cfg.reconnect.base_ms = 10;
  cfg.reconnect.cap_ms = 20;
  dps__pool *p = new_pool(&u, &cfg);
  int64_t t0 = now_ms();
  RUN_UNTIL(now_ms() - t0 > 450, 1000);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_true(st.connect_failures >= 2 && st.connect_failures <= 5);
  assert_int_equal(st.connects, 0);
  assert_int_equal(dps__pool_capacity(p), 0);
  dps__pool_free(p);
  close(fd);
}

static void test_attempt_timeout(void **state) {
  ts_config sc = {.delay_ms = -1};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  cfg.attempt_timeout_ms = 150;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  int64_t t0 = now_ms();
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), 0);
  RUN_UNTIL(n_done == 1, 3000);
  int64_t took = now_ms() - t0;
  assert_once(1);
  assert_int_equal(recs[0].result, DPS__XFER_TIMEOUT);
  assert_true(took >= 140 && took < 1000);
  /* the stream was reset, the connection goes on */
  RUN_UNTIL(s->conns && s->conns->open == 0, 1000);
  assert_int_equal(s->conns->open, 0);
  s->cfg.delay_ms = 0;
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[1]), 0);
  RUN_UNTIL(n_done == 2, 3000);
  assert_once(2);
  assert_int_equal(recs[1].result, DPS__XFER_OK);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.timeouts, 1);
  assert_int_equal(st.connects, 1);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_ping_timeout(void **state) {
  ts_config sc = {.delay_ms = -1, .no_ping_ack = true};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  cfg.ping_interval_ms = 100;
  cfg.ping_timeout_ms = 150;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), 0);
  RUN_UNTIL(n_done == 1, 3000);
  assert_once(1);
  assert_int_equal(recs[0].result, DPS__XFER_FAILED);
  assert_non_null(strstr(recs[0].detail, "PING"));
  assert_true(s->pings >= 1);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_int_equal(st.ping_timeouts, 1);
  RUN_UNTIL(s->accepted == 2, 3000); /* and it reconnects */
  assert_int_equal(s->accepted, 2);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_ping_acked_keeps_connection(void **state) {
  ts_config sc = {.delay_ms = 0};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  cfg.ping_interval_ms = 50;
  cfg.ping_timeout_ms = 100;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  int64_t t0 = now_ms();
  RUN_UNTIL(now_ms() - t0 > 400, 1000);
  assert_true(s->pings >= 2);
  assert_int_equal(s->accepted, 1);
  assert_int_equal(live(p), 1);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_one_write_per_batch(void **state) {
  ts_config sc = {.delay_ms = -1};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  RUN_UNTIL(false, 50); /* settle: SETTINGS ACKs out */
  dps__pool_stats a, b;
  dps__pool_stats_get(p, &a);
  for (int i = 0; i < 100; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  dps__pool_stats_get(p, &b);
  assert_int_equal(b.write_calls, a.write_calls); /* submit only queues */
  dps__pool_flush(p);
  dps__pool_stats_get(p, &b);
  assert_int_equal(b.write_calls - a.write_calls, 2); /* one per connection */
  assert_true(b.bytes_sent - a.bytes_sent > 100 * (sizeof body - 1));
  /* the automatic flush at the end of the loop iteration does the same */
  for (int i = 100; i < 150; i++)
    assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  event_base_loop(base, EVLOOP_NONBLOCK);
  dps__pool_stats_get(p, &a);
  assert_int_equal(a.write_calls - b.write_calls, 2);
  RUN_UNTIL(s->requests == 150, 3000);
  assert_int_equal(s->requests, 150);
  dps__pool_free(p); /* cancels all 150 */
  assert_once(150);
  assert_int_equal(count_result(150, DPS__XFER_CANCELLED), 150);
  ts_stop(s);
}

static int drained;
static void on_drained(void *arg) { drained++; }

static void test_drain(void **state) {
  ts_config sc = {.delay_ms = 30};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  for (int i = 0; i < 10; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  drained = 0;
  dps__pool_drain(p, 2000, on_drained, NULL);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[10]), DPS_ECLOSED);
  assert_int_equal(dps__pool_capacity(p), 0);
  RUN_UNTIL(drained, 3000);
  assert_int_equal(drained, 1);
  assert_once(10);
  assert_int_equal(count_result(10, DPS__XFER_OK), 10);
  dps__pool_free(p);

  /* a deadline that passes cancels what is left */
  memset(recs, 0, sizeof recs);
  n_done = 0;
  s->cfg.delay_ms = -1;
  p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 2, 3000);
  for (int i = 0; i < 4; i++) assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[i]), 0);
  drained = 0;
  int64_t t0 = now_ms();
  dps__pool_drain(p, 100, on_drained, NULL);
  RUN_UNTIL(drained, 3000);
  assert_true(now_ms() - t0 >= 90);
  assert_int_equal(drained, 1);
  assert_once(4);
  assert_int_equal(count_result(4, DPS__XFER_CANCELLED), 4);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_h1_cleartext(void **state) {
  ts_config sc = {.h1 = true};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.http1_only = true;
  cfg.h1_factor = 2;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 4, 3000);
  assert_int_equal(dps__pool_capacity(p), 4);
  int next = 0;
  int64_t end = now_ms() + 5000;
  while (n_done < 100 && now_ms() < end) {
    fill(p, &next, 100);
    event_base_loop(base, EVLOOP_ONCE);
  }
  assert_once(100);
  assert_int_equal(count_result(100, DPS__XFER_OK), 100);
  assert_string_equal(recs[0].request_id, "h1-req");
  assert_string_equal(recs[0].body, "{}");
  assert_int_equal(s->accepted, 4); /* keep-alive: no new connection per request */
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_true(st.http1);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_h1_drop_and_timeout(void **state) {
  ts_config sc = {.h1 = true, .close_at = 2};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.http1_only = true;
  cfg.connections = 1;
  cfg.h1_factor = 1;
  cfg.attempt_timeout_ms = 150;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), 0);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[1]), DPS_EFULL); /* one each */
  RUN_UNTIL(n_done == 1, 3000);
  assert_int_equal(recs[0].result, DPS__XFER_OK);
  /* the server drops the connection on the second request */
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[1]), 0);
  RUN_UNTIL(n_done == 2, 3000);
  assert_int_equal(recs[1].result, DPS__XFER_FAILED);
  /* a request the server never answers times out, and the connection is replaced */
  s->cfg.close_at = 0;
  s->cfg.delay_ms = -1;
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[2]), 0);
  RUN_UNTIL(n_done == 3, 3000);
  assert_int_equal(recs[2].result, DPS__XFER_TIMEOUT);
  s->cfg.delay_ms = 0;
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[3]), 0);
  RUN_UNTIL(n_done == 4, 3000);
  assert_once(4);
  assert_int_equal(recs[3].result, DPS__XFER_OK);
  assert_int_equal(s->accepted, 3);
  dps__pool_free(p);
  ts_stop(s);
}

static int capacity_calls;
static void on_capacity(void *arg) { capacity_calls++; }

static void test_large_body_and_truncated_response(void **state) {
  ts_config sc = {0};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  cfg.body_max = 1;
  capacity_calls = 0;
  cfg.on_capacity = on_capacity;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(capacity_calls == 1, 3000);
  assert_int_equal(capacity_calls, 1);
  assert_int_equal(live(p), 1);
  /* 1 MiB: many DATA frames through the server's 64 KiB window, read from the caller's buffer */
  size_t big_len = (size_t)1 << 20;
  char *big = malloc(big_len);
  memset(big, 'x', big_len);
  dps__http_request big_req;
  dps__request_init(&big_req, req.authority, "/", DPS__TARGET_SET_TASK_STATUS, big, big_len);
  assert_int_equal(dps__pool_submit(p, &big_req, on_result, &recs[0]), 0);
  RUN_UNTIL(n_done == 1, 5000);
  free(big); /* only now: the body is borrowed until the callback */
  assert_once(1);
  assert_int_equal(recs[0].result, DPS__XFER_OK);
  assert_int_equal(recs[0].status, 200);
  assert_string_equal(recs[0].body, "{"); /* body_max 1 */
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_true(st.bytes_sent > big_len);
  dps__pool_free(p);
  ts_stop(s);
}

static void test_ipv6_literal(void **state) {
  ts_config sc = {.ipv6 = true};
  ts_server *s = ts_start_server(base, &sc);
  if (!s) {
    fprintf(stderr, "no IPv6 loopback here: skipped\n");
    skip();
  }
  dps__url u = url_of("http", "[::1]", s->port);
  assert_string_equal(u.host, "::1");
  dps__pool_config cfg = cfg_default();
  cfg.connections = 1;
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(live(p) == 1, 3000);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), 0);
  RUN_UNTIL(n_done == 1, 3000);
  assert_once(1);
  assert_int_equal(recs[0].result, DPS__XFER_OK);
  dps__pool_free(p);
  ts_stop(s);
}

/* The sender's pattern under a GOAWAY storm: REFUSED requests are resubmitted from inside the
 * callback (or kept for later when the pool is full) until every one is answered. */
static dps__pool *storm_pool;
static int storm_pending[MAX_REQS], storm_n_pending, storm_refused;

static void on_storm(const dps__response *r, void *ud) {
  rec *x = ud;
  if (r->result == DPS__XFER_REFUSED || r->result == DPS__XFER_FAILED) {
    storm_refused++;
    if (dps__pool_submit(storm_pool, &req, on_storm, ud) != DPS_OK)
      storm_pending[storm_n_pending++] = (int)(x - recs);
    return;
  }
  on_result(r, ud);
}

static void test_goaway_storm_resubmit(void **state) {
  ts_config sc = {.goaway_at = 37, .goaway_last = -1, .delay_ms = 1};
  ts_server *s = ts_start_server(base, &sc);
  dps__url u = url_of("http", "127.0.0.1", s->port);
  dps__pool_config cfg = cfg_default();
  cfg.max_streams = 16;
  dps__pool *p = storm_pool = new_pool(&u, &cfg);
  storm_n_pending = storm_refused = 0;
  const int total = 3000;
  int next = 0;
  int64_t end = now_ms() + 20000;
  while (n_done < total && now_ms() < end) {
    while (storm_n_pending && dps__pool_capacity(p) > 0) {
      int i = storm_pending[--storm_n_pending];
      assert_int_equal(dps__pool_submit(p, &req, on_storm, &recs[i]), 0);
    }
    while (next < total && dps__pool_capacity(p) > 0)
      assert_int_equal(dps__pool_submit(p, &req, on_storm, &recs[next++]), 0);
    event_base_loop(base, EVLOOP_ONCE);
  }
  assert_once(total);
  assert_int_equal(count_result(total, DPS__XFER_OK), total);
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  assert_true(s->goaways >= 50);
  assert_int_equal(st.goaways, s->goaways);
  assert_true(st.reconnects >= s->goaways);
  assert_true(storm_refused > 0);
  fprintf(stderr, "storm: %u GOAWAYs, %d resubmitted, %u connections\n", s->goaways, storm_refused,
          s->accepted);
  RUN_UNTIL(false, 50);
  dps__pool_stats_get(p, &st);
  assert_true(st.connections_open <= 2 + 1); /* retired ones went away */
  dps__pool_free(p);
  ts_stop(s);
}

/* ---- TLS --------------------------------------------------------------------------------- */

static char tls_dir[64];

static void sh(const char *cmd) {
  char full[2048];
  snprintf(full, sizeof full, "cd %s && (%s) >/dev/null 2>&1", tls_dir, cmd);
  assert_int_equal(system(full), 0);
}

/* A test CA, a server certificate for localhost/127.0.0.1 it signed, one for another name, and
 * an unrelated CA. */
static int tls_setup(void **state) {
  snprintf(tls_dir, sizeof tls_dir, "/tmp/dps-tls-XXXXXX");
  if (!mkdtemp(tls_dir)) return -1;
  const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 %s -keyout ca.key -out ca.pem -subj /CN=dps-test-ca -days 2 && "
           "openssl req -x509 %s -keyout ca2.key -out ca2.pem -subj /CN=other-ca -days 2",
           ec, ec);
  sh(cmd);
  const char *names[][2] = {{"good", "DNS:localhost,IP:127.0.0.1"}, {"wrong", "DNS:wrong.example"}};
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd,
             "printf 'subjectAltName=%s\\n' > %s.ext && "
             "openssl req %s -keyout %s.key -out %s.csr -subj /CN=%s && "
             "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile %s.ext -out %s.pem",
             names[i][1], names[i][0], ec, names[i][0], names[i][0], names[i][0], names[i][0],
             names[i][0], names[i][0]);
    sh(cmd);
  }
  return 0;
}

static int tls_teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static char path_buf[8][128];
static const char *tpath(int slot, const char *name) {
  snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", tls_dir, name);
  return path_buf[slot];
}

/* Runs @p n requests through a TLS pool; returns the pool's stats. */
static dps__pool_stats tls_run(ts_server *s, const char *host, dps__pool_config *cfg, int n) {
  dps__url u = url_of("https", host, s->port);
  dps__pool *p = new_pool(&u, cfg);
  int next = 0;
  int64_t end = now_ms() + 5000;
  while (n_done < n && now_ms() < end && !fatal_calls) {
    fill(p, &next, n);
    event_base_loop(base, EVLOOP_ONCE);
  }
  dps__pool_stats st;
  dps__pool_stats_get(p, &st);
  dps__pool_free(p);
  return st;
}

static void test_tls_h2_with_ca_bundle(void **state) {
  ts_config sc = {.cert = tpath(0, "good.pem"), .key = tpath(1, "good.key")};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default();
  cfg.ca_bundle = tpath(2, "ca.pem");
  dps__pool_stats st = tls_run(s, "localhost", &cfg, 50); /* the name resolves through evdns */
  assert_int_equal(fatal_calls, 0);
  assert_once(50);
  assert_int_equal(count_result(50, DPS__XFER_OK), 50);
  assert_false(st.http1);
  assert_int_equal(st.connects, 2);
  memset(recs, 0, sizeof recs);
  n_done = 0;
  st = tls_run(s, "127.0.0.1", &cfg, 10); /* an IP address is checked against the IP SAN */
  assert_int_equal(fatal_calls, 0);
  assert_int_equal(count_result(10, DPS__XFER_OK), 10);
  ts_stop(s);
}

static void test_tls_unknown_ca_is_fatal(void **state) {
  ts_config sc = {.cert = tpath(0, "good.pem"), .key = tpath(1, "good.key")};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default();
  cfg.ca_bundle = tpath(2, "ca2.pem");
  dps__url u = url_of("https", "localhost", s->port);
  dps__pool *p = new_pool(&u, &cfg);
  RUN_UNTIL(fatal_calls, 3000);
  assert_int_equal(fatal_calls, 1);
  assert_string_equal(fatal_msg,
                      "TLS: certificate verify failed: unable to get local issuer certificate");
  assert_string_equal(dps__pool_error(p), fatal_msg);
  assert_int_equal(dps__pool_submit(p, &req, on_result, &recs[0]), DPS_ECLOSED);
  assert_int_equal(dps__pool_capacity(p), 0);
  RUN_UNTIL(false, 100);
  assert_int_equal(fatal_calls, 1); /* no reconnect loop */
  dps__pool_free(p);
  ts_stop(s);
}

static void test_tls_wrong_host_is_fatal(void **state) {
  ts_config sc = {.cert = tpath(0, "wrong.pem"), .key = tpath(1, "wrong.key")};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default();
  cfg.ca_bundle = tpath(2, "ca.pem");
  tls_run(s, "localhost", &cfg, 1);
  assert_int_equal(fatal_calls, 1);
  assert_string_equal(fatal_msg, "TLS: certificate verify failed: hostname mismatch");
  assert_int_equal(n_done, 0);
  ts_stop(s);
}

static void test_tls_no_verify(void **state) {
  ts_config sc = {.cert = tpath(0, "wrong.pem"), .key = tpath(1, "wrong.key")};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default();
  cfg.no_verify = true; /* unknown CA (the system store) and the wrong name: accepted */
  tls_run(s, "localhost", &cfg, 5);
  assert_int_equal(fatal_calls, 0);
  assert_once(5);
  assert_int_equal(count_result(5, DPS__XFER_OK), 5);
  ts_stop(s);
}

static void test_tls_system_store_refuses_test_ca(void **state) {
  ts_config sc = {.cert = tpath(0, "good.pem"), .key = tpath(1, "good.key")};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default(); /* verification on by default */
  tls_run(s, "localhost", &cfg, 1);
  assert_int_equal(fatal_calls, 1);
  assert_non_null(strstr(fatal_msg, "certificate verify failed"));
  ts_stop(s);
}

static void test_tls_alpn_http1(void **state) {
  ts_config sc = {.cert = tpath(0, "good.pem"), .key = tpath(1, "good.key"), .h1 = true};
  ts_server *s = ts_start_server(base, &sc);
  dps__pool_config cfg = cfg_default();
  cfg.ca_bundle = tpath(2, "ca.pem");
  cfg.h1_factor = 3;
  dps__pool_stats st = tls_run(s, "127.0.0.1", &cfg, 200);
  assert_int_equal(fatal_calls, 0);
  assert_once(200);
  assert_int_equal(count_result(200, DPS__XFER_OK), 200);
  assert_true(st.http1);
  assert_int_equal(s->accepted, 6); /* K x h1_factor keep-alive connections */
  assert_int_equal(st.connects, 6);
  ts_stop(s);
}

static void test_bad_ca_bundle_path(void **state) {
  dps__url u = url_of("https", "localhost", 443);
  dps__pool_config cfg = cfg_default();
  cfg.ca_bundle = "/nonexistent/ca.pem";
  dps__pool *p = NULL;
  dps_error err;
  assert_int_equal(dps__pool_new(&p, base, NULL, &u, &cfg, &err), DPS_ECONFIG);
  assert_null(p);
  assert_non_null(strstr(err.message, "/nonexistent/ca.pem"));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest plain[] = {
      cmocka_unit_test_setup_teardown(test_h2c_nghttpd_many_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_least_loaded_and_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_streams_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_goaway_refused_and_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_drop_fails_and_reconnects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_refused_backs_off, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_timeout_silent_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attempt_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ping_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ping_acked_keeps_connection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_write_per_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_h1_cleartext, setup, teardown),
      cmocka_unit_test_setup_teardown(test_h1_drop_and_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_body_and_truncated_response, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ipv6_literal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_goaway_storm_resubmit, setup, teardown),
  };
  const struct CMUnitTest tls[] = {
      cmocka_unit_test_setup_teardown(test_tls_h2_with_ca_bundle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_unknown_ca_is_fatal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_wrong_host_is_fatal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_no_verify, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_system_store_refuses_test_ca, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_alpn_http1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_ca_bundle_path, setup, teardown),
  };
  int rc = cmocka_run_group_tests_name("transport", plain, NULL, NULL);
  rc |= cmocka_run_group_tests_name("transport_tls", tls, tls_setup, tls_teardown);
  return rc;
}
