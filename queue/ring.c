/*
 * ring.c: the bounded multi-producer single-consumer ring (see ring.h for the contract).
 *
 * Positions are 64-bit and only grow (modulo 2^64); position p lives in slot p & mask. A slot holds
 * one word: the item of the position it serves once that position is published, and EMPTY (the
 * address of a private byte, which no caller can hand us) otherwise. There is no sequence number:
 * the slot of position p is free for its producer exactly when the consumer has taken position
 * p - capacity, i.e. when head > p - capacity, and the consumer writes EMPTY into a slot before it
 * publishes the head that frees it. So the only thing a slot can hold besides EMPTY is the item of
 * the one position the consumer will next look for there: a word per slot, 8 items per cache line
 * (Vyukov's bounded queue, which this replaced, needs a sequence number beside each item: half as
 * many items per line, and a load of that number before every claim).
 *
 * A producer claims position p by a CAS of tail from p to p + 1, after checking that p is within a
 * capacity of head; it reads head only when the copy it keeps (head_seen, next to tail) says the
 * shard may be full, about once per lap. Then it stores the item: that store publishes it. It never
 * looks at another producer's slot, so a producer preempted between claim and publish delays nobody
 * but the consumer, and only for the items behind it: the consumer stops at a slot still EMPTY and
 * returns what it has. The CAS loop retries only when another producer has moved tail, i.e. made
 * progress: lock-free, no waiting.
 *
 * Shards: all of the above happens within one shard; a ring is 1 to 64 shards of equal capacity,
 * each with its own tail, head and slots, and a thread always uses the same one (producer_id).
 * On two cores, four producers sharing one tail pay a cache-line transfer on most claims (the
 * running producers sit on different cores); with a shard each, a producer's tail and slots stay
 * in its core's cache until the consumer reads them (bench_ring, 4 producers: 46 -> 76 M/s
 * with a pausing look, 218 M/s with the yielding one; see look_for_batch).
 *
 * Sleep/wake: the consumer announces a sleep (flag, heavy fence, re-check each shard's next slot);
 * a producer, after publishing, checks the flag behind a light fence and, if set, exchanges it to
 * 0 and writes the eventfd: one writer per announcement. The fences are asymmetric (barrier.h): a
 * compiler barrier per enqueue, a membarrier system call per sleep. Before announcing, the
 * consumer looks for a batch for up to idle_look_ns (look_for_batch).
 *
 * Cache lines: each shard's tail (hammered by its producers) and head (the consumer's), the wake
 * flag (read by every producer, written once per consumer sleep), the consumer's cursor and the
 * slow-path state each sit on their own line; the slots are an array of their own, aligned to a
 * line, shard after shard.
 */
#include "queue/ring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpstatus.h"
#include "queue/barrier.h"
#include "queue/wakefd.h"

#define DPS__CACHELINE 64
#define DPS__RING_MAX_CAPACITY ((size_t)1 << 30)
#define DPS__RING_DEFAULT_MAX_SHARDS 16 /* dps__ring_default_shards: the most it makes */
#define DPS__RING_MIN_SHARD 1024        /* dps__ring_default_shards: the smallest shard it makes */

/* A slot: EMPTY, or the published item of the position it serves (see above). */
typedef _Atomic(void *) dps__ring_slot;

static char empty_byte;
#define EMPTY ((void *)&empty_byte)

/* One shard's positions. Its slots are r->slots[shard index << shard_bits ...]. */
typedef struct dps__ring_shard {
  /* Producers of this shard: the next position to claim, and the last head one of them read
   * (at most head: it may lag, never lead). */
  alignas(DPS__CACHELINE) _Atomic uint64_t tail;
  _Atomic uint64_t head_seen;
  /* Consumer: the next position to take. Written only by the consumer, after each drain; read by
   * the consumer and by observers (depth). */
  alignas(DPS__CACHELINE) _Atomic uint64_t head;
} dps__ring_shard;

