/*
 * load_run.c: a `dpstatus load` run through the public reporter API. One scheduler thread (this
 * one) submits: in the open model at fixed times (update i at start + i/rate, late or not, so a
 * slow endpoint cannot slow the arrivals down), in the closed model whenever fewer than
 * `concurrency` updates are in flight. The result callback, on the sender's thread, records each
 * outcome; its latency is measured twice: from the scheduled time (corrected for coordinated
 * omission, as wrk2 does) and from dps_submit (the reporter's own, uncorrected). Updates
 * scheduled during the warmup are sent but not counted. With a ramp the open model's rate grows
 * linearly from the start (warmup included) and update i is scheduled when the integral of the
 * rate reaches i. A progress thread prints a line a second when stderr is a terminal. Without an
 * endpoint the emulator runs in this process.
 *
 * --find-limit runs the open model in steps instead (see find_limit): each step's outcomes are in
 * before the next starts, and are logged (scheduled time and kind) so that the step can be read
 * as a whole: its throttled share, and where its first throttle fell.
 */
#include <inttypes.h>
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
#include "cli/load.h"
#include "cli/reporter_args.h"
#include "core/aws_error.h"
#include "core/classify.h"

#define PROG DPS_LOAD_PROG
#define SUBMIT_WAIT_MS 200 /* the full-queue wait: short, so that a stop is noticed */
#define NS_PER_S UINT64_C(1000000000)

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns) {
  struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_S), .tv_nsec = (long)(t_ns % NS_PER_S)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0 && !interrupted) {
  }
}

/* The square root of @p x >= 0 by Newton's method: the CLI does not link libm. Starting above the
 * root, the iterates decrease monotonically to it; the loop ends when they stop decreasing. */
static double sqrt_newton(double x) {
  if (x <= 0) return 0;
  double g = x > 1 ? x : 1;
  for (;;) {
    double next = 0.5 * (g + x / g);
    if (!(next < g)) return g;
    g = next;
  }
}

/* Updates scheduled in the first @p t seconds: the integral of the rate. A ramp's rate
 * from + (to - from) t / T integrates to from t + (to - from) t^2 / 2T; after it, steady. */
static double scheduled_by(const dps_load_opts *o, double t) {
  const dps_load_ramp *rp = &o->ramp;
  if (rp->seconds <= 0) return o->rate * t;
  if (t < rp->seconds) return rp->from * t + (rp->to - rp->from) * t * t / (2 * rp->seconds);
  return (rp->from + rp->to) / 2 * rp->seconds + rp->to * (t - rp->seconds);
}

/* The open model's schedule: update @p i goes at this offset (ns) from the start, the t at which
 * scheduled_by(t) = i. On the ramp that is the positive root of a t^2 + from t - i = 0 with
 * a = (to - from) / 2T, written 2i / (from + sqrt(from^2 + 4ai)) to stay exact when a is small. */
static uint64_t scheduled_ns(const dps_load_opts *o, uint64_t i) {
  const dps_load_ramp *rp = &o->ramp;
  if (rp->seconds <= 0) return (uint64_t)((double)i * 1e9 / o->rate);
  double n = (double)i, ramp_n = scheduled_by(o, rp->seconds), t;
  if (i == 0) {
    t = 0;
  } else if (n < ramp_n) {
    double a = (rp->to - rp->from) / (2 * rp->seconds);
    t = 2 * n / (rp->from + sqrt_newton(rp->from * rp->from + 4 * a * n));
  } else {
    t = rp->seconds + (n - ramp_n) / rp->to;
  }
  return (uint64_t)(t * 1e9);
}

/* The rate the measured window should have achieved: with a ramp, its mean over the window. */
static double expected_rate(const dps_load_opts *o, double warmup_s, double duration_s) {
  if (o->ramp.seconds <= 0 || duration_s <= 0) return o->rate;
  return (scheduled_by(o, warmup_s + duration_s) - scheduled_by(o, warmup_s)) / duration_s;
}

/* Shared by the scheduler, the sender's callback and the progress thread. The report and the
 * counters are under `lock`; the input source under `src_lock` (see submit_next). */
