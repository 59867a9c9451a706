/*
 * send_run.c: `dpstatus send` for real, through the public reporter API only: reads updates from
 * a source (send_input.c) and submits them, back-pressured by the reporter's full-queue wait; the
 * result callback (on the sender thread) counts outcomes and writes the --results lines; a
 * progress thread redraws one status line when stderr is a terminal. With --embedded, the
 * emulator runs in this process on its own thread and event_base, on a free loopback port, with
 * a key pair made up for the run. A refused certificate stops the run at its first result.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/embedded.h"
#include "cli/reporter_args.h"
#include "cli/send.h"

#define PROG DPS_SEND_PROG
#define PROGRESS_MS 250
#define SUBMIT_WAIT_MS 200 /* the full-queue wait: short, so a stop is noticed */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------------------------ */
/* State shared by the reading thread, the sender's result callback and the progress thread. */

typedef struct run_state {
  FILE *results;        /* or NULL */
  pthread_mutex_t lock; /* results writes, codes, tls_message */
  bool results_failed;
  _Atomic uint64_t delivered, failed, expired, rejected;
  _Atomic bool tls_fatal;
  char tls_message[512];
  struct {
    char code[64];
    uint64_t count;
  } codes[DPS_SEND_MAX_CODES];
  bool single; /* one update from the flags: its outcome is the summary */
  char single_line[1024];
  /* progress */
  dps_reporter *reporter;
  double started;
  bool progress_on, progress_stop;
  pthread_cond_t progress_cond;
} run_state;

/* One --results line. Serialized by the lock: the reader and the sender both write. */
static void write_result(run_state *st, uint64_t line, const char *task_id, size_t task_id_len,
                         const char *outcome, unsigned attempts, const char *error,
                         const char *message, uint64_t latency_us) {
  if (!st->results) return;
  json_t *tid = task_id ? json_stringn(task_id, task_id_len) : NULL;
  json_t *o =
      json_pack("{s:I,s:o,s:s,s:I}", "line", (json_int_t)line, "taskId", tid ? tid : json_null(),
                "outcome", outcome, "attempts", (json_int_t)attempts);
  if (o && error && *error) {
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "message", json_string(message ? message : ""));
  }
  if (o) json_object_set_new(o, "latencyMs", json_real((double)latency_us / 1000.0));
  char *text =
      o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
  pthread_mutex_lock(&st->lock);
  if (!text || fputs(text, st->results) == EOF || fputc('\n', st->results) == EOF)
    st->results_failed = true;
  pthread_mutex_unlock(&st->lock);
  free(text);
  json_decref(o);
}

static void count_code(run_state *st, const char *code) {
  if (!code || !*code) return;
  pthread_mutex_lock(&st->lock);
  for (size_t i = 0; i < DPS_SEND_MAX_CODES; i++) {
    if (!st->codes[i].code[0]) snprintf(st->codes[i].code, sizeof st->codes[i].code, "%s", code);
    if (strcmp(st->codes[i].code, code) == 0) {
      st->codes[i].count++;
      break;
    }
  }
  pthread_mutex_unlock(&st->lock);
}

/* The sender's thread: count, record, and notice a refused certificate. */
static void on_result(const dps_result *r, void *arg) {
  run_state *st = arg;
  switch (r->outcome) {
    case DPS_OUTCOME_DELIVERED: atomic_fetch_add(&st->delivered, 1); break;
    case DPS_OUTCOME_FAILED: atomic_fetch_add(&st->failed, 1); break;
    default: atomic_fetch_add(&st->expired, 1); break;
  }
  if (r->outcome != DPS_OUTCOME_DELIVERED) count_code(st, r->error_code);
  if (r->outcome == DPS_OUTCOME_FAILED && strcmp(r->error_code, "TLSError") == 0 &&
      !atomic_load(&st->tls_fatal)) {
    pthread_mutex_lock(&st->lock);
    snprintf(st->tls_message, sizeof st->tls_message, "%s", r->error_message);
    pthread_mutex_unlock(&st->lock);
    atomic_store(&st->tls_fatal, true);
  }
  const char *outcome = dps_outcome_name(r->outcome);
  if (st->single) {
    if (r->outcome == DPS_OUTCOME_DELIVERED)
      snprintf(st->single_line, sizeof st->single_line, "%s: delivered (%u attempt%s, %.1f ms)",
               r->task_id, r->attempts, r->attempts == 1 ? "" : "s",
               (double)r->latency_us / 1000.0);
    else
      snprintf(st->single_line, sizeof st->single_line, "%s: %s: %s: %s (%u attempt%s)", r->task_id,
               outcome, r->error_code, r->error_message, r->attempts, r->attempts == 1 ? "" : "s");
  }
  write_result(st, (uint64_t)(uintptr_t)r->user_data, r->task_id, r->task_id_len, outcome,
               r->attempts, r->error_code, r->error_message, r->latency_us);
}

