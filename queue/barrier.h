/*
 * barrier.h: an asymmetric store-load fence, for protocols where one side runs all the time (the
 * ring's producers) and the other rarely (the consumer going to sleep). The frequent side pays only
 * a compiler barrier; the rare side pays a system call (Linux membarrier, private expedited) that
 * makes every running thread of the process execute a full memory barrier before it returns. Where
 * membarrier is missing, both sides fall back to a seq_cst fence, which is always correct.
 *
 * The guarantee, as liburcu and folly's asymmetric barriers use it: for a light side doing
 * "store A; light fence; load B" and a heavy side doing "store B; heavy fence; load A", at least
 * one of the two loads sees the other side's store (no store-buffering outcome).
 */
#ifndef DPS_QUEUE_BARRIER_H
#define DPS_QUEUE_BARRIER_H

#include <stdatomic.h>
#include <stdbool.h>

/* Registers the process for expedited membarrier (once; idempotent, thread-safe). Returns true
 * when the heavy fence is a membarrier, false when both sides must use seq_cst fences. */
bool dps__asym_fence_init(void);

/* The rare side's fence. With @p asym false it is a seq_cst fence. */
void dps__asym_fence_heavy(bool asym);

/* The frequent side's fence: a compiler barrier when the heavy side uses membarrier (it orders
 * this thread's store before its load as seen by the heavy side, from the kernel), otherwise a
 * seq_cst fence. */
static inline void dps__asym_fence_light(bool asym) {
  if (asym)
    atomic_signal_fence(memory_order_seq_cst);
  else
    atomic_thread_fence(memory_order_seq_cst);
}

#endif