typedef struct run_state {
  pthread_mutex_t lock;
  pthread_cond_t room;      /* closed model: the callback could not refill, or the run is done */
  pthread_cond_t progress;  /* the progress thread's timer and stop */
  pthread_mutex_t src_lock; /* the source and its current item, from next() to dps_submit */
  const dps_load_opts *o;
  dps_reporter *r;
  dps_send_source *src;
  uint64_t start_ns, measure_ns, warmup_ns, end_ns;
  uint64_t in_flight, last_result_ns;
  uint64_t measured; /* submitted in the measured window, or about to be */
  bool done;         /* nothing more to submit: the count, the duration or the input ended */
  bool progress_stop, oom;
  int sched_rc; /* -1 after a read error (printed) */
  _Atomic bool tls_fatal;
  char tls_message[512];
  dps_load_report rep;
  /* --find-limit: the current step's outcomes, each (scheduled offset << 2 | LOG_*) */
  uint64_t *log;
  size_t log_n, log_cap;
  bool log_oom;
} run_state;

enum { LOG_OK = 0, LOG_THROTTLED = 1, LOG_ERROR = 2 };

static bool should_stop(run_state *st) { return interrupted || atomic_load(&st->tls_fatal); }

/*
 * Takes the next update from the source and submits it, scheduled @p off ns after the start.
 * Called with src_lock held (the source's item lives until dps_submit has copied it), never with
 * lock. With @p retry_full a full queue is tried again until it takes the update (or a stop);
 * without (the result callback, on the sender's thread, which alone makes room), a full queue
 * rejects the update with a message: dps_load_run sizes the queue so that it cannot happen.
 * Returns false when nothing more is to be submitted; then `done` is set and `room` signalled,
 * so a waiting scheduler sees it.
 */
static bool submit_next(run_state *st, uint64_t off, bool retry_full) {
  const dps_load_opts *o = st->o;
  bool measuring = st->start_ns + off >= st->measure_ns;
  pthread_mutex_lock(&st->lock);
  if (!st->done && (should_stop(st) || (o->count && st->measured >= o->count) ||
                    st->start_ns + off >= st->end_ns))
    st->done = true;
  if (st->done) {
    pthread_cond_signal(&st->room);
    pthread_mutex_unlock(&st->lock);
    return false;
  }
  st->in_flight++; /* before the submit: its result may come before dps_submit returns */
  if (measuring) st->measured++; /* reserved: given back if the submit fails */
  pthread_mutex_unlock(&st->lock);

  dps_send_item it;
  dps_send_item_kind k = dps_send_source_next(st->src, &it);
  int rc = DPS_EINVAL;
  dps_error err = {0};
  if (k == DPS_SEND_ITEM_UPDATE)
    while ((rc = dps_submit(st->r, &it.update, (void *)(uintptr_t)off, &err)) == DPS_EFULL &&
           retry_full && !should_stop(st)) {
    }
  bool full = k == DPS_SEND_ITEM_UPDATE && rc == DPS_EFULL && !should_stop(st);
  pthread_mutex_lock(&st->lock);
  if (rc == DPS_OK && measuring) {
    dps_load_second *s = dps_load_report_second(
        &st->rep, (size_t)((st->start_ns + off - st->measure_ns) / NS_PER_S));
    if (s) s->sent++;
  } else if (rc != DPS_OK) {
    st->in_flight--;
    if (measuring) st->measured--;
    if (k == DPS_SEND_ITEM_REJECTED || full ||
        (k == DPS_SEND_ITEM_UPDATE && rc != DPS_ECLOSED && rc != DPS_EFULL))
      st->rep.rejected++;
    if (k == DPS_SEND_ITEM_END || k == DPS_SEND_ITEM_READ_ERROR) {
      st->done = true;
      if (k == DPS_SEND_ITEM_READ_ERROR) st->sched_rc = -1;
      pthread_cond_signal(&st->room);
    } else {
      /* The in-flight count went down without a result: let a waiting scheduler refill. */
      pthread_cond_signal(&st->room);
    }
  }
  pthread_mutex_unlock(&st->lock);
  if (k == DPS_SEND_ITEM_READ_ERROR)
    dps_cli_error(PROG, "%s", it.reason);
  else if (k == DPS_SEND_ITEM_REJECTED)
    dps_cli_error(PROG, "line %" PRIu64 ": %s", it.line, it.reason);
  else if (full)
    dps_cli_error(PROG, "update %" PRIu64 ": the queue is full", it.line);
  else if (k == DPS_SEND_ITEM_UPDATE && rc != DPS_OK && rc != DPS_EFULL && rc != DPS_ECLOSED)
    dps_cli_error(PROG, "update %" PRIu64 ": %s", it.line,
                  err.message[0] ? err.message : dps_strerror(rc));
  return k != DPS_SEND_ITEM_END && k != DPS_SEND_ITEM_READ_ERROR;
}

