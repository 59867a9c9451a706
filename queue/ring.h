/*
 * ring.h: the bounded lock-free ring that carries accepted updates from the producer threads
 * (dps_submit) to the one sender thread. Many producers, one consumer; items are opaque pointers.
 *
 * Ownership: the ring owns nothing it carries. An item belongs to its producer until
 * dps__ring_enqueue*() returns DPS_OK; from then on it belongs to the ring's consumer, which
 * receives it from dps__ring_drain() and frees it (or hands it on). When an enqueue fails, the item
 * is still the producer's. dps__ring_destroy() does not free items left inside: the consumer
 * drains them first.
 *
 * Shards: the ring is split into 1 or more shards (a power of two), each an independent ring of
 * capacity / shards slots with its own tail. A thread always enqueues into the same shard (threads
 * are numbered in the order they first enqueue, round robin over the shards), so producers on
 * different cores mostly touch different cache lines, and each producer's items stay in its order.
 * The price: one thread alone can fill only its shard, capacity / shards items, before it finds
 * the ring "full". The consumer drains the shards in turn.
 *
 * Progress: no producer ever waits for another producer. A slot claimed by a producer that has not
 * published it yet (say it was preempted in between) is "not ready yet" to the consumer, which
 * returns what it has before that slot and is woken when the slot is published; it never spins on
 * it. The only waiting anywhere is the optional full-ring wait, on a mutex + condition variable
 * that the fast path never touches, and the consumer's bounded look before it sleeps.
 *
 * Wake-up: the consumer sleeps on an eventfd owned by the ring (dps__ring_wake_fd). Before sleeping
 * it calls dps__ring_prepare_sleep(); a producer writes the eventfd only when that announcement is
 * pending, and only one producer per announcement does: one system call per sleep, none per item.
 */
#ifndef DPS_QUEUE_RING_H
#define DPS_QUEUE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dps__ring dps__ring;

typedef struct dps__ring_opts {
  /* Number of slots: a power of two, at least 1, at most 2^30. Default 65536. */
  size_t capacity;
  /* Full-ring policy for dps__ring_enqueue(): 0 fails at once with DPS_EFULL (the default); a
   * positive value waits up to that many nanoseconds for the consumer to make room, then fails with
   * DPS_EFULL. Nothing is ever dropped silently: a failed enqueue leaves the item with its caller.
   */
  int64_t full_wait_ns;
  /* For tests only: the position the first item takes (positions are 64-bit and wrap modulo
   * 2^64), to exercise index wraparound without enqueuing 2^32 items first. Default 0. */
  uint64_t initial_index;
  /* Number of shards (see above): a power of two, at least 1, at most the capacity and
   * DPS__RING_MAX_SHARDS. Default 1. dps__ring_default_shards() gives the library's choice for
   * this machine. */
  size_t shards;
  /* How long dps__ring_prepare_sleep() looks for a batch of items before it announces the sleep,
   * in nanoseconds; 0 announces at once. Default DPS__RING_IDLE_LOOK_NS. See there. */
  int64_t idle_look_ns;
} dps__ring_opts;

/* The default look before sleeping (2 us), and the batch it looks for: a consumer that drains
 * fewer items than this per call reads the very cache lines the producers are writing. */
#define DPS__RING_IDLE_LOOK_NS 2000
#define DPS__RING_LOOK_BATCH 64
/* The most shards a ring may have: the consumer visits every shard on each drain and look. */
#define DPS__RING_MAX_SHARDS 64

/* Fills @p o with the defaults above. */
void dps__ring_opts_init(dps__ring_opts *o);

/* The shard count the library uses for a ring of @p capacity on this machine: twice the online
 * CPUs rounded up to a power of two (so that the few producers running at any moment rarely share
 * a shard), at most 16, and never so many that a shard would hold fewer than 1024 slots (a small
 * ring stays whole: one thread can fill it). 1 on a single CPU. */
size_t dps__ring_default_shards(size_t capacity);

/* True when @p shards is a shard count dps__ring_create() accepts for a ring of @p capacity (a
 * power of two, at most the capacity and DPS__RING_MAX_SHARDS), for callers that check a
 * configuration before they create the ring. */
bool dps__ring_shards_valid(size_t capacity, size_t shards);

/*
 * Creates a ring: allocates the slots and the eventfd once, here; nothing is allocated later.
 * @return DPS_OK with *@p out set, DPS_EINVAL (capacity not a power of two in range, a shard
 *         count not a power of two in [1, capacity] or above DPS__RING_MAX_SHARDS, a negative
 *         wait or look), or DPS_ENOMEM (memory, or no file descriptor for the eventfd).
 */
