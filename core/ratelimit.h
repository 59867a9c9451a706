/*
 * ratelimit.h: the sender's rate controller. It paces sends to the rate the endpoint accepts,
 * from 1 call a second (the real service's per-account limit is 10/s, shared by every host of
 * the account) to hundreds of thousands (a local emulator), and it costs nothing while the
 * endpoint throttles nothing. Two independent parts:
 *
 *  - The user's cap (max_rate, max_burst): a token bucket that is always on when set. It starts
 *    full, so max_burst requests may go at once after a quiet spell.
 *
 *  - The controller. Off (unlimited) until the first throttle: no minimum sample, because at
 *    10 calls a second there never is one. Then:
 *    * First throttle: W, the rate to come back to, is the sends of the last second: a guess
 *      from above (they include the endpoint's burst and all that went over it), which the
 *      throttles that follow cut down, each by beta, within a few calls. Sends rather than
 *      successes so that reporters starting together behind one limit start from the same place,
 *      whichever of them the endpoint's burst happened to go to.
 *    * Cut: on a later throttle, W is the pace the endpoint just refused (CUBIC's W_max), cut
 *      further by (1 + beta) / 2 when it is below the last W (RFC 9438's fast convergence: others
 *      behind the limit are taking more, so give way). The pace becomes beta W, the bucket is
 *      emptied (the next send waits 1/rate) and the cut's time is kept. A throttle of a request
 *      sent before the last cut says nothing new and is ignored: with many requests in flight,
 *      one cut per window, as CUBIC does.
 *    * Probe: rate(t) = W (1 + (1 - beta) ((t - K) / K)^3), t the seconds since the cut, so
 *      rate(0) = beta W, the curve flattens as it nears W at t = K and then probes beyond it ever
 *      faster ((2 - beta) W at 2K). K is 8 s, or the time W takes to send 70 calls when that is
 *      longer, but never more than 12 s (8.75 s at 8/s, 12 s from 5.8/s down): a throttle costs
 *      about one call per cycle, so a cycle must hold enough of them; but a reporter squeezed
 *      below its share by others behind the same limit would, with K = 70 s at 1/s, take a
 *      minute to undo each cut while they probe every 8 s, and starve (simulated: a quarter
 *      share fell to 0.05; in test_limits one of four took over 120 s for 250 updates). The cap
 *      trades that for more throttles when alone at a low rate: 7.5% at 1/s, 1.4% at 5/s
 *      (bench/bench_fairness.c and test_ratelimit's simulation measure both). Scale-free, unlike
 * the SDKs' CUBIC, whose constant C = 0.4 is in calls/s^3: from W = 10/s the SDKs' curve (beta 0.7)
 * is back at W in 2 s and at 3 W in 5.6 s, which against a 10/s limit means a throttle every few
 * seconds. Below W the endpoint's bucket fills by W (1 - beta) K / 4 (0.4 s of W, or 3.5 calls),
 *      which the part above W then spends: the limit's tokens are used, not wasted, while its
 *      bucket holds more than that (the service's holds 10 s). Simulated against a bucket
 *      (tests/test_ratelimit.c): 7.5% at 1/s, 1.1% at 10/s, 0.2% at 50/s, 0.01% at 1000/s.
 *    * Several reporters behind one limit do not converge to equal shares: the bucket's
 *      throttles come to all of them at once and the scale-free curve grows each in proportion
 *      to its own rate, so the ratios stay (README, "Fair shares: not reached"). The cap on K
 *      keeps a squeezed reporter from starving; fast convergence evens the shares a little.
 *    * Off again: once the curve is past W and acquire has refused nothing for
 *      DPS__RATELIMIT_OFF_AFTER_NS (demand sits below the pace), the controller turns off.
 *  - Hold: a response's Retry-After / x-amz-retry-after holds every send until then.
 *
 * The bucket holds max(1, rate x 0.1 s): sends are spaced at the pace, not released in bunches.
 *
 * Single-threaded (the sender's loop). Pure arithmetic on the caller's CLOCK_MONOTONIC now_ns, so
 * tests drive time; a now_ns earlier than one already seen counts as no time passing.
 */
