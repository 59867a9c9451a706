/*
 * bench_ring.c: producer-side cost of the ring between dps_submit and the sender: enqueue
 * throughput and enqueue latency (p50, p99, p99.9) with 1, 2, 4, 8 and 16 producer threads and one
 * consumer draining, side by side in one run with
 *  - ck_ring (Debian libck 0.7.1), MPSC/MPMC enqueue (the same code: reserve a slot with a CAS on
 *    p_head, write, then wait for p_tail to reach our ticket and advance it) and its single-
 *    consumer dequeue;
 *  - a mutex + condition variable bounded queue (written here, the obvious alternative).
 * "ours" is the ring as the library makes it on this machine (dps__ring_default_shards shards);
 * "ours-1shard" is the same ring unsharded, to show what the shards buy.
 *
 * Every run lasts a fixed wall time: producers loop until a stop flag, so a collapse prints as a
 * low figure, not a hang. ck_ring's commit loop (_ck_ring_enqueue_commit_mp: spin until p_tail
 * equals our ticket) is reproduced here with a check of the stop flag added; otherwise it is ck's
 * code, unchanged. A producer that finds a queue full yields and retries (nothing is dropped).
 * Latency is the time from starting to enqueue an item to having it accepted (full retries
 * included), measured with the TSC on every 32nd enqueue. Wake-ups/s (ours only) counts the
 * eventfd writes by which producers woke a consumer that had announced its sleep.
 *
 * Usage: bench_ring [runs=3] [seconds per run=0.5] [queue] [producers] [shards]. Figures are
 * medians over the runs; within a producer count the queues take turns run by run, so drift on a
 * noisy machine falls on all of them alike. The queue and producers arguments restrict the run to
 * one queue (ours, ours-1shard, ck_ring, mutex; all: every one) and/or one producer count (0: every
 * one); shards sets the shard count of "ours" instead of the library's default.
 */
#include <ck_ring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpstatus.h"
#include "queue/ring.h"

#define CAPACITY 65536
#define BATCH 256
#define SAMPLE_EVERY 32
#define MAX_SAMPLES (1u << 19) /* per producer per run */
#define MAX_PRODUCERS 16

static const int producer_counts[] = {1, 2, 4, 8, 16};
#define NCOUNTS (int)(sizeof producer_counts / sizeof producer_counts[0])

static atomic_bool stop;           /* producers: the run is over */
static atomic_bool producers_done; /* consumer: drain what is left and return */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t ticks(void) { return __builtin_ia32_rdtsc(); }
static double ns_per_tick;

static void calibrate(void) {
  double t0 = now_s();
  uint64_t k0 = ticks();
  while (now_s() - t0 < 0.05) {
  }
  ns_per_tick = (now_s() - t0) * 1e9 / (double)(ticks() - k0);
}

/* ---- the three queues, behind the same five operations ------------------------------------- */

enum { ENQ_OK, ENQ_FULL, ENQ_STOPPED };

/* ours, with the library's shard count, and with one shard */
static dps__ring *ours_q;
static void ours_create_with(size_t shards) {
  dps__ring_opts o;
  dps__ring_opts_init(&o);
  o.capacity = CAPACITY;
  o.shards = shards;
  if (dps__ring_create(&ours_q, &o) != DPS_OK) abort();
}
static size_t ours_shards; /* the library's default unless given on the command line */
static void ours_create(void) { ours_create_with(ours_shards); }
static void ours1_create(void) { ours_create_with(1); }
/* Consumer wake-ups (eventfd writes by producers) in the last run of ours; -1 for the others,
 * which have no such count. */
static double last_wakes = -1;
static void ours_destroy(void) {
  last_wakes = (double)dps__ring_wake_count(ours_q);
  dps__ring_destroy(ours_q);
}
static inline int ours_enqueue(void *item) {
  return dps__ring_enqueue_timed(ours_q, item, 0) == DPS_OK ? ENQ_OK : ENQ_FULL;
}
static size_t ours_drain(void **out) { return dps__ring_drain(ours_q, out, BATCH); }
static void ours_idle(void) {
  /* The real consumer protocol: announce, sleep on the fd (short timeout to notice the end). */
  if (!dps__ring_prepare_sleep(ours_q)) return;
  struct pollfd p = {.fd = dps__ring_wake_fd(ours_q), .events = POLLIN};
  poll(&p, 1, 5);
  dps__ring_wake_ack(ours_q);
}

