/*
 * bench_e2e.c: the library's side of bench/bench_e2e.sh, end to end through the public API only
 * (dpstatus.h) into a running `dpstatus serve`.
 *
 *   bench_e2e rate URL [-n N] [-t THREADS] [-c CONNS] [-m STREAMS] [--ca-bundle FILE]
 *       N distinct updates (taskId bench-task-NNNNNNN, FINISHED: the same 55-byte body shape
 *       h2load and the libcurl client send) from THREADS producers, as fast as the queue takes
 *       them (DPS_FULL_WAIT: a full queue parks the producer on a condition variable), then
 *       flush. Timed from the first submit to the last outcome; a warm-up of 1,000 updates first
 *       opens the connections (h2load and curl pay their handshakes inside their timing, about a
 *       millisecond against seconds). Checks that every update was delivered, exactly once.
 *
 *   bench_e2e mem [-n N]
 *       Memory per queued update: a reporter with queue_capacity 2^20 pointed at a loopback
 *       socket that listens but never accepts (the HTTP/2 preface gets no SETTINGS, so no
 *       connection ever becomes ready and nothing leaves the queue). Reads VmHWM from
 *       /proc/self/status, submits N updates with ~150-byte bodies, reads it again; then closes
 *       with a 100 ms deadline, which expires them all.
 *
 * Output: key=value lines on stdout, for the driver script. Exit 0 when the run was complete.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/update.h"
#include "dpstatus.h"

#define KEY_ID "AKIDBENCHE2E"
#define SECRET "bench-e2e-secret"
#define WARMUP 1000

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the result callback saw. It runs on the sender thread only; main reads after a flush. */
typedef struct tally {
  _Atomic uint64_t delivered, failed, expired;
  _Atomic uint64_t last_ns; /* time of the latest outcome */
  unsigned char *seen;      /* per timed update: outcomes reported (must end at 1) */
  size_t n;
  _Atomic uint64_t dup; /* updates reported more than once */
  char first_error[160];
} tally;

static void on_result(const dps_result *res, void *arg) {
  tally *t = arg;
  uintptr_t i = (uintptr_t)res->user_data;
  if (i && i <= t->n && t->seen[i - 1]++) atomic_fetch_add(&t->dup, 1);
  if (res->outcome == DPS_OUTCOME_DELIVERED)
    atomic_fetch_add_explicit(&t->delivered, 1, memory_order_relaxed);
  else if (res->outcome == DPS_OUTCOME_EXPIRED)
    atomic_fetch_add_explicit(&t->expired, 1, memory_order_relaxed);
  else
    atomic_fetch_add_explicit(&t->failed, 1, memory_order_relaxed);
  if (res->outcome != DPS_OUTCOME_DELIVERED && !t->first_error[0])
    snprintf(t->first_error, sizeof t->first_error, "%s: %s", res->error_code, res->error_message);
  atomic_store_explicit(&t->last_ns, now_ns(), memory_order_relaxed);
}

static void base_config(dps_config *c, const char *url, tally *t) {
  dps_config_init(c);
  c->endpoint_url = url;
  c->region = "us-east-1";
  c->access_key_id = KEY_ID; /* the emulator runs --auth none, but the library signs anyway */
  c->secret_access_key = SECRET;
  c->on_result = on_result;
  c->on_result_arg = t;
}

/* ---- rate --------------------------------------------------------------------------------- */

typedef struct producer {
  dps_reporter *r;
  size_t from, to; /* update indices [from, to), 1-based user_data = index + 1 */
  size_t refused;
  char why[288];
} producer;

static int submit_one(dps_reporter *r, size_t i, void *user_data, char *why, size_t whysz) {
  char tid[32];
  snprintf(tid, sizeof tid, "bench-task-%07zu", i % 10000000);
  dps_update u = {.task_id = tid, .task_id_len = DPS_NTS, .task_status = DPS_TASK_FINISHED};
  dps_error err;
  int rc = dps_submit(r, &u, user_data, &err);
  if (rc && why && !why[0]) snprintf(why, whysz, "%s", err.message);
  return rc;
}

static void *produce(void *arg) {
  producer *p = arg;
  for (size_t i = p->from; i < p->to; i++)
    if (submit_one(p->r, i, (void *)(uintptr_t)(i + 1), p->why, sizeof p->why)) p->refused++;
  return NULL;
}

/* Waits for @p n outcomes of the timed run by polling the tally every millisecond (no waiter on
 * the reporter's condition variable), up to @p timeout_ms. */
