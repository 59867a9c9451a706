/*
 * test_reporter.c: the public reporter end to end against `dpstatus serve` on loopback: every
 * accepted update gets exactly one outcome, what the emulator records is byte for byte what was
 * submitted, faults are retried or reported as the rules say, close expires what is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
} seen;

static void seen_init(seen *s, size_t n) {
  memset(s, 0, sizeof *s);
  s->n = n;
  s->outcome = calloc(n, sizeof *s->outcome);
  s->calls = calloc(n, sizeof *s->calls);
  s->code = calloc(n, sizeof *s->code);
  s->attempts = calloc(n, sizeof *s->attempts);
  assert_true(s->outcome && s->calls && s->code && s->attempts);
}

static void seen_free(seen *s) {
  for (size_t i = 0; i < s->n; i++) free(s->code[i]);
  free(s->outcome), free(s->calls), free(s->code), free(s->attempts);
}

static void on_result(const dps_result *r, void *arg) {
  seen *s = arg;
  size_t i = (size_t)(uintptr_t)r->user_data;
  if (i >= s->n) return;
  atomic_fetch_add(&s->calls[i], 1);
  atomic_store(&s->outcome[i], (int)r->outcome);
  s->attempts[i] = r->attempts;
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

static void test_delivers_everything(void **state) {
  (void)state;
  emu_proc e;
  assert_int_equal(emu_start(&e, auth_args), 0);
  const size_t n = 5000;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  submit_all(r, 0, n);
  assert_int_equal(dps_flush(r, 30000), DPS_OK);
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.submitted, n);
  assert_int_equal(st.delivered, n);
  assert_int_equal(st.failed + st.expired + st.pending, 0);
  assert_true(st.latency_p50_us > 0 && st.latency_p50_us <= st.latency_max_us);
  assert_int_equal(st.connections, 2);
  assert_int_equal(st.in_flight + st.queued, 0);
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&s.calls[i]), 1);
    assert_int_equal(atomic_load(&s.outcome[i]), DPS_OUTCOME_DELIVERED);
    assert_int_equal(s.attempts[i], 1);
  }
  assert_int_equal(emu_stop(&e), 0);
  assert_int_equal(check_record(&e, n, &s), n);
  emu_cleanup(&e);
  seen_free(&s);
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
  emu_proc e;
  assert_int_equal(emu_start(&e, args), 0);
  const char *env_n = getenv("DPS_REPORTER_FAULT_N");
  const size_t n = env_n ? strtoul(env_n, NULL, 10) : FAULT_N;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  c.max_attempts = 0; /* until the deadline: with 14% faults, 8 attempts can run out by chance */
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  submit_all(r, 0, n);
  assert_int_equal(dps_flush(r, 60000), DPS_OK);
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.delivered, n);
  assert_true(st.retries > 0);
  assert_true(st.refused > 0); /* resets and GOAWAYs were resent without a charge */
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(atomic_load(&s.calls[i]), 1);
  assert_int_equal(emu_stop(&e), 0);
  assert_true(check_record(&e, n, &s) >= n);
  emu_cleanup(&e);
  seen_free(&s);
}

/* Strict mode: unknown tasks fail with TaskNotFoundException at the first attempt. */
static void test_terminal_errors_not_retried(void **state) {
  (void)state;
  const char *const args[] = {"--access-key", KEY_ID, "--secret-key", SECRET, "--tasks",
                              "strict",       NULL};
  emu_proc e;
  assert_int_equal(emu_start(&e, args), 0);
  const size_t n = 50;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  submit_all(r, 0, n);
  assert_int_equal(dps_flush(r, 10000), DPS_OK);
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.failed, n);
  assert_int_equal(st.retries, 0);
  assert_string_equal(st.failed_by_code[0].code, "TaskNotFoundException");
  assert_int_equal(st.failed_by_code[0].count, n);
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&s.outcome[i]), DPS_OUTCOME_FAILED);
    assert_string_equal(s.code[i], "TaskNotFoundException");
    assert_int_equal(s.attempts[i], 1);
  }
  assert_int_equal(emu_stop(&e), 0);
  assert_int_equal(check_record(&e, n, NULL), 0);
  emu_cleanup(&e);
  seen_free(&s);
}

/* A slow endpoint and a short close deadline: what is left is expired, each update once. */
static void test_close_expires_the_rest(void **state) {
  (void)state;
  const char *const args[] = {"--access-key",       KEY_ID, "--secret-key", SECRET, "--fault",
                              "latency=3000..3000", NULL};
  emu_proc e;
  assert_int_equal(emu_start(&e, args), 0);
  const size_t n = 300;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  submit_all(r, 0, n);
  assert_int_equal(dps_flush(r, 100), DPS_ETIMEDOUT);
  assert_int_equal(dps_reporter_close(r, 200), DPS_OK);
  assert_int_equal(atomic_load(&s.total), n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&s.calls[i]), 1);
    assert_int_equal(atomic_load(&s.outcome[i]), DPS_OUTCOME_EXPIRED);
  }
  emu_stop(&e);
  emu_cleanup(&e);
  seen_free(&s);
}

