/*
 * reporter.c: the public reporter (dpstatus.h): dps_submit on producer threads, and the sender on
 * its loop thread that drains the ring, signs, hands requests to the connection pool, retries
 * what can be retried and reports each update's outcome exactly once.
 *
 * Ownership of an update: dps_submit allocates one record (header + encoded body) and gives it to
 * the ring; from the drain on, the sender owns it and keeps it in exactly one place at a time:
 * the ready list (to send now), the paced heap (throttled while the rate controller is in
 * charge: resent first, oldest first, as the pace allows), the retry heap (to send at ready_ns;
 * also a retry waiting for retry-quota tokens, which looks again at each backoff), or the pool
 * (in flight; the pool borrows the body). It is freed right after its result callback.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/aws_error.h"
#include "core/clock.h"
#include "core/credentials.h"
#include "core/endpoint.h"
#include "core/error.h"
#include "core/histogram.h"
#include "core/json.h"
#include "core/ratelimit.h"
#include "core/ratespec.h"
#include "core/request.h"
#include "core/retry.h"
#include "core/sigv4.h"
#include "core/update.h"
#include "dpstatus.h"
#include "queue/ring.h"
#include "transport/pool.h"

struct dps_reporter;

/* One accepted update. 48 bytes of header before the body: with malloc's own 8 and its rounding
 * to 16, an update costs at most its body + 64 bytes on average (the budget). */
typedef struct record {
  struct dps_reporter *owner;
  void *user_data;
  uint64_t submit_ns; /* CLOCK_MONOTONIC */
  uint64_t ready_ns;  /* in the retry heap: not before this */
  uint32_t body_len;
  uint32_t quota_taken; /* retry-quota tokens its retries took */
  uint16_t attempts;
  uint8_t skew_retried;
  uint8_t last_was_timeout;
  uint8_t needs_quota; /* a retry still waiting for retry-quota tokens */
  uint8_t cut_short;   /* the attempt in flight times out at the deadline, before its own timeout */
  uint16_t throttles;  /* attempts throttled while the controller paced: not charged */
  char body[];
} record;

/* The updates to send now, oldest first: a growable ring of pointers, so records need no link
 * field (it is sized by what waits here, a drained batch and the odd resend, not by the queue). */
_Static_assert(sizeof(record) <= 48, "a record's header is part of the memory budget");

typedef struct deque {
  record **v;
  size_t head, n, cap; /* cap a power of two */
} deque;

static bool deque_grow(deque *d) {
  size_t cap = d->cap ? d->cap * 2 : 256;
  record **v = malloc(cap * sizeof *v);
  if (!v) return false;
  for (size_t i = 0; i < d->n; i++) v[i] = d->v[(d->head + i) & (d->cap - 1)];
  free(d->v);
  d->v = v, d->head = 0, d->cap = cap;
  return true;
}

/* Both pushes fail only when memory runs out; callers then fail the record. */
static bool deque_push(deque *d, record *r) {
  if (d->n == d->cap && !deque_grow(d)) return false;
  d->v[(d->head + d->n++) & (d->cap - 1)] = r;
  return true;
}

static bool deque_push_front(deque *d, record *r) {
  if (d->n == d->cap && !deque_grow(d)) return false;
  d->head = (d->head - 1) & (d->cap - 1);
  d->v[d->head] = r;
  d->n++;
  return true;
}

static record *deque_front(const deque *d) { return d->n ? d->v[d->head] : NULL; }

static record *deque_pop(deque *d) {
  if (!d->n) return NULL;
  record *r = d->v[d->head];
  d->head = (d->head + 1) & (d->cap - 1);
  d->n--;
  return r;
}

/* A binary min-heap of records by ready_ns: the updates waiting out a backoff, and (keyed by
 * their submit time) the throttled ones waiting for the pace. */
typedef struct heap {
  record **v;
  size_t n, cap;
} heap;

static bool heap_push(heap *h, record *r) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    record **v = realloc(h->v, cap * sizeof *v);
    if (!v) return false;
    h->v = v, h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0 && h->v[(i - 1) / 2]->ready_ns > r->ready_ns) {
    h->v[i] = h->v[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->v[i] = r;
  return true;
}

static record *heap_pop(heap *h) {
  if (h->n == 0) return NULL;
  record *top = h->v[0], *last = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->v[c + 1]->ready_ns < h->v[c]->ready_ns) c++;
    if (h->v[c]->ready_ns >= last->ready_ns) break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n) h->v[i] = last;
  return top;
}

#define FAIL_CODES 8
#define DRAIN_BATCH 256

struct dps_reporter {
  dps_config cfg; /* copied; the strings below own the copies */
  char *strings;  /* one block holding the copied config strings */
  size_t strings_len;
  dps__url url;
  char region[DPS__REGION_MAX + 1];
  dps__sigv4_signer signer;
  dps__clock clock;
  dps__ring *ring;
  size_t max_body;

  /* Producer side. */
  _Atomic uint64_t submitted;
  _Atomic uint32_t in_submit; /* producers between the closed check and their enqueue */
  _Atomic bool closed;

  /* Sender side (loop thread only, except the atomics). */
  struct event_base *base;
  bool own_base;
  pthread_t thread;
  bool thread_started;
  struct event *wake_ev, *kick_ev, *timer_ev, *stop_ev;
  dps__pool *pool;
  deque ready;
  heap retry;
  heap paced; /* throttled, by submit time (ready_ns = submit_ns while here) */
  dps__retry_policy policy;
  dps__retry_quota quota;
  dps__ratelimit limiter;
  uint64_t rng;
  char *fatal; /* set once the pool met a fatal error */
  bool stopping, stopped;
  uint64_t timer_at_ns; /* when timer_ev fires; 0 = not armed */
  char amz_date[17];
  int64_t amz_date_sec;
  char *task_id_buf; /* result scratch */
  size_t task_id_cap;

