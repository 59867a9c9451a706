/* ratelimit.c: the adaptive send-rate limiter (see ratelimit.h for the model and its choices). */
#include "core/ratelimit.h"

#define NS_PER_S 1e9
#define SLOTS DPS__RATELIMIT_SLOTS
#define SLOT_NS DPS__RATELIMIT_SLOT_NS
/* A token short by less than this counts as there: the refill of exactly the wait acquire
 * reported may come out a rounding error short of 1. Worth under 2 ns at the lowest rate. */
#define TOKEN_SLACK 1e-12

void dps__ratelimit_init(dps__ratelimit *r) { *r = (dps__ratelimit){.on = false}; }

/* Newton's method from above, where it descends monotonically; the library does not link libm.
 * Only on a throttle, so the few dozen steps a large rate takes do not matter. */
static double cube_root(double x) {
  if (!(x > 0.0)) return 0.0;
  double y = x > 1.0 ? x : 1.0; /* >= cbrt(x) */
  for (int i = 0; i < 200; i++) {
    double next = (2.0 * y + x / (y * y)) / 3.0;
    if (next >= y) break;
    y = next;
  }
  return y;
}

static double capacity(double rate) {
  double c = rate * DPS__RATELIMIT_BURST_S;
  return c > 1.0 ? c : 1.0;
}

static void refill(dps__ratelimit *r, uint64_t now_ns) {
  if (now_ns <= r->refilled_ns) return;
  r->tokens += (double)(now_ns - r->refilled_ns) / NS_PER_S * r->rate;
  double cap = capacity(r->rate);
  if (r->tokens > cap) r->tokens = cap;
  r->refilled_ns = now_ns;
}

/* Tokens accrue at the old rate up to now, then at the new one; the bucket shrinks with it. */
static void set_rate(dps__ratelimit *r, double rate, uint64_t now_ns) {
  refill(r, now_ns);
  r->rate = rate > DPS__RATELIMIT_MIN_RATE ? rate : DPS__RATELIMIT_MIN_RATE;
  double cap = capacity(r->rate);
  if (r->tokens > cap) r->tokens = cap;
}

static void count_send(dps__ratelimit *r, uint64_t now_ns) {
  uint64_t s = now_ns / SLOT_NS;
  if (s > r->slot_index) { /* clear the slots the window moved past, at most all of them */
    for (uint64_t i = 1; i <= s - r->slot_index && i <= SLOTS; i++)
      r->sends[(r->slot_index + i) % SLOTS] = 0;
    r->slot_index = s;
  }
  r->sends[r->slot_index % SLOTS]++; /* a now_ns in the past counts in the current slot */
}

double dps__ratelimit_measured(const dps__ratelimit *r, uint64_t now_ns) {
  uint64_t s = now_ns / SLOT_NS;
  if (s < r->slot_index) {
    s = r->slot_index;
    now_ns = s * SLOT_NS;
  }
  /* Slot slot_index - k holds the sends of that slot; it is in the window when it is one of the
   * SLOTS slots ending with s. Slots before the first one ever used hold 0. */
  uint64_t n = 0;
  for (uint64_t k = 0; k < SLOTS && k <= r->slot_index; k++) {
    uint64_t i = r->slot_index - k;
    if (i + SLOTS > s) n += r->sends[i % SLOTS];
  }
  uint64_t span_ns = (SLOTS - 1) * SLOT_NS + now_ns % SLOT_NS; /* 9 whole slots + this one */
  /* A window younger than a second holds only its age's sends: measuring them over the whole
   * second would read a fast start as a slow one (floor 10 ms, so a first burst is not read as
   * an infinite rate). */
  if (r->first_send_ns && now_ns > r->first_send_ns && now_ns - r->first_send_ns < span_ns)
    span_ns = now_ns - r->first_send_ns;
  if (span_ns < 10000000u) span_ns = 10000000u;
  return (double)n * NS_PER_S / (double)span_ns;
}

