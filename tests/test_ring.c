/*
 * test_ring.c: single-threaded and small multi-threaded tests for queue/ring.c: argument checks,
 * capacities 1 and 2, full and empty transitions, index wraparound past 2^32, 2^63 and 2^64, the
 * wake fd protocol step by step, the full-ring wait (timeout, release by the consumer, close),
 * shards (one per thread, drained in turn), the default shard count, the look before a sleep.
 * The heavy concurrent tests (stress, lost wake-ups, many producers) are in test_ring_stress.c.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "dpstatus.h"
#include "queue/ring.h"

/* A ring of @p cap in @p shards, with the given full wait, first position and look. */
static dps__ring *make_ring(size_t cap, size_t shards, int64_t wait_ns, uint64_t start,
                            int64_t look_ns) {
  dps__ring_opts o;
  dps__ring_opts_init(&o);
  o.capacity = cap;
  o.shards = shards;
  o.full_wait_ns = wait_ns;
  o.initial_index = start;
  o.idle_look_ns = look_ns;
  dps__ring *r = NULL;
  assert_int_equal(dps__ring_create(&r, &o), DPS_OK);
  assert_non_null(r);
  assert_int_equal(dps__ring_shards(r), shards);
  return r;
}

static dps__ring *make(size_t cap, int64_t wait_ns, uint64_t start) {
  return make_ring(cap, 1, wait_ns, start, DPS__RING_IDLE_LOOK_NS);
}

static void *item(uintptr_t v) { return (void *)v; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool fd_readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_create_rejects(void **state) {
  dps__ring_opts o;
  dps__ring *r = item(1);
  size_t bad[] = {0, 3, 6, 100, ((size_t)1 << 30) + 1, (size_t)1 << 31};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dps__ring_opts_init(&o);
    o.capacity = bad[i];
    assert_int_equal(dps__ring_create(&r, &o), DPS_EINVAL);
    assert_null(r);
  }
  dps__ring_opts_init(&o);
  o.full_wait_ns = -1;
  assert_int_equal(dps__ring_create(&r, &o), DPS_EINVAL);
  /* 0, not powers of two, more than the 16 slots, more than DPS__RING_MAX_SHARDS (64). */
  size_t bad_shards[][2] = {{16, 0}, {16, 3}, {16, 12}, {16, 32}, {1024, 128}};
  for (size_t i = 0; i < sizeof bad_shards / sizeof bad_shards[0]; i++) {
    dps__ring_opts_init(&o);
    o.capacity = bad_shards[i][0];
    o.shards = bad_shards[i][1];
    assert_int_equal(dps__ring_create(&r, &o), DPS_EINVAL);
    assert_null(r);
  }
  dps__ring_opts_init(&o);
  o.capacity = 1024;
  o.shards = 64; /* the most */
  assert_int_equal(dps__ring_create(&r, &o), DPS_OK);
  assert_int_equal(dps__ring_shards(r), 64);
  dps__ring_destroy(r);
  dps__ring_opts_init(&o);
  o.idle_look_ns = -1;
  assert_int_equal(dps__ring_create(&r, &o), DPS_EINVAL);
  dps__ring_opts_init(&o);
  assert_int_equal(o.shards, 1);
  assert_int_equal(o.idle_look_ns, DPS__RING_IDLE_LOOK_NS);
  dps__ring_opts_init(&o);
  assert_int_equal(o.capacity, 65536);
  assert_int_equal(o.full_wait_ns, 0);
  assert_int_equal(dps__ring_create(&r, &o), DPS_OK);
  assert_int_equal(dps__ring_capacity(r), 65536);
  assert_true(dps__ring_wake_fd(r) >= 0);
  dps__ring_destroy(r);
  dps__ring_destroy(NULL);
}

/* Fills and empties a ring of capacity @p cap many times, with batches of every size, checking
 * FIFO order, DPS_EFULL exactly at the capacity, and empty drains. Starts at @p start. */