  /* Outcome counters: written by the sender, read by anyone. */
  _Atomic uint64_t delivered, failed, expired, retries, refused, in_flight, throttled;
  _Atomic uint64_t send_rate_milli; /* the controller's rate x 1000 (0: not engaged) */
  _Atomic unsigned connections;     /* live, as of the last pump */
  dps__histogram latency;
  pthread_mutex_t lock; /* failure codes, flush and stop waiters */
  pthread_cond_t cond;
  _Atomic uint64_t wake_at; /* outcome count that wakes the earliest flush; UINT64_MAX: none */
  struct {
    char code[64];
    uint64_t count;
  } fail_codes[FAIL_CODES];
};

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */

const char *dps_outcome_name(dps_outcome o) {
  switch (o) {
    case DPS_OUTCOME_DELIVERED: return "delivered";
    case DPS_OUTCOME_FAILED: return "failed";
    case DPS_OUTCOME_EXPIRED: return "expired";
  }
  return NULL;
}

void dps_config_init(dps_config *c) {
  memset(c, 0, sizeof *c);
  c->connections = 2;
  c->max_streams = 100;
  c->queue_capacity = 65536;
  c->full_policy = DPS_FULL_FAIL;
  c->full_wait_ms = 1000;
  c->max_body_bytes = DPS_DEFAULT_MAX_BODY_BYTES;
  c->max_attempts = DPS__RETRY_DEFAULT_MAX_ATTEMPTS;
  c->backoff_base_ms = 1000;
  c->backoff_cap_ms = 20000;
  c->attempt_timeout_ms = 10000;
  c->deadline_ms = 300000;
  c->adaptive_rate = 1;
}

/* Wakes flush waiters once the outcome count reaches the smallest target among them: one wake-up
 * per flush, not one per update (a flushing thread woken per outcome costs the sender's core a
 * context switch each time). */