/* user_data carries the update's scheduled time, in ns from the start. */
static void on_result(const dps_result *res, void *arg) {
  run_state *st = arg;
  uint64_t now = now_ns();
  uint64_t scheduled = st->start_ns + (uint64_t)(uintptr_t)res->user_data;
  uint64_t corrected = now > scheduled ? (now - scheduled) / 1000 : 0;
  if (corrected < res->latency_us) corrected = res->latency_us;
  bool ok = res->outcome == DPS_OUTCOME_DELIVERED;
  bool answered = res->outcome != DPS_OUTCOME_EXPIRED; /* expired ones have no latency */
  pthread_mutex_lock(&st->lock);
  st->in_flight--;
  if (scheduled >= st->measure_ns) {
    dps_load_report *r = &st->rep;
    r->requests++;
    if (ok)
      r->ok++;
    else
      dps_load_report_error(r, res->error_code, 1);
    dps_load_second *s = dps_load_report_second(r, (size_t)((now - st->measure_ns) / NS_PER_S));
    if (s) {
      if (ok)
        s->ok++;
      else
        s->errors++;
      if (answered) dps__hdr_record(&s->latency, corrected);
    } else {
      st->oom = true;
    }
    if (answered) {
      dps__hdr_record(&r->corrected, corrected);
      dps__hdr_record(&r->uncorrected, res->latency_us);
    }
    st->last_result_ns = now;
  }
  if (st->o->find_limit) {
    if (st->log_n == st->log_cap) {
      size_t cap = st->log_cap ? st->log_cap * 2 : 4096;
      uint64_t *grown = realloc(st->log, cap * sizeof *grown);
      if (grown) st->log = grown, st->log_cap = cap;
    }
    if (st->log_n < st->log_cap) {
      dps__aws_error e = {.http_status = res->http_status};
      snprintf(e.code, sizeof e.code, "%s", res->error_code);
      unsigned kind = ok ? LOG_OK : answered && dps__is_throttle(&e) ? LOG_THROTTLED : LOG_ERROR;
      st->log[st->log_n++] = ((uint64_t)(uintptr_t)res->user_data << 2) | kind;
    } else {
      st->log_oom = true;
    }
  }
  if (res->outcome == DPS_OUTCOME_FAILED && strcmp(res->error_code, "TLSError") == 0 &&
      !atomic_load(&st->tls_fatal)) {
    snprintf(st->tls_message, sizeof st->tls_message, "%s", res->error_message);
    atomic_store(&st->tls_fatal, true);
  }
  bool refill = st->o->rate <= 0 && !st->done;
  pthread_mutex_unlock(&st->lock);
  if (!refill) return;
  /* The closed model refills here, on the sender's thread, as h2load sends its next request from
   * the response's callback: no thread hand-off per update, and the sender drains the new one in
   * the same loop iteration (it is awake: no wake-up either). The queue holds the whole
   * concurrency (dps_load_run sizes it), so this submit never waits for room, which only this
   * thread could make. If the scheduler holds the source (it is filling), it is asked to refill
   * instead: never wait for another thread here. */
  if (pthread_mutex_trylock(&st->src_lock) == 0) {
    submit_next(st, now - st->start_ns, false); /* never spins on a full queue: see above */
    pthread_mutex_unlock(&st->src_lock);
  } else {
    pthread_mutex_lock(&st->lock);
    pthread_cond_signal(&st->room);
    pthread_mutex_unlock(&st->lock);
  }
}