/* ck_ring */
static ck_ring_t ck_q;
static ck_ring_buffer_t *ck_buf;
static void ck_create(void) {
  ck_buf = aligned_alloc(64, sizeof *ck_buf * CAPACITY);
  if (!ck_buf) abort();
  ck_ring_init(&ck_q, CAPACITY);
}
static void ck_destroy(void) { free(ck_buf); }
static inline int ck_enqueue(void *item) {
  unsigned int ticket;
  void **slot = ck_ring_enqueue_reserve_mpsc(&ck_q, ck_buf, &ticket);
  if (!slot) return ENQ_FULL;
  *slot = item;
  /* _ck_ring_enqueue_commit_mp, plus the stop check that keeps the run bounded in time. */
  while (ck_pr_load_uint(&ck_q.p_tail) != ticket) {
    ck_pr_stall();
    if (atomic_load_explicit(&stop, memory_order_relaxed)) return ENQ_STOPPED; /* abandon */
  }
  ck_pr_fence_store();
  ck_pr_store_uint(&ck_q.p_tail, ticket + 1);
  return ENQ_OK;
}
static size_t ck_drain(void **out) {
  size_t n = 0;
  while (n < BATCH && ck_ring_dequeue_mpsc(&ck_q, ck_buf, &out[n])) n++;
  return n;
}
static void ck_idle(void) { sched_yield(); /* ck has no wake-up: poll politely */ }

/* mutex + condition variable */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  void **items;
  size_t head, count;
  int consumer_waiting, producers_waiting;
} mq;
static void mutex_create(void) {
  pthread_mutex_init(&mq.mu, NULL);
  pthread_cond_init(&mq.not_empty, NULL);
  pthread_cond_init(&mq.not_full, NULL);
  mq.items = malloc(sizeof(void *) * CAPACITY);
  if (!mq.items) abort();
  mq.head = mq.count = 0;
  mq.consumer_waiting = mq.producers_waiting = 0;
}
static void mutex_destroy(void) {
  free(mq.items);
  pthread_cond_destroy(&mq.not_empty);
  pthread_cond_destroy(&mq.not_full);
  pthread_mutex_destroy(&mq.mu);
}
static void deadline_ms(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_nsec += (long)ms * 1000000L;
  ts->tv_sec += ts->tv_nsec / 1000000000L;
  ts->tv_nsec %= 1000000000L;
}
static inline int mutex_enqueue(void *item) {
  pthread_mutex_lock(&mq.mu);
  while (mq.count == CAPACITY) { /* blocks when full (its natural policy), bounded by stop */
    if (atomic_load_explicit(&stop, memory_order_relaxed)) {
      pthread_mutex_unlock(&mq.mu);
      return ENQ_STOPPED;
    }
    struct timespec ts;
    deadline_ms(&ts, 5);
    mq.producers_waiting++;
    pthread_cond_timedwait(&mq.not_full, &mq.mu, &ts);
    mq.producers_waiting--;
  }
  mq.items[(mq.head + mq.count++) % CAPACITY] = item;
  if (mq.consumer_waiting) pthread_cond_signal(&mq.not_empty);
  pthread_mutex_unlock(&mq.mu);
  return ENQ_OK;
}
static size_t mutex_drain(void **out) {
  pthread_mutex_lock(&mq.mu);
  size_t n = mq.count < BATCH ? mq.count : BATCH;
  for (size_t i = 0; i < n; i++) out[i] = mq.items[(mq.head + i) % CAPACITY];
  mq.head = (mq.head + n) % CAPACITY;
  mq.count -= n;
  if (n && mq.producers_waiting) pthread_cond_broadcast(&mq.not_full);
  pthread_mutex_unlock(&mq.mu);
  return n;
}
static void mutex_idle(void) {
  pthread_mutex_lock(&mq.mu);
  if (mq.count == 0) {
    struct timespec ts;
    deadline_ms(&ts, 5);
    mq.consumer_waiting = 1;
    pthread_cond_timedwait(&mq.not_empty, &mq.mu, &ts);
    mq.consumer_waiting = 0;
  }
  pthread_mutex_unlock(&mq.mu);
}

/* ---- one run ------------------------------------------------------------------------------ */

typedef struct producer {
  int id;
  uint64_t done;     /* items accepted */
  uint64_t fulls;    /* attempts that found the queue full */
  uint64_t *samples; /* latency in ticks, every SAMPLE_EVERY-th item */
  size_t nsamples;
  pthread_t t;
  char pad[64];
} producer;

/* The producer loop, instantiated once per queue so each enqueue is inlined. */
#define PRODUCER_LOOP(name, enqueue)                                        \
  static void *name(void *arg) {                                            \
    producer *p = arg;                                                      \
    uint64_t seq = 0;                                                       \
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {            \
      void *item = (void *)(uintptr_t)(((uint64_t)p->id << 48) | ++seq);    \
      bool sample = (seq % SAMPLE_EVERY) == 0 && p->nsamples < MAX_SAMPLES; \
      uint64_t t0 = sample ? ticks() : 0;                                   \
      int rc;                                                               \
      while ((rc = enqueue(item)) == ENQ_FULL) {                            \
        p->fulls++;                                                         \
        if (atomic_load_explicit(&stop, memory_order_relaxed)) return NULL; \
        sched_yield();                                                      \
      }                                                                     \
      if (rc == ENQ_STOPPED) return NULL;                                   \
      if (sample) p->samples[p->nsamples++] = ticks() - t0;                 \
      p->done++;                                                            \
    }                                                                       \
    return NULL;                                                            \
  }