static void notify_waiters(dps_reporter *r, uint64_t outcomes_now) {
  if (outcomes_now < atomic_load(&r->wake_at)) return;
  pthread_mutex_lock(&r->lock);
  atomic_store(&r->wake_at, UINT64_MAX); /* the woken re-register what they still wait for */
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static void count_failure(dps_reporter *r, const char *code) {
  pthread_mutex_lock(&r->lock);
  size_t i, least = 0;
  for (i = 0; i < FAIL_CODES && r->fail_codes[i].code[0]; i++) {
    if (strcmp(r->fail_codes[i].code, code) == 0) break;
    if (r->fail_codes[i].count < r->fail_codes[least].count) least = i;
  }
  if (i == FAIL_CODES) { /* full: the rarest code gives way (counts stay approximate there) */
    i = least;
    r->fail_codes[i].count = 0;
  }
  if (!r->fail_codes[i].code[0] || strcmp(r->fail_codes[i].code, code) != 0)
    snprintf(r->fail_codes[i].code, sizeof r->fail_codes[i].code, "%s", code);
  r->fail_codes[i].count++;
  pthread_mutex_unlock(&r->lock);
}

/* The reporter whose result callback this thread is running, if any: a dps_submit from there is
 * the sender's own (see dps_submit). */
static _Thread_local const dps_reporter *in_callback_of;

/* Reports @p rec's outcome, as of @p now (mono_ns), and frees it. */
static void finish_at(dps_reporter *r, record *rec, uint64_t now, dps_outcome outcome, int status,
                      const char *code, const char *message, const char *request_id) {
  if (rec->body_len > r->task_id_cap) {
    char *p = realloc(r->task_id_buf, rec->body_len + 1);
    if (p) r->task_id_buf = p, r->task_id_cap = rec->body_len;
  }
  size_t tl = 0;
  if (r->task_id_cap >= rec->body_len)
    tl = dps__json_body_task_id(rec->body, rec->body_len, r->task_id_buf);
  if (r->task_id_buf) r->task_id_buf[tl] = '\0';
  uint64_t latency_us = now > rec->submit_ns ? (now - rec->submit_ns) / 1000 : 0;
  dps__histogram_record(&r->latency, latency_us);
  dps_result res = {.outcome = outcome,
                    .task_id = r->task_id_buf ? r->task_id_buf : "",
                    .task_id_len = tl,
                    .user_data = rec->user_data,
                    .attempts = rec->attempts,
                    .http_status = status,
                    .error_code = code ? code : "",
                    .error_message = message ? message : "",
                    .request_id = request_id ? request_id : "",
                    .latency_us = latency_us};
  if (outcome == DPS_OUTCOME_FAILED)
    count_failure(r, res.error_code[0] ? res.error_code : "Unknown");
  if (r->cfg.on_result) {
    const dps_reporter *outer = in_callback_of;
    in_callback_of = r;
    r->cfg.on_result(&res, r->cfg.on_result_arg);
    in_callback_of = outer;
  }
  free(rec);
  /* seq_cst: a reader that sees the new count also sees everything the callback did, and this
   * increment followed by notify_waiters' load of wake_at pairs with wait_until's store of
   * wake_at followed by its load of the counts (see there). */
  _Atomic uint64_t *ctr = outcome == DPS_OUTCOME_DELIVERED ? &r->delivered
                          : outcome == DPS_OUTCOME_FAILED  ? &r->failed
                                                           : &r->expired;
  atomic_fetch_add(ctr, 1);
  notify_waiters(r,
                 atomic_load(&r->delivered) + atomic_load(&r->failed) + atomic_load(&r->expired));
}

static void finish(dps_reporter *r, record *rec, dps_outcome outcome, int status, const char *code,
                   const char *message, const char *request_id) {
  finish_at(r, rec, mono_ns(), outcome, status, code, message, request_id);
}

static void kick(dps_reporter *r) { event_active(r->kick_ev, 0, 0); }

/* Into the ready list, at the back (new and due) or the front (refused: resend first). Out of
 * memory, the update fails rather than vanishing. */
static void ready_push(dps_reporter *r, record *rec) {
  if (!deque_push(&r->ready, rec))
    finish(r, rec, DPS_OUTCOME_FAILED, 0, "OutOfMemory", "the ready list could not grow", NULL);
}

static void ready_front(dps_reporter *r, record *rec) {
  if (!deque_push_front(&r->ready, rec))
    finish(r, rec, DPS_OUTCOME_FAILED, 0, "OutOfMemory", "the ready list could not grow", NULL);
}

static void arm_timer(dps_reporter *r, uint64_t at_ns) {
  if (r->timer_at_ns && r->timer_at_ns <= at_ns) return;
  uint64_t now = mono_ns(), d = at_ns > now ? at_ns - now : 0;
  struct timeval tv = {(time_t)(d / 1000000000u), (suseconds_t)((d % 1000000000u) / 1000)};
  r->timer_at_ns = at_ns;
  evtimer_add(r->timer_ev, &tv);
}

static uint64_t deadline_of(const dps_reporter *r, const record *rec) {
  return rec->submit_ns + (uint64_t)r->cfg.deadline_ms * 1000000u;
}

static void on_response(const dps__response *resp, void *arg);

/* Signs and submits one record at @p now (mono_ns; the pump's, like the date, which
 * update_amz_date set for this pump). Returns false when the pool cannot take it now. */
static bool send_one(dps_reporter *r, record *rec, uint64_t now) {
  dps__http_request req;
  int rc = dps__request_sign(&r->signer, r->url.authority, r->url.path, DPS__TARGET_SET_TASK_STATUS,
                             r->amz_date, rec->body, rec->body_len, &req);
  if (rc != DPS_OK) {
    finish(r, rec, DPS_OUTCOME_FAILED, 0, "SigningError", dps_strerror(rc), NULL);
    return true;
  }
  /* The attempt ends by the update's deadline at the latest (pump expired it if that passed). */
  uint64_t left_ms = (deadline_of(r, rec) - now + 999999) / 1000000;
  rec->cut_short = left_ms < r->cfg.attempt_timeout_ms;
  rc = dps__pool_submit_within(r->pool, &req, on_response, rec,
                               rec->cut_short ? (uint32_t)left_ms : 0);
  if (rc == DPS_EFULL) return false;
  if (rc != DPS_OK) {
    const char *why = dps__pool_error(r->pool);
    finish(r, rec, DPS_OUTCOME_FAILED, 0, why ? "TLSError" : "ConnectionError",
           why ? why : dps_strerror(rc), NULL);
    return true;
  }
  atomic_fetch_add_explicit(&r->in_flight, 1, memory_order_relaxed);
  rec->ready_ns = now; /* while in flight, ready_ns holds the send time */
  return true;
}

/* The X-Amz-Date of what this pump sends: the clock is read once per pump, not per request. */
static void update_amz_date(dps_reporter *r) {
  int64_t now_ms = dps__clock_now_ms(&r->clock);
  if (now_ms / 1000 != r->amz_date_sec) {
    r->amz_date_sec = now_ms / 1000;
    dps__amz_date_format(now_ms, r->amz_date);
  }
}

/* Moves retries whose time has come to the ready list; arms the timer for the next one. */
static void release_due(dps_reporter *r, uint64_t now) {
  while (r->retry.n && r->retry.v[0]->ready_ns <= now) ready_push(r, heap_pop(&r->retry));
  if (r->retry.n) arm_timer(r, r->retry.v[0]->ready_ns);
}

/* With no capacity (no live connection), nothing is taken from the ready list, so deadlines must
 * be enforced here: expire the overdue from the front (the oldest: deadlines follow submission
 * order) of the paced heap and the ready list, look at the ring one update at a time (never
 * moving more than one out of it, so the ring's back-pressure on producers stays), and wake up
 * at the next deadline. */
static void expire_overdue(dps_reporter *r, uint64_t now) {
  record *rec;
  while (r->paced.n && now >= deadline_of(r, r->paced.v[0]))
    finish(r, heap_pop(&r->paced), DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded",
           "throttled, then no connection to the endpoint before the deadline", NULL);
  if (r->paced.n) arm_timer(r, deadline_of(r, r->paced.v[0]));
  while ((rec = deque_front(&r->ready)) && now >= deadline_of(r, rec))
    finish(r, deque_pop(&r->ready), DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded",
           "no connection to the endpoint before the deadline", NULL);
  void *one;
  while (r->ready.n == 0 && dps__ring_drain(r->ring, &one, 1) == 1) {
    rec = one;
    if (now >= deadline_of(r, rec))
      finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded",
             "no connection to the endpoint before the deadline", NULL);
    else
      ready_push(r, rec);
  }
  if (r->ready.n) arm_timer(r, deadline_of(r, deque_front(&r->ready)));
}

/* Into the paced heap, where the oldest goes first (keyed by submit time). Out of memory, the
 * update fails rather than vanishing. */
static void paced_push(dps_reporter *r, record *rec) {
  rec->ready_ns = rec->submit_ns;
  if (!heap_push(&r->paced, rec))
    finish(r, rec, DPS_OUTCOME_FAILED, 0, "OutOfMemory", "the paced heap could not grow", NULL);
}

/* Back where pump took it from: it goes first again. */
static void put_back(dps_reporter *r, record *rec, bool from_paced) {
  if (from_paced)
    paced_push(r, rec);
  else
    ready_front(r, rec);
}