static void cycle(size_t cap, uint64_t start, int laps) {
  dps__ring *r = make(cap, 0, start);
  void *out[64];
  uintptr_t next_in = 1, next_out = 1;
  for (int lap = 0; lap < laps; lap++) {
    assert_int_equal(dps__ring_drain(r, out, 64), 0); /* empty */
    assert_int_equal(dps__ring_depth(r), 0);
    for (size_t i = 0; i < cap; i++)
      assert_int_equal(dps__ring_enqueue(r, item(next_in++)), DPS_OK);
    assert_int_equal(dps__ring_depth(r), cap);
    assert_int_equal(dps__ring_enqueue(r, item(999999)), DPS_EFULL); /* full, item still ours */
    /* Drain in batches of (lap % cap) + 1, refilling one slot after each batch. */
    size_t batch = (size_t)lap % cap + 1;
    size_t got = 0;
    while (got < cap) {
      size_t n = dps__ring_drain(r, out, batch);
      assert_true(n >= 1 && n <= batch);
      for (size_t i = 0; i < n; i++) assert_ptr_equal(out[i], item(next_out++));
      got += n;
    }
    /* A refill-while-draining phase: half full, then in and out one at a time. */
    for (size_t i = 0; i < (cap + 1) / 2; i++)
      assert_int_equal(dps__ring_enqueue(r, item(next_in++)), DPS_OK);
    for (int k = 0; k < 5; k++) {
      assert_int_equal(dps__ring_drain(r, out, 1), 1);
      assert_ptr_equal(out[0], item(next_out++));
      assert_int_equal(dps__ring_enqueue(r, item(next_in++)), DPS_OK);
    }
    while (next_out < next_in) {
      size_t n = dps__ring_drain(r, out, 64);
      assert_true(n >= 1);
      for (size_t i = 0; i < n; i++) assert_ptr_equal(out[i], item(next_out++));
    }
  }
  assert_int_equal(dps__ring_high_water(r), cap);
  assert_int_equal(dps__ring_full_count(r), (uint64_t)laps);
  dps__ring_destroy(r);
}

static void test_capacity_1(void **state) { cycle(1, 0, 50); }
static void test_capacity_2(void **state) { cycle(2, 0, 50); }
static void test_capacity_8(void **state) { cycle(8, 0, 50); }

static void test_wraparound(void **state) {
  /* Positions cross 2^32 (where 32-bit indices such as ck_ring's wrap), 2^63 (where the doubled
   * sequence numbers wrap) and 2^64 (where the positions themselves wrap). */
  uint64_t starts[] = {((uint64_t)1 << 32) - 7, ((uint64_t)1 << 63) - 7, UINT64_MAX - 6,
                       UINT64_MAX};
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
    cycle(1, starts[i], 20);
    cycle(2, starts[i], 20);
    cycle(4, starts[i], 20);
  }
}

static void test_null_items(void **state) {
  dps__ring *r = make(4, 0, 0);
  void *out[4] = {item(1), item(1), item(1), item(1)};
  assert_int_equal(dps__ring_enqueue(r, NULL), DPS_OK);
  assert_int_equal(dps__ring_enqueue(r, item(7)), DPS_OK);
  assert_int_equal(dps__ring_drain(r, out, 4), 2);
  assert_null(out[0]);
  assert_ptr_equal(out[1], item(7));
  dps__ring_destroy(r);
}

static void test_drain_max_zero(void **state) {
  dps__ring *r = make(4, 0, 0);
  assert_int_equal(dps__ring_enqueue(r, item(1)), DPS_OK);
  assert_int_equal(dps__ring_drain(r, NULL, 0), 0);
  void *out[1];
  assert_int_equal(dps__ring_drain(r, out, 1), 1);
  dps__ring_destroy(r);
}