static void *progress_main(void *arg) {
  run_state *st = arg;
  pthread_mutex_lock(&st->lock);
  while (!st->progress_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += PROGRESS_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&st->progress_cond, &st->lock, &until);
    if (st->progress_stop) break;
    pthread_mutex_unlock(&st->lock);
    dps_stats s;
    dps_stats_get(st->reporter, &s);
    dps_send_progress_line(stderr, &s, atomic_load(&st->rejected), now_s() - st->started);
    pthread_mutex_lock(&st->lock);
  }
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */

static void reject_line(run_state *st, const dps_send_item *it, const char *error,
                        const char *reason) {
  atomic_fetch_add(&st->rejected, 1);
  /* a bad line is reported on its own line, after the progress line if there is one */
  fprintf(stderr, "%s" PROG ": line %" PRIu64 ": %s\n", st->progress_on ? "\r\033[K" : "", it->line,
          reason);
  write_result(st, it->line, it->task_id, it->task_id_len, "rejected", 0, error, reason, 0);
}

static bool should_stop(run_state *st) { return interrupted || atomic_load(&st->tls_fatal); }

/* Submits everything the source gives. Returns 0, or -1 on a read error (message printed). */
static int submit_all(run_state *st, dps_reporter *r, dps_send_source *src) {
  dps_send_item it;
  while (!should_stop(st)) {
    dps_send_item_kind k = dps_send_source_next(src, &it);
    if (k == DPS_SEND_ITEM_END) return 0;
    if (k == DPS_SEND_ITEM_READ_ERROR) {
      if (interrupted) return 0;
      dps_cli_error(PROG, "%s", it.reason);
      return -1;
    }
    if (k == DPS_SEND_ITEM_REJECTED) {
      reject_line(st, &it, it.error, it.reason);
      continue;
    }
    dps_error err = {0};
    int rc;
    /* a full queue waits (DPS_FULL_WAIT): the input is back-pressured, nothing is dropped */
    while ((rc = dps_submit(r, &it.update, (void *)(uintptr_t)it.line, &err)) == DPS_EFULL)
      if (should_stop(st)) return 0;
    if (rc == DPS_ECLOSED) return 0;
    if (rc != DPS_OK) {
      it.task_id = it.update.task_id;
      it.task_id_len =
          it.update.task_id_len == DPS_NTS ? strlen(it.update.task_id) : it.update.task_id_len;
      reject_line(st, &it, "InvalidInput", err.message[0] ? err.message : dps_strerror(rc));
    }
  }
  return 0;
}

/* Waits for every accepted update's outcome, watching for a stop. */
static void wait_outcomes(run_state *st, dps_reporter *r, uint32_t limit_ms) {
  double until = now_s() + limit_ms / 1000.0;
  while (!should_stop(st) && now_s() < until)
    if (dps_flush(r, 100) == DPS_OK) return;
}

