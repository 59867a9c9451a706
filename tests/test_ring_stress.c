/*
 * test_ring_stress.c: concurrent tests for queue/ring.c.
 *  - stress: 4 producers x 1,000,000 items, one consumer draining in batches and sleeping on the
 *    wake fd when empty: every item arrives exactly once, each producer's in its own order;
 *  - lost wake-ups: many rounds of the consumer sleeping in poll() with a timeout that fails the
 *    test, producers enqueuing one item at a time at random moments; run with no look before a
 *    sleep (so every empty ring is an announcement) and again with the default look;
 *  - more producers than cores (16 on this 2-core machine), a small ring, fail-fast and waiting
 *    producers mixed: everything arrives, nothing hangs;
 *  - each of those again with the ring in 4 shards (producers spread over them, the consumer
 *    draining them in turn and sleeping only when all are empty).
 * Items encode (producer id, sequence number) in the pointer value. The 4 x 1,000,000 stress keeps
 * its full count under TSan (about 4 s here); the other tests shrink under a sanitizer.
 * DPS_RING_STRESS_N overrides the per-producer count of the stress tests.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "dpstatus.h"
#include "queue/ring.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define PID_SHIFT 40 /* item = (producer id << 40) | (sequence + 1), never NULL */

static uint64_t per_producer(uint64_t normal, uint64_t sanitized) {
  const char *e = getenv("DPS_RING_STRESS_N");
  if (e && *e) return strtoull(e, NULL, 10);
  return SANITIZED ? sanitized : normal;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

typedef struct producer {
  dps__ring *r;
  uint64_t id;
  uint64_t count;
  int64_t wait_ns; /* 0: fail fast and retry after sched_yield; > 0: the ring's wait */
  int delay_mode;  /* 0: back to back; 1: random pauses, for the lost wake-up test */
  uint64_t fulls;
  pthread_t t;
} producer;

static void random_pause(uint64_t *rng) {
  uint64_t x = splitmix(rng);
  switch (x % 4) {
    case 0: break; /* at once */
    case 1:        /* a short spin: lands anywhere in the consumer's drain/prepare/poll */
      for (volatile uint64_t i = 0, n = (x >> 8) % 4000; i < n; i++) {
      }
      break;
    case 2: sched_yield(); break;
    default: { /* long enough for the consumer to go to sleep */
      struct timespec ts = {0, (long)((x >> 8) % 300000)};
      nanosleep(&ts, NULL);
    }
  }
}

static void *producer_main(void *p) {
  producer *pr = p;
  uint64_t rng = pr->id * 7919 + 1;
  for (uint64_t seq = 0; seq < pr->count; seq++) {
    void *it = (void *)(uintptr_t)((pr->id << PID_SHIFT) | (seq + 1));
    if (pr->delay_mode) random_pause(&rng);
    for (;;) {
      int rc = dps__ring_enqueue_timed(pr->r, it, pr->wait_ns);
      if (rc == DPS_OK) break;
      if (rc != DPS_EFULL) { /* cmocka's asserts are not for other threads */
        fprintf(stderr, "producer %llu: enqueue returned %d\n", (unsigned long long)pr->id, rc);
        abort();
      }
      /* The item is still ours: retry, never drop. */
      pr->fulls++;
      sched_yield();
    }
  }
  return NULL;
}

typedef struct run_stats {
  uint64_t announces; /* prepare_sleep calls */
  uint64_t sleeps;    /* times the consumer slept in poll() */
  uint64_t batches;   /* drains that returned items */
  double seconds;
} run_stats;

/* One run's shape. */
typedef struct run_cfg {
  size_t cap, shards;  /* the ring */
  int np;              /* producers */
  uint64_t count;      /* items per producer */
  int64_t wait_ns_odd; /* the waiting policy's time for odd producers; 0: all fail fast */
  int delay_mode;      /* see producer */
  size_t batch;        /* the consumer's drain size */
  int poll_timeout_ms; /* a poll() that times out fails the test */
  int look_default; /* 1: the ring's default look before a sleep; 0: no look (announce at once) */
} run_cfg;

/*
 * Runs c->np producers of c->count items each into the ring, and consumes on this thread in
 * batches of c->batch, sleeping on the wake fd whenever the ring is empty. A poll() that times out
 * after c->poll_timeout_ms fails the test (a lost wake-up: producers never pause that long).
 */
static run_stats run_with(const run_cfg *c) {
  size_t cap = c->cap, shards = c->shards, batch = c->batch;
  int np = c->np, poll_timeout_ms = c->poll_timeout_ms, delay_mode = c->delay_mode;
  uint64_t count = c->count;
  int64_t wait_ns_odd = c->wait_ns_odd;
  dps__ring_opts o;
  dps__ring_opts_init(&o);
  o.capacity = cap;
  o.shards = shards;
  if (!c->look_default) o.idle_look_ns = 0;
  dps__ring *r = NULL;
  assert_int_equal(dps__ring_create(&r, &o), DPS_OK);
  producer *ps = calloc((size_t)np, sizeof *ps);
  uint64_t *next = calloc((size_t)np, sizeof *next);
  void **out = calloc(batch, sizeof *out);
  assert_non_null(ps);
  assert_non_null(next);
  assert_non_null(out);

  double t0 = now_s();
  for (int i = 0; i < np; i++) {
    /* Odd producers use the waiting policy (when asked), even ones fail fast and retry. */
    ps[i] = (producer){.r = r,
                       .id = (uint64_t)i,
                       .count = count,
                       .wait_ns = (i % 2) ? wait_ns_odd : 0,
                       .delay_mode = delay_mode};
    assert_int_equal(pthread_create(&ps[i].t, NULL, producer_main, &ps[i]), 0);
  }
  uint64_t total = (uint64_t)np * count, got = 0;
  run_stats st = {0, 0, 0, 0};
  struct pollfd pfd = {.fd = dps__ring_wake_fd(r), .events = POLLIN};
  while (got < total) {
    size_t n = dps__ring_drain(r, out, batch);
    if (n > 0) {
      st.batches++;
      for (size_t i = 0; i < n; i++) {
        uint64_t v = (uint64_t)(uintptr_t)out[i];
        uint64_t id = v >> PID_SHIFT, seq = (v & (((uint64_t)1 << PID_SHIFT) - 1)) - 1;
        if (id >= (uint64_t)np) fail_msg("item from unknown producer %llu", (unsigned long long)id);
        /* Exactly once and in order: each producer's next item is the one after its last. */
        if (seq != next[id])
          fail_msg("producer %llu: got #%llu, expected #%llu", (unsigned long long)id,
                   (unsigned long long)seq, (unsigned long long)next[id]);
        next[id]++;
      }
      got += n;
      continue;
    }
    st.announces++;
    if (!dps__ring_prepare_sleep(r)) continue;
    st.sleeps++;
    int pr = poll(&pfd, 1, poll_timeout_ms);
    if (pr == 0) {
      /* Timed out. Lost if something is waiting for us: a published item, or producers not done. */
      fail_msg("lost wake-up: slept %d ms with %llu of %llu items received (depth %zu)",
               poll_timeout_ms, (unsigned long long)got, (unsigned long long)total,
               dps__ring_depth(r));
    }
    dps__ring_wake_ack(r);
  }
  for (int i = 0; i < np; i++) pthread_join(ps[i].t, NULL);
  st.seconds = now_s() - t0;
  void *extra[1];
  assert_int_equal(dps__ring_drain(r, extra, 1), 0); /* nothing more than was sent */
  for (int i = 0; i < np; i++) assert_int_equal(next[i], count);
  uint64_t wakes = dps__ring_wake_count(r);
  /* One write per announcement at most: no syscall per item. */
  assert_true(wakes <= st.announces);
  print_message(
      "    %d producers x %llu, cap %zu in %zu shards: %.2f s, %llu batches, %llu sleeps, "
      "%llu wakes, high water %zu, %llu full\n",
      np, (unsigned long long)count, cap, shards, st.seconds, (unsigned long long)st.batches,
      (unsigned long long)st.sleeps, (unsigned long long)wakes, dps__ring_high_water(r),
      (unsigned long long)dps__ring_full_count(r));
  free(out);
  free(next);
  free(ps);
  dps__ring_destroy(r);
  return st;
}

static run_stats run(size_t cap, size_t shards, int np, uint64_t count, int64_t wait_ns_odd,
                     int delay_mode, size_t batch, int poll_timeout_ms) {
  run_cfg c = {cap, shards, np, count, wait_ns_odd, delay_mode, batch, poll_timeout_ms, 1};
  return run_with(&c);
}

static void test_stress_4x(void **state) {
  /* 4 x 1,000,000 through a 1024-slot ring, drained 64 at a time. */
  run(1024, 1, 4, per_producer(1000000, 1000000), 0, 0, 64, 10000); /* ~4 s under TSan */
}

static void test_stress_4x_waiting_producers(void **state) {
  /* The same with half the producers on the waiting policy and a ring small enough to fill. */
  run(64, 1, 4, per_producer(1000000, 250000) / 4, 1000LL * 1000000LL, 0, 16, 10000);
}

/* @p np producers of @p n items each, one at a time at random moments, into a ring of 256 in
 * @p shards; the consumer sleeps whenever the ring is empty. Any lost wake-up shows as a 2 s poll
 * timeout, which fails. */
static void lost_wakeup_rounds(size_t shards, int np, uint64_t n) {
  /* With no look, the consumer announces a sleep each time it finds the ring empty: the most
   * rounds of the announce/publish race. */
  run_cfg c = {256, shards, np, n, 0, 1, 64, 2000, 0};
  run_stats st = run_with(&c);
  print_message("    sleeps: %llu of %llu items\n", (unsigned long long)st.sleeps,
                (unsigned long long)((uint64_t)np * n));
  assert_true(st.sleeps >= n / 20); /* the sleep path really ran many rounds */
  /* And with the default look, which ends in the same announcement when nothing comes. */
  c.look_default = 1;
  run_with(&c);
}

static void test_no_lost_wakeup(void **state) {
  lost_wakeup_rounds(1, 2, SANITIZED ? 3000 : 20000);
}

static void test_more_producers_than_cores(void **state) {
  /* 16 producers on 2 cores into a 64-slot ring: full most of the time, producers preempted
   * mid-enqueue. It must finish (the ctest timeout would catch a hang; a stall would be minutes).
   */
  double t0 = now_s();
  run(64, 1, 16, per_producer(1000000, 250000) / 16, 1000LL * 1000000LL, 0, 32, 10000);
  assert_true(now_s() - t0 < 120.0);
}

/* The same four with the ring in 4 shards. Each producer keeps to one shard (so its order holds),
 * the consumer drains the shards in turn, and it sleeps only when every shard is empty. */
static void test_stress_4x_sharded(void **state) {
  run(4096, 4, 4, per_producer(1000000, 250000), 0, 0, 64, 10000);
}

static void test_stress_4x_waiting_producers_sharded(void **state) {
  /* 4 x 16 slots: the shards fill, and waiting producers are released by drains of any shard. */
  run(64, 4, 4, per_producer(1000000, 250000) / 4, 1000LL * 1000000LL, 0, 16, 10000);
}

static void test_no_lost_wakeup_sharded(void **state) {
  /* Four producers (each in its own shard): a wake-up lost in any shard fails. */
  lost_wakeup_rounds(4, 4, SANITIZED ? 2000 : 10000);
}

static void test_more_producers_than_cores_sharded(void **state) {
  /* 16 producers, 4 per shard of 16 slots. */
  double t0 = now_s();
  run(64, 4, 16, per_producer(1000000, 250000) / 16, 1000LL * 1000000LL, 0, 32, 10000);
  assert_true(now_s() - t0 < 120.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stress_4x),
      cmocka_unit_test(test_stress_4x_waiting_producers),
      cmocka_unit_test(test_no_lost_wakeup),
      cmocka_unit_test(test_more_producers_than_cores),
      cmocka_unit_test(test_stress_4x_sharded),
      cmocka_unit_test(test_stress_4x_waiting_producers_sharded),
      cmocka_unit_test(test_no_lost_wakeup_sharded),
      cmocka_unit_test(test_more_producers_than_cores_sharded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
