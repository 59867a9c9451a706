/* ratelimit.c: the sender's rate controller (see ratelimit.h for the model and its choices). */
#include "core/ratelimit.h"

#define NS_PER_S 1e9
#define SLOTS DPS__RATELIMIT_SLOTS
#define SLOT_NS DPS__RATELIMIT_SLOT_NS
/* A token short by less than this counts as there: the refill of exactly the wait acquire
 * reported may come out a rounding error short of 1. Worth under 2 ns at the lowest rate. */
#define TOKEN_SLACK 1e-12

/* K, the seconds from a cut back to W: DPS__RATELIMIT_PROBE_K_S, or longer at low rates so that
 * a cycle holds enough calls, up to DPS__RATELIMIT_PROBE_K_MAX_S (see ratelimit.h). */
static double k_of(double w) {
  double k = DPS__RATELIMIT_PROBE_CALLS / w;
  if (k < DPS__RATELIMIT_PROBE_K_S) k = DPS__RATELIMIT_PROBE_K_S;
  return k < DPS__RATELIMIT_PROBE_K_MAX_S ? k : DPS__RATELIMIT_PROBE_K_MAX_S;
}

/* ---- a token bucket -------------------------------------------------------------------------- */

static double default_capacity(double rate) {
  double c = rate * DPS__RATELIMIT_BURST_S;
  return c > 1.0 ? c : 1.0;
}

static void bucket_refill(dps__bucket *b, uint64_t now_ns) {
  if (now_ns <= b->refilled_ns) return;
  b->tokens += (double)(now_ns - b->refilled_ns) / NS_PER_S * b->rate;
  if (b->tokens > b->capacity) b->tokens = b->capacity;
  b->refilled_ns = now_ns;
}

/* Tokens accrue at the old rate up to now, then at the new one; the bucket shrinks with it. */
static void bucket_set_rate(dps__bucket *b, double rate, uint64_t now_ns) {
  bucket_refill(b, now_ns);
  b->rate = rate;
  b->capacity = default_capacity(rate);
  if (b->tokens > b->capacity) b->tokens = b->capacity;
}

/* 0 when a token is there at @p now_ns, else the ns until one is. */
static uint64_t bucket_wait(dps__bucket *b, uint64_t now_ns) {
  bucket_refill(b, now_ns);
  if (b->tokens >= 1.0 - TOKEN_SLACK) return 0;
  double w = (1.0 - b->tokens) / b->rate * NS_PER_S;
  /* From refilled_ns, which is now unless now_ns went back in time. */
  return (b->refilled_ns > now_ns ? b->refilled_ns - now_ns : 0) + (uint64_t)w + 1;
}

/* ---- the controller ------------------------------------------------------------------------ */

void dps__ratelimit_init(dps__ratelimit *r, double max_rate, unsigned max_burst, uint64_t now_ns) {
  *r = (dps__ratelimit){.on = false};
  if (max_rate > 0) {
    double cap = max_burst ? (double)max_burst : default_capacity(max_rate);
    r->cap = (dps__bucket){.rate = max_rate, .capacity = cap, .tokens = cap, .refilled_ns = now_ns};
  }
}

/* The sends of the last second, per slot; advancing clears the slots the window left. */
static void advance(dps__ratelimit *r, uint64_t now_ns) {
  uint64_t s = now_ns / SLOT_NS;
  if (s <= r->slot) return;
  for (uint64_t i = 1; i <= s - r->slot && i <= SLOTS; i++) {
    uint64_t k = (r->slot + i) % SLOTS;
    r->sends[k] = 0;
  }
  r->slot = s;
}

static uint64_t last_second(const uint32_t *slots) {
  uint64_t n = 0;
  for (int i = 0; i < SLOTS; i++) n += slots[i];
  return n;
}