int dps_send_run(dps_send_opts *o) {
  run_state st = {.single = o->single != NULL};
  pthread_mutex_init(&st.lock, NULL);
  pthread_cond_init(&st.progress_cond, NULL);
  int exit_code = DPS_EXIT_FAILURE;
  dps_send_source *src = NULL;
  dps_reporter *r = NULL;
  dps_cli_embedded emb = {0};
  char *emu_summary = NULL;
  bool progress = false;
  pthread_t progress_thread;
  char why[512];

  /* The source and the results file first: a typo in a path is a usage error. */
  if (o->input) {
    if (dps_send_source_ndjson(&src, o->input, why, sizeof why)) {
      dps_cli_error(PROG, "%s", why);
      exit_code = DPS_EXIT_USAGE;
      goto out;
    }
  } else if (o->generate ? dps_send_source_generate(&src, o->generate)
                         : dps_send_source_single(&src, o->single)) {
    dps_cli_error(PROG, "out of memory");
    goto out;
  }
  if (o->results && !(st.results = fopen(o->results, "w"))) {
    dps_cli_error(PROG, "--results: cannot create \"%s\": %s", o->results, strerror(errno));
    exit_code = DPS_EXIT_USAGE;
    goto out;
  }

  /* Signals stop the reading on this thread only: the threads started until the mask is
   * restored below inherit it blocked. */
  sigset_t old;
  dps_cli_embedded *embp = o->embedded ? &emb : NULL;
  if ((exit_code =
           dps_cli_reporter_start(PROG, &o->cfg, embp, on_result, &st, SUBMIT_WAIT_MS, &r, &old)))
    goto out;
  exit_code = DPS_EXIT_FAILURE; /* until the run says otherwise */
  st.reporter = r;
  st.started = now_s();
  if (!st.single && isatty(STDERR_FILENO))
    progress = st.progress_on = pthread_create(&progress_thread, NULL, progress_main, &st) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a blocked read returns */
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int, old_term;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  int read_rc = submit_all(&st, r, src);
  /* Every update ends by its own deadline at the latest; the margin covers the last attempt. */
  wait_outcomes(&st, r, o->cfg.deadline_ms + o->cfg.attempt_timeout_ms + 5000);

  dps_stats stats;
  dps_stats_get(r, &stats);
  if (progress) {
    pthread_mutex_lock(&st.lock);
    st.progress_stop = true;
    pthread_cond_signal(&st.progress_cond);
    pthread_mutex_unlock(&st.lock);
    pthread_join(progress_thread, NULL);
    fputs("\r\033[K", stderr);
  }
  /* After a stop, what is left expires (a refused certificate fails it at once); an interrupted
   * run gives what is in flight two seconds. */
  dps_reporter_close(r, atomic_load(&st.tls_fatal) ? 0 : interrupted ? 2000 : 1000);
  r = st.reporter = NULL;
  double elapsed = now_s() - st.started;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (o->embedded) emu_summary = dps_cli_embedded_stop(&emb);

  dps_send_summary sum = {
      .submitted = stats.submitted,
      .delivered = atomic_load(&st.delivered),
      .rejected = atomic_load(&st.rejected),
      .failed = atomic_load(&st.failed),
      .expired = atomic_load(&st.expired),
      .retries = stats.retries,
      .throttled = stats.throttled,
      .send_rate = stats.send_rate,
      .elapsed_s = elapsed,
      .p50_us = stats.latency_p50_us,
      .p90_us = stats.latency_p90_us,
      .p99_us = stats.latency_p99_us,
      .max_us = stats.latency_max_us,
      .emulator = emu_summary,
  };
  /* every accepted update has its outcome now: the close reported what was left */
  sum.submitted = sum.delivered + sum.failed + sum.expired;
  memcpy(sum.errors, st.codes, sizeof sum.errors);

  if (o->json_output) {
    if (dps_send_summary_json(stdout, &sum) || fflush(stdout))
      dps_cli_error(PROG, "writing the summary failed");
  } else if (st.single && st.single_line[0] && !atomic_load(&st.tls_fatal)) {
    fprintf(stderr, PROG ": %s\n", st.single_line);
    if (emu_summary) fprintf(stderr, PROG ": embedded emulator: %s\n", emu_summary);
  } else {
    dps_send_summary_text(stderr, &sum);
  }
  if (st.results && (fclose(st.results) != 0 || st.results_failed)) {
    dps_cli_error(PROG, "--results: writing \"%s\" failed", o->results);
    read_rc = -1;
  }
  st.results = NULL;

  if (atomic_load(&st.tls_fatal)) {
    dps_cli_error(PROG, "%s (use --ca-bundle FILE, or --no-verify-ssl)", st.tls_message);
    exit_code = DPS_EXIT_FAILURE;
  } else if (interrupted) {
    dps_cli_error(PROG, "interrupted: stopped reading the input");
    exit_code = DPS_EXIT_FAILURE;
  } else {
    exit_code = read_rc == 0 && sum.rejected + sum.failed + sum.expired == 0 ? DPS_EXIT_OK
                                                                             : DPS_EXIT_FAILURE;
  }

out:
  if (r) dps_reporter_close(r, 0);
  if (emb.base) free(dps_cli_embedded_stop(&emb));
  free(emu_summary);
  if (st.results) fclose(st.results);
  dps_send_source_free(src);
  pthread_cond_destroy(&st.progress_cond);
  pthread_mutex_destroy(&st.lock);
  return exit_code;
}