static void *progress_main(void *arg) {
  run_state *st = arg;
  pthread_mutex_lock(&st->lock);
  uint64_t next = now_ns() + NS_PER_S;
  while (!st->progress_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&st->progress, &st->lock, &until);
    uint64_t now = now_ns();
    if (st->progress_stop || now < next) continue;
    next = now + NS_PER_S;
    const dps_load_report *r = &st->rep;
    double elapsed = (double)(now - st->start_ns) / 1e9;
    uint64_t sent = 0;
    for (size_t i = 0; i < r->n_series; i++) sent += r->series[i].sent;
    if (now < st->measure_ns) {
      fprintf(stderr, "\r" PROG ": %.0fs warming up, %" PRIu64 " in flight\033[K", elapsed,
              st->in_flight);
    } else {
      /* the last complete second */
      size_t t = (size_t)((now - st->measure_ns) / NS_PER_S);
      const dps_load_second *s = t > 0 && t - 1 < r->n_series ? &r->series[t - 1] : NULL;
      fprintf(stderr,
              "\r" PROG ": %.0fs sent %" PRIu64 ", ok %" PRIu64 ", errors %" PRIu64 ", %" PRIu64
              "/s, p50 %.1f ms, p99 %.1f ms\033[K",
              elapsed, sent, r->ok, r->requests - r->ok, s ? s->ok + s->errors : 0,
              s ? (double)dps__hdr_percentile(&s->latency, 50) / 1000 : 0,
              s ? (double)dps__hdr_percentile(&s->latency, 99) / 1000 : 0);
    }
    fflush(stderr);
  }
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

/* Submits on schedule until the duration, the count or the input ends (or a stop). The open
 * model submits everything from here; the closed model fills the concurrency from here and the
 * result callback refills, unless it had to hand a refill back (see on_result). Returns 0, or -1
 * on a read error (message printed). */
static int schedule(run_state *st) {
  const dps_load_opts *o = st->o;
  for (uint64_t i = 0;; i++) {
    uint64_t off;
    if (o->rate > 0) {
      off = scheduled_ns(o, i);
      if (st->start_ns + off < st->end_ns) sleep_until(st->start_ns + off);
    } else {
      pthread_mutex_lock(&st->lock);
      while (st->in_flight >= o->concurrency && !st->done && !should_stop(st)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&st->room, &st->lock, &until);
      }
      pthread_mutex_unlock(&st->lock);
      off = now_ns() - st->start_ns;
    }
    pthread_mutex_lock(&st->src_lock);
    bool more = submit_next(st, off, true);
    pthread_mutex_unlock(&st->src_lock);
    if (!more) break;
  }
  pthread_mutex_lock(&st->lock);
  st->done = true; /* a stop, seen here: the callback refills no more */
  int rc = st->sched_rc;
  pthread_mutex_unlock(&st->lock);
  return rc;
}

/* ---- --find-limit ------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* What one step saw, beside its dps_load_step. */
typedef struct step_view {
  double achieved;    /* outcomes per second, over the step's span and its drain */
  uint64_t ok_before; /* accepted before the first throttle */
  double first_s;     /* the first throttle's scheduled time, seconds into the step; -1: none */
} step_view;

/* Offers @p rate for a step (--step, or DPS_LOAD_STEP_MIN_CALLS calls if longer), waits for its
 * outcomes, and reads them. Returns false on a stop (interrupt, TLS failure). */
