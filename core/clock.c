/*
 * clock.c: owns the corrected clock (local time plus the server's offset), HTTP-date parsing and
 * the X-Amz-Date form. Calendar conversion is Howard Hinnant's days-from-civil arithmetic: exact
 * over the proleptic Gregorian calendar, branch-light, and free of timegm/gmtime, whose TZ and
 * static-buffer dependencies have no place in a library called from many threads.
 */
#include "core/clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "dpstatus.h"

/* Years 0000-9999: what four digits can say, in seconds since the epoch. */
#define MIN_EPOCH_SECONDS INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define MAX_EPOCH_SECONDS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* A broken-down UTC time as read from text, before validation. */
typedef struct civil {
  int64_t year;
  unsigned month, day, hour, min, sec;
} civil;

/* Validates and converts; @p max_sec is 60 where a leap second may appear. */
static int civil_to_epoch(const civil *t, unsigned max_sec, int64_t *out) {
  if (t->month < 1 || t->month > 12) return DPS_EINVAL;
  if (t->day < 1 || t->day > days_in_month(t->year, t->month)) return DPS_EINVAL;
  if (t->hour > 23 || t->min > 59 || t->sec > max_sec) return DPS_EINVAL;
  *out = days_from_civil(t->year, t->month, t->day) * 86400 + t->hour * 3600 + t->min * 60 +
         (int64_t)t->sec;
  return 0;
}

/* ---- the clock ---------------------------------------------------------------------------- */

/* The offset is a lone value that publishes nothing else, so relaxed ordering is enough: a reader
 * sees either the old or the new offset, and either is a valid clock. */

void dps__clock_init(dps__clock *c) { atomic_init(&c->offset_ms, 0); }

int64_t dps__clock_local_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dps__clock_offset_ms(const dps__clock *c) {
  return atomic_load_explicit(&c->offset_ms, memory_order_relaxed);
}

int64_t dps__clock_now_ms(const dps__clock *c) {
  return dps__clock_local_ms() + dps__clock_offset_ms(c);
}

void dps__clock_correct(dps__clock *c, int64_t server_epoch_seconds, int64_t local_ms_at_response) {
  /* Bounds keep the arithmetic below far from overflow whatever a caller passes. */
  if (server_epoch_seconds < MIN_EPOCH_SECONDS || server_epoch_seconds > MAX_EPOCH_SECONDS) return;
  if (local_ms_at_response < MIN_EPOCH_SECONDS * 1000 ||
      local_ms_at_response > MAX_EPOCH_SECONDS * 1000)
    return;
  const int64_t server_ms = server_epoch_seconds * 1000;
  const int64_t corrected = local_ms_at_response + dps__clock_offset_ms(c);
  if (corrected >= server_ms && corrected < server_ms + 1000) return;
  atomic_store_explicit(&c->offset_ms, server_ms + 500 - local_ms_at_response,
                        memory_order_relaxed);
}

/* ---- reading text ------------------------------------------------------------------------- */

typedef struct cursor {
  const char *p, *end;
} cursor;

static bool lit(cursor *c, const char *s) {
  size_t n = strlen(s);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0) return false;
  c->p += n;
  return true;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static bool digits(cursor *c, int n, unsigned *out) {
  if (c->end - c->p < n) return false;
  unsigned v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(c->p[i])) return false;
    v = v * 10 + (unsigned)(c->p[i] - '0');
  }
  c->p += n;
  *out = v;
  return true;
}

/* Matches one of @p names (none a prefix of another); its index goes to *@p idx. */
static bool name(cursor *c, const char *const *names, unsigned count, unsigned *idx) {
  for (unsigned i = 0; i < count; i++) {
    if (lit(c, names[i])) {
      *idx = i;
      return true;
    }
  }
  return false;
}

