/*
 * test_reporter.c: the public reporter end to end against `dpstatus serve` on loopback: every
 * accepted update gets exactly one outcome, what the emulator records is byte for byte what was
 * submitted, faults are retried or reported as the rules say, close expires what is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "dpstatus.h"
#include "tests/emu_proc.h"

#define KEY_ID "AKIDTESTREPORTER"

/* The 100,000 updates through faults in a plain build (about 2 s); fewer under the
 * sanitizers, which slow both sides several times. DPS_REPORTER_FAULT_N overrides. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAULT_N 20000
#else
#define FAULT_N 100000
#endif
#define SECRET "reporter-test-secret"

/* What the result callback saw, per update (user_data is the update's index). */
typedef struct seen {
  size_t n;
  _Atomic int *outcome; /* per index: 0 = none yet */
  _Atomic int *calls;   /* per index: how many callbacks */
  _Atomic uint64_t total;
  char **code; /* per index: error code of a failure */
  unsigned *attempts;
  uint64_t *latency_us;
} seen;

static void seen_init(seen *s, size_t n) {
  memset(s, 0, sizeof *s);
  s->n = n;
  size_t m = n ? n : 1; /* calloc(0) may return NULL */
  s->outcome = calloc(m, sizeof *s->outcome);
  s->calls = calloc(m, sizeof *s->calls);
  s->code = calloc(m, sizeof *s->code);
  s->attempts = calloc(m, sizeof *s->attempts);
  s->latency_us = calloc(m, sizeof *s->latency_us);
  assert_true(s->outcome && s->calls && s->code && s->attempts && s->latency_us);
}

static void seen_free(seen *s) {
  for (size_t i = 0; i < s->n; i++) free(s->code[i]);
  free(s->outcome), free(s->calls), free(s->code), free(s->attempts), free(s->latency_us);
}

static void on_result(const dps_result *r, void *arg) {
  seen *s = arg;
  size_t i = (size_t)(uintptr_t)r->user_data;
  if (i >= s->n) return;
  atomic_fetch_add(&s->calls[i], 1);
  atomic_store(&s->outcome[i], (int)r->outcome);
  s->attempts[i] = r->attempts;
  s->latency_us[i] = r->latency_us;
  if (r->outcome != DPS_OUTCOME_DELIVERED && !s->code[i]) s->code[i] = strdup(r->error_code);
  atomic_fetch_add(&s->total, 1);
}

static void base_config(dps_config *c, const emu_proc *e, seen *s) {
  dps_config_init(c);
  c->endpoint_url = e->url;
  c->region = "us-east-1";
  c->access_key_id = KEY_ID;
  c->secret_access_key = SECRET;
  c->backoff_base_ms = 5;
  c->backoff_cap_ms = 50;
  c->attempt_timeout_ms = 5000;
  c->deadline_ms = 60000;
  c->on_result = on_result;
  c->on_result_arg = s;
}

static const char *const auth_args[] = {"--access-key", KEY_ID, "--secret-key", SECRET, NULL};

/* The update of index i: a distinct taskId, every third one FAILED with error fields that need
 * escaping, so the record comparison covers the encoder too. */
static void make_update(size_t i, char *tid, size_t tid_cap, char *msg, size_t msg_cap,
                        dps_update *u) {
  snprintf(tid, tid_cap, "task-%06zu-\xC3\xA9", i);
  snprintf(msg, msg_cap, "step %zu said \"no\"\n\tat line %zu", i, i * 7);
  memset(u, 0, sizeof *u);
  u->task_id = tid;
  u->task_id_len = DPS_NTS;
  u->task_status = i % 3 == 0 ? DPS_TASK_FAILED : DPS_TASK_FINISHED;
  if (i % 3 == 0) {
    u->error_id = "StepFailed";
    u->error_id_len = DPS_NTS;
    u->error_message = msg;
    u->error_message_len = DPS_NTS;
  }
}

/* Reads the emulator's record and checks each update index in [0, n) appears exactly once with
 * exactly the submitted fields. Returns how many records there were. */
