/*
 * barrier.c: the heavy side of the asymmetric fence (see barrier.h). The only file of the queue
 * that makes a Linux-specific system call, hence the feature macro for syscall().
 */
#define _DEFAULT_SOURCE /* syscall() */
#include "queue/barrier.h"

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__linux__) && defined(SYS_membarrier)
static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

bool dps__asym_fence_init(void) {
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void dps__asym_fence_heavy(bool asym) {
  /* Once registered the call cannot fail (the kernel refuses only unknown or unregistered
   * commands, and init checked both); the fence on failure is belt and braces, not a fix. */
  if (!asym || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
    atomic_thread_fence(memory_order_seq_cst);
}
#else
bool dps__asym_fence_init(void) { return false; }
void dps__asym_fence_heavy(bool asym) { atomic_thread_fence(memory_order_seq_cst); }
#endif