static int poll_outcomes(tally *t, size_t n, uint32_t timeout_ms) {
  struct timespec ms = {0, 1000 * 1000};
  for (uint32_t waited = 0; waited < timeout_ms; waited++) {
    if (atomic_load(&t->delivered) + atomic_load(&t->failed) + atomic_load(&t->expired) >= n)
      return DPS_OK;
    nanosleep(&ms, NULL);
  }
  return DPS_ETIMEDOUT;
}

static int run_rate(const char *url, const char *ca, size_t n, unsigned threads, unsigned conns,
                    unsigned streams, size_t queue, bool poll) {
  tally t = {.n = n};
  t.seen = calloc(n, 1);
  if (!t.seen) return 1;
  dps_config c;
  base_config(&c, url, &t);
  c.connections = conns;
  c.max_streams = streams;
  c.ca_bundle = ca;
  c.full_policy = DPS_FULL_WAIT;
  c.full_wait_ms = 30000;
  if (queue) c.queue_capacity = queue;
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) {
    fprintf(stderr, "bench_e2e: reporter: %s\n", err.message);
    return 1;
  }
  /* Warm-up: connections open and settle (user_data 0: not counted per update). */
  for (size_t i = 0; i < WARMUP; i++) submit_one(r, 9000000 + i, NULL, NULL, 0);
  if (dps_flush(r, 20000) != DPS_OK || atomic_load(&t.delivered) != WARMUP) {
    fprintf(stderr, "bench_e2e: warm-up not delivered (%s)\n", t.first_error);
    dps_reporter_close(r, 100);
    return 1;
  }
  atomic_store(&t.delivered, 0);

  producer *ps = calloc(threads, sizeof *ps);
  pthread_t *tids = calloc(threads, sizeof *tids);
  uint64_t t0 = now_ns();
  for (unsigned k = 0; k < threads; k++) {
    ps[k] = (producer){.r = r, .from = n * k / threads, .to = n * (k + 1) / threads};
    pthread_create(&tids[k], NULL, produce, &ps[k]);
  }
  size_t refused = 0;
  for (unsigned k = 0; k < threads; k++) {
    pthread_join(tids[k], NULL);
    refused += ps[k].refused;
    if (ps[k].refused) fprintf(stderr, "bench_e2e: refused: %s\n", ps[k].why);
  }
  uint64_t t_submitted = now_ns();
  int frc = poll ? poll_outcomes(&t, n, 60000) : dps_flush(r, 60000);
  uint64_t t1 = atomic_load(&t.last_ns);
  dps_stats st;
  dps_stats_get(r, &st);
  dps_reporter_close(r, 100);

  uint64_t missing = 0;
  for (size_t i = 0; i < n; i++) missing += t.seen[i] == 0;
  uint64_t delivered = atomic_load(&t.delivered);
  double secs = (double)(t1 - t0) / 1e9;
  printf("updates=%zu\nthreads=%u\ndelivered=%" PRIu64 "\nfailed=%" PRIu64 "\nexpired=%" PRIu64
         "\nrefused=%zu\nmissing=%" PRIu64 "\nduplicates=%" PRIu64 "\nretries=%" PRIu64
         "\nseconds=%.4f\nsubmit_seconds=%.4f\nrate=%.0f\np50_us=%" PRIu64 "\np99_us=%" PRIu64 "\n",
         n, threads, delivered, atomic_load(&t.failed), atomic_load(&t.expired), refused, missing,
         atomic_load(&t.dup), st.retries, secs, (double)(t_submitted - t0) / 1e9,
         (double)delivered / secs, st.latency_p50_us, st.latency_p99_us);
  if (t.first_error[0]) printf("first_error=%s\n", t.first_error);
  free(ps);
  free(tids);
  free(t.seen);
  return frc == DPS_OK && delivered == n && missing == 0 && atomic_load(&t.dup) == 0 ? 0 : 1;
}

/* ---- mem ---------------------------------------------------------------------------------- */

/* VmHWM (peak resident set) in KiB, or -1. */
static long vm_hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* The update of index i: a FAILED status with an error id and a message, bodies of 138 to 169
 * bytes (about 154 on average), so malloc's 16-byte rounding averages out over the run. */