static void test_submit_refusals(void **state) {
  (void)state;
  emu_proc e;
  assert_int_equal(emu_start(&e, auth_args), 0);
  seen s;
  seen_init(&s, 4);
  dps_config c;
  base_config(&c, &e, &s);
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  dps_update u = {.task_id = "t",
                  .task_id_len = DPS_NTS,
                  .task_status = DPS_TASK_FAILED,
                  .error_id = "Service_X",
                  .error_id_len = DPS_NTS};
  assert_int_equal(dps_submit(r, &u, (void *)1, &err), DPS_EINVAL);
  assert_string_equal(err.field, "errorId");
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.submitted, 0);
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  assert_int_equal(atomic_load(&s.total), 0);
  emu_stop(&e);
  emu_cleanup(&e);
  seen_free(&s);

  /* Bad configuration is refused with the setting named. */
  dps_config_init(&c);
  c.queue_capacity = 1000;
  assert_int_equal(dps_reporter_new(&r, &c, &err), DPS_EINVAL);
  assert_string_equal(err.field, "queue_capacity");
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
  emu_proc e;
  assert_int_equal(emu_start(&e, auth_args), 0);
  const size_t per = 2000, threads = 4, n = per * threads;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  c.queue_capacity = 1024;
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  pthread_t t[4];
  producer p[4];
  for (size_t k = 0; k < threads; k++) {
    p[k] = (producer){r, k * per, (k + 1) * per};
    assert_int_equal(pthread_create(&t[k], NULL, produce, &p[k]), 0);
  }
  for (size_t k = 0; k < threads; k++) pthread_join(t[k], NULL);
  assert_int_equal(dps_flush(r, 60000), DPS_OK);
  dps_stats st;
  dps_stats_get(r, &st);
  assert_int_equal(st.submitted, n);
  assert_int_equal(st.delivered, n);
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  for (size_t i = 0; i < n; i++) assert_int_equal(atomic_load(&s.calls[i]), 1);
  assert_int_equal(emu_stop(&e), 0);
  assert_int_equal(check_record(&e, n, &s), n);
  emu_cleanup(&e);
  seen_free(&s);
}

/* The sender attached to a caller's libevent loop, which a thread of the caller runs. */
static void *run_loop(void *base) {
  event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

static void test_attached_to_callers_loop(void **state) {
  (void)state;
  emu_proc e;
  assert_int_equal(emu_start(&e, auth_args), 0);
  const size_t n = 500;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  assert_int_equal(evthread_use_pthreads(), 0); /* before the base: it must be lockable */
  struct event_base *base = event_base_new();
  assert_non_null(base);
  c.event_base = base;
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  pthread_t loop;
  assert_int_equal(pthread_create(&loop, NULL, run_loop, base), 0);
  submit_all(r, 0, n);
  assert_int_equal(dps_flush(r, 10000), DPS_OK);
  assert_int_equal(dps_reporter_close(r, 1000), DPS_OK);
  event_base_loopbreak(base);
  pthread_join(loop, NULL);
  event_base_free(base);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(atomic_load(&s.outcome[i]), DPS_OUTCOME_DELIVERED);
  assert_int_equal(emu_stop(&e), 0);
  assert_int_equal(check_record(&e, n, &s), n);
  emu_cleanup(&e);
  seen_free(&s);
}

/* Nothing listens at the endpoint: every update expires at its deadline, none is left hanging. */
static void test_unreachable_endpoint_expires(void **state) {
  (void)state;
  emu_proc e;
  assert_int_equal(emu_start(&e, auth_args), 0);
  assert_int_equal(emu_stop(&e), 0); /* its port is now closed: connections are refused */
  const size_t n = 200;
  seen s;
  seen_init(&s, n);
  dps_config c;
  base_config(&c, &e, &s);
  c.deadline_ms = 400;
  dps_reporter *r;
  dps_error err;
  if (dps_reporter_new(&r, &c, &err)) fail_msg("reporter: %s", err.message);
  submit_all(r, 0, n);
  int frc = dps_flush(r, 5000); /* all have an outcome, long before close */
  dps_stats st;
  dps_stats_get(r, &st);
  if (frc)
    fail_msg("flush: %s; expired %llu failed %llu pending %llu queued %llu in flight %llu",
             dps_strerror(frc), (unsigned long long)st.expired, (unsigned long long)st.failed,
             (unsigned long long)st.pending, (unsigned long long)st.queued,
             (unsigned long long)st.in_flight);
  assert_int_equal(st.expired, n);
  assert_int_equal(st.pending, 0);
  assert_int_equal(dps_reporter_close(r, 100), DPS_OK);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&s.calls[i]), 1);
    assert_int_equal(atomic_load(&s.outcome[i]), DPS_OUTCOME_EXPIRED);
  }
  emu_cleanup(&e);
  seen_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delivers_everything),
      cmocka_unit_test(test_faults_are_retried),
      cmocka_unit_test(test_terminal_errors_not_retried),
      cmocka_unit_test(test_close_expires_the_rest),
      cmocka_unit_test(test_submit_refusals),
      cmocka_unit_test(test_concurrent_producers),
      cmocka_unit_test(test_attached_to_callers_loop),
      cmocka_unit_test(test_unreachable_endpoint_expires),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