PRODUCER_LOOP(ours_producer, ours_enqueue)
PRODUCER_LOOP(ck_producer, ck_enqueue)
PRODUCER_LOOP(mutex_producer, mutex_enqueue)

typedef struct queue_kind {
  const char *name;
  void (*create)(void);
  void (*destroy)(void);
  void *(*producer)(void *);
  size_t (*drain)(void **out);
  void (*idle)(void);
} queue_kind;

static const queue_kind kinds[] = {
    {"ours", ours_create, ours_destroy, ours_producer, ours_drain, ours_idle},
    {"ours-1shard", ours1_create, ours_destroy, ours_producer, ours_drain, ours_idle},
    {"ck_ring", ck_create, ck_destroy, ck_producer, ck_drain, ck_idle},
    {"mutex", mutex_create, mutex_destroy, mutex_producer, mutex_drain, mutex_idle},
};
#define NKINDS 4

static const queue_kind *cur;
static uint64_t consumed;

static void *consumer_main(void *arg) {
  void *out[BATCH];
  uint64_t n = 0;
  for (;;) {
    size_t k = cur->drain(out);
    n += k;
    if (k) continue;
    if (atomic_load(&producers_done)) {
      /* Items published between the empty drain above and this load: take them too. */
      while ((k = cur->drain(out)) > 0) n += k;
      break;
    }
    cur->idle();
  }
  consumed = n;
  return NULL;
}

typedef struct result {
  double mops;
  double p50, p99, p999; /* ns */
  double full_pct;
  double wakes_per_s; /* ours only: how often a producer woke the sleeping consumer; else -1 */
} result;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static producer producers[MAX_PRODUCERS];
static uint64_t *all_samples;

