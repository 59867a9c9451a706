/*
 * ring.c: the bounded multi-producer single-consumer ring (see ring.h for the contract).
 *
 * The algorithm is Dmitry Vyukov's bounded MPMC queue, with one consumer, a different sequence
 * encoding and a sleep/wake protocol on top.
 *
 * Positions are 64-bit and only grow (modulo 2^64); position p lives in slot p & mask. Each slot
 * carries a sequence number that says what the slot is ready for:
 *
 *   seq == 2p      the slot is free for the producer of position p
 *   seq == 2p + 1  the producer of position p has published its item; the consumer may take it
 *
 * and the consumer, having taken position p, frees the slot for position p + capacity by storing
 * 2(p + capacity). (Vyukov uses p and p + 1; doubling keeps "published p" and "free for p + 1"
 * apart, which they are not when the capacity is 1. The factor 2 costs one bit of the 64: the
 * arithmetic is modulo 2^64 and only differences between nearby positions are ever looked at.)
 *
 * A producer claims position p by a CAS of tail from p to p + 1, after seeing seq == 2p; then it
 * writes the item and publishes. It never looks at another producer's slot, so a producer preempted
 * between claim and publish delays nobody but the consumer, and only for the items behind it: the
 * consumer stops at a slot whose seq is not 2p + 1 and returns what it has. The CAS loop retries
 * only when another producer has moved tail, i.e. made progress: lock-free, no waiting.
 *
 * Sleep/wake: the consumer announces a sleep (flag, heavy fence, re-check the next slot); a
 * producer, after publishing, checks the flag behind a light fence and, if set, exchanges it to 0
 * and writes the eventfd: one writer per announcement. The fences are asymmetric (barrier.h): a
 * compiler barrier per enqueue, a membarrier system call per sleep.
 *
 * Cache lines: tail (hammered by producers), head (the consumer's), the wake flag (read by every
 * producer, written once per consumer sleep) and the slow-path state each sit on their own line;
 * the slots are an array of their own, aligned to a line.
 */
#include "queue/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpstatus.h"
#include "queue/barrier.h"
#include "queue/wakefd.h"

#define DPS__CACHELINE 64
#define DPS__RING_MAX_CAPACITY ((size_t)1 << 30)

typedef struct dps__ring_slot {
  _Atomic uint64_t seq; /* see the encoding above */
  void *item;           /* written by the producer before publishing; read by the consumer after */
} dps__ring_slot;

struct dps__ring {
  /* Read-only after create. */
  alignas(DPS__CACHELINE) dps__ring_slot *slots;
  uint64_t mask;
  uint64_t cap;
  int64_t full_wait_ns;
  dps__wakefd wake;
  bool asym; /* the sleep/wake fences are asymmetric (membarrier); see barrier.h */

  /* Producers: the next position to claim. */
  alignas(DPS__CACHELINE) _Atomic uint64_t tail;

  /* Consumer: the next position to take. Written only by the consumer, after each drain; read by
   * the consumer and by observers (depth). */
  alignas(DPS__CACHELINE) _Atomic uint64_t head;

  /* 1 while the consumer has announced it is going to sleep and no producer has woken it yet. */
  alignas(DPS__CACHELINE) _Atomic int sleeping;

  /* Slow path and statistics: written rarely (a full ring, a wake-up, a new high-water mark). */
  alignas(DPS__CACHELINE) _Atomic uint32_t waiters; /* producers inside wait_for_room */
  _Atomic bool closed;
  _Atomic uint64_t high_water;
  _Atomic uint64_t full_count;
  _Atomic uint64_t wake_count;
  pthread_mutex_t mu;  /* guards nothing but the condition wait itself */
  pthread_cond_t room; /* signalled by the consumer after freeing slots, when waiters > 0 */
};

void dps__ring_opts_init(dps__ring_opts *o) {
  memset(o, 0, sizeof *o);
  o->capacity = 65536;
  o->full_wait_ns = 0;
  o->initial_index = 0;
}