/* The curve at @p now_ns (see ratelimit.h), never below the floor. */
static double curve(const dps__ratelimit *r, uint64_t now_ns) {
  double t = now_ns > r->cut_ns ? (double)(now_ns - r->cut_ns) / NS_PER_S : 0.0;
  double d = (t - r->k_s) / r->k_s;
  double rate = r->w * (1.0 + (1.0 - DPS__RATELIMIT_BETA) * d * d * d);
  return rate > DPS__RATELIMIT_MIN_RATE ? rate : DPS__RATELIMIT_MIN_RATE;
}

double dps__ratelimit_rate(dps__ratelimit *r, uint64_t now_ns) {
  if (!r->on) return 0.0;
  bucket_set_rate(&r->pace, curve(r, now_ns), now_ns);
  return r->pace.rate;
}

double dps__ratelimit_estimate(const dps__ratelimit *r) { return r->w; }

void dps__ratelimit_hold(dps__ratelimit *r, uint64_t until_ns) {
  if (until_ns > r->hold_until_ns) r->hold_until_ns = until_ns;
}

bool dps__ratelimit_acquire(dps__ratelimit *r, uint64_t now_ns, uint64_t *wait_ns) {
  uint64_t wait = now_ns < r->hold_until_ns ? r->hold_until_ns - now_ns : 0, w;
  if (r->cap.rate > 0 && (w = bucket_wait(&r->cap, now_ns)) > wait) wait = w;
  if (r->on) {
    dps__ratelimit_rate(r, now_ns);
    if ((w = bucket_wait(&r->pace, now_ns)) > 0) {
      r->refused_ns = now_ns;
      if (w > wait) wait = w;
    }
  }
  if (wait) {
    if (wait_ns) *wait_ns = wait;
    return false;
  }
  if (r->cap.rate > 0) r->cap.tokens -= 1.0;
  if (r->on) r->pace.tokens -= 1.0;
  advance(r, now_ns);
  r->sends[r->slot % SLOTS]++; /* a now_ns in the past counts in the current slot */
  return true;
}

bool dps__ratelimit_on_throttle(dps__ratelimit *r, uint64_t now_ns, uint64_t sent_ns) {
  if (r->on && sent_ns < r->cut_ns) return false; /* answered a send from before the last cut */
  double w;
  if (r->on) {
    w = dps__ratelimit_rate(r, now_ns); /* the pace the endpoint just refused: CUBIC's W_max */
    /* Fast convergence (RFC 9438 4.7): a W below the last one means others behind the limit
     * took a larger share; back off further by (1 + beta) / 2, so the reporters above their
     * share give way to those below it. */
    if (w < r->w) w *= (1.0 + DPS__RATELIMIT_BETA) / 2.0;
  } else {
    w = (double)last_second(r->sends); /* per second: the window is one second */
    if (r->cap.rate > 0 && w > r->cap.rate) w = r->cap.rate;
  }
  double floor = DPS__RATELIMIT_MIN_RATE / DPS__RATELIMIT_BETA;
  r->w = w > floor ? w : floor;
  r->k_s = k_of(r->w);
  r->cut_ns = now_ns;
  r->on = true;
  r->pace.refilled_ns = now_ns;
  r->pace.tokens = 0.0; /* the endpoint said stop: the next send waits for a whole token */
  bucket_set_rate(&r->pace, curve(r, now_ns), now_ns);
  return true;
}

void dps__ratelimit_on_success(dps__ratelimit *r, uint64_t now_ns) {
  if (!r->on) return;
  uint64_t back_ns = r->cut_ns + (uint64_t)(r->k_s * NS_PER_S); /* the curve passes W */
  if (now_ns < back_ns) return;
  uint64_t quiet_ns = back_ns > r->refused_ns ? back_ns : r->refused_ns;
  if (now_ns - quiet_ns >= DPS__RATELIMIT_OFF_AFTER_NS) {
    r->on = false;
    r->pace = (dps__bucket){0};
  }
}