#ifndef DPS_CORE_RATELIMIT_H
#define DPS_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define DPS__RATELIMIT_BETA 0.8           /* the pace after a cut, as a share of W */
#define DPS__RATELIMIT_PROBE_K_S 8.0      /* K: seconds from a cut back to W ... */
#define DPS__RATELIMIT_PROBE_CALLS 70.0   /* ... or the time W takes to send this many ... */
#define DPS__RATELIMIT_PROBE_K_MAX_S 12.0 /* ... but no longer than this (starvation) */
#define DPS__RATELIMIT_MIN_RATE 0.2       /* requests/s: the floor of the pace */
#define DPS__RATELIMIT_BURST_S 0.1        /* seconds of the rate the bucket holds (at least 1) */
#define DPS__RATELIMIT_CUT_SHARE 0.1 /* a later cut needs this share of last second's answers */
#define DPS__RATELIMIT_OFF_AFTER_NS (UINT64_C(5) * 1000000000) /* see "Off again" */
#define DPS__RATELIMIT_SLOTS 10 /* of DPS__RATELIMIT_SLOT_NS: the success window is 1 s */
#define DPS__RATELIMIT_SLOT_NS UINT64_C(100000000)

typedef struct dps__bucket {
  double rate, capacity, tokens; /* rate 0: no bucket */
  uint64_t refilled_ns;
} dps__bucket;

typedef struct dps__ratelimit {
  dps__bucket cap; /* the user's */
  bool on;
  dps__bucket pace;       /* the controller's, while on */
  double w;               /* W: the rate the last cut came down from */
  double k_s;             /* K for this W */
  uint64_t cut_ns;        /* the last cut */
  uint64_t refused_ns;    /* the last refusal by the controller */
  uint64_t hold_until_ns; /* Retry-After: nothing goes before this */
  /* Sends per slot over the last second; slot is the current one (now_ns / SLOT_NS). */
  uint32_t sends[DPS__RATELIMIT_SLOTS];
  uint64_t slot;
} dps__ratelimit;

/* Off, nothing measured; @p max_rate (0: none) and @p max_burst (0: a tenth of a second of
 * max_rate, at least 1) set the user's cap, full at @p now_ns. */
void dps__ratelimit_init(dps__ratelimit *r, double max_rate, unsigned max_burst, uint64_t now_ns);

/* May one request go at @p now_ns? true takes a token from each bucket in force; false:
 * *@p wait_ns (when not NULL) says how long until one will be there (acquire again at now +
 * wait succeeds, unless a throttle or a hold comes between). */
bool dps__ratelimit_acquire(dps__ratelimit *r, uint64_t now_ns, uint64_t *wait_ns);

/* A throttling response arrived at @p now_ns for a request sent at @p sent_ns: engages the
 * controller, or cuts it (see above). Returns true when it cut. */
bool dps__ratelimit_on_throttle(dps__ratelimit *r, uint64_t now_ns, uint64_t sent_ns);

/* A successful response arrived at @p now_ns: counts it, moves the pace along the curve, and may
 * turn the controller off. */
void dps__ratelimit_on_success(dps__ratelimit *r, uint64_t now_ns);

/* Nothing is sent before @p until_ns (a Retry-After); a later hold extends, an earlier one
 * does not shorten. */
void dps__ratelimit_hold(dps__ratelimit *r, uint64_t until_ns);

/* The controller's pace in requests/s at @p now_ns; 0 while it is off. */
double dps__ratelimit_rate(dps__ratelimit *r, uint64_t now_ns);

/* W, the rate the last cut came down from; 0 before any. For tests and stats. */
double dps__ratelimit_estimate(const dps__ratelimit *r);

#endif