static bool run_step(run_state *st, dps_load_step_kind kind, double rate, step_view *v) {
  const dps_load_opts *o = st->o;
  dps_load_limit *L = &st->rep.limit;
  double secs = (double)o->step_ms / 1000;
  if (secs * rate < DPS_LOAD_STEP_MIN_CALLS) secs = DPS_LOAD_STEP_MIN_CALLS / rate;
  uint64_t n = (uint64_t)(secs * rate + 0.5);
  pthread_mutex_lock(&st->lock);
  st->log_n = 0;
  pthread_mutex_unlock(&st->lock);
  uint64_t base = now_ns() - st->start_ns, sent = 0;
  for (uint64_t i = 0; i < n && !should_stop(st); i++) {
    uint64_t off = base + (uint64_t)((double)i * 1e9 / rate);
    sleep_until(st->start_ns + off);
    pthread_mutex_lock(&st->src_lock);
    bool more = submit_next(st, off, true);
    pthread_mutex_unlock(&st->src_lock);
    if (!more) break;
    sent++;
  }
  uint64_t until = now_ns() + ((uint64_t)o->cfg.attempt_timeout_ms + 1000) * 1000000;
  while (!should_stop(st) && now_ns() < until && dps_flush(st->r, 100) != DPS_OK) {
  }
  uint64_t span_ns = now_ns() - st->start_ns - base;

  dps_load_step *s = &L->steps[L->n_steps++];
  *s = (dps_load_step){.kind = kind, .rate = rate, .seconds = (double)n / rate, .sent = sent};
  *v = (step_view){.first_s = -1};
  pthread_mutex_lock(&st->lock);
  qsort(st->log, st->log_n, sizeof *st->log, cmp_u64);
  for (size_t i = 0; i < st->log_n; i++) {
    unsigned k = (unsigned)(st->log[i] & 3);
    if (k == LOG_THROTTLED && v->first_s < 0) {
      v->first_s = (double)((st->log[i] >> 2) - base) / 1e9;
      v->ok_before = s->ok;
    }
    if (k == LOG_OK)
      s->ok++;
    else if (k == LOG_THROTTLED)
      s->throttled++;
    else
      s->errors++;
  }
  v->achieved = span_ns ? (double)st->log_n * 1e9 / (double)span_ns : 0;
  pthread_mutex_unlock(&st->lock);
  return !should_stop(st);
}

static double share_of(const dps_load_step *s) {
  return s->sent ? (double)s->throttled / (double)s->sent : 0;
}

/*
 * The limit, in three phases. Raise: from --rate, the rate doubles each step until one is
 * throttled above --max-throttle. A token bucket hides its rate until its burst is spent, so that
 * step's rate is above the limit but says little of it; its first throttle, with the steps before
 * it that were above the limit, say how much the bucket held (the burst seen). Measure: the same
 * rate again, with the bucket now empty: every call it accepts is a token refilled, so the accepted
 * rate is the limit itself. Confirm: offer that rate; if more than --max-throttle is throttled,
 * lower it by the excess and try again. The first rate that holds is the highest sustained. Returns
 * 0, or -1 on a stop.
 */
static int find_limit(run_state *st) {
  const dps_load_opts *o = st->o;
  dps_load_limit *L = &st->rep.limit;
  L->ran = true;
  L->max_throttle = o->max_throttle;
  step_view v;
  double r = o->rate, first_ok = 0, first_s = 0;
  for (;;) {
    if (!run_step(st, DPS_LOAD_STEP_RAISE, r, &v)) return -1;
    const dps_load_step *s = &L->steps[L->n_steps - 1];
    if (share_of(s) > o->max_throttle) {
      first_ok = (double)v.ok_before;
      first_s = v.first_s;
      break;
    }
    if (v.achieved < DPS_LOAD_RATE_THRESHOLD * r || r >= DPS_LOAD_MAX_RATE ||
        L->n_steps >= DPS_LOAD_MAX_STEPS - 10) {
      L->rate = v.achieved < r ? v.achieved : r; /* not found: as far as this run could go */
      L->throttled_share = share_of(s);
      return 0;
    }
    r = r * 2 < DPS_LOAD_MAX_RATE ? r * 2 : DPS_LOAD_MAX_RATE;
  }
  if (!run_step(st, DPS_LOAD_STEP_MEASURE, r, &v)) return -1;
  const dps_load_step *m = &L->steps[L->n_steps - 1];
  double limit = (double)m->ok / m->seconds;
  /* What the bucket held when the steps began to take more than it refilled: drained by the
   * throttled step up to its first throttle, and by the raise steps just before it that were
   * already above the limit (their calls all accepted, the burst hiding it). */
  double burst = first_ok - limit * first_s;
  for (size_t k = L->n_steps - 2; k-- > 0 && L->steps[k].rate > limit;)
    burst += (double)L->steps[k].ok - limit * L->steps[k].seconds;
  L->burst = burst > 0 ? burst : 0;
  L->rate = limit;
  if (limit <= 0) return 0; /* nothing accepted at all: found stays false */
  while (L->n_steps < DPS_LOAD_MAX_STEPS) {
    if (!run_step(st, DPS_LOAD_STEP_CONFIRM, limit, &v)) return -1;
    const dps_load_step *c = &L->steps[L->n_steps - 1];
    L->rate = limit;
    L->throttled_share = share_of(c);
    if (L->throttled_share <= o->max_throttle) {
      L->found = true;
      return 0;
    }
    limit *= (1 - L->throttled_share) * 0.98;
  }
  return 0;
}

