/*
 * watchdog.h: turns a hung test program into a failure that explains itself. After the given time
 * it prints every thread's stack (gdb, when installed) of this process and of the emulator child
 * it may have started (tests/emu_proc.h), then exits 124 — before ctest's own timeout, which
 * would only say "Timeout". Header-only, for test programs.
 */
#ifndef DPS_TESTS_WATCHDOG_H
#define DPS_TESTS_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static _Atomic int watchdog_child_pid; /* set by emu_proc.h when it starts an emulator; read by
                                         the watchdog thread */

static void watchdog_dump(pid_t pid, const char *what) {
  char cmd[160];
  fprintf(stderr, "watchdog: stacks of %s (pid %d):\n", what, (int)pid);
  snprintf(cmd, sizeof cmd, "gdb -q -batch -p %d -ex 'thread apply all bt' 1>&2 2>/dev/null",
           (int)pid);
  if (system(cmd) != 0) fprintf(stderr, "watchdog: gdb could not attach (not installed?)\n");
}

static void *watchdog_main(void *arg) {
  unsigned secs = (unsigned)(uintptr_t)arg;
  sleep(secs);
  fprintf(stderr, "watchdog: still running after %u s\n", secs);
  watchdog_dump(getpid(), "the test");
  pid_t child = (pid_t)watchdog_child_pid;
  if (child > 0) watchdog_dump(child, "the emulator child");
  _exit(124);
}

/* Starts the watchdog; it fires after @p secs seconds unless the process has exited. */
static inline void watchdog_start(unsigned secs) {
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog_main, (void *)(uintptr_t)secs) == 0) pthread_detach(t);
}

#endif
