/* faults.c: --fault parsing, the deterministic per-request draw and the rate limiter. */
#include "emulator/faults.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

uint64_t dps__emu_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

int64_t dps__emu_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define FAIL(...) dps__error_set(err, DPS_EINVAL, "--fault", __VA_ARGS__)

/* Parses a whole decimal uint32 in [lo, hi]; false on anything else. */
static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = (uint32_t)v;
  return true;
}

static int parse_item(dps__emu_faults *f, char *item, unsigned *seen, dps_error *err) {
  static const char *const kinds[] = {"reset",   "unavailable",  "internal",  "throttle",
                                      "latency", "goaway-every", "drop-every"};
  char *eq = strchr(item, '=');
  if (!eq) return FAIL("--fault: \"%s\": expected KIND=VALUE", item);
  *eq = '\0';
  const char *value = eq + 1;
  size_t k = 0;
  while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k], item) != 0) k++;
  *eq = '=';
  if (k == sizeof kinds / sizeof kinds[0])
    return FAIL(
        "--fault: \"%s\": unknown kind (reset, unavailable, internal, throttle, latency, "
        "goaway-every, drop-every)",
        item);
  if (*seen & (1u << k)) return FAIL("--fault: \"%s\": %s given twice", item, kinds[k]);
  *seen |= 1u << k;
  if (k < 4) {
    char *end;
    errno = 0;
    double p = *value ? strtod(value, &end) : NAN;
    if (!*value || errno || *end || !isfinite(p))
      return FAIL("--fault: \"%s\": expected a probability such as 0.05", item);
    if (p < 0 || p > 1) return FAIL("--fault: \"%s\": a probability must be in [0, 1]", item);
    double *dst[] = {&f->p_reset, &f->p_unavailable, &f->p_internal, &f->p_throttle};
    *dst[k] = p;
  } else if (k == 4) {
    const char *dots = strstr(value, "..");
    char lo[16], hi[16];
    size_t nlo = dots ? (size_t)(dots - value) : 0;
    if (!dots || nlo >= sizeof lo || strlen(dots + 2) >= sizeof hi)
      return FAIL("--fault: \"%s\": expected latency=MIN..MAX in milliseconds", item);
    memcpy(lo, value, nlo);
    lo[nlo] = '\0';
    strcpy(hi, dots + 2);
    if (!parse_u32(lo, 0, 600000, &f->latency_min_ms) ||
        !parse_u32(hi, 0, 600000, &f->latency_max_ms))
      return FAIL("--fault: \"%s\": MIN and MAX must be whole milliseconds in [0, 600000]", item);
    if (f->latency_min_ms > f->latency_max_ms)
      return FAIL("--fault: \"%s\": MIN is larger than MAX", item);
  } else {
    uint32_t *dst = k == 5 ? &f->goaway_every : &f->drop_every;
    if (!parse_u32(value, 1, UINT32_MAX, dst))
      return FAIL("--fault: \"%s\": expected a whole number of requests >= 1", item);
  }
  return DPS_OK;
}

int dps__emu_faults_init(dps__emu_faults *f, const char *spec, uint64_t seed, dps_error *err) {
  memset(f, 0, sizeof *f);
  f->state = seed;
  if (!spec || !*spec) return DPS_OK;
  size_t n = strlen(spec);
  char *copy = malloc(n + 1);
  if (!copy) return dps__error_set(err, DPS_ENOMEM, "--fault", "out of memory");
  memcpy(copy, spec, n + 1);
  int rc = DPS_OK;
  unsigned seen = 0;
  char *p = copy;
  for (;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      rc = FAIL("--fault: \"%s\": empty item in the list", spec);
      break;
    }
    if ((rc = parse_item(f, p, &seen, err)) != DPS_OK) break;
    if (!comma) break;
    p = comma + 1;
  }
  free(copy);
  if (rc == DPS_OK && f->p_reset + f->p_unavailable + f->p_internal + f->p_throttle > 1 + 1e-12)
    rc = FAIL(
        "--fault: \"%s\": the probabilities of reset, unavailable, internal and throttle "
        "add up to more than 1",
        spec);
  if (rc != DPS_OK) {
    uint64_t s = f->state;
    memset(f, 0, sizeof *f);
    f->state = s;
  }
  return rc;
}

dps__emu_fault dps__emu_faults_draw(dps__emu_faults *f, uint32_t *delay_ms) {
  uint64_t x = dps__emu_splitmix64(&f->state);
  f->draws++;
  /* The top 53 bits give a uniform double in [0, 1); the faults take consecutive intervals of
   * it, so each happens with exactly its probability and at most one happens per request. */
  double u = (double)(x >> 11) * 0x1.0p-53;
  *delay_ms = 0;
  if (f->latency_max_ms > 0) {
    /* An independent value from the same draw (mixed again), so latency and fault choice do not
     * correlate and the draw count stays one per request. */
    uint64_t m = x;
    uint64_t y = dps__emu_splitmix64(&m);
    uint64_t span = (uint64_t)f->latency_max_ms - f->latency_min_ms + 1;
    *delay_ms = f->latency_min_ms + (uint32_t)(y % span);
  }
  double edge = f->p_reset;
  if (u < edge) return DPS__EMU_FAULT_RESET;
  if (u < (edge += f->p_unavailable)) return DPS__EMU_FAULT_UNAVAILABLE;
  if (u < (edge += f->p_internal)) return DPS__EMU_FAULT_INTERNAL;
  if (u < (edge += f->p_throttle)) return DPS__EMU_FAULT_THROTTLE;
  return DPS__EMU_FAULT_NONE;
}