static void test_wake_protocol_steps(void **state) {
  dps__ring *r = make(8, 0, 0);
  int fd = dps__ring_wake_fd(r);
  void *out[8];
  /* Nobody announced sleep: enqueues write nothing. */
  assert_int_equal(dps__ring_enqueue(r, item(1)), DPS_OK);
  assert_false(fd_readable(fd));
  assert_int_equal(dps__ring_wake_count(r), 0);
  /* An item is there: the consumer must not sleep. */
  assert_false(dps__ring_prepare_sleep(r));
  assert_int_equal(dps__ring_drain(r, out, 8), 1);
  /* Empty: it may sleep; the next enqueue writes the fd once, the one after does not. */
  assert_true(dps__ring_prepare_sleep(r));
  assert_false(fd_readable(fd));
  assert_int_equal(dps__ring_enqueue(r, item(2)), DPS_OK);
  assert_true(fd_readable(fd));
  assert_int_equal(dps__ring_enqueue(r, item(3)), DPS_OK);
  assert_int_equal(dps__ring_wake_count(r), 1);
  dps__ring_wake_ack(r);
  assert_false(fd_readable(fd));
  assert_int_equal(dps__ring_drain(r, out, 8), 2);
  /* A sleep that timed out: ack withdraws the announcement, so the next enqueue writes nothing. */
  assert_true(dps__ring_prepare_sleep(r));
  dps__ring_wake_ack(r);
  assert_int_equal(dps__ring_enqueue(r, item(4)), DPS_OK);
  assert_false(fd_readable(fd));
  assert_int_equal(dps__ring_wake_count(r), 1);
  dps__ring_destroy(r);
}

/* The consumer's own enqueue (a callback it runs): never a wake-up, never a wait. */
static void test_consumer_enqueue(void **state) {
  dps__ring *r = make(2, 5000 * 1000000LL, 0); /* a producer would wait up to 5 s */
  int fd = dps__ring_wake_fd(r);
  void *out[2];
  assert_true(dps__ring_prepare_sleep(r)); /* announced: any other producer would write the fd */
  assert_int_equal(dps__ring_enqueue_consumer(r, item(1)), DPS_OK);
  assert_false(fd_readable(fd));
  assert_int_equal(dps__ring_wake_count(r), 0);
  assert_int_equal(dps__ring_enqueue_consumer(r, item(2)), DPS_OK);
  double t0 = now_s();
  assert_int_equal(dps__ring_enqueue_consumer(r, item(3)), DPS_EFULL); /* at once */
  assert_true(now_s() - t0 < 1.0);
  assert_int_equal(dps__ring_full_count(r), 1);
  assert_int_equal(dps__ring_high_water(r), 2);
  assert_int_equal(dps__ring_drain(r, out, 2), 2);
  assert_ptr_equal(out[0], item(1));
  assert_ptr_equal(out[1], item(2));
  /* The announcement it left stands for the other producers: the next one wakes the consumer. */
  assert_int_equal(dps__ring_enqueue(r, item(4)), DPS_OK);
  assert_true(fd_readable(fd));
  assert_int_equal(dps__ring_wake_count(r), 1);
  dps__ring_destroy(r);
}

static void test_wait_timeout(void **state) {
  dps__ring *r = make(1, 50 * 1000000LL, 0); /* wait up to 50 ms */
  assert_int_equal(dps__ring_enqueue(r, item(1)), DPS_OK);
  double t0 = now_s();
  assert_int_equal(dps__ring_enqueue(r, item(2)), DPS_EFULL);
  double dt = now_s() - t0;
  assert_true(dt >= 0.049);
  assert_true(dt < 1.0);
  /* Per call: 0 fails at once even on a waiting ring. */
  t0 = now_s();
  assert_int_equal(dps__ring_enqueue_timed(r, item(3), 0), DPS_EFULL);
  assert_true(now_s() - t0 < 0.045); /* not the ring's 50 ms (slack for a preempted test) */
  assert_int_equal(dps__ring_full_count(r), 2);
  void *out[2];
  assert_int_equal(dps__ring_drain(r, out, 2), 1);
  assert_ptr_equal(out[0], item(1));
  dps__ring_destroy(r);
}

typedef struct waiter_arg {
  dps__ring *r;
  uintptr_t v;
  int64_t wait_ns;
  int rc;
  atomic_int *done;
} waiter_arg;

