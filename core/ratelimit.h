/*
 * ratelimit.h: the client-side send-rate limiter of the AWS SDKs' "adaptive" retry mode,
 * simplified. Off (unlimited) until the service throttles; then a token bucket holds the sender to
 * a rate that CUBIC brings back up while responses succeed, until the limiter is no longer needed.
 *
 *  - Demand: acquire counts every send it admits, on or off, in ten 100 ms slots; the measured
 *    send rate is the count over the last second (the current slot included) divided by the time
 *    it covers (0.9 to 1 s). A plain window rather than the SDKs' EWMA over half-second buckets
 *    (weight 0.8 on the past), which after 5 s at a steady rate still reads 11% low.
 *  - Throttle: the allowed rate becomes beta (0.7) x the measured rate (x the smaller of the
 *    measured and the allowed rate when already on, as the SDKs do: the measure lags a cut by up to
 *    a second), never below DPS__RATELIMIT_MIN_RATE (0.5/s). The rate cut from, W, is remembered.
 *  - Success: CUBIC, as the SDKs do: rate(t) = C (t - K)^3 + W, t the seconds since the last
 *    throttle, C = 0.4, K = cbrt(W (1 - beta) / C), so rate(0) = beta W. Chosen over additive or
 *    multiplicative increase because it is scale-aware (back to W in K = 9.1 s from W = 1000/s,
 *    4.2 s from 100/s, where +N/s is too slow at high rates and too quick at low ones), it
 *    approaches W slowly, the rate that was throttled, then probes beyond it ever faster; and it is
 *    what the service's other clients do, so we share its capacity fairly with them. The curve
 *    rises monotonically with t: recovery needs no per-success step, only the time elapsed.
 *  - Switching off: once the curve is past W (t >= K) and acquire has refused nothing for
 *    DPS__RATELIMIT_OFF_AFTER_NS (5 s), demand sits under the allowed rate and has for a while:
 *    the limiter turns off. (The SDKs never turn it off, which keeps limiting bursts after quiet
 *    spells long after the service has recovered.)
 *  - Token bucket: capacity max(1, rate x 0.1 s), refilled continuously. A tenth of a second of
 *    burst (the SDKs' bucket holds a whole second of the rate) keeps the sends paced close to
 *    the rate the service asked for, rather than in bunches it may throttle again. A throttle
 *    empties the bucket: the next send waits 1/rate.
 *
 * Single-threaded (the sender's loop). Pure arithmetic on the caller's CLOCK_MONOTONIC now_ns, so
 * tests drive time; a now_ns earlier than one already seen counts as no time passing.
 */
#ifndef DPS_CORE_RATELIMIT_H
#define DPS_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define DPS__RATELIMIT_BETA 0.7     /* the cut on a throttle */
#define DPS__RATELIMIT_CUBIC_C 0.4  /* CUBIC's scaling constant, the SDKs' */
#define DPS__RATELIMIT_MIN_RATE 0.5 /* requests/s: the floor of the allowed rate */
#define DPS__RATELIMIT_BURST_S 0.1  /* seconds of the rate the bucket holds (at least 1 token) */
#define DPS__RATELIMIT_OFF_AFTER_NS (UINT64_C(5) * 1000000000) /* see "Switching off" */
#define DPS__RATELIMIT_SLOTS 10 /* of DPS__RATELIMIT_SLOT_NS: the demand window is 1 s */
#define DPS__RATELIMIT_SLOT_NS UINT64_C(100000000)

typedef struct dps__ratelimit {
  bool on;
  double rate;   /* allowed requests/s while on */
  double tokens; /* in [0, capacity] after each refill */
  uint64_t refilled_ns;
  /* CUBIC */
  double last_max_rate; /* W: the rate cut from at the last throttle */
  double k_s;           /* K: seconds from the last throttle until the curve is back at W */
  uint64_t throttled_ns;
  uint64_t refused_ns; /* the last refusal by acquire */
  /* Demand: sends admitted per slot; slot_index is the current slot (now_ns / SLOT_NS). */
  uint32_t sends[DPS__RATELIMIT_SLOTS];
  uint64_t slot_index;
  uint64_t first_send_ns; /* 0 until the first send: a younger window is measured over its age */
  /* Responses and throttles per slot over the last second (same slots), to tell a throttled
   * endpoint from the odd throttle. */
  uint32_t responses[DPS__RATELIMIT_SLOTS], throttles[DPS__RATELIMIT_SLOTS];
  uint64_t resp_slot;
} dps__ratelimit;

/* The limiter reacts to throttling only when at least this share of at least MIN responses of
 * the last second were throttles: a service at its limit throttles much of what goes over it,
 * while the odd throttle (a busy partition, an injected fault) is answered by the retry backoff
 * alone. Reacting to each one would, with many streams in flight, cut the rate to nothing. */
#define DPS__RATELIMIT_TRIGGER_SHARE 0.20
#define DPS__RATELIMIT_TRIGGER_MIN 100

/* Off, nothing measured yet. */
void dps__ratelimit_init(dps__ratelimit *r);

/* May one request go at @p now_ns? true takes a token and counts the send; false: *@p wait_ns
 * (when not NULL) says how long until a token will be there (acquire again at now + wait
 * succeeds, unless a throttle comes between). Always true while off. */
bool dps__ratelimit_acquire(dps__ratelimit *r, uint64_t now_ns, uint64_t *wait_ns);

/* A throttling response arrived at @p now_ns for a request sent at @p sent_ns: turns the limiter
 * on, or cuts it further; a throttle of a request sent before the last cut is ignored (one cut
 * per window). */
void dps__ratelimit_on_throttle(dps__ratelimit *r, uint64_t now_ns, uint64_t sent_ns);

/* Counts a response at @p now_ns (@p throttled: a throttling error) and says whether throttles
 * are now sustained (see DPS__RATELIMIT_TRIGGER_SHARE): the caller then calls on_throttle. */
bool dps__ratelimit_note_response(dps__ratelimit *r, uint64_t now_ns, bool throttled);

/* A successful response arrived at @p now_ns: raises the rate along the curve, and may turn the
 * limiter off. Nothing while off. */
void dps__ratelimit_on_success(dps__ratelimit *r, uint64_t now_ns);

/* The allowed rate in requests/s; 0 while off (unlimited). */
double dps__ratelimit_rate(const dps__ratelimit *r);

/* The measured send rate at @p now_ns (requests/s over the last second), for stats and tests. */
double dps__ratelimit_measured(const dps__ratelimit *r, uint64_t now_ns);

#endif
