/*
 * emu_proc.h: starts `dpstatus serve` ($DPS_BINARY) as a child process on a free loopback port
 * for tests of the client side, and stops it (SIGTERM, so the record file is flushed).
 * Header-only, for test programs (one translation unit each).
 */
#ifndef DPS_TESTS_EMU_PROC_H
#define DPS_TESTS_EMU_PROC_H

#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* usleep is not in POSIX.1-2008, which the tests are compiled to */
static inline void emu_nap_10ms(void) {
  struct timespec ts = {0, 10000000};
  nanosleep(&ts, NULL);
}

#include "tests/watchdog.h"

extern char **environ;

/* Children still running, killed at exit: a failed assertion leaves its test without stopping
 * the emulator it started, and a child holding the output pipe would keep ctest waiting for the
 * whole timeout instead of reporting the failure. */
#define EMU_MAX_LIVE 16
static pid_t emu_live[EMU_MAX_LIVE];

static inline void emu_kill_live(void) {
  for (int i = 0; i < EMU_MAX_LIVE; i++)
    if (emu_live[i] > 0) kill(emu_live[i], SIGKILL);
}

static inline void emu_track(pid_t pid, pid_t was) {
  static int registered;
  if (!registered) registered = atexit(emu_kill_live) == 0;
  for (int i = 0; i < EMU_MAX_LIVE; i++)
    if (emu_live[i] == was) {
      emu_live[i] = pid;
      return;
    }
}

typedef struct emu_proc {
  pid_t pid;
  int port;
  char dir[64];
  char url[64];
  char record[128];
} emu_proc;

/* Starts the emulator with @p extra arguments (NULL-terminated list); returns 0 when it listens. */
static inline int emu_start(emu_proc *e, const char *const *extra) {
  const char *bin = getenv("DPS_BINARY");
  if (!bin) return -1;
  snprintf(e->dir, sizeof e->dir, "/tmp/dps-emu-XXXXXX");
  if (!mkdtemp(e->dir)) return -1;
  char port_file[128];
  snprintf(port_file, sizeof port_file, "%s/port", e->dir);
  snprintf(e->record, sizeof e->record, "%s/record.ndjson", e->dir);
  const char *argv[64] = {bin,           "serve",   "--listen", "127.0.0.1:0",
                          "--port-file", port_file, "--record", e->record};
  size_t n = 8;
  for (size_t i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  if (posix_spawn(&e->pid, bin, NULL, NULL, (char *const *)argv, environ) != 0) return -1;
  watchdog_child_pid = (int)e->pid;
  emu_track(e->pid, 0);
  for (int i = 0; i < 500; i++) { /* up to 5 s */
    FILE *f = fopen(port_file, "r");
    if (f) {
      int ok = fscanf(f, "%d", &e->port) == 1;
      fclose(f);
      if (ok) {
        snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->port);
        return 0;
      }
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  kill(e->pid, SIGKILL);
  waitpid(e->pid, NULL, 0);
  emu_track(0, e->pid);
  return -1;
}

/* SIGTERM and wait: the emulator answers what is in flight and flushes the record. Returns the
 * exit status (0 expected). One still running 30 s later is killed, said so, and counts as a
 * failure (-2), rather than the test hanging until its watchdog. */
static inline int emu_stop(emu_proc *e) {
  int st = 0;
  kill(e->pid, SIGTERM);
  pid_t w = 0;
  for (int i = 0; i < 3000 && (w = waitpid(e->pid, &st, WNOHANG)) == 0; i++) emu_nap_10ms();
  bool killed = w == 0;
  if (killed) {
    fprintf(stderr, "emu_stop: the emulator (pid %d) ignored SIGTERM for 30 s: killed\n",
            (int)e->pid);
    kill(e->pid, SIGKILL);
    w = waitpid(e->pid, &st, 0);
  }
  emu_track(0, e->pid);
  if (killed) return -2;
  if (w < 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline void emu_cleanup(emu_proc *e) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", e->dir);
}

#endif