static void *waiter_main(void *p) {
  waiter_arg *a = p;
  a->rc = dps__ring_enqueue_timed(a->r, item(a->v), a->wait_ns);
  atomic_fetch_add(a->done, 1);
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_waiters_released_by_consumer(void **state) {
  enum { W = 6 };
  dps__ring *r = make(2, 0, 0);
  assert_int_equal(dps__ring_enqueue(r, item(100)), DPS_OK);
  assert_int_equal(dps__ring_enqueue(r, item(101)), DPS_OK);
  atomic_int done = 0;
  pthread_t t[W];
  waiter_arg a[W];
  for (int i = 0; i < W; i++) {
    a[i] = (waiter_arg){r, (uintptr_t)(i + 1), 30LL * 1000000000LL, 99, &done};
    assert_int_equal(pthread_create(&t[i], NULL, waiter_main, &a[i]), 0);
  }
  sleep_ms(100);
  assert_int_equal(atomic_load(&done), 0); /* all blocked: the ring is full */
  double t0 = now_s();
  bool seen[W + 1] = {false};
  int got = 0;
  void *out[4];
  while (got < W + 2) {
    size_t n = dps__ring_drain(r, out, 1); /* one at a time: waiters get in one slot at a time */
    for (size_t i = 0; i < n; i++) {
      uintptr_t v = (uintptr_t)out[i];
      if (v >= 100) continue;
      assert_true(v >= 1 && v <= W);
      assert_false(seen[v]);
      seen[v] = true;
    }
    got += (int)n;
    if (n == 0) sleep_ms(1);
    assert_true(now_s() - t0 < 10.0);
  }
  for (int i = 0; i < W; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].rc, DPS_OK);
  }
  assert_true(now_s() - t0 < 10.0); /* released by the consumer, long before their 30 s */
  assert_true(dps__ring_full_count(r) >= W);
  dps__ring_destroy(r);
}

static void test_close_releases_waiters(void **state) {
  enum { W = 3 };
  dps__ring *r = make(1, 30LL * 1000000000LL, 0);
  assert_int_equal(dps__ring_enqueue(r, item(1)), DPS_OK);
  atomic_int done = 0;
  pthread_t t[W];
  waiter_arg a[W];
  for (int i = 0; i < W; i++) {
    a[i] = (waiter_arg){r, (uintptr_t)(i + 2), 30LL * 1000000000LL, 99, &done};
    assert_int_equal(pthread_create(&t[i], NULL, waiter_main, &a[i]), 0);
  }
  sleep_ms(50);
  double t0 = now_s();
  dps__ring_close(r);
  for (int i = 0; i < W; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].rc, DPS_ECLOSED);
  }
  assert_true(now_s() - t0 < 5.0);
  /* After close: waiting fails at once; room still accepts; the consumer drains what is there. */
  assert_int_equal(dps__ring_enqueue(r, item(9)), DPS_ECLOSED);
  void *out[2];
  assert_int_equal(dps__ring_drain(r, out, 2), 1);
  assert_ptr_equal(out[0], item(1));
  assert_int_equal(dps__ring_enqueue(r, item(10)), DPS_OK);
  assert_int_equal(dps__ring_drain(r, out, 2), 1);
  assert_ptr_equal(out[0], item(10));
  dps__ring_destroy(r);
}

static void test_depth_and_high_water(void **state) {
  dps__ring *r = make(16, 0, 0);
  void *out[16];
  for (uintptr_t i = 1; i <= 5; i++) assert_int_equal(dps__ring_enqueue(r, item(i)), DPS_OK);
  assert_int_equal(dps__ring_depth(r), 5);
  assert_int_equal(dps__ring_high_water(r), 0); /* sampled at drains */
  assert_int_equal(dps__ring_drain(r, out, 2), 2);
  assert_int_equal(dps__ring_depth(r), 3);
  assert_int_equal(dps__ring_high_water(r), 5);
  assert_int_equal(dps__ring_drain(r, out, 16), 3);
  assert_int_equal(dps__ring_depth(r), 0);
  assert_int_equal(dps__ring_high_water(r), 5);
  dps__ring_destroy(r);
}