int dps_load_run(dps_load_opts *o) {
  run_state st = {0};
  int exit_code = DPS_EXIT_FAILURE;
  dps_send_source *src = NULL;
  dps_reporter *r = NULL;
  dps_cli_embedded emb = {0};
  bool progress = false;
  pthread_t progress_thread;
  char why[512];

  pthread_mutex_init(&st.lock, NULL);
  pthread_mutex_init(&st.src_lock, NULL);
  pthread_cond_init(&st.room, NULL);
  pthread_cond_init(&st.progress, NULL);
  if (dps_load_report_init(&st.rep)) {
    dps_cli_error(PROG, "out of memory");
    goto out;
  }
  st.rep.target_rate = o->find_limit ? 0 : o->rate;
  st.rep.ramp = o->ramp;
  if (o->input) {
    if (dps_send_source_ndjson(&src, o->input, why, sizeof why)) {
      dps_cli_error(PROG, "%s", why);
      exit_code = DPS_EXIT_USAGE;
      goto out;
    }
  } else if (dps_send_source_generate_mix(&src, UINT64_MAX, &o->mix)) {
    dps_cli_error(PROG, "out of memory");
    goto out;
  }

  /* Signals stop the scheduling on this thread only: the threads started until the mask is
   * restored below inherit it blocked. */
  /* The closed model's callback refills without waiting: the queue must hold the concurrency. */
  if (o->rate <= 0)
    while (o->cfg.queue_capacity < o->concurrency) o->cfg.queue_capacity *= 2;
  sigset_t old;
  dps_cli_embedded *embp = o->cfg.endpoint_url ? NULL : &emb;
  if ((exit_code =
           dps_cli_reporter_start(PROG, &o->cfg, embp, on_result, &st, SUBMIT_WAIT_MS, &r, &old)))
    goto out;
  exit_code = DPS_EXIT_FAILURE; /* until the run says otherwise */
  st.start_ns = now_ns();
  st.warmup_ns = o->warmup_ms * 1000000;
  st.measure_ns = st.start_ns + st.warmup_ns;
  st.end_ns = o->duration_ms ? st.measure_ns + o->duration_ms * 1000000 : UINT64_MAX;
  st.o = o;
  st.r = r;
  st.src = src;
  if (isatty(STDERR_FILENO))
    progress = pthread_create(&progress_thread, NULL, progress_main, &st) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  int sched_rc = o->find_limit ? find_limit(&st) : schedule(&st);
  if (o->find_limit && sched_rc == 0 && st.log_oom) {
    dps_cli_error(PROG, "out of memory: a step's outcomes could not all be logged");
    sched_rc = -1;
  }
  uint64_t sched_end = now_ns();
  /* The drain: wait gives what is in flight the attempt timeout (and a second) to finish;
   * cancel gives it 100 ms. Either way the close reports what is left as expired. */
  if (!o->drain_cancel && !should_stop(&st)) {
    uint64_t until = now_ns() + ((uint64_t)o->cfg.attempt_timeout_ms + 1000) * 1000000;
    while (!should_stop(&st) && now_ns() < until && dps_flush(r, 100) != DPS_OK) {
    }
  }
  dps_stats stats;
  if (dps_stats_get(r, &stats) == DPS_OK) {
    st.rep.throttled = stats.throttled;
    st.rep.send_rate = stats.send_rate;
  }
  dps_reporter_close(r, o->drain_cancel ? 100 : 0);
  r = NULL;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (progress) {
    pthread_mutex_lock(&st.lock);
    st.progress_stop = true;
    pthread_cond_signal(&st.progress);
    pthread_mutex_unlock(&st.lock);
    pthread_join(progress_thread, NULL);
    fputs("\r\033[K", stderr);
  }
  free(dps_cli_embedded_stop(&emb));

  /* The measured window: from the end of the warmup to the last outcome (or the end of the
   * scheduling, if later: an endpoint that answers nothing does not shorten it). */
  uint64_t end = st.last_result_ns > sched_end ? st.last_result_ns : sched_end;
  st.rep.duration_s = end > st.measure_ns ? (double)(end - st.measure_ns) / 1e9 : 0;
  dps_load_report_text(stderr, &st.rep);
  exit_code = DPS_EXIT_OK;
  if (st.oom) {
    dps_cli_error(PROG, "out of memory: the series is incomplete");
    exit_code = DPS_EXIT_FAILURE;
  }
  if (o->json_path && dps_load_report_write(&st.rep, o->json_path)) exit_code = DPS_EXIT_FAILURE;
  if (o->html_path && dps_load_report_html(&st.rep, o->html_path)) exit_code = DPS_EXIT_FAILURE;
  double achieved = dps_load_report_achieved(&st.rep);
  double expected = expected_rate(o, (double)o->warmup_ms / 1000, st.rep.duration_s);
  if (atomic_load(&st.tls_fatal)) {
    dps_cli_error(PROG, "%s (use --ca-bundle FILE, or --no-verify-ssl)", st.tls_message);
    exit_code = DPS_EXIT_FAILURE;
  } else if (interrupted) {
    dps_cli_error(PROG, "interrupted: the report covers the run so far");
    exit_code = DPS_EXIT_FAILURE;
  } else if (sched_rc) {
    exit_code = DPS_EXIT_FAILURE;
  } else if (st.rep.requests == 0) {
    dps_cli_error(PROG, "no request completed in the measured window");
    exit_code = DPS_EXIT_FAILURE;
  } else if (o->find_limit) {
    const dps_load_limit *L = &st.rep.limit;
    const dps_load_step *last = L->n_steps ? &L->steps[L->n_steps - 1] : NULL;
    if (!L->found) {
      if (last && last->kind == DPS_LOAD_STEP_RAISE)
        dps_cli_error(PROG,
                      "no limit found: no step was throttled above --max-throttle before the "
                      "rate stopped being reached (%.1f/s of %.1f/s): this client or the "
                      "endpoint is slower than the limit, if there is one",
                      L->rate, last->rate);
      else if (L->rate <= 0)
        dps_cli_error(PROG, "no limit found: no call was accepted at %.1f/s",
                      last ? last->rate : 0.0);
      else
        dps_cli_error(PROG,
                      "no limit found: no rate held within --max-throttle; the last tried, "
                      "%.1f/s, had %.2f%% throttled",
                      L->rate, 100 * L->throttled_share);
      exit_code = DPS_EXIT_FAILURE;
    }
  } else if (o->rate > 0 && achieved < DPS_LOAD_RATE_THRESHOLD * expected) {
    dps_cli_error(PROG,
                  "the target rate was not reached: %.1f/s achieved, %.1f/s targeted%s (below "
                  "%.0f%%): the endpoint or this machine is the limit",
                  achieved, expected, o->ramp.seconds > 0 ? " (the ramp's mean)" : "",
                  DPS_LOAD_RATE_THRESHOLD * 100);
    exit_code = DPS_EXIT_FAILURE;
  }
  if (dps_load_slos_check(o->slos, &st.rep) > 0) exit_code = DPS_EXIT_SLO;

out:
  if (r) dps_reporter_close(r, 0);
  if (emb.base) free(dps_cli_embedded_stop(&emb));
  dps_send_source_free(src);
  dps_load_report_free(&st.rep);
  free(st.log);
  pthread_cond_destroy(&st.progress);
  pthread_cond_destroy(&st.room);
  pthread_mutex_destroy(&st.src_lock);
  pthread_mutex_destroy(&st.lock);
  return exit_code;
}