static size_t check_record(const emu_proc *e, size_t n, const seen *s) {
  FILE *f = fopen(e->record, "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0, lines = 0;
  unsigned char *hits = calloc(n, 1);
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    json_error_t jerr;
    json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
    if (!o) fail_msg("record line %zu is not JSON: %s", lines + 1, jerr.text);
    const char *tid = json_string_value(json_object_get(o, "taskId"));
    assert_non_null(tid);
    size_t i = (size_t)strtoul(tid + 5, NULL, 10);
    assert_true(i < n);
    char want_tid[64], want_msg[128];
    dps_update u;
    make_update(i, want_tid, sizeof want_tid, want_msg, sizeof want_msg, &u);
    assert_string_equal(tid, want_tid);
    assert_string_equal(json_string_value(json_object_get(o, "taskStatus")),
                        dps_task_status_name(u.task_status));
    if (u.error_message) {
      assert_string_equal(json_string_value(json_object_get(o, "errorId")), "StepFailed");
      assert_string_equal(json_string_value(json_object_get(o, "errorMessage")), want_msg);
    } else {
      assert_null(json_object_get(o, "errorMessage"));
    }
    hits[i]++;
    /* A retry after a lost response may be recorded again (at-least-once), but the update
     * itself was delivered once: the count says which report of the task this was. */
    json_decref(o);
    lines++;
  }
  for (size_t i = 0; i < n; i++)
    if (s && atomic_load(&s->outcome[i]) == DPS_OUTCOME_DELIVERED && hits[i] == 0)
      fail_msg("update %zu reported delivered but not in the record", i);
  free(hits);
  free(line);
  fclose(f);
  return lines;
}

static void submit_all(dps_reporter *r, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    char tid[64], msg[128];
    dps_update u;
    make_update(i, tid, sizeof tid, msg, sizeof msg, &u);
    dps_error err;
    int rc;
    while ((rc = dps_submit(r, &u, (void *)(uintptr_t)i, &err)) == DPS_EFULL) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
    if (rc) fail_msg("submit %zu: %s", i, err.message);
  }
}

/* One test's world: an emulator child, what the callbacks saw, the config and the reporter. */
typedef struct session {
  emu_proc e;
  seen s;
  dps_config c;
  dps_reporter *r;
  size_t n;
} session;

/* Starts the emulator with @p args and fills the config; adjust t->c, then session_open. */
static void session_begin(session *t, const char *const *args, size_t n) {
  assert_int_equal(emu_start(&t->e, args), 0);
  t->n = n;
  seen_init(&t->s, n);
  base_config(&t->c, &t->e, &t->s);
}

static void session_open(session *t) {
  dps_error err;
  if (dps_reporter_new(&t->r, &t->c, &err)) fail_msg("reporter: %s", err.message);
}

static dps_stats stats_of(session *t) {
  dps_stats st;
  dps_stats_get(t->r, &st);
  return st;
}

/* Closes the reporter and checks that every update had exactly one callback, with @p outcome
 * unless it is 0. */
static void session_close(session *t, uint32_t deadline_ms, int outcome) {
  assert_int_equal(dps_reporter_close(t->r, deadline_ms), DPS_OK);
  t->r = NULL;
  assert_int_equal(atomic_load(&t->s.total), t->n);
  for (size_t i = 0; i < t->n; i++) {
    assert_int_equal(atomic_load(&t->s.calls[i]), 1);
    if (outcome) assert_int_equal(atomic_load(&t->s.outcome[i]), outcome);
  }
}

/* Stops the emulator (it must exit cleanly: SIGTERM flushes the record), checks the record
 * against what was submitted (see check_record) and frees the rest; returns the record's lines.
 * With @p checked_delivered, every update the callbacks saw delivered must be in the record. */
static size_t session_end(session *t, bool checked_delivered) {
  assert_int_equal(emu_stop(&t->e), 0);
  size_t lines = check_record(&t->e, t->n, checked_delivered ? &t->s : NULL);
  emu_cleanup(&t->e);
  seen_free(&t->s);
  return lines;
}