static dps__ring *make_sharded(size_t cap, size_t shards, int64_t look_ns) {
  return make_ring(cap, shards, 0, 0, look_ns);
}

static void test_default_shards(void **state) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t caps[] = {1, 2, 1024, 2048, 4096, 65536, (size_t)1 << 30};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    size_t s = dps__ring_default_shards(caps[i]);
    assert_true(s >= 1 && s <= 16 && (s & (s - 1)) == 0);
    assert_true(s == 1 || caps[i] / s >= 1024);              /* a shard holds at least 1024 */
    assert_true(s <= (size_t)(cpus < 1 ? 1 : 2 * cpus) * 2); /* about twice the CPUs */
  }
  assert_int_equal(dps__ring_default_shards(1024), 1); /* too small to split */
  /* A ring big enough for any split: the smallest power of two reaching twice the CPUs, up to 16
   * (a power of two at least that, whose half falls short of it). */
  size_t big = dps__ring_default_shards((size_t)1 << 30);
  size_t reach = cpus <= 1 ? 1 : 2 * (size_t)cpus < 16 ? 2 * (size_t)cpus : 16;
  assert_true(big >= reach);
  assert_true(big == 1 || big / 2 < reach);
  /* Smaller rings get as many as the 1024-slot floor allows, up to that. */
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    size_t s = dps__ring_default_shards(caps[i]);
    assert_true(s == big || caps[i] / (2 * s) < 1024);
  }
}

typedef struct filler {
  dps__ring *r;
  uintptr_t tag; /* items are tag * 1000 + n */
  int accepted;
} filler;

/* Enqueues until the ring refuses; a thread of its own, so it gets a shard of its own. */
static void *fill_main(void *p) {
  filler *f = p;
  while (dps__ring_enqueue(f->r, item(f->tag * 1000 + (uintptr_t)f->accepted + 1)) == DPS_OK)
    f->accepted++;
  return NULL;
}

static void test_shard_per_thread(void **state) {
  /* 16 slots in 4 shards of 4. Threads are numbered in the order they first enqueue, round robin
   * over the shards: four threads started one after the other take the four shards. */
  dps__ring *r = make_sharded(16, 4, 0);
  filler f[5];
  for (int i = 0; i < 5; i++) {
    f[i] = (filler){r, (uintptr_t)(i + 1), 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fill_main, &f[i]), 0);
    pthread_join(t, NULL);
  }
  for (int i = 0; i < 4; i++) assert_int_equal(f[i].accepted, 4); /* its shard, no more */
  assert_int_equal(f[4].accepted, 0); /* the fifth shares the first one's shard: full */
  assert_int_equal(dps__ring_depth(r), 16);
  assert_int_equal(dps__ring_full_count(r), 5);
  assert_true(dps__ring_high_water(r) >= 4);
  /* One item per drain: the shards take turns, so four drains bring one item of each thread. */
  void *out[16];
  bool seen[5] = {false};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(dps__ring_drain(r, out, 1), 1);
    uintptr_t tag = (uintptr_t)out[0] / 1000;
    assert_true(tag >= 1 && tag <= 4);
    assert_false(seen[tag]);
    seen[tag] = true;
    assert_int_equal((uintptr_t)out[0] % 1000, 1); /* each thread's first item first */
  }
  /* The rest in one drain: every thread's items in its order. */
  assert_int_equal(dps__ring_drain(r, out, 16), 12);
  uintptr_t next[5] = {0, 2, 2, 2, 2};
  for (int i = 0; i < 12; i++) {
    uintptr_t tag = (uintptr_t)out[i] / 1000, n = (uintptr_t)out[i] % 1000;
    assert_true(tag >= 1 && tag <= 4);
    assert_int_equal(n, next[tag]);
    next[tag]++;
  }
  assert_int_equal(dps__ring_depth(r), 0);
  /* Room again for a thread of the first shard. */
  f[4].accepted = 0;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, fill_main, &f[4]), 0);
  pthread_join(t, NULL);
  assert_int_equal(f[4].accepted, 4);
  dps__ring_destroy(r);
}