int dps__ring_create(dps__ring **out, const dps__ring_opts *o);

/* Frees the ring and closes its eventfd. No thread may be using it. Items still inside are not
 * touched (the ring does not own them). NULL is a no-op. */
void dps__ring_destroy(dps__ring *r);

/*
 * Producer side: any number of threads, concurrently.
 *
 * Hands @p item (any pointer, NULL included) to the consumer, with the ring's full policy. Lock-
 * free: no allocation, no system call, no lock on the fast path; the one system call a producer
 * may make is the eventfd write that wakes a consumer that announced it is going to sleep.
 * @return DPS_OK (the item now belongs to the consumer), DPS_EFULL (full, and the policy is to
 *         fail at once or the wait ran out), or DPS_ECLOSED (waiting was needed but the ring was
 *         closed with dps__ring_close()). On failure the item is still the caller's.
 */
int dps__ring_enqueue(dps__ring *r, void *item);

/* The same with the full policy chosen for this call: @p wait_ns 0 fails at once, a positive value
 * waits up to that long for room. */
int dps__ring_enqueue_timed(dps__ring *r, void *item, int64_t wait_ns);

/*
 * The same, from the consumer's own thread (a callback the consumer runs, say): never waits, since
 * only this thread makes room (DPS_EFULL at once, whatever the policy), and never writes the wake
 * fd, since the consumer is awake: the caller sees to it that the consumer drains again before it
 * sleeps. A sleep announcement it finds stays for the other producers, harmless.
 */
int dps__ring_enqueue_consumer(dps__ring *r, void *item);

/*
 * Consumer side: one thread at a time (the sender).
 *
 * Moves up to @p max items, oldest first, into @p out and returns how many. Stops early at the
 * first slot not yet published (claimed by a producer still writing it): that slot and those after
 * it come in a later call. Each producer's items come out in the order it enqueued them. Wakes
 * producers waiting for room, only when there are some (the fast path takes no lock).
 */
size_t dps__ring_drain(dps__ring *r, void **out, size_t max);

/* The eventfd the consumer polls (e.g. registers with libevent for EV_READ|EV_PERSIST). It stays
 * owned by the ring: do not close it. */
int dps__ring_wake_fd(const dps__ring *r);

/*
 * The consumer is about to sleep on the wake fd. Returns false when an item is already published
 * (drain again instead of sleeping); returns true when it may sleep: any item published after this
 * call makes the fd readable. Every sleep must be preceded by this call, or a wake-up can be lost.
 *
 * First it looks, for up to idle_look_ns and yielding the CPU between looks, for a shard holding
 * DPS__RING_LOOK_BATCH published items (fewer when the shard is smaller), and returns false as soon
 * as one does, or at the end of the look if any item came at all. An announcement costs a
 * membarrier (an interrupt on each core running one of our threads) and usually an eventfd write
 * by a producer: a consumer that keeps catching up with its producers would pay that thousands of
 * times a second, and one that drains each item as it comes would pull every cache line the
 * producers are writing.
 */
bool dps__ring_prepare_sleep(dps__ring *r);

/* The consumer is awake (the fd was readable, or its sleep timed out): clears the fd and the sleep
 * announcement. Cheap when nothing was written (one non-blocking read that fails with EAGAIN). */
void dps__ring_wake_ack(dps__ring *r);

/*
 * Closing: producers waiting for room return DPS_ECLOSED now, and later enqueues that would have
 * to wait fail with DPS_ECLOSED at once. Enqueues that find room still succeed: whoever owns the
 * ring decides when submissions stop (dps_submit checks its reporter's state first). Any thread.
 */
void dps__ring_close(dps__ring *r);

/* Observers: any thread, any time. Approximate while producers and the consumer run (relaxed
 * reads of counters that move on their own); exact when the ring is quiescent. */
size_t dps__ring_capacity(const dps__ring *r);
size_t dps__ring_shards(const dps__ring *r);
/* Items claimed by producers and not yet drained, in [0, capacity]. */
size_t dps__ring_depth(const dps__ring *r);
/* The largest depth seen so far: sampled by the consumer at each drain (what it took, plus what
 * was left when it took a full batch), and raised to at least a shard's capacity whenever a
 * producer finds its shard full, so "it reached full" is never missed (with one shard: set to the
 * capacity). */
size_t dps__ring_high_water(const dps__ring *r);
/* How many enqueue calls found the ring (their shard) full, whether they then waited successfully
 * or not. */
uint64_t dps__ring_full_count(const dps__ring *r);
/* How many times a producer wrote the wake fd (for tests and stats: one per consumer sleep at
 * most). */
uint64_t dps__ring_wake_count(const dps__ring *r);

#endif