static void test_delivers_everything(void **state) {
  (void)state;
  session t;
  session_begin(&t, auth_args, 5000);
  session_open(&t);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 30000), DPS_OK);
  dps_stats st = stats_of(&t);
  assert_int_equal(st.submitted, t.n);
  assert_int_equal(st.delivered, t.n);
  assert_int_equal(st.failed + st.expired + st.pending, 0);
  assert_true(st.latency_p50_us > 0 && st.latency_p50_us <= st.latency_max_us);
  assert_int_equal(st.connections, 2);
  assert_int_equal(st.in_flight + st.queued, 0);
  session_close(&t, 1000, DPS_OUTCOME_DELIVERED);
  for (size_t i = 0; i < t.n; i++) assert_int_equal(t.s.attempts[i], 1);
  assert_int_equal(session_end(&t, true), t.n);
}

/* Faults of every kind: retried until delivered; nothing lost, nothing delivered twice. */
static void test_faults_are_retried(void **state) {
  (void)state;
  const char *const args[] = {"--access-key",
                              KEY_ID,
                              "--secret-key",
                              SECRET,
                              "--fault",
                              "internal=0.05,throttle=0.05,unavailable=0.02,reset=0.02,"
                              "goaway-every=1000,drop-every=5000",
                              "--seed",
                              "7",
                              NULL};
  const char *env_n = getenv("DPS_REPORTER_FAULT_N");
  session t;
  session_begin(&t, args, env_n ? strtoul(env_n, NULL, 10) : FAULT_N);
  t.c.max_attempts = 0; /* until the deadline: with 14% faults, 8 attempts can run out by chance */
  /* Random throttles are no limit the rate controller could find: it would pace down at each
   * (see README, "Living within the service's limits"). This test is about the retries. */
  t.c.adaptive_rate = 0;
  session_open(&t);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 60000), DPS_OK);
  dps_stats st = stats_of(&t);
  assert_int_equal(st.delivered, t.n);
  assert_true(st.retries > 0);
  assert_true(st.refused > 0); /* resets and GOAWAYs were resent without a charge */
  session_close(&t, 1000, DPS_OUTCOME_DELIVERED);
  /* A lost response (drop-every) makes a retry that the emulator records twice: at least once. */
  assert_true(session_end(&t, true) >= t.n);
}

/* Strict mode: unknown tasks fail with TaskNotFoundException at the first attempt. */
static void test_terminal_errors_not_retried(void **state) {
  (void)state;
  const char *const args[] = {"--access-key", KEY_ID, "--secret-key", SECRET, "--tasks",
                              "strict",       NULL};
  session t;
  session_begin(&t, args, 50);
  session_open(&t);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 10000), DPS_OK);
  dps_stats st = stats_of(&t);
  assert_int_equal(st.failed, t.n);
  assert_int_equal(st.retries, 0);
  assert_string_equal(st.failed_by_code[0].code, "TaskNotFoundException");
  assert_int_equal(st.failed_by_code[0].count, t.n);
  session_close(&t, 1000, DPS_OUTCOME_FAILED);
  for (size_t i = 0; i < t.n; i++) {
    assert_string_equal(t.s.code[i], "TaskNotFoundException");
    assert_int_equal(t.s.attempts[i], 1);
  }
  assert_int_equal(session_end(&t, false), 0);
}

/* A slow endpoint and a short close deadline: what is left is expired, each update once. */
static void test_close_expires_the_rest(void **state) {
  (void)state;
  const char *const args[] = {"--access-key",       KEY_ID, "--secret-key", SECRET, "--fault",
                              "latency=3000..3000", NULL};
  session t;
  session_begin(&t, args, 300);
  session_open(&t);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 100), DPS_ETIMEDOUT);
  session_close(&t, 200, DPS_OUTCOME_EXPIRED);
  session_end(&t, false); /* the emulator may still have answered some after the close */
}

