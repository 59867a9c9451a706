/*
 * wakefd.c: the wake-up file descriptor (see wakefd.h). Errors from write and read are ignored on
 * purpose: the only failure that can happen on a valid fd is EAGAIN, which means "already
 * readable" for signal (an eventfd counter or a pipe that is full) and "nothing to clear" for
 * clear.
 */
#include "queue/wakefd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "dpstatus.h"

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

int dps__wakefd_open(dps__wakefd *w) {
  w->rfd = w->wfd = -1;
#if defined(__linux__)
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return DPS_ENOMEM;
  w->rfd = w->wfd = fd;
#else
  int p[2];
  if (pipe(p) != 0) return DPS_ENOMEM;
  for (int i = 0; i < 2; i++) {
    fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
    fcntl(p[i], F_SETFD, FD_CLOEXEC);
  }
  w->rfd = p[0];
  w->wfd = p[1];
#endif
  return DPS_OK;
}

void dps__wakefd_signal(const dps__wakefd *w) {
  /* An eventfd takes exactly 8 bytes; a pipe takes any, and 8 keeps one code path. */
  uint64_t one = 1;
  ssize_t n;
  do n = write(w->wfd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
}

void dps__wakefd_clear(const dps__wakefd *w) {
  /* One read empties an eventfd; a pipe may hold several signals, so read until EAGAIN. */
  uint64_t buf[8];
  for (;;) {
    ssize_t n = read(w->rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || w->rfd == w->wfd) break;
  }
}

void dps__wakefd_close(dps__wakefd *w) {
  if (w->rfd >= 0) close(w->rfd);
  if (w->wfd >= 0 && w->wfd != w->rfd) close(w->wfd);
  w->rfd = w->wfd = -1;
}