typedef struct late_producer {
  dps__ring *r;
  int after_ms;
  int count;
} late_producer;

static void *late_main(void *p) {
  late_producer *l = p;
  sleep_ms(l->after_ms);
  for (int i = 0; i < l->count; i++)
    if (dps__ring_enqueue(l->r, item((uintptr_t)i + 1)) != DPS_OK) abort();
  return NULL;
}

/* prepare_sleep on an empty ring while @p count items arrive after 20 ms, with a look of 300 ms:
 * returns what prepare_sleep returned and how long it took. */
static bool look_with_late_items(dps__ring *r, int count, double *took) {
  late_producer l = {r, 20, count};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, late_main, &l), 0);
  double t0 = now_s();
  bool may_sleep = dps__ring_prepare_sleep(r);
  *took = now_s() - t0;
  pthread_join(t, NULL);
  return may_sleep;
}

static void test_look_before_sleep(void **state) {
  void *out[128];
  double took;
  /* A batch (64) arrives during the look: no sleep, and no announcement (no fd write), as soon as
   * the batch is there, well before the look runs out. */
  dps__ring *r = make_sharded(1024, 1, 300LL * 1000000);
  assert_false(look_with_late_items(r, 64, &took));
  assert_true(took >= 0.015 && took < 0.25);
  assert_int_equal(dps__ring_wake_count(r), 0);
  assert_false(fd_readable(dps__ring_wake_fd(r)));
  assert_int_equal(dps__ring_drain(r, out, 128), 64);
  /* A single item: the look runs its full time hoping for more, then drains it: no sleep. */
  assert_false(look_with_late_items(r, 1, &took));
  assert_true(took >= 0.29);
  assert_int_equal(dps__ring_wake_count(r), 0);
  assert_int_equal(dps__ring_drain(r, out, 128), 1);
  /* Nothing at all: the full look, then the announcement, and a later item writes the fd. */
  double t0 = now_s();
  assert_true(dps__ring_prepare_sleep(r));
  assert_true(now_s() - t0 >= 0.29);
  assert_int_equal(dps__ring_enqueue(r, item(7)), DPS_OK);
  assert_true(fd_readable(dps__ring_wake_fd(r)));
  assert_int_equal(dps__ring_wake_count(r), 1);
  dps__ring_destroy(r);
  /* Shards: a batch in any shard ends the look; a smaller shard's batch is its capacity. */
  r = make_sharded(64, 4, 300LL * 1000000); /* shards of 16 */
  assert_false(look_with_late_items(r, 16, &took));
  assert_true(took < 0.25);
  dps__ring_destroy(r);
  /* No look: an empty ring announces at once. */
  r = make_sharded(1024, 1, 0);
  t0 = now_s();
  assert_true(dps__ring_prepare_sleep(r));
  assert_true(now_s() - t0 < 0.2); /* not a look's 300 ms */
  dps__ring_destroy(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_rejects),
      cmocka_unit_test(test_capacity_1),
      cmocka_unit_test(test_capacity_2),
      cmocka_unit_test(test_capacity_8),
      cmocka_unit_test(test_wraparound),
      cmocka_unit_test(test_null_items),
      cmocka_unit_test(test_drain_max_zero),
      cmocka_unit_test(test_wake_protocol_steps),
      cmocka_unit_test(test_consumer_enqueue),
      cmocka_unit_test(test_wait_timeout),
      cmocka_unit_test(test_waiters_released_by_consumer),
      cmocka_unit_test(test_close_releases_waiters),
      cmocka_unit_test(test_depth_and_high_water),
      cmocka_unit_test(test_default_shards),
      cmocka_unit_test(test_shard_per_thread),
      cmocka_unit_test(test_look_before_sleep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