struct dps__ring {
  /* Read-only after create. */
  alignas(DPS__CACHELINE) dps__ring_slot *slots;
  dps__ring_shard *shard;
  uint64_t mask;       /* a shard's capacity - 1 */
  uint64_t shard_cap;  /* capacity / shards */
  unsigned shard_bits; /* log2(shard_cap) */
  unsigned shard_mask; /* shards - 1 */
  uint64_t cap;        /* all shards */
  int64_t full_wait_ns;
  int64_t idle_look_ns;
  dps__wakefd wake;
  bool asym; /* the sleep/wake fences are asymmetric (membarrier); see barrier.h */

  /* 1 while the consumer has announced it is going to sleep and no producer has woken it yet. */
  alignas(DPS__CACHELINE) _Atomic int sleeping;

  /* The consumer's own: the shard its next drain starts with (plain: one thread). */
  alignas(DPS__CACHELINE) unsigned next_shard;

  /* Slow path and statistics: written rarely (a full ring, a wake-up, a new high-water mark). */
  alignas(DPS__CACHELINE) _Atomic uint32_t waiters; /* producers inside wait_for_room */
  _Atomic bool closed;
  _Atomic uint64_t high_water;
  _Atomic uint64_t full_count;
  _Atomic uint64_t wake_count;
  pthread_mutex_t mu;  /* guards nothing but the condition wait itself */
  pthread_cond_t room; /* signalled by the consumer after freeing slots, when waiters > 0 */
};

/* Producer numbers, for the choice of shard: a thread takes the next number the first time it
 * enqueues into any ring and keeps it, so it always uses the same shard of a ring (its items stay
 * in order) and consecutive threads use different shards. Relaxed: the counter only has to hand
 * out distinct numbers; it orders nothing. */
static atomic_uint next_producer;
static _Thread_local unsigned producer_number; /* 0: not numbered yet */

static inline unsigned producer_id(void) {
  unsigned id = producer_number;
  if (__builtin_expect(id == 0, 0)) {
    do id = atomic_fetch_add_explicit(&next_producer, 1, memory_order_relaxed) + 1;
    while (id == 0); /* after 2^32 threads */
    producer_number = id;
  }
  return id - 1;
}

void dps__ring_opts_init(dps__ring_opts *o) {
  memset(o, 0, sizeof *o);
  o->capacity = 65536;
  o->full_wait_ns = 0;
  o->initial_index = 0;
  o->shards = 1;
  o->idle_look_ns = DPS__RING_IDLE_LOOK_NS;
}

size_t dps__ring_default_shards(size_t capacity) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 1) return 1;
  size_t want = 1;
  while (want < 2 * (size_t)cpus && want < DPS__RING_DEFAULT_MAX_SHARDS) want *= 2;
  while (want > 1 && capacity / want < DPS__RING_MIN_SHARD) want /= 2;
  return want;
}