static const char *const wkday_short[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const wkday_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool month(cursor *c, unsigned *m) {
  if (!name(c, months, 12, m)) return false;
  (*m)++;
  return true;
}

static bool time_of_day(cursor *c, civil *t) {
  return digits(c, 2, &t->hour) && lit(c, ":") && digits(c, 2, &t->min) && lit(c, ":") &&
         digits(c, 2, &t->sec);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool imf_fixdate(cursor c, civil *t) {
  unsigned w, y;
  if (!(name(&c, wkday_short, 7, &w) && lit(&c, ", ") && digits(&c, 2, &t->day) && lit(&c, " ") &&
        month(&c, &t->month) && lit(&c, " ") && digits(&c, 4, &y) && lit(&c, " ") &&
        time_of_day(&c, t) && lit(&c, " GMT")))
    return false;
  t->year = y;
  return c.p == c.end;
}

/* The year with the last two digits @p yy nearest the present: RFC 9110 says a year that
 * "appears to be more than 50 years in the future" is the most recent past one with those
 * digits, so the window is (now - 50, now + 50]. */
static int64_t two_digit_year(unsigned yy, int64_t now_year) {
  int64_t y = now_year - now_year % 100 + yy;
  if (y > now_year + 50) y -= 100;
  if (y <= now_year - 50) y += 100;
  return y;
}

static int64_t current_year(void) {
  int64_t y;
  unsigned m, d;
  int64_t s = dps__clock_local_ms() / 1000;
  civil_from_days(s / 86400 - (s % 86400 < 0), &y, &m, &d);
  return y;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT" */
static bool rfc850_date(cursor c, civil *t) {
  unsigned w, yy;
  if (!(name(&c, wkday_long, 7, &w) && lit(&c, ", ") && digits(&c, 2, &t->day) && lit(&c, "-") &&
        month(&c, &t->month) && lit(&c, "-") && digits(&c, 2, &yy) && lit(&c, " ") &&
        time_of_day(&c, t) && lit(&c, " GMT")))
    return false;
  if (c.p != c.end) return false;
  t->year = two_digit_year(yy, current_year());
  return true;
}

/* "Sun Nov  6 08:49:37 1994" (the day is two digits, or a space and one digit) */
static bool asctime_date(cursor c, civil *t) {
  unsigned w, y;
  if (!(name(&c, wkday_short, 7, &w) && lit(&c, " ") && month(&c, &t->month) && lit(&c, " ")))
    return false;
  if (!(lit(&c, " ") ? digits(&c, 1, &t->day) : digits(&c, 2, &t->day))) return false;
  if (!(lit(&c, " ") && time_of_day(&c, t) && lit(&c, " ") && digits(&c, 4, &y))) return false;
  t->year = y;
  return c.p == c.end;
}

int dps__http_date_parse(const char *s, size_t len, int64_t *epoch_seconds) {
  if (s == NULL) return DPS_EINVAL;
  if (len == DPS_NTS) len = strlen(s);
  const cursor c = {s, s + len};
  civil t;
  memset(&t, 0, sizeof t);
  if (!imf_fixdate(c, &t) && !rfc850_date(c, &t) && !asctime_date(c, &t)) return DPS_EINVAL;
  return civil_to_epoch(&t, 60, epoch_seconds);
}

/* ---- X-Amz-Date --------------------------------------------------------------------------- */

static char *put_digits(char *p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + n;
}

void dps__amz_date_format(int64_t epoch_ms, char out[17]) {
  /* Rounds toward minus infinity so that an instant before 1970 stays in its own second. */
  int64_t s = epoch_ms / 1000 - (epoch_ms % 1000 < 0);
  if (s < MIN_EPOCH_SECONDS) s = MIN_EPOCH_SECONDS;
  if (s > MAX_EPOCH_SECONDS) s = MAX_EPOCH_SECONDS;
  int64_t days = s / 86400 - (s % 86400 < 0);
  unsigned sod = (unsigned)(s - days * 86400);
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char *p = put_digits(out, (unsigned)y, 4);
  p = put_digits(p, m, 2);
  p = put_digits(p, d, 2);
  *p++ = 'T';
  p = put_digits(p, sod / 3600, 2);
  p = put_digits(p, sod / 60 % 60, 2);
  p = put_digits(p, sod % 60, 2);
  *p++ = 'Z';
  *p = '\0';
}

int dps__amz_date_parse(const char *s, int64_t *epoch_seconds) {
  if (s == NULL || strnlen(s, 17) != 16) return DPS_EINVAL;
  cursor c = {s, s + 16};
  civil t;
  unsigned y;
  if (!(digits(&c, 4, &y) && digits(&c, 2, &t.month) && digits(&c, 2, &t.day) && lit(&c, "T") &&
        digits(&c, 2, &t.hour) && digits(&c, 2, &t.min) && digits(&c, 2, &t.sec) && lit(&c, "Z")))
    return DPS_EINVAL;
  t.year = y;
  return civil_to_epoch(&t, 59, epoch_seconds);
}

/* ---- RFC 3339 ------------------------------------------------------------------------------ */

/* @p n digits at @p s into *@p v; false when one is not a digit. */
static bool digits_at(const char *s, size_t n, unsigned *v) {
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (unsigned)(s[i] - '0');
  }
  *v = x;
  return true;
}

int dps__rfc3339_parse(const char *s, size_t len, int64_t *epoch_ms) {
  if (!s) return DPS_EINVAL;
  if (len == DPS_NTS) len = strlen(s);
  /* "YYYY-MM-DDTHH:MM:SS" is 19 bytes; then a fraction, then the zone. */
  if (len < 20) return DPS_EINVAL;
  unsigned y, mo, d, h, mi, se;
  if (!digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &mo) || s[7] != '-' ||
      !digits_at(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits_at(s + 11, 2, &h) || s[13] != ':' || !digits_at(s + 14, 2, &mi) || s[16] != ':' ||
      !digits_at(s + 17, 2, &se))
    return DPS_EINVAL;
  size_t i = 19;
  unsigned ms = 0;
  if (s[i] == '.') {
    size_t start = ++i;
    unsigned scale = 100;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
      ms += (unsigned)(s[i] - '0') * scale;
    if (i == start) return DPS_EINVAL;
  }
  if (i >= len) return DPS_EINVAL;
  int64_t offset_s = 0;
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
    /* UTC */
  } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len && s[i + 3] == ':') {
    unsigned oh, om;
    if (!digits_at(s + i + 1, 2, &oh) || !digits_at(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return DPS_EINVAL;
    offset_s = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
  } else {
    return DPS_EINVAL;
  }
  civil t = {y, mo, d, h, mi, se};
  int64_t secs;
  if (civil_to_epoch(&t, 60, &secs)) return DPS_EINVAL;
  *epoch_ms = (secs - offset_s) * 1000 + ms;
  return 0;
}