/* The sender's main step: take what fits from the ready list and the ring, send it, flush once. */
static void pump(dps_reporter *r) {
  if (r->stopped) return;
  void *batch[DRAIN_BATCH];
  uint64_t now = mono_ns();
  release_due(r, now);
  bool ring_empty = false, sent = false, dated = false;
  for (;;) {
    if (!r->fatal && dps__pool_capacity(r->pool) == 0) {
      expire_overdue(r, now);
      ring_empty = r->ready.n == 0; /* it looked at the ring and found nothing */
      break;
    }
    /* The throttled go first, oldest first: they were accepted before anything in the list. */
    bool from_paced = r->paced.n > 0;
    record *rec = from_paced ? heap_pop(&r->paced) : deque_pop(&r->ready);
    if (!rec) {
      size_t want = r->fatal ? DRAIN_BATCH : dps__pool_capacity(r->pool);
      size_t n = dps__ring_drain(r->ring, batch, want < DRAIN_BATCH ? want : DRAIN_BATCH);
      if (n == 0) {
        ring_empty = true;
        break;
      }
      for (size_t i = 0; i < n; i++) ready_push(r, batch[i]);
      continue;
    }
    if (r->fatal) {
      finish(r, rec, DPS_OUTCOME_FAILED, 0, "TLSError", r->fatal, NULL);
      continue;
    }
    if (now >= deadline_of(r, rec)) {
      finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded", "the update's deadline passed",
             NULL);
      continue;
    }
    if (rec->needs_quota) {
      if (!dps__retry_quota_take(&r->quota, rec->last_was_timeout, &rec->quota_taken)) {
        uint32_t d = dps__backoff_ms(&r->policy, rec->attempts, &r->rng);
        rec->ready_ns = now + (uint64_t)(d > r->policy.base_ms ? d : r->policy.base_ms) * 1000000u;
        if (!heap_push(&r->retry, rec))
          finish(r, rec, DPS_OUTCOME_FAILED, 0, "OutOfMemory", "scheduling a retry", NULL);
        else
          arm_timer(r, rec->ready_ns);
        continue;
      }
      rec->needs_quota = 0;
    }
    uint64_t wait_ns;
    if (!dps__ratelimit_acquire(&r->limiter, now, &wait_ns)) {
      put_back(r, rec, from_paced);
      arm_timer(r, now + wait_ns);
      break;
    }
    if (!dated) {
      update_amz_date(r);
      dated = true;
    }
    if (!send_one(r, rec, now)) {
      put_back(r, rec, from_paced);
      break;
    }
    sent = true;
  }
  if (sent) dps__pool_flush(r->pool);
  atomic_store_explicit(&r->send_rate_milli,
                        (uint64_t)(dps__ratelimit_rate(&r->limiter, now) * 1000.0 + 0.5),
                        memory_order_relaxed);
  dps__pool_stats ps;
  dps__pool_stats_get(r->pool, &ps);
  atomic_store_explicit(&r->connections, ps.connections_live, memory_order_relaxed);
  /* Sleep on the ring only when it is empty; otherwise a completion or the timer resumes us. If
   * items slipped in while we announced the sleep, go round again. No announcement either (it
   * costs a membarrier, and the producer that finds it an eventfd write) while every stream is
   * busy: each request in flight ends in on_response (an answer, a failure, or its attempt
   * timeout), which pumps again within the attempt timeout, and anything queued meanwhile could
   * not be sent before that anyway, nor expire, when the deadline is no shorter than the attempt
   * timeout. With no connection up (no requests in flight), announce: deadlines need watching. */
  bool busy = !r->fatal && ps.capacity == 0 && ps.in_flight > 0 &&
              r->cfg.deadline_ms >= r->cfg.attempt_timeout_ms;
  if (ring_empty && !busy && !dps__ring_prepare_sleep(r->ring)) kick(r);
}

static void schedule_retry(dps_reporter *r, record *rec, uint32_t delay_ms, const char *code,
                           const char *message, int status) {
  uint64_t now = mono_ns(), at = now + (uint64_t)delay_ms * 1000000u;
  if (at >= deadline_of(r, rec)) {
    finish(r, rec, DPS_OUTCOME_EXPIRED, status, code, message, NULL);
    return;
  }
  atomic_fetch_add_explicit(&r->retries, 1, memory_order_relaxed);
  rec->ready_ns = at;
  if (delay_ms == 0) {
    ready_push(r, rec);
    kick(r);
  } else if (heap_push(&r->retry, rec)) {
    arm_timer(r, at);
  } else {
    finish(r, rec, DPS_OUTCOME_FAILED, status, code, "out of memory scheduling a retry", NULL);
  }
}

/* A retry takes retry-quota tokens first. Without them it waits (an empty quota delays retries,
 * it does not fail them, as in the SDKs): it goes to the heap flagged, looks again when due, and
 * its deadline still applies there. */
static void retry_with_quota(dps_reporter *r, record *rec, uint32_t delay_ms, const char *code,
                             const char *message, int status) {
  if (!dps__retry_quota_take(&r->quota, rec->last_was_timeout, &rec->quota_taken)) {
    rec->needs_quota = 1;
    if (delay_ms < r->policy.base_ms) delay_ms = r->policy.base_ms;
  }
  schedule_retry(r, rec, delay_ms, code, message, status);
}

/* A throttle while the controller is in charge: it cuts the pace (or notes the throttle), honours
 * the response's Retry-After for every send, and the update goes back among the paced, in
 * submission order, to go again as soon as the pace allows. No retry quota, no max_attempts:
 * the controller, not the backoff, decides when it goes, and the deadline bounds it. */
static void paced_retry(dps_reporter *r, record *rec, uint64_t now, uint32_t asked_ms,
                        const dps__aws_error *e) {
  dps__ratelimit_on_throttle(&r->limiter, now, rec->ready_ns /* when it was sent */);
  if (asked_ms) dps__ratelimit_hold(&r->limiter, now + (uint64_t)asked_ms * 1000000u);
  if (rec->throttles < rec->attempts) rec->throttles++;
  if (now >= deadline_of(r, rec)) {
    finish_at(r, rec, now, DPS_OUTCOME_EXPIRED, e->http_status, e->code, e->message, e->request_id);
    return;
  }
  atomic_fetch_add_explicit(&r->retries, 1, memory_order_relaxed);
  paced_push(r, rec);
  kick(r);
}