bool dps__ratelimit_acquire(dps__ratelimit *r, uint64_t now_ns, uint64_t *wait_ns) {
  if (r->on) {
    refill(r, now_ns);
    if (r->tokens < 1.0 - TOKEN_SLACK) {
      /* From refilled_ns, which is now unless now_ns went back in time. */
      double w = (1.0 - r->tokens) / r->rate * NS_PER_S;
      if (wait_ns)
        *wait_ns = (r->refilled_ns > now_ns ? r->refilled_ns - now_ns : 0) + (uint64_t)w + 1;
      r->refused_ns = now_ns;
      return false;
    }
    r->tokens -= 1.0;
  }
  if (!r->first_send_ns) r->first_send_ns = now_ns;
  count_send(r, now_ns);
  return true;
}

void dps__ratelimit_on_throttle(dps__ratelimit *r, uint64_t now_ns, uint64_t sent_ns) {
  /* One cut per window: with many requests in flight, a burst of throttles answers sends made
   * before the last cut, and each would cut again (ten of them: 0.7^10, 3% of the rate). Only a
   * request sent after the last cut tells something new, as CUBIC reacts once per window. */
  if (r->on && sent_ns < r->throttled_ns) return;
  double w = dps__ratelimit_measured(r, now_ns);
  if (r->on && r->rate < w) w = r->rate; /* the window still holds sends from before a cut */
  r->last_max_rate = w;
  r->k_s = cube_root(w * (1.0 - DPS__RATELIMIT_BETA) / DPS__RATELIMIT_CUBIC_C);
  r->throttled_ns = now_ns;
  r->on = true;
  r->refilled_ns = now_ns;
  r->tokens = 0.0; /* the service said stop: the next send waits for a whole token */
  set_rate(r, w * DPS__RATELIMIT_BETA, now_ns);
}

void dps__ratelimit_on_success(dps__ratelimit *r, uint64_t now_ns) {
  if (!r->on) return;
  double t = now_ns > r->throttled_ns ? (double)(now_ns - r->throttled_ns) / NS_PER_S : 0.0;
  if (t >= r->k_s) {
    uint64_t back_ns = r->throttled_ns + (uint64_t)(r->k_s * NS_PER_S); /* the curve passed W */
    uint64_t quiet_ns = back_ns > r->refused_ns ? back_ns : r->refused_ns;
    if (now_ns >= quiet_ns && now_ns - quiet_ns >= DPS__RATELIMIT_OFF_AFTER_NS) {
      r->on = false;
      r->rate = 0.0;
      return;
    }
  }
  double d = t - r->k_s;
  set_rate(r, DPS__RATELIMIT_CUBIC_C * d * d * d + r->last_max_rate, now_ns);
}

double dps__ratelimit_rate(const dps__ratelimit *r) { return r->on ? r->rate : 0.0; }

bool dps__ratelimit_note_response(dps__ratelimit *r, uint64_t now_ns, bool throttled) {
  uint64_t s = now_ns / SLOT_NS;
  if (s > r->resp_slot) {
    for (uint64_t i = 1; i <= s - r->resp_slot && i <= SLOTS; i++) {
      r->responses[(r->resp_slot + i) % SLOTS] = 0;
      r->throttles[(r->resp_slot + i) % SLOTS] = 0;
    }
    r->resp_slot = s;
  }
  r->responses[r->resp_slot % SLOTS]++;
  if (throttled) r->throttles[r->resp_slot % SLOTS]++;
  if (!throttled) return false;
  uint64_t n = 0, t = 0;
  for (uint64_t i = 0; i < SLOTS; i++) n += r->responses[i], t += r->throttles[i];
  return n >= DPS__RATELIMIT_TRIGGER_MIN && (double)t >= DPS__RATELIMIT_TRIGGER_SHARE * (double)n;
}
