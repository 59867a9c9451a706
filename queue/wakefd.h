/*
 * wakefd.h: a file descriptor one thread makes readable to wake another that polls it (the ring's
 * consumer, inside libevent or poll()). An eventfd on Linux, a non-blocking pipe elsewhere. It
 * carries no data: readable means "look at the ring", and clearing it forgets any count.
 */
#ifndef DPS_QUEUE_WAKEFD_H
#define DPS_QUEUE_WAKEFD_H

typedef struct dps__wakefd {
  int rfd; /* what the sleeper polls for reading */
  int wfd; /* what the waker writes; the same fd as rfd for an eventfd */
} dps__wakefd;

/* Opens both ends, non-blocking and close-on-exec. @return DPS_OK or DPS_ENOMEM (no fd left). */
int dps__wakefd_open(dps__wakefd *w);
/* Makes rfd readable. Async-signal-safe; never blocks (a full pipe is already readable). */
void dps__wakefd_signal(const dps__wakefd *w);
/* Makes rfd not readable again (until the next signal). Never blocks. */
void dps__wakefd_clear(const dps__wakefd *w);
/* Closes both ends; a closed or zeroed-and-never-opened {-1, -1} is a no-op. */
void dps__wakefd_close(dps__wakefd *w);

#endif