int dps__ring_create(dps__ring **out, const dps__ring_opts *o) {
  *out = NULL;
  size_t cap = o->capacity;
  if (cap == 0 || cap > DPS__RING_MAX_CAPACITY || (cap & (cap - 1)) != 0) return DPS_EINVAL;
  if (o->full_wait_ns < 0) return DPS_EINVAL;

  dps__ring *r = aligned_alloc(DPS__CACHELINE, sizeof *r);
  if (!r) return DPS_ENOMEM;
  memset(r, 0, sizeof *r);
  size_t bytes = cap * sizeof(dps__ring_slot);
  bytes = (bytes + DPS__CACHELINE - 1) & ~(size_t)(DPS__CACHELINE - 1);
  r->slots = aligned_alloc(DPS__CACHELINE, bytes);
  if (!r->slots) {
    free(r);
    return DPS_ENOMEM;
  }
  int rc = dps__wakefd_open(&r->wake);
  if (rc != DPS_OK) {
    free(r->slots);
    free(r);
    return rc;
  }
  r->mask = cap - 1;
  r->cap = cap;
  r->full_wait_ns = o->full_wait_ns;
  r->asym = dps__asym_fence_init();

  /* Slot i first serves the position p in [start, start + cap) with p & mask == i. Plain
   * initialization: the ring is not shared until create returns, and whoever shares it does so
   * through a synchronizing hand-off (thread creation, a mutex), which publishes these stores. */
  uint64_t start = o->initial_index;
  for (uint64_t k = 0; k < cap; k++) {
    uint64_t p = start + k;
    atomic_init(&r->slots[p & r->mask].seq, 2 * p);
    r->slots[p & r->mask].item = NULL;
  }
  atomic_init(&r->tail, start);
  atomic_init(&r->head, start);
  atomic_init(&r->sleeping, 0);
  atomic_init(&r->waiters, 0);
  atomic_init(&r->closed, false);
  atomic_init(&r->high_water, 0);
  atomic_init(&r->full_count, 0);
  atomic_init(&r->wake_count, 0);

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits must not jump with the wall clock */
  pthread_cond_init(&r->room, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&r->mu, NULL);
  *out = r;
  return DPS_OK;
}

void dps__ring_destroy(dps__ring *r) {
  if (!r) return;
  pthread_cond_destroy(&r->room);
  pthread_mutex_destroy(&r->mu);
  dps__wakefd_close(&r->wake);
  free(r->slots);
  free(r);
}

/* Raises *hw to at least v. The loop retries only when another thread raised it meanwhile. */
static void raise_high_water(dps__ring *r, uint64_t v) {
  /* Relaxed: the mark is a statistic; it orders nothing else. */
  uint64_t cur = atomic_load_explicit(&r->high_water, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak_explicit(
                        &r->high_water, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* The producer's fast path: claim, write, publish, and, when @p may_wake, wake a sleeping
 * consumer. DPS_OK or DPS_EFULL. */
static int try_enqueue(dps__ring *r, void *item, bool may_wake) {
  /* Relaxed: tail is only a hint of where to try; the CAS below decides, and the slot's seq
   * (acquire) is what tells whether the slot may be written. */
  uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
  dps__ring_slot *s;
  for (;;) {
    s = &r->slots[pos & r->mask];
    /* Acquire: pairs with the consumer's release when it freed this slot, so its read of the old
     * item happens before our write of the new one. */
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    int64_t dif = (int64_t)(seq - 2 * pos);
    if (dif == 0) {
      /* The slot is free for position pos: claim pos. Relaxed is enough: the CAS only elects one
       * producer per position (atomicity, not ordering); the slot's acquire above already ordered
       * us after the consumer, and our release store of seq below publishes the item. On failure
       * pos is reloaded with the tail another producer advanced. */
      if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                memory_order_relaxed))
        break;
    } else if (dif < 0) {
      /* The slot still holds position pos - cap (not yet taken by the consumer): the ring looks
       * full. If tail has moved since we read pos, other producers made progress and our view is
       * stale: retry at the new tail. If not, it is full now. */
      uint64_t now = atomic_load_explicit(&r->tail, memory_order_relaxed);
      if (now == pos) return DPS_EFULL;
      pos = now;
    } else {
      /* Another producer claimed pos already (and perhaps published): move on. */
      pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    }
  }

  s->item = item;
  /* Publish. Release: pairs with the consumer's acquire of seq, so it sees the item. */
  atomic_store_explicit(&s->seq, 2 * pos + 1, memory_order_release);
  if (!may_wake) return DPS_OK; /* the consumer itself: awake (dps__ring_enqueue_consumer) */
  /* This store, the fence and the load of `sleeping` are the light half of a store-buffering pair
   * with dps__ring_prepare_sleep (store sleeping; heavy fence; load seq): at least one side sees
   * the other's store, so either the consumer sees this item and stays awake, or we see its
   * announcement and wake it. Without a store-load fence on both sides both could miss. The light
   * fence is a compiler barrier when the consumer's is a membarrier (measured: a seq_cst store
   * here cost 40% of the throughput with 2-16 producers), a seq_cst fence otherwise. The load can
   * then be relaxed: the fences give the ordering. */
  dps__asym_fence_light(r->asym);
  if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) != 0 &&
      /* Relaxed: the exchange only elects one writer per announcement; the item's visibility to
       * the consumer comes from seq, not from the fd. */
      atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed) != 0) {
    atomic_fetch_add_explicit(&r->wake_count, 1, memory_order_relaxed); /* statistic */
    dps__wakefd_signal(&r->wake);
  }
  return DPS_OK;
}