static void test_submit_refusals(void **state) {
  (void)state;
  session t;
  session_begin(&t, auth_args, 0);
  session_open(&t);
  dps_error err;
  dps_update u = {.task_id = "t",
                  .task_id_len = DPS_NTS,
                  .task_status = DPS_TASK_FAILED,
                  .error_id = "Service_X",
                  .error_id_len = DPS_NTS};
  assert_int_equal(dps_submit(t.r, &u, (void *)1, &err), DPS_EINVAL);
  assert_string_equal(err.field, "errorId");
  assert_int_equal(stats_of(&t).submitted, 0);
  session_close(&t, 1000, 0); /* no callback at all */
  assert_int_equal(session_end(&t, false), 0);

  /* Bad configuration is refused with the setting named. */
  dps_config c;
  dps_reporter *r;
  dps_config_init(&c);
  c.queue_capacity = 1000;
  assert_int_equal(dps_reporter_new(&r, &c, &err), DPS_EINVAL);
  assert_string_equal(err.field, "queue_capacity");
  /* Not a power of two; more shards than the 1024 slots; more than 64. */
  size_t bad_shards[] = {3, 2048, 128};
  for (size_t i = 0; i < 3; i++) {
    dps_config_init(&c);
    c.queue_capacity = 1024;
    c.queue_shards = bad_shards[i];
    assert_int_equal(dps_reporter_new(&r, &c, &err), DPS_EINVAL);
    assert_string_equal(err.field, "queue_shards");
  }
  dps_config_init(&c);
  c.region = "us-east-1";
  c.access_key_id = KEY_ID;
  c.secret_access_key = SECRET;
  c.endpoint_url = "ftp://nowhere";
  assert_int_equal(dps_reporter_new(&r, &c, &err), DPS_ECONFIG);
}

/* Producers on several threads while the sender runs (the TSan build runs this too). */
typedef struct producer {
  dps_reporter *r;
  size_t from, to;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  submit_all(p->r, p->from, p->to);
  return NULL;
}

static void test_concurrent_producers(void **state) {
  (void)state;
  const size_t per = 2000, threads = 4;
  session t;
  session_begin(&t, auth_args, per * threads);
  t.c.queue_capacity = 1024;
  t.c.queue_shards = 4; /* a shard of 256 per producer: full often, retried */
  session_open(&t);
  pthread_t th[4];
  producer p[4];
  for (size_t k = 0; k < threads; k++) {
    p[k] = (producer){t.r, k * per, (k + 1) * per};
    assert_int_equal(pthread_create(&th[k], NULL, produce, &p[k]), 0);
  }
  for (size_t k = 0; k < threads; k++) pthread_join(th[k], NULL);
  assert_int_equal(dps_flush(t.r, 60000), DPS_OK);
  dps_stats st = stats_of(&t);
  assert_int_equal(st.submitted, t.n);
  assert_int_equal(st.delivered, t.n);
  session_close(&t, 1000, DPS_OUTCOME_DELIVERED);
  assert_int_equal(session_end(&t, true), t.n);
}

/* The sender attached to a caller's libevent loop, which a thread of the caller runs. */
static void *run_loop(void *base) {
  event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

static void test_attached_to_callers_loop(void **state) {
  (void)state;
  session t;
  session_begin(&t, auth_args, 500);
  assert_int_equal(evthread_use_pthreads(), 0); /* before the base: it must be lockable */
  struct event_base *base = event_base_new();
  assert_non_null(base);
  t.c.event_base = base;
  session_open(&t);
  pthread_t loop;
  assert_int_equal(pthread_create(&loop, NULL, run_loop, base), 0);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 10000), DPS_OK);
  session_close(&t, 1000, DPS_OUTCOME_DELIVERED);
  event_base_loopbreak(base);
  pthread_join(loop, NULL);
  event_base_free(base);
  assert_int_equal(session_end(&t, true), t.n);
}

/* Every answer is held 2 s, the attempt timeout is 5 s, the deadline 300 ms: each attempt is cut
 * at the deadline and the update expires then, not when the answer or the timeout comes. */