static void mem_update(size_t i, char *tid, size_t tidsz, char *msg, size_t msgsz, dps_update *u) {
  snprintf(tid, tidsz, "df-0123456789-@Act-%07zu", i);
  snprintf(msg, msgsz, "step %07zu exited with status 1%.*s", i, (int)(i % 32),
           ": see the activity log for details");
  *u = (dps_update){.task_id = tid,
                    .task_id_len = DPS_NTS,
                    .task_status = DPS_TASK_FAILED,
                    .error_id = "ActivityFailed",
                    .error_id_len = DPS_NTS,
                    .error_message = msg,
                    .error_message_len = DPS_NTS};
}

static int run_mem(size_t n) {
  /* A peer that never answers: listening, never accepting. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t salen = sizeof sa;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4) ||
      getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
    perror("bench_e2e: listen");
    return 1;
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));

  /* The encoded body sizes, from the library's own encoder (a body is what a record carries). */
  uint64_t body_total = 0;
  for (size_t i = 0; i < n; i++) {
    char tid[64], msg[96];
    dps_update u;
    mem_update(i, tid, sizeof tid, msg, sizeof msg, &u);
    dps__update_view v;
    if (dps__update_check(&u, 0, &v, NULL)) return 1;
    body_total += v.body_len;
  }
  double body_avg = (double)body_total / (double)n;

  tally t = {0};
  dps_config c;
  base_config(&c, url, &t);
  c.queue_capacity = (size_t)1 << 20;
  c.queue_shards = 1; /* this thread alone fills the whole queue */
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) {
    fprintf(stderr, "bench_e2e: reporter: %s\n", err.message);
    return 1;
  }
  struct timespec settle = {0, 200 * 1000 * 1000}; /* the connection attempt is under way */
  nanosleep(&settle, NULL);
  long before = vm_hwm_kib();
  uint64_t t0 = now_ns();
  size_t refused = 0;
  for (size_t i = 0; i < n; i++) {
    char tid[64], msg[96];
    dps_update u;
    mem_update(i, tid, sizeof tid, msg, sizeof msg, &u);
    if (dps_submit(r, &u, NULL, &err)) refused++;
  }
  double submit_s = (double)(now_ns() - t0) / 1e9;
  long after = vm_hwm_kib();
  dps_stats st;
  dps_stats_get(r, &st);
  uint64_t tc = now_ns();
  dps_reporter_close(r, 100);
  double close_s = (double)(now_ns() - tc) / 1e9;
  close(lfd);

  double per = (double)(after - before) * 1024.0 / (double)n;
  printf("updates=%zu\nrefused=%zu\nqueued=%" PRIu64
         "\nsubmit_seconds=%.3f\nvmhwm_before_kib=%ld"
         "\nvmhwm_after_kib=%ld\nbytes_per_update=%.1f\nbody_avg=%.1f\ntarget=%.1f\n"
         "expired=%" PRIu64 "\nclose_seconds=%.3f\n",
         n, refused, st.queued, submit_s, before, after, per, body_avg, body_avg + 64,
         atomic_load(&t.expired), close_s);
  return refused == 0 && atomic_load(&t.expired) == n ? 0 : 1;
}

/* ---- main --------------------------------------------------------------------------------- */

static int usage(void) {
  fprintf(stderr,
          "usage: bench_e2e rate URL [-n N] [-t THREADS] [-c CONNS] [-m STREAMS] "
          "[--ca-bundle FILE] [-q QUEUE_CAPACITY] [--poll]\n"
          "       bench_e2e mem [-n N]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *mode = argv[1], *url = NULL, *ca = NULL;
  size_t n = strcmp(mode, "mem") == 0 ? 1000000 : 200000;
  unsigned threads = 1, conns = 2, streams = 100;
  size_t queue = 0;
  bool poll = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-n") == 0 && v)
      n = strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "-t") == 0 && v)
      threads = (unsigned)strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "-c") == 0 && v)
      conns = (unsigned)strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "-m") == 0 && v)
      streams = (unsigned)strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "-q") == 0 && v)
      queue = strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "--poll") == 0)
      poll = true;
    else if (strcmp(a, "--ca-bundle") == 0 && v)
      ca = v, i++;
    else if (a[0] != '-' && !url)
      url = a;
    else
      return usage();
  }
  if (n == 0 || threads == 0 || threads > 64) return usage();
  if (strcmp(mode, "rate") == 0 && url)
    return run_rate(url, ca, n, threads, conns, streams, queue, poll);
  if (strcmp(mode, "mem") == 0) return run_mem(n);
  return usage();
}