static void on_response(const dps__response *resp, void *arg) {
  record *rec = arg;
  dps_reporter *r = rec->owner;
  atomic_fetch_sub_explicit(&r->in_flight, 1, memory_order_relaxed);
  kick(r); /* a stream is free again */
  dps__aws_error e;
  switch (resp->result) {
    case DPS__XFER_REFUSED:
      /* Not processed: send again, no attempt charged. */
      atomic_fetch_add_explicit(&r->refused, 1, memory_order_relaxed);
      ready_front(r, rec);
      return;
    case DPS__XFER_CANCELLED:
      finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded",
             "the reporter closed before an outcome", NULL);
      return;
    case DPS__XFER_FATAL:
      if (!r->fatal) r->fatal = strdup(resp->detail && *resp->detail ? resp->detail : "TLS error");
      rec->attempts++;
      finish(r, rec, DPS_OUTCOME_FAILED, 0, "TLSError", resp->detail, NULL);
      return;
    case DPS__XFER_FAILED:
    case DPS__XFER_TIMEOUT:
      rec->attempts++;
      if (resp->result == DPS__XFER_TIMEOUT && rec->cut_short) {
        /* Cut short by the deadline (send_one): no retry could be in time. */
        finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded",
               "the update's deadline passed during an attempt", NULL);
        return;
      }
      rec->last_was_timeout = resp->result == DPS__XFER_TIMEOUT;
      memset(&e, 0, sizeof e);
      snprintf(e.code, sizeof e.code, "%s",
               rec->last_was_timeout ? "RequestTimeout" : "ConnectionError");
      snprintf(e.message, sizeof e.message, "%s", resp->detail ? resp->detail : "");
      break;
    case DPS__XFER_OK:
      rec->attempts++;
      rec->last_was_timeout = 0;
      if (resp->status >= 200 && resp->status < 300) {
        /* Delivered, whatever the body says (classify.c): nothing in it is looked at, so it is not
         * parsed (a JSON parse per update, the sender's dearest step after signing). */
        e.http_status = resp->status;
        e.code[0] = e.message[0] = '\0';
        size_t n = resp->request_id ? strnlen(resp->request_id, sizeof e.request_id - 1) : 0;
        memcpy(e.request_id, resp->request_id ? resp->request_id : "", n);
        e.request_id[n] = '\0';
        e.body_was_json = false;
      } else {
        dps__aws_error_parse(resp->status, resp->body, resp->body_len,
                             resp->error_type && *resp->error_type ? resp->error_type : NULL,
                             resp->request_id, &e);
      }
      break;
  }
  uint64_t now = mono_ns();
  uint32_t asked_ms =
      resp->result == DPS__XFER_OK
          ? dps__retry_after_ms(resp->retry_after, resp->amz_retry_after, dps__clock_local_ms())
          : 0;
  if (dps__is_throttle(&e)) {
    atomic_fetch_add_explicit(&r->throttled, 1, memory_order_relaxed);
    if (r->cfg.adaptive_rate) {
      paced_retry(r, rec, now, asked_ms, &e);
      return;
    }
  }
  /* Throttled attempts under the controller are not charged against max_attempts. */
  dps__attempt_state st = {.attempts = (uint32_t)(rec->attempts - rec->throttles),
                           .skew_retried = rec->skew_retried};
  dps__retry_decision d =
      dps__retry_decide(&r->policy, &st, &e, resp->date && *resp->date ? resp->date : NULL,
                        dps__clock_local_ms(), &r->clock, &r->rng);
  rec->skew_retried = st.skew_retried;
  if (d.action == DPS__ACTION_DELIVERED) dps__ratelimit_on_success(&r->limiter, now);
  if (d.action == DPS__ACTION_RETRY && d.delay_ms < asked_ms) d.delay_ms = asked_ms;
  switch (d.action) {
    case DPS__ACTION_DELIVERED:
      dps__retry_quota_success(&r->quota, rec->quota_taken);
      finish_at(r, rec, now, DPS_OUTCOME_DELIVERED, e.http_status, "", "", e.request_id);
      return;
    case DPS__ACTION_FAIL:
      finish_at(r, rec, now, DPS_OUTCOME_FAILED, e.http_status, e.code[0] ? e.code : "Unknown",
                e.message, e.request_id);
      return;
    case DPS__ACTION_RETRY:
      if (d.clock_corrected) /* the free retry after a clock correction costs no quota */
        schedule_retry(r, rec, 0, e.code, e.message, e.http_status);
      else
        retry_with_quota(r, rec, d.delay_ms, e.code, e.message, e.http_status);
      return;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Loop events. */

static void on_wake(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  dps_reporter *r = arg;
  dps__ring_wake_ack(r->ring);
  pump(r);
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  pump(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  dps_reporter *r = arg;
  r->timer_at_ns = 0;
  pump(r);
}

static void on_capacity(void *arg) { kick(arg); }

static void on_fatal(const char *detail, void *arg) {
  dps_reporter *r = arg;
  if (!r->fatal) r->fatal = strdup(detail ? detail : "TLS error");
  kick(r);
}

/* Expires everything the sender holds (the close deadline passed), then stops the loop. */
static void expire_all(dps_reporter *r) {
  void *batch[DRAIN_BATCH];
  record *rec;
  size_t n;
  while ((rec = deque_pop(&r->ready)))
    finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded", "closed before delivery", NULL);
  while ((rec = heap_pop(&r->retry)))
    finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded", "closed before delivery", NULL);
  while ((rec = heap_pop(&r->paced)))
    finish(r, rec, DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded", "closed before delivery", NULL);
  while ((n = dps__ring_drain(r->ring, batch, DRAIN_BATCH)) > 0)
    for (size_t i = 0; i < n; i++)
      finish(r, batch[i], DPS_OUTCOME_EXPIRED, 0, "DeadlineExceeded", "closed before delivery",
             NULL);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  dps_reporter *r = arg;
  r->stopped = true;
  /* In-flight requests complete with CANCELLED (-> expired) inside this call. */
  dps__pool_free(r->pool);
  r->pool = NULL;
  expire_all(r);
  if (r->own_base) event_base_loopbreak(r->base); /* never break a caller's loop */
  pthread_mutex_lock(&r->lock);
  r->stopping = true; /* read by close: the loop has nothing left */
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static void *sender_main(void *arg) {
  dps_reporter *r = arg;
  /* A write to a connection the peer reset must be an error, not a SIGPIPE that kills the host
   * process: our own writes say MSG_NOSIGNAL, but OpenSSL's and libevent's do not. Blocked on
   * this thread only; the host's disposition is left alone. */
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, NULL);
  event_base_loop(r->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Creation. */

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int threads_rc;
static void use_threads(void) { threads_rc = evthread_use_pthreads(); }

/* Copies the config strings into one block so the reporter owns them. */
static int copy_config(dps_reporter *r, const dps_config *cfg) {
  r->cfg = *cfg;
  const char **fields[] = {
      &r->cfg.endpoint_url,      &r->cfg.region,        &r->cfg.profile,  &r->cfg.access_key_id,
      &r->cfg.secret_access_key, &r->cfg.session_token, &r->cfg.ca_bundle};
  size_t total = 0, nf = sizeof fields / sizeof *fields;
  for (size_t i = 0; i < nf; i++)
    if (*fields[i]) total += strlen(*fields[i]) + 1;
  if (!total) return DPS_OK;
  if (!(r->strings = malloc(total))) return DPS_ENOMEM;
  r->strings_len = total;
  char *p = r->strings;
  for (size_t i = 0; i < nf; i++) {
    if (!*fields[i]) continue;
    size_t n = strlen(*fields[i]) + 1;
    memcpy(p, *fields[i], n);
    *fields[i] = p;
    p += n;
  }
  return DPS_OK;
}

static int resolve(dps_reporter *r, dps_error *err) {
  const dps_config *c = &r->cfg;
  if ((c->access_key_id == NULL) != (c->secret_access_key == NULL))
    return dps__error_set(err, DPS_ECONFIG, "credentials",
                          "access_key_id and secret_access_key go together");
  int rc = dps__region_resolve(c->region, c->profile, r->region, sizeof r->region, err);
  if (rc) return rc;
  if ((rc = dps__endpoint_resolve_profile(c->endpoint_url, c->profile, r->region, &r->url, err)))
    return rc;
  dps__credentials creds = {0};
  dps__cred_options co = {.access_key_id = c->access_key_id,
                          .secret_access_key = c->secret_access_key,
                          .session_token = c->session_token,
                          .profile = c->profile};
  if ((rc = dps__credentials_resolve(&co, &creds, err))) return rc;
  rc = dps__sigv4_signer_init(&r->signer, r->region, DPS__SERVICE_NAME, creds.access_key_id,
                              creds.secret_access_key, creds.session_token);
  dps__credentials_free(&creds);
  if (rc) return dps__error_set(err, rc, "credentials", "cannot sign with them");
  return DPS_OK;
}

static int check_config(const dps_config *c, dps_error *err) {
  if (c->connections == 0 || c->connections > 64)
    return dps__error_set(err, DPS_EINVAL, "connections", "%u is not in 1..64", c->connections);
  if (c->max_streams == 0)
    return dps__error_set(err, DPS_EINVAL, "max_streams", "must be at least 1");
  if (c->queue_capacity == 0 || (c->queue_capacity & (c->queue_capacity - 1)))
    return dps__error_set(err, DPS_EINVAL, "queue_capacity", "%zu is not a power of two",
                          c->queue_capacity);
  if (c->queue_shards != 0 && !dps__ring_shards_valid(c->queue_capacity, c->queue_shards))
    return dps__error_set(err, DPS_EINVAL, "queue_shards",
                          "%zu is not 0 or a power of two up to %d and queue_capacity (%zu)",
                          c->queue_shards, DPS__RING_MAX_SHARDS, c->queue_capacity);
  if (c->attempt_timeout_ms == 0)
    return dps__error_set(err, DPS_EINVAL, "attempt_timeout_ms", "must be positive");
  if (c->deadline_ms == 0)
    return dps__error_set(err, DPS_EINVAL, "deadline_ms", "must be positive");
  if (c->backoff_cap_ms < c->backoff_base_ms)
    return dps__error_set(err, DPS_EINVAL, "backoff_cap_ms", "is below backoff_base_ms");
  if (!(c->max_rate >= 0 && c->max_rate <= DPS__RATESPEC_MAX_RATE)) /* NaN too */
    return dps__error_set(err, DPS_EINVAL, "max_rate",
                          "%g is not a rate from 0 (no cap) to 10000000 requests/s", c->max_rate);
  if (c->max_burst && c->max_rate == 0)
    return dps__error_set(err, DPS_EINVAL, "max_burst", "%u without a max_rate to go with it",
                          c->max_burst);
  return DPS_OK;
}

static void reporter_free(dps_reporter *r) {
  if (!r) return;
  if (r->pool) dps__pool_free(r->pool);
  struct event *evs[] = {r->wake_ev, r->kick_ev, r->timer_ev, r->stop_ev};
  for (size_t i = 0; i < 4; i++)
    if (evs[i]) event_free(evs[i]);
  if (r->own_base && r->base) {
    /* A TLS connection's bufferevent defers its callbacks, and each one scheduled holds a
     * reference to it until it runs: one scheduled when the connection was freed at stop would
     * keep it (and its SSL) alive for good, since event_base_free cancels callbacks rather than
     * running them. Nothing of ours is left on the base: let what remains run out. */
    for (int i = 0; i < 8 && event_base_loop(r->base, EVLOOP_NONBLOCK) == 0; i++) {
    }
    event_base_free(r->base);
  }
  if (r->ring) dps__ring_destroy(r->ring);
  dps__sigv4_signer_clear(&r->signer);
  free(r->retry.v);
  free(r->paced.v);
  free(r->ready.v);
  free(r->task_id_buf);
  free(r->fatal);
  if (r->strings) OPENSSL_cleanse(r->strings, r->strings_len); /* it holds the secret key */
  free(r->strings);
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->cond);
  free(r);
}

int dps_reporter_new(dps_reporter **out, const dps_config *cfg, dps_error *err) {
  *out = NULL;
  dps_config defaults;
  if (!cfg) {
    dps_config_init(&defaults);
    cfg = &defaults;
  }
  int rc = check_config(cfg, err);
  if (rc) return rc;
  pthread_once(&threads_once, use_threads);
  if (threads_rc) return dps__error_set(err, DPS_ENOMEM, NULL, "libevent threading unavailable");

  dps_reporter *r = calloc(1, sizeof *r);
  if (!r) return dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  dps__clock_init(&r->clock);
  dps__histogram_init(&r->latency);
  dps__retry_quota_init(&r->quota);
  dps__retry_policy_init(&r->policy);
  r->rng = mono_ns() | 1;
  atomic_store(&r->wake_at, UINT64_MAX);
  r->amz_date_sec = -1;
  if ((rc = copy_config(r, cfg))) goto oom;
  dps__ratelimit_init(&r->limiter, r->cfg.max_rate, r->cfg.max_burst, mono_ns());
  r->policy.max_attempts = r->cfg.max_attempts;
  r->policy.base_ms = r->cfg.backoff_base_ms;
  r->policy.cap_ms = r->cfg.backoff_cap_ms;
  r->max_body = r->cfg.max_body_bytes ? r->cfg.max_body_bytes : DPS_DEFAULT_MAX_BODY_BYTES;
  if ((rc = resolve(r, err))) goto fail;

  dps__ring_opts ro;
  dps__ring_opts_init(&ro);
  ro.capacity = r->cfg.queue_capacity;
  ro.shards =
      r->cfg.queue_shards ? r->cfg.queue_shards : dps__ring_default_shards(r->cfg.queue_capacity);
  ro.full_wait_ns =
      r->cfg.full_policy == DPS_FULL_WAIT ? (int64_t)r->cfg.full_wait_ms * 1000000 : 0;
  if ((rc = dps__ring_create(&r->ring, &ro))) goto oom;

  r->own_base = r->cfg.event_base == NULL;
  r->base = r->own_base ? event_base_new() : r->cfg.event_base;
  if (!r->base) goto oom;
  r->wake_ev = event_new(r->base, dps__ring_wake_fd(r->ring), EV_READ | EV_PERSIST, on_wake, r);
  r->kick_ev = event_new(r->base, -1, 0, on_kick, r);
  r->timer_ev = evtimer_new(r->base, on_timer, r);
  r->stop_ev = event_new(r->base, -1, 0, on_stop, r);
  if (!r->wake_ev || !r->kick_ev || !r->timer_ev || !r->stop_ev || event_add(r->wake_ev, NULL))
    goto oom;

  dps__pool_config pc;
  dps__pool_config_init(&pc);
  pc.connections = r->cfg.connections;
  pc.max_streams = r->cfg.max_streams;
  pc.attempt_timeout_ms = r->cfg.attempt_timeout_ms;
  pc.ca_bundle = r->cfg.ca_bundle;
  pc.no_verify = r->cfg.no_verify_ssl != 0;
  pc.on_fatal = on_fatal;
  pc.on_fatal_arg = r;
  pc.on_capacity = on_capacity;
  pc.on_capacity_arg = r;
  if ((rc = dps__pool_new(&r->pool, r->base, NULL, &r->url, &pc, err))) goto fail;

  kick(r); /* the first pump announces the sender's sleep, so the first submit wakes it */
  if (r->own_base) {
    if (pthread_create(&r->thread, NULL, sender_main, r)) goto oom;
    r->thread_started = true;
  }
  *out = r;
  return DPS_OK;
oom:
  rc = dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
fail:
  reporter_free(r);
  return rc;
}

int dps_submit(dps_reporter *r, const dps_update *u, void *user_data, dps_error *err) {
  /* The closed check and the enqueue happen inside in_submit, so close can wait for producers
   * that passed the check (seq_cst: the increment must be visible before we read closed, and
   * close's store of closed before it reads in_submit: a store-load pair on both sides). */
  atomic_fetch_add(&r->in_submit, 1);
  int rc;
  if (atomic_load(&r->closed)) {
    rc = dps__error_set(err, DPS_ECLOSED, NULL, "the reporter is closing");
    goto out;
  }
  dps__update_view v;
  if ((rc = dps__update_check(u, r->max_body, &v, err))) goto out;
  record *rec = malloc(sizeof *rec + v.body_len);
  if (!rec) {
    rc = dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
    goto out;
  }
  memset(rec, 0, sizeof *rec);
  rec->owner = r;
  rec->user_data = user_data;
  rec->body_len = (uint32_t)dps__json_encode_update(&v, rec->body);
  rec->submit_ns = mono_ns();
  /* Counted before the enqueue, so an outcome can never be counted before its submission. */
  atomic_fetch_add_explicit(&r->submitted, 1, memory_order_release);
  if (in_callback_of == r) {
    /* From our result callback, on the sender's thread: the sender is awake, so no wake-up, and
     * it must drain again before it sleeps, which the kick sees to (event_active on the loop's own
     * thread: no system call). Never a wait for room: only this thread makes it. */
    rc = dps__ring_enqueue_consumer(r->ring, rec);
    if (rc == DPS_OK) kick(r);
  } else {
    rc = dps__ring_enqueue(r->ring, rec);
  }
  if (rc != DPS_OK) {
    atomic_fetch_sub_explicit(&r->submitted, 1, memory_order_release);
    free(rec);
    if (rc == DPS_EFULL && dps__ring_shards(r->ring) > 1)
      rc = dps__error_set(err, rc, NULL,
                          "the queue is full (this thread's shard: %zu of the %zu updates; see "
                          "queue_shards)",
                          dps__ring_capacity(r->ring) / dps__ring_shards(r->ring),
                          dps__ring_capacity(r->ring));
    else
      rc = dps__error_set(err, rc, NULL, "%s",
                          rc == DPS_EFULL ? "the queue is full" : dps_strerror(rc));
  }
out:
  atomic_fetch_sub(&r->in_submit, 1);
  return rc;
}

static uint64_t outcomes(dps_reporter *r) {
  return atomic_load_explicit(&r->delivered, memory_order_acquire) +
         atomic_load_explicit(&r->failed, memory_order_acquire) +
         atomic_load_explicit(&r->expired, memory_order_acquire);
}

/* Waits until @p done(r, @p target) or the absolute CLOCK_REALTIME time @p until; true when done.
 * With @p by_count, @p target is an outcome count and the sender wakes us when it is reached
 * (wake_at); otherwise whoever makes done() true broadcasts. Setting wake_at and then re-checking
 * (both seq_cst) against the sender's increment and then load of wake_at: one side sees the
 * other, and the broadcast takes the lock we hold until we wait, so no wake-up is lost. */
static bool wait_until(dps_reporter *r, bool (*done)(dps_reporter *, uint64_t), uint64_t target,
                       bool by_count, const struct timespec *until) {
  bool ok;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    if (by_count && target < atomic_load(&r->wake_at)) atomic_store(&r->wake_at, target);
    if ((ok = done(r, target))) break;
    if (pthread_cond_timedwait(&r->cond, &r->lock, until) != 0) {
      ok = done(r, target);
      break;
    }
  }
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static bool outcomes_reached(dps_reporter *r, uint64_t target) { return outcomes(r) >= target; }

static struct timespec deadline_after(uint32_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  return ts;
}

int dps_flush(dps_reporter *r, uint32_t timeout_ms) {
  uint64_t target = atomic_load(&r->submitted);
  struct timespec until = deadline_after(timeout_ms);
  return wait_until(r, outcomes_reached, target, true, &until) ? DPS_OK : DPS_ETIMEDOUT;
}

static bool stop_done(dps_reporter *r, uint64_t unused) {
  (void)unused;
  return r->stopping;
}

int dps_reporter_close(dps_reporter *r, uint32_t deadline_ms) {
  if (!r) return DPS_OK;
  atomic_store(&r->closed, true);
  /* Producers that passed the closed check finish their enqueue first. */
  while (atomic_load(&r->in_submit) != 0) sched_yield();
  int rc = dps_flush(r, deadline_ms);
  /* Whatever is left is expired by the loop itself, which then stops. */
  event_active(r->stop_ev, 0, 0);
  if (r->thread_started) {
    pthread_join(r->thread, NULL);
  } else {
    /* Attached to the caller's loop: the loop must run for the stop to happen; wait for it. */
    struct timespec until = deadline_after(UINT32_MAX / 2);
    wait_until(r, stop_done, 0, false, &until);
  }
  reporter_free(r);
  return rc == DPS_ETIMEDOUT ? DPS_OK : rc;
}

int dps_stats_get(dps_reporter *r, dps_stats *s) {
  memset(s, 0, sizeof *s);
  /* Outcomes first, then submitted: every counted outcome was submitted before, so pending
   * never goes negative. */
  s->delivered = atomic_load_explicit(&r->delivered, memory_order_acquire);
  s->failed = atomic_load_explicit(&r->failed, memory_order_acquire);
  s->expired = atomic_load_explicit(&r->expired, memory_order_acquire);
  s->submitted = atomic_load_explicit(&r->submitted, memory_order_acquire);
  uint64_t done = s->delivered + s->failed + s->expired;
  s->pending = s->submitted > done ? s->submitted - done : 0;
  s->queued = dps__ring_depth(r->ring);
  s->in_flight = atomic_load_explicit(&r->in_flight, memory_order_relaxed);
  s->retries = atomic_load_explicit(&r->retries, memory_order_relaxed);
  s->refused = atomic_load_explicit(&r->refused, memory_order_relaxed);
  s->throttled = atomic_load_explicit(&r->throttled, memory_order_relaxed);
  s->send_rate = (double)atomic_load_explicit(&r->send_rate_milli, memory_order_relaxed) / 1000.0;
  s->connections = atomic_load_explicit(&r->connections, memory_order_relaxed);
  s->latency_p50_us = dps__histogram_percentile(&r->latency, 50);
  s->latency_p90_us = dps__histogram_percentile(&r->latency, 90);
  s->latency_p99_us = dps__histogram_percentile(&r->latency, 99);
  s->latency_max_us = dps__histogram_max(&r->latency);
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < FAIL_CODES; i++) {
    memcpy(s->failed_by_code[i].code, r->fail_codes[i].code, sizeof s->failed_by_code[i].code);
    s->failed_by_code[i].count = r->fail_codes[i].count;
  }
  pthread_mutex_unlock(&r->lock);
  return DPS_OK;
}