static void deadline_after(struct timespec *ts, int64_t ns) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  int64_t sum = (int64_t)ts->tv_nsec + ns % 1000000000;
  ts->tv_sec += (time_t)(ns / 1000000000 + sum / 1000000000);
  ts->tv_nsec = (long)(sum % 1000000000);
}

/* The only slow path: the ring was full and the policy is to wait up to wait_ns. */
static int wait_for_room(dps__ring *r, void *item, int64_t wait_ns) {
  struct timespec deadline;
  deadline_after(&deadline, wait_ns);
  pthread_mutex_lock(&r->mu);
  /* Relaxed increment, then the fence below: see there. */
  atomic_fetch_add_explicit(&r->waiters, 1, memory_order_relaxed);
  int rc;
  for (;;) {
    /* Pairs with the fence in dps__ring_drain (free slots; fence; load waiters). Ours is
     * (store waiters; fence; load seq in try_enqueue): two seq_cst fences forbid both loads
     * missing the other store, so either we see the slot the consumer freed, or the consumer sees
     * waiters > 0 and broadcasts, which it can only do once we are inside pthread_cond_timedwait
     * (it must take the mutex we hold). No lost wake-up. */
    atomic_thread_fence(memory_order_seq_cst);
    rc = try_enqueue(r, item, true);
    if (rc == DPS_OK) break;
    /* Relaxed: close() stores before taking the mutex and broadcasting; if we miss it here we are
     * about to wait, and its broadcast comes after, under the mutex. */
    if (atomic_load_explicit(&r->closed, memory_order_relaxed)) {
      rc = DPS_ECLOSED;
      break;
    }
    if (pthread_cond_timedwait(&r->room, &r->mu, &deadline) == ETIMEDOUT) {
      atomic_thread_fence(memory_order_seq_cst);
      rc = try_enqueue(r, item, true); /* one last look: room may have come with the timeout */
      break;
    }
  }
  atomic_fetch_sub_explicit(&r->waiters, 1, memory_order_relaxed);
  pthread_mutex_unlock(&r->mu);
  return rc;
}

int dps__ring_enqueue_timed(dps__ring *r, void *item, int64_t wait_ns) {
  int rc = try_enqueue(r, item, true);
  if (rc == DPS_OK) return rc;
  /* Full. Statistics first (relaxed: counters), then the policy. */
  atomic_fetch_add_explicit(&r->full_count, 1, memory_order_relaxed);
  raise_high_water(r, r->cap);
  if (wait_ns <= 0) return DPS_EFULL;
  if (atomic_load_explicit(&r->closed, memory_order_relaxed)) return DPS_ECLOSED;
  return wait_for_room(r, item, wait_ns);
}

int dps__ring_enqueue(dps__ring *r, void *item) {
  return dps__ring_enqueue_timed(r, item, r->full_wait_ns);
}

int dps__ring_enqueue_consumer(dps__ring *r, void *item) {
  int rc = try_enqueue(r, item, false);
  if (rc == DPS_OK) return rc;
  /* Full: the statistics as any producer's (relaxed: counters); waiting would wait for ourselves.
   */
  atomic_fetch_add_explicit(&r->full_count, 1, memory_order_relaxed);
  raise_high_water(r, r->cap);
  return DPS_EFULL;
}