static void test_deadline_cuts_an_attempt_short(void **state) {
  (void)state;
  const char *const args[] = {"--access-key",       KEY_ID, "--secret-key", SECRET, "--fault",
                              "latency=2000..2000", NULL};
  session t;
  session_begin(&t, args, 20);
  t.c.deadline_ms = 300;
  t.c.attempt_timeout_ms = 5000;
  session_open(&t);
  submit_all(t.r, 0, t.n);
  assert_int_equal(dps_flush(t.r, 10000), DPS_OK);
  dps_stats st = stats_of(&t);
  assert_int_equal(st.expired, t.n);
  for (size_t i = 0; i < t.n; i++) {
    assert_string_equal(t.s.code[i], "DeadlineExceeded");
    assert_int_equal(t.s.attempts[i], 1);
    /* Reported at the deadline (the sender's libevent timers use a coarse clock: a few ms
     * early is possible), well before the 2 s answer. Latency counts from submit. */
    if (t.s.latency_us[i] < 250000 || t.s.latency_us[i] >= 1900000)
      fail_msg("update %zu expired after %llu us, not at its 300 ms deadline", i,
               (unsigned long long)t.s.latency_us[i]);
  }
  session_close(&t, 100, DPS_OUTCOME_EXPIRED);
  assert_int_equal(emu_stop(&t.e), 0);
  emu_cleanup(&t.e);
  seen_free(&t.s);
}

/* The result callback submits: a closed loop keeping CHAIN_WINDOW updates in flight, as
 * `dpstatus load --rate max` does, until n; and, from the first callback, a burst into a full
 * queue, which must fail at once although the policy waits 5 s (only the sender makes room). */
#define CHAIN_WINDOW 8
typedef struct chain {
  session *t;
  _Atomic size_t next;
  int burst_rc[3];
  double burst_s;
  _Atomic bool burst_done;
  _Atomic int chain_rc; /* the first failed submit in the loop */
} chain;

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void submit_index(dps_reporter *r, size_t i, int *rc) {
  char tid[64], msg[128];
  dps_update u;
  make_update(i, tid, sizeof tid, msg, sizeof msg, &u);
  dps_error err;
  *rc = dps_submit(r, &u, (void *)(uintptr_t)i, &err);
}

static void on_chain_result(const dps_result *res, void *arg) {
  chain *c = arg;
  on_result(res, &c->t->s);
  int rc;
  if (!atomic_exchange(&c->burst_done, true)) {
    /* The queue holds CHAIN_WINDOW; fill it, then one more. */
    double t0 = mono_s();
    for (int k = 0; k < CHAIN_WINDOW + 1; k++) {
      size_t i = atomic_fetch_add(&c->next, 1);
      submit_index(c->t->r, i, &rc);
      if (rc != DPS_OK) atomic_fetch_sub(&c->next, 1); /* that index was not taken */
      if (k >= CHAIN_WINDOW - 2) c->burst_rc[k - (CHAIN_WINDOW - 2)] = rc;
    }
    c->burst_s = mono_s() - t0;
    return;
  }
  size_t i = atomic_fetch_add(&c->next, 1);
  if (i >= c->t->n) return;
  submit_index(c->t->r, i, &rc);
  if (rc != DPS_OK) { /* reported by the test thread: cmocka's failures must not jump threads */
    int expected = DPS_OK;
    atomic_compare_exchange_strong(&c->chain_rc, &expected, rc);
  }
}

static void test_callback_submits(void **state) {
  (void)state;
  session t;
  chain c = {.t = &t};
  session_begin(&t, auth_args, 3000);
  t.c.queue_capacity = CHAIN_WINDOW;
  t.c.full_policy = DPS_FULL_WAIT;
  t.c.full_wait_ms = 5000;
  t.c.on_result = on_chain_result;
  t.c.on_result_arg = &c;
  session_open(&t);
  atomic_store(&c.next, 1);
  int rc;
  submit_index(t.r, 0, &rc);
  assert_int_equal(rc, DPS_OK);
  /* A flush covers what was submitted before it; the chain keeps submitting: wait for all. */
  double until = mono_s() + 30;
  while (atomic_load(&t.s.total) < t.n && mono_s() < until)
    assert_int_equal(dps_flush(t.r, 1000), DPS_OK);
  assert_int_equal(atomic_load(&c.chain_rc), DPS_OK);
  /* Only index n - 1 tells that the chain ran to the end: it was submitted from a callback. */
  assert_int_equal(atomic_load(&t.s.calls[t.n - 1]), 1);
  assert_int_equal(c.burst_rc[0], DPS_OK);
  assert_int_equal(c.burst_rc[1], DPS_OK);
  assert_int_equal(c.burst_rc[2], DPS_EFULL);
  assert_true(c.burst_s < 1.0);
  session_close(&t, 1000, DPS_OUTCOME_DELIVERED);
  assert_int_equal(session_end(&t, true), t.n);
}