static bool pow2(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

bool dps__ring_shards_valid(size_t capacity, size_t shards) {
  return pow2(shards) && shards <= capacity && shards <= DPS__RING_MAX_SHARDS;
}

int dps__ring_create(dps__ring **out, const dps__ring_opts *o) {
  *out = NULL;
  size_t cap = o->capacity, shards = o->shards;
  if (!pow2(cap) || cap > DPS__RING_MAX_CAPACITY) return DPS_EINVAL;
  if (!dps__ring_shards_valid(cap, shards)) return DPS_EINVAL;
  if (o->full_wait_ns < 0 || o->idle_look_ns < 0) return DPS_EINVAL;

  dps__ring *r = aligned_alloc(DPS__CACHELINE, sizeof *r);
  if (!r) return DPS_ENOMEM;
  memset(r, 0, sizeof *r);
  size_t bytes = cap * sizeof(dps__ring_slot);
  bytes = (bytes + DPS__CACHELINE - 1) & ~(size_t)(DPS__CACHELINE - 1);
  r->slots = aligned_alloc(DPS__CACHELINE, bytes);
  r->shard = aligned_alloc(DPS__CACHELINE, shards * sizeof(dps__ring_shard));
  int rc = r->slots && r->shard ? dps__wakefd_open(&r->wake) : DPS_ENOMEM;
  if (rc != DPS_OK) {
    free(r->shard);
    free(r->slots);
    free(r);
    return rc;
  }
  r->shard_cap = cap / shards;
  r->mask = r->shard_cap - 1;
  while (((uint64_t)1 << r->shard_bits) < r->shard_cap) r->shard_bits++;
  r->shard_mask = (unsigned)(shards - 1);
  r->cap = cap;
  r->full_wait_ns = o->full_wait_ns;
  r->idle_look_ns = o->idle_look_ns;
  r->asym = dps__asym_fence_init();

  /* Every slot EMPTY; every shard starts at the same position. Plain initialization: the ring is
   * not shared until create returns, and whoever shares it does so through a synchronizing
   * hand-off (thread creation, a mutex), which publishes these stores. */
  uint64_t start = o->initial_index;
  for (size_t i = 0; i < cap; i++) atomic_init(&r->slots[i], EMPTY);
  for (size_t k = 0; k < shards; k++) {
    atomic_init(&r->shard[k].tail, start);
    atomic_init(&r->shard[k].head_seen, start);
    atomic_init(&r->shard[k].head, start);
  }
  r->next_shard = 0;
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
  free(r->shard);
  free(r->slots);
  free(r);
}

static inline dps__ring_slot *slot_of(const dps__ring *r, unsigned k, uint64_t pos) {
  return &r->slots[((uint64_t)k << r->shard_bits) + (pos & r->mask)];
}

/* Raises *hw to at least v. The loop retries only when another thread raised it meanwhile. */
static void raise_high_water(dps__ring *r, uint64_t v) {
  /* Relaxed: the mark is a statistic; it orders nothing else. */
  uint64_t cur = atomic_load_explicit(&r->high_water, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak_explicit(
                        &r->high_water, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* The producer's fast path, in the calling thread's shard: claim, write, publish, and, when
 * @p may_wake, wake a sleeping consumer. DPS_OK or DPS_EFULL. */
static int try_enqueue(dps__ring *r, void *item, bool may_wake) {
  unsigned k = producer_id() & r->shard_mask;
  dps__ring_shard *sh = &r->shard[k];
  /* Relaxed: tail is only a hint of where to try; the CAS below decides. */
  uint64_t pos = atomic_load_explicit(&sh->tail, memory_order_relaxed);
  /* Acquire: pairs with the release store of head_seen by the producer that read head (see
   * below), which acquired head from the consumer: a chain that orders the consumer's EMPTY store
   * into the slot we claim before our store of the item. */
  uint64_t seen = atomic_load_explicit(&sh->head_seen, memory_order_acquire);
  for (;;) {
    int64_t ahead = (int64_t)(pos - seen);
    if (ahead < 0) {
      /* Our tail is older than a head: others claimed and the consumer took past it. Relaxed, as
       * above. */
      pos = atomic_load_explicit(&sh->tail, memory_order_relaxed);
      continue;
    }
    if ((uint64_t)ahead >= r->shard_cap) {
      /* Maybe full: look at head itself. Acquire: pairs with the consumer's release of head, so
       * its reads of the items it took and its EMPTY stores into their slots happen before our
       * store into the slot of pos (freed once head > pos - shard_cap). */
      seen = atomic_load_explicit(&sh->head, memory_order_acquire);
      ahead = (int64_t)(pos - seen);
      if (ahead < 0) continue; /* as above */
      /* Full when head was read: tail was at least pos then, so tail - head >= capacity. */
      if ((uint64_t)ahead >= r->shard_cap) return DPS_EFULL;
      /* Release: passes the consumer's stores on to producers that trust this copy (their
       * acquire above). A slower producer may overwrite a newer copy with an older head; that
       * costs its readers one more look at head, nothing else: an older head only clears fewer
       * positions. */
      atomic_store_explicit(&sh->head_seen, seen, memory_order_release);
    }
    /* Claim pos. Relaxed is enough for the CAS: it only elects one producer per position
     * (atomicity, not ordering); the ordering after the consumer comes from the acquires above,
     * and our release store below publishes the item. On failure pos is reloaded with the tail
     * another producer advanced. */
    if (atomic_compare_exchange_weak_explicit(&sh->tail, &pos, pos + 1, memory_order_relaxed,
                                              memory_order_relaxed))
      break;
  }
  /* Publish. Release: pairs with the consumer's acquire load of the slot, so whatever the item
   * points to, written before this call, is visible to it. */
  atomic_store_explicit(slot_of(r, k, pos), item, memory_order_release);
  if (!may_wake) return DPS_OK; /* the consumer itself: awake (dps__ring_enqueue_consumer) */
  /* This store, the fence and the load of `sleeping` are the light half of a store-buffering pair
   * with dps__ring_prepare_sleep (store sleeping; heavy fence; load each shard's next slot): at
   * least one side sees the other's store, so either the consumer sees this item and stays awake,
   * or we see its announcement and wake it. Without a store-load fence on both sides both could
   * miss. The light fence is a compiler barrier when the consumer's is a membarrier (measured: a
   * seq_cst store here cost 40% of the throughput with 2-16 producers), a seq_cst fence otherwise.
   * The load can then be relaxed: the fences give the ordering. */
  dps__asym_fence_light(r->asym);
  if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) != 0 &&
      /* Relaxed: the exchange only elects one writer per announcement; the item's visibility to
       * the consumer comes from its slot, not from the fd. */
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
    /* Pairs with the fence in dps__ring_drain (store head; fence; load waiters). Ours is
     * (store waiters; fence; load head in try_enqueue, which a full shard always reads): two
     * seq_cst fences forbid both loads missing the other store, so either we see the room the
     * consumer made, or the consumer sees waiters > 0 and broadcasts, which it can only do once we
     * are inside pthread_cond_timedwait (it must take the mutex we hold). No lost wake-up. */
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

/* A producer found its shard full: count it, and raise the high-water mark to at least the
 * shard's capacity (the whole capacity with one shard), or to the depth now if that is more. */
static void note_full(dps__ring *r) {
  atomic_fetch_add_explicit(&r->full_count, 1, memory_order_relaxed); /* relaxed: a counter */
  size_t d = r->shard_mask ? dps__ring_depth(r) : 0;
  raise_high_water(r, d > r->shard_cap ? d : r->shard_cap);
}

int dps__ring_enqueue_timed(dps__ring *r, void *item, int64_t wait_ns) {
  int rc = try_enqueue(r, item, true);
  if (rc == DPS_OK) return rc;
  /* Full. Statistics first (relaxed: counters), then the policy. */
  note_full(r);
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
  note_full(r); /* the statistics as any producer's; waiting would wait for ourselves */
  return DPS_EFULL;
}

/* Moves up to @p max published items of shard @p k into @p out. */
static size_t drain_shard(dps__ring *r, unsigned k, void **out, size_t max) {
  dps__ring_shard *sh = &r->shard[k];
  /* Relaxed: only this thread writes head. */
  uint64_t pos = atomic_load_explicit(&sh->head, memory_order_relaxed);
  size_t n = 0;
  while (n < max) {
    dps__ring_slot *s = slot_of(r, k, pos);
    /* Acquire: pairs with the producer's publishing store, so what the item points to is visible
     * here. EMPTY means not published yet (claimed or not): stop, never spin. The slot cannot hold
     * another position's item: pos - shard_cap was taken, and pos + shard_cap cannot be claimed
     * before we move head past pos. */
    void *item = atomic_load_explicit(s, memory_order_acquire);
    if (item == EMPTY) break;
    out[n++] = item;
    /* Relaxed: the release of head below publishes this store to the producer of
     * pos + shard_cap, which acquires head before it may claim that position. */
    atomic_store_explicit(s, EMPTY, memory_order_relaxed);
    pos++;
  }
  /* Release: frees the slots just emptied (see try_enqueue's acquire of head). Observers (depth)
   * read it relaxed. */
  if (n) atomic_store_explicit(&sh->head, pos, memory_order_release);
  return n;
}

size_t dps__ring_drain(dps__ring *r, void **out, size_t max) {
  /* Each call starts with the next shard, so a busy shard cannot starve the others. */
  unsigned first = r->next_shard++;
  size_t n = 0;
  for (unsigned j = 0; j <= r->shard_mask && n < max; j++)
    n += drain_shard(r, (first + j) & r->shard_mask, out + n, max - n);
  if (n == 0) return 0;
  /* High-water sample: the depth only grows between our drains, so its peaks are what we find at
   * the start of one. A drain that stopped short of max took everything published: n is that
   * depth, less claims not yet published. Only a full batch leaves more behind, and only then do
   * we read the producers' tails (dps__ring_depth, relaxed): every tail read pulls a line its
   * producers are writing. */
  raise_high_water(r, n < max ? n : n + dps__ring_depth(r));
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

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* True when shard @p k's position head + @p ahead is published. @p ahead < shard_cap, so the slot
 * is EMPTY or holds that position's item (see drain_shard). Relaxed: the callers only decide
 * whether to drain (whose acquire orders the items) or to announce a sleep (whose fence orders
 * this). */
static inline bool published_ahead(const dps__ring *r, unsigned k, uint64_t ahead) {
  uint64_t pos = atomic_load_explicit(&r->shard[k].head, memory_order_relaxed) + ahead;
  return atomic_load_explicit(slot_of(r, k, pos), memory_order_relaxed) != EMPTY;
}

static bool any_published(const dps__ring *r, uint64_t ahead) {
  for (unsigned k = 0; k <= r->shard_mask; k++)
    if (published_ahead(r, k, ahead)) return true;
  return false;
}

/* The look before a sleep (see ring.h): up to idle_look_ns for a batch in some shard, yielding the
 * CPU between looks. True when the consumer should drain instead of sleeping.
 *
 * Why yield rather than spin with a pause: measured with bench_ring, a look every ~40 ns (pause)
 * pulls the very cache line the producers are about to write, and where producers outnumber the
 * cores it takes a core share they could use. sched_yield() returns at once when nothing else is
 * runnable on this core (a look every few hundred ns), and otherwise lets a producer run and fill a
 * batch: 4 producers on 2 cores went from 87 to 252 M items/s, 1 producer from 77 to 88 (medians
 * of 5 interleaved runs). */
static bool look_for_batch(const dps__ring *r) {
  if (r->idle_look_ns <= 0) return false;
  uint64_t batch = r->shard_cap < DPS__RING_LOOK_BATCH ? r->shard_cap : DPS__RING_LOOK_BATCH;
  int64_t until = mono_ns() + r->idle_look_ns;
  for (;;) {
    if (any_published(r, batch - 1)) return true;
    if (mono_ns() >= until) return any_published(r, 0);
    sched_yield();
  }
}

bool dps__ring_prepare_sleep(dps__ring *r) {
  if (look_for_batch(r)) return false;
  /* Store, heavy fence, load: the consumer half of the store-buffering pair described after the
   * publishing store in try_enqueue. Relaxed store and loads: the fence orders them. The heavy
   * fence is one membarrier system call per sleep, never per item. */
  atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
  dps__asym_fence_heavy(r->asym);
  if (!any_published(r, 0))
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

size_t dps__ring_shards(const dps__ring *r) { return (size_t)r->shard_mask + 1; }

size_t dps__ring_depth(const dps__ring *r) {
  size_t sum = 0;
  for (unsigned k = 0; k <= r->shard_mask; k++) {
    /* Relaxed: an approximation while threads run. head first: it never passes tail, so a later
     * tail keeps the difference from going negative except through reordering, which the clamp
     * covers; tail - head can also exceed the shard's capacity briefly (head is published per
     * batch). */
    uint64_t h = atomic_load_explicit(&r->shard[k].head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->shard[k].tail, memory_order_relaxed);
    int64_t d = (int64_t)(t - h);
    if (d > 0) sum += (uint64_t)d > r->shard_cap ? (size_t)r->shard_cap : (size_t)d;
  }
  return sum;
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