size_t dps__ring_drain(dps__ring *r, void **out, size_t max) {
  /* Relaxed: only this thread writes head. */
  uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
  /* High-water sample: the depth only grows between our drains, so its peaks are what we find at
   * the start of one. Relaxed: a statistic (tail may be ahead of what is published; the clamp keeps
   * it within the capacity). */
  uint64_t claimed = atomic_load_explicit(&r->tail, memory_order_relaxed) - pos;
  raise_high_water(r, claimed < r->cap ? claimed : r->cap);

  size_t n = 0;
  while (n < max) {
    dps__ring_slot *s = &r->slots[pos & r->mask];
    /* Acquire: pairs with the producer's publishing store, so the item written before it is
     * visible here. Anything but 2pos + 1 means not published yet: stop, never spin. */
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != 2 * pos + 1) break;
    out[n++] = s->item;
    /* Release: our read of the item happens before the producer one lap ahead (which acquires
     * this seq) overwrites it. */
    atomic_store_explicit(&s->seq, 2 * (pos + r->cap), memory_order_release);
    pos++;
  }
  if (n == 0) return 0;
  /* Relaxed: head is read only by this thread and by observers (depth); producers never read it. */
  atomic_store_explicit(&r->head, pos, memory_order_relaxed);
  /* Pairs with the fence in wait_for_room: see there. One fence per batch, not per item; and the
   * mutex is touched only when a producer is actually waiting. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&r->waiters, memory_order_relaxed) != 0) {
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->mu);
  }
  return n;
}

int dps__ring_wake_fd(const dps__ring *r) { return r->wake.rfd; }

bool dps__ring_prepare_sleep(dps__ring *r) {
  /* Store, heavy fence, load: the consumer half of the store-buffering pair described after the
   * publishing store in try_enqueue. Relaxed store and load: the fence orders them. The heavy
   * fence is one membarrier system call per sleep, never per item. */
  atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
  dps__asym_fence_heavy(r->asym);
  uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed); /* our own variable */
  uint64_t seq = atomic_load_explicit(&r->slots[pos & r->mask].seq, memory_order_relaxed);
  if (seq != 2 * pos + 1)
    return true; /* empty, or claimed but not published: its producer wakes us */
  /* An item is there: withdraw the announcement. Relaxed: if a producer already took it (the
   * exchange returns 0), it writes the fd and the next sleep returns at once; harmless. */
  atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed);
  return false;
}

void dps__ring_wake_ack(dps__ring *r) {
  dps__wakefd_clear(&r->wake);
  /* Relaxed: withdrawing the announcement (after a timeout nobody took it) only saves a needless
   * wake-up later; correctness never depends on it being seen. */
  atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

void dps__ring_close(dps__ring *r) {
  /* Relaxed store, then the mutex: a waiter checks `closed` under the mutex before waiting, so it
   * either sees it or is already waiting when we broadcast. */
  atomic_store_explicit(&r->closed, true, memory_order_relaxed);
  pthread_mutex_lock(&r->mu);
  pthread_cond_broadcast(&r->room);
  pthread_mutex_unlock(&r->mu);
}

size_t dps__ring_capacity(const dps__ring *r) { return (size_t)r->cap; }

size_t dps__ring_depth(const dps__ring *r) {
  /* Relaxed: an approximation while threads run. head first: it never passes tail, so a later
   * tail keeps the difference from going negative except through reordering, which the clamp
   * covers; tail - head can also exceed the capacity briefly (head is published per batch). */
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  int64_t d = (int64_t)(t - h);
  if (d < 0) return 0;
  return (uint64_t)d > r->cap ? (size_t)r->cap : (size_t)d;
}

size_t dps__ring_high_water(const dps__ring *r) {
  return (size_t)atomic_load_explicit(&r->high_water, memory_order_relaxed);
}

uint64_t dps__ring_full_count(const dps__ring *r) {
  return atomic_load_explicit(&r->full_count, memory_order_relaxed);
}

uint64_t dps__ring_wake_count(const dps__ring *r) {
  return atomic_load_explicit(&r->wake_count, memory_order_relaxed);
}