static result run_once(const queue_kind *k, int np, double seconds) {
  cur = k;
  k->create();
  atomic_store(&stop, false);
  atomic_store(&producers_done, false);
  pthread_t c;
  pthread_create(&c, NULL, consumer_main, NULL);
  for (int i = 0; i < np; i++) {
    uint64_t *s = producers[i].samples;
    memset(&producers[i], 0, sizeof producers[i]);
    producers[i].id = i + 1;
    producers[i].samples = s;
  }
  double t0 = now_s();
  for (int i = 0; i < np; i++) pthread_create(&producers[i].t, NULL, k->producer, &producers[i]);
  struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&d, NULL);
  atomic_store(&stop, true);
  double elapsed = now_s() - t0;
  for (int i = 0; i < np; i++) pthread_join(producers[i].t, NULL);
  atomic_store(&producers_done, true);
  /* Abandoned ck tickets leave p_tail short of p_head; its consumer sees only committed items,
   * so it ends anyway (and the ring is thrown away). */
  pthread_join(c, NULL);
  uint64_t total = 0, fulls = 0;
  size_t ns = 0;
  for (int i = 0; i < np; i++) {
    total += producers[i].done;
    fulls += producers[i].fulls;
    memcpy(all_samples + ns, producers[i].samples, producers[i].nsamples * sizeof(uint64_t));
    ns += producers[i].nsamples;
  }
  if (k->create != ck_create && consumed != total) {
    fprintf(stderr, "%s: %llu enqueued but %llu consumed\n", k->name, (unsigned long long)total,
            (unsigned long long)consumed);
    exit(1);
  }
  last_wakes = -1;
  k->destroy();
  result r = {0, 0, 0, 0, 0, last_wakes < 0 ? -1 : last_wakes / elapsed};
  r.mops = (double)total / elapsed / 1e6;
  r.full_pct = total ? 100.0 * (double)fulls / (double)(total + fulls) : 0;
  if (ns) {
    qsort(all_samples, ns, sizeof(uint64_t), cmp_u64);
    r.p50 = (double)all_samples[ns / 2] * ns_per_tick;
    r.p99 = (double)all_samples[(size_t)((double)ns * 0.99)] * ns_per_tick;
    r.p999 = (double)all_samples[(size_t)((double)ns * 0.999)] * ns_per_tick;
  }
  return r;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 3;
  double seconds = argc > 2 ? atof(argv[2]) : 0.5;
  const char *only_kind = argc > 3 && strcmp(argv[3], "all") != 0 ? argv[3] : NULL;
  int only_np = argc > 4 ? atoi(argv[4]) : 0;
  long shards_arg = argc > 5 ? atol(argv[5]) : 0;
  ours_shards = shards_arg > 0 ? (size_t)shards_arg : dps__ring_default_shards(CAPACITY);
  bool shards_ok = shards_arg >= 0 && dps__ring_shards_valid(CAPACITY, ours_shards);
  bool kind_ok = !only_kind;
  for (int k = 0; k < NKINDS; k++) kind_ok |= only_kind && !strcmp(only_kind, kinds[k].name);
  bool np_ok = !only_np;
  for (int c = 0; c < NCOUNTS; c++) np_ok |= producer_counts[c] == only_np;
  const char *bad = runs < 1 || runs > 99 ? "runs"
                    : seconds <= 0        ? "seconds per run"
                    : !kind_ok            ? "queue"
                    : !np_ok              ? "producers"
                    : !shards_ok          ? "shards"
                                          : NULL;
  if (bad) {
    fprintf(stderr, "bench_ring: bad %s argument\n", bad);
    fprintf(stderr,
            "usage: bench_ring [runs 1-99] [seconds per run] [all|ours|ours-1shard|ck_ring|mutex] "
            "[producers 0|1|2|4|8|16] [shards of ours: a power of two up to %d]\n",
            DPS__RING_MAX_SHARDS);
    return 2;
  }
  calibrate();
  for (int i = 0; i < MAX_PRODUCERS; i++) {
    producers[i].samples = malloc(MAX_SAMPLES * sizeof(uint64_t));
    if (!producers[i].samples) abort();
  }
  all_samples = malloc((size_t)MAX_PRODUCERS * MAX_SAMPLES * sizeof(uint64_t));
  if (!all_samples) abort();

  printf(
      "bench_ring: capacity %d (ours: %zu shards), consumer batch %d, %d runs x %.2f s per "
      "cell, %ld cores\n\n",
      CAPACITY, ours_shards, BATCH, runs, seconds, sysconf(_SC_NPROCESSORS_ONLN));
  static result med[NKINDS][NCOUNTS];
  printf("| queue | producers | M enq/s | p50 ns | p99 ns | p99.9 ns | full %% | wake-ups/s |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int c = 0; c < NCOUNTS; c++) {
    if (only_np && producer_counts[c] != only_np) continue;
    static result x[NKINDS][99];
    for (int r = 0; r < runs; r++)
      for (int k = 0; k < NKINDS; k++)
        if (!only_kind || !strcmp(only_kind, kinds[k].name))
          x[k][r] = run_once(&kinds[k], producer_counts[c], seconds);
    for (int k = 0; k < NKINDS; k++) {
      if (only_kind && strcmp(only_kind, kinds[k].name)) continue;
      double m[99], a[99], b[99], d[99], f[99], w[99];
      for (int r = 0; r < runs; r++)
        m[r] = x[k][r].mops, a[r] = x[k][r].p50, b[r] = x[k][r].p99, d[r] = x[k][r].p999,
        f[r] = x[k][r].full_pct, w[r] = x[k][r].wakes_per_s;
      result *o = &med[k][c];
      o->mops = median(m, runs), o->p50 = median(a, runs), o->p99 = median(b, runs);
      o->p999 = median(d, runs), o->full_pct = median(f, runs), o->wakes_per_s = median(w, runs);
      char wakes[32] = "-";
      if (o->wakes_per_s >= 0) snprintf(wakes, sizeof wakes, "%.0f", o->wakes_per_s);
      printf("| %s | %d | %.1f | %.0f | %.0f | %.0f | %.2f | %s |\n", kinds[k].name,
             producer_counts[c], o->mops, o->p50, o->p99, o->p999, o->full_pct, wakes);
      fflush(stdout);
    }
  }
  if (only_kind || only_np) return 0; /* the ratio tables need every cell */
  printf(
      "\n| producers | ours M/s | ours-1shard M/s | ck_ring M/s | mutex M/s | ours/ck | "
      "ours/mutex |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int c = 0; c < NCOUNTS; c++)
    printf("| %d | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |\n", producer_counts[c], med[0][c].mops,
           med[1][c].mops, med[2][c].mops, med[3][c].mops, med[0][c].mops / med[2][c].mops,
           med[0][c].mops / med[3][c].mops);
  printf("\n| queue | 16 producers / 1 producer |\n|---|---:|\n");
  for (int k = 0; k < NKINDS; k++)
    printf("| %s | %.2f |\n", kinds[k].name, med[k][NCOUNTS - 1].mops / med[k][0].mops);
  for (int i = 0; i < MAX_PRODUCERS; i++) free(producers[i].samples);
  free(all_samples);
  return 0;
}
