/* ratespec.c: "RATE[/BURST]" (see ratespec.h). */
#include "core/ratespec.h"

#include <string.h>

#include "core/error.h"

/* Digits at [*i, n) into *v (saturating above 1e15); returns how many were read. */
static size_t digits(const char *s, size_t n, size_t *i, double *v, double *scale) {
  size_t start = *i;
  for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++) {
    if (*v < 1e15) *v = *v * 10 + (s[*i] - '0');
    if (scale) *scale *= 10;
  }
  return *i - start;
}

int dps__ratespec_parse(const char *s, size_t n, const char *field, double *rate, unsigned *burst,
                        dps_error *err) {
  if (!s) return dps__error_set(err, DPS_EINVAL, field, "no rate given");
  if (n == DPS_NTS) n = strlen(s);
  const char *slash = memchr(s, '/', n);
  size_t rn = slash ? (size_t)(slash - s) : n, i = 0;
  double whole = 0, frac = 0, scale = 1;
  size_t w = digits(s, rn, &i, &whole, NULL), f = 0;
  if (i < rn && s[i] == '.') {
    i++;
    f = digits(s, rn, &i, &frac, &scale);
    if (f == 0) i = rn + 1; /* "10." is refused below */
  }
  double r = whole + frac / scale;
  if (w == 0 || i != rn || !(r > 0) || r > DPS__RATESPEC_MAX_RATE)
    return dps__error_set(err, DPS_EINVAL, field,
                          "\"%.*s\": RATE must be a number of requests per second above 0 and at "
                          "most 10000000 (\"10\", \"0.5\")",
                          (int)(n > 64 ? 64 : n), s);
  unsigned b = 0;
  if (slash) {
    size_t j = 0, bn = n - rn - 1;
    double bv = 0;
    if (digits(slash + 1, bn, &j, &bv, NULL) == 0 || j != bn || bv < 1 ||
        bv > DPS__RATESPEC_MAX_BURST)
      return dps__error_set(err, DPS_EINVAL, field,
                            "\"%.*s\": BURST after '/' must be a whole number from 1 to %u",
                            (int)(n > 64 ? 64 : n), s, DPS__RATESPEC_MAX_BURST);
    b = (unsigned)bv;
  }
  *rate = r;
  *burst = b;
  return DPS_OK;
}