/* Nothing listens at the endpoint: every update expires at its deadline, none is left hanging. */
static void test_unreachable_endpoint_expires(void **state) {
  (void)state;
  session t;
  session_begin(&t, auth_args, 200);
  assert_int_equal(emu_stop(&t.e), 0); /* its port is now closed: connections are refused */
  t.c.deadline_ms = 400;
  session_open(&t);
  submit_all(t.r, 0, t.n);
  int frc = dps_flush(t.r, 5000); /* all have an outcome, long before close */
  dps_stats st = stats_of(&t);
  if (frc)
    fail_msg("flush: %s; expired %llu failed %llu pending %llu queued %llu in flight %llu",
             dps_strerror(frc), (unsigned long long)st.expired, (unsigned long long)st.failed,
             (unsigned long long)st.pending, (unsigned long long)st.queued,
             (unsigned long long)st.in_flight);
  assert_int_equal(st.expired, t.n);
  assert_int_equal(st.pending, 0);
  session_close(&t, 100, DPS_OUTCOME_EXPIRED);
  emu_cleanup(&t.e);
  seen_free(&t.s);
}

/* One thread fills only its shard, and the refusal says so. The sender is attached to a loop
 * nobody runs until the end, so it never drains meanwhile: what the queue holds stays there. */
static void test_one_thread_fills_its_shard(void **state) {
  (void)state;
  assert_int_equal(evthread_use_pthreads(), 0); /* before the base: it must be lockable */
  struct event_base *base = event_base_new();
  assert_non_null(base);
  dps_config c;
  dps_config_init(&c);
  c.endpoint_url = "http://127.0.0.1:9"; /* never reached: the loop does not run */
  c.region = "us-east-1";
  c.access_key_id = KEY_ID;
  c.secret_access_key = SECRET;
  c.event_base = base;
  c.queue_capacity = 2048;
  c.queue_shards = 2;
  dps_reporter *r;
  dps_error err;
  assert_int_equal(dps_reporter_new(&r, &c, &err), DPS_OK);
  size_t accepted = 0;
  int rc;
  for (;;) {
    char tid[32];
    snprintf(tid, sizeof tid, "task-%zu", accepted);
    dps_update u = {.task_id = tid, .task_id_len = DPS_NTS, .task_status = DPS_TASK_FINISHED};
    if ((rc = dps_submit(r, &u, NULL, &err)) != DPS_OK) break;
    accepted++;
  }
  assert_int_equal(rc, DPS_EFULL);
  assert_int_equal(accepted, 1024);
  assert_non_null(strstr(err.message, "this thread's shard: 1024 of the 2048"));
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.queued, 1024);
  pthread_t loop;
  assert_int_equal(pthread_create(&loop, NULL, run_loop, base), 0);
  dps_reporter_close(r, 0); /* everything left expires */
  event_base_loopbreak(base);
  pthread_join(loop, NULL);
  event_base_free(base);
}

int main(void) {
  watchdog_start(240); /* ctest gives 300 s */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delivers_everything),
      cmocka_unit_test(test_faults_are_retried),
      cmocka_unit_test(test_terminal_errors_not_retried),
      cmocka_unit_test(test_close_expires_the_rest),
      cmocka_unit_test(test_submit_refusals),
      cmocka_unit_test(test_concurrent_producers),
      cmocka_unit_test(test_attached_to_callers_loop),
      cmocka_unit_test(test_unreachable_endpoint_expires),
      cmocka_unit_test(test_callback_submits),
      cmocka_unit_test(test_deadline_cuts_an_attempt_short),
      cmocka_unit_test(test_one_thread_fills_its_shard),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
