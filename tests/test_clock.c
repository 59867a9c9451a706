/*
 * test_clock.c: tests for core/clock.c: the three HTTP-date forms and the malformed ones, the
 * weekday decision, X-Amz-Date round trips over random instants against gmtime_r (a reference
 * computed another way), and the offset arithmetic of clock correction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* cmocka after the headers it needs. */
#include <cmocka.h>

#include "core/clock.h"
#include "dpstatus.h"

#define MIN_S INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define MAX_S INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const wk_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wk_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) { /* splitmix64: reproducible across runs */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}
static int64_t rng_between(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static int current_year(void) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  return tm.tm_year + 1900;
}

static int64_t parse_ok(const char *s) {
  int64_t t = 0;
  int rc = dps__http_date_parse(s, DPS_NTS, &t);
  if (rc != 0) fail_msg("\"%s\" refused", s);
  return t;
}

static void test_http_date_three_forms(void **state) {
  /* RFC 9110's own example, 784111777, in its three forms. */
  assert_int_equal(parse_ok("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  assert_int_equal(parse_ok("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  assert_int_equal(parse_ok("Sun Nov  6 08:49:37 1994"), 784111777);
  assert_int_equal(parse_ok("Sun Nov 06 08:49:37 1994"), 784111777);

  assert_int_equal(parse_ok("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  assert_int_equal(parse_ok("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
  assert_int_equal(parse_ok("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
  assert_int_equal(parse_ok("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
  assert_int_equal(parse_ok("Fri, 31 Dec 9999 23:59:59 GMT"), MAX_S);
  assert_int_equal(parse_ok("Sat, 01 Jan 0000 00:00:00 GMT"), MIN_S);
  assert_int_equal(parse_ok("Tue, 19 Jan 2038 03:14:08 GMT"), INT64_C(2147483648));
  assert_int_equal(parse_ok("Thu Nov 16 23:01:02 2023"), 1700175662);
  /* A leap second counts as the next minute's 00, as POSIX time has it. */
  assert_int_equal(parse_ok("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}

static void test_http_date_rfc850_years(void **state) {
  int cur = current_year();
  char buf[64];
  /* Within 50 years ahead: that year; more than 50 ahead: a century back. */
  int cases[][2] = {{cur + 10, cur + 10}, {cur + 50, cur + 50}, {cur + 51, cur - 49},
                    {cur - 49, cur - 49}, {cur, cur},           {cur + 99, cur - 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* 1 Jan of the wanted year: the weekday is not checked, so any name serves. */
    snprintf(buf, sizeof buf, "Monday, 01-Jan-%02d 00:00:00 GMT", cases[i][0] % 100);
    char ref[64];
    snprintf(ref, sizeof ref, "Mon, 01 Jan %04d 00:00:00 GMT", cases[i][1]);
    if (parse_ok(buf) != parse_ok(ref)) fail_msg("\"%s\" is not year %d", buf, cases[i][1]);
  }
}

static void test_http_date_malformed(void **state) {
  static const char *const bad[] = {
      "",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 06 Nov 1994 08:49:37 GMT ",
      " Sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMTx",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 gmt",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Foo 1994 08:49:37 GMT", /* bad month */
      "Sun, 06 nov 1994 08:49:37 GMT", /* names are case-sensitive */
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",    /* not a weekday */
      "Sunday, 06 Nov 1994 08:49:37 GMT", /* long weekday in the IMF form */
      "Sun, 06-Nov-94 08:49:37 GMT",      /* short weekday in the RFC 850 form */
      "Sun 06 Nov 1994 08:49:37 GMT",     /* missing comma */
      "Sun,  06 Nov 1994 08:49:37 GMT",   /* double space */
      "Sun, 6 Nov 1994 08:49:37 GMT",     /* one-digit day in IMF */
      "Sun, 06 Nov 94 08:49:37 GMT",      /* two-digit year in IMF */
      "Sun, 06 Nov 19940 08:49:37 GMT",
      "Thu, 30 Feb 2023 00:00:00 GMT", /* Feb 30 */
      "Thu, 29 Feb 2023 00:00:00 GMT", /* not a leap year */
      "Thu, 29 Feb 1900 00:00:00 GMT", /* century, not a leap year */
      "Thu, 31 Apr 2023 00:00:00 GMT",
      "Thu, 00 Jan 2023 00:00:00 GMT",
      "Thu, 32 Jan 2023 00:00:00 GMT",
      "Thu, 01 Jan 2023 24:00:00 GMT",
      "Thu, 01 Jan 2023 23:60:00 GMT",
      "Thu, 01 Jan 2023 23:59:61 GMT",
      "Thu, 01 Jan 2023 1:00:00 GMT",
      "Thu, 01 Jan 2023 01-00-00 GMT",
      "Thu, 01 Jan 2O23 00:00:00 GMT", /* letter O */
      "Thu, +1 Jan 2023 00:00:00 GMT",
      "Thu, 01 Jan 2023 00:00:00 GMT\n",
      "Thu, 01 Jan 2023 00:00:00 GMT\r\n",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37",
      "Sunday, 06-Nov-94 08:49:37 GMT garbage",
      "Sunday, 30-Feb-94 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994", /* asctime needs the padding space */
      "Sun Nov   6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov  6 08:49:37 1994 ",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun Feb 30 08:49:37 1994",
      "Sun Nov  0 08:49:37 1994",
      "1994-11-06T08:49:37Z",
      "784111777",
      "GMT",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t t = 777;
    int rc = dps__http_date_parse(bad[i], DPS_NTS, &t);
    if (rc != DPS_EINVAL) fail_msg("\"%s\" accepted (rc %d, %lld)", bad[i], rc, (long long)t);
    assert_int_equal(t, 777); /* nothing written on failure */
  }
  int64_t t = 0;
  assert_int_equal(dps__http_date_parse(NULL, 0, &t), DPS_EINVAL);
}

static void test_http_date_length_bounds(void **state) {
  /* The length is honoured: bytes after it are not looked at, and a cut date is refused. */
  const char *s = "Sun, 06 Nov 1994 08:49:37 GMTtrailing";
  int64_t t = 0;
  assert_int_equal(dps__http_date_parse(s, 29, &t), 0);
  assert_int_equal(t, 784111777);
  assert_int_equal(dps__http_date_parse(s, DPS_NTS, &t), DPS_EINVAL);
  assert_int_equal(dps__http_date_parse(s, 28, &t), DPS_EINVAL);
  assert_int_equal(dps__http_date_parse(s, 0, &t), DPS_EINVAL);
  /* Every shorter prefix of each form is refused. */
  const char *forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                         "Sun Nov  6 08:49:37 1994"};
  for (size_t f = 0; f < 3; f++)
    for (size_t n = 0; n < strlen(forms[f]); n++)
      if (dps__http_date_parse(forms[f], n, &t) != DPS_EINVAL)
        fail_msg("prefix %zu of \"%s\" accepted", n, forms[f]);
}

static void test_http_date_weekday_not_checked(void **state) {
  /* Decision: a valid weekday name that disagrees with the date is accepted (Go, nginx). */
  assert_int_equal(parse_ok("Mon, 06 Nov 1994 08:49:37 GMT"), 784111777);
  assert_int_equal(parse_ok("Saturday, 06-Nov-94 08:49:37 GMT"), 784111777);
  assert_int_equal(parse_ok("Fri Nov  6 08:49:37 1994"), 784111777);
}

/* Formats @p t the three ways from gmtime_r, with weekday @p wday_shift days off. */
static void http_forms(int64_t t, int wday_shift, char imf[64], char asct[64], char r850[64]) {
  time_t tt = (time_t)t;
  struct tm tm;
  assert_non_null(gmtime_r(&tt, &tm));
  int w = (tm.tm_wday + wday_shift) % 7;
  snprintf(imf, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", wk_short[w], tm.tm_mday, mon[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  snprintf(asct, 64, "%s %s %2d %02d:%02d:%02d %04d", wk_short[w], mon[tm.tm_mon], tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
  snprintf(r850, 64, "%s, %02d-%s-%02d %02d:%02d:%02d GMT", wk_long[w], tm.tm_mday, mon[tm.tm_mon],
           (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void test_http_date_random_round_trip(void **state) {
  char imf[64], asct[64], r850[64];
  for (int i = 0; i < 200000; i++) {
    int64_t t = rng_between(MIN_S, MAX_S);
    http_forms(t, i % 7, imf, asct, r850);
    if (parse_ok(imf) != t) fail_msg("\"%s\" != %lld", imf, (long long)t);
    if (parse_ok(asct) != t) fail_msg("\"%s\" != %lld", asct, (long long)t);
  }
  /* RFC 850 only says instants within 50 years of now. */
  int cur = current_year();
  int64_t lo = ((int64_t)(cur - 48) - 1970) * 31556952,
          hi = ((int64_t)(cur + 48) - 1970) * 31556952;
  for (int i = 0; i < 50000; i++) {
    int64_t t = rng_between(lo, hi);
    http_forms(t, 0, imf, asct, r850);
    if (parse_ok(r850) != t) fail_msg("\"%s\" != %lld", r850, (long long)t);
  }
}

static void amz_reference(int64_t s, char out[64]) {
  time_t tt = (time_t)s;
  struct tm tm;
  assert_non_null(gmtime_r(&tt, &tm));
  snprintf(out, 64, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void test_amz_date_examples(void **state) {
  char out[17];
  dps__amz_date_format(INT64_C(1440938160000), out);
  assert_string_equal(out, "20150830T123600Z");
  dps__amz_date_format(INT64_C(1440938160999), out);
  assert_string_equal(out, "20150830T123600Z");
  dps__amz_date_format(0, out);
  assert_string_equal(out, "19700101T000000Z");
  dps__amz_date_format(-1, out); /* rounds down, not toward zero */
  assert_string_equal(out, "19691231T235959Z");
  dps__amz_date_format(-1000, out);
  assert_string_equal(out, "19691231T235959Z");
  dps__amz_date_format(-1001, out);
  assert_string_equal(out, "19691231T235958Z");
  dps__amz_date_format(INT64_MIN, out);
  assert_string_equal(out, "00000101T000000Z");
  dps__amz_date_format(INT64_MAX, out);
  assert_string_equal(out, "99991231T235959Z");
  dps__amz_date_format(MAX_S * 1000 + 999, out);
  assert_string_equal(out, "99991231T235959Z");
  dps__amz_date_format(MAX_S * 1000 + 1000, out);
  assert_string_equal(out, "99991231T235959Z");

  int64_t t = 0;
  assert_int_equal(dps__amz_date_parse("20150830T123600Z", &t), 0);
  assert_int_equal(t, 1440938160);
  assert_int_equal(dps__amz_date_parse("20000229T000000Z", &t), 0);
  assert_int_equal(t, 951782400);
}

static void test_amz_date_random_round_trip(void **state) {
  char out[17], ref[64];
  for (int i = 0; i < 300000; i++) {
    int64_t ms = rng_between(MIN_S * 1000, MAX_S * 1000 + 999);
    int64_t s = ms / 1000 - (ms % 1000 < 0);
    dps__amz_date_format(ms, out);
    amz_reference(s, ref);
    if (strcmp(out, ref) != 0)
      fail_msg("%lld ms: \"%s\", gmtime_r says \"%s\"", (long long)ms, out, ref);
    int64_t back = 0;
    assert_int_equal(dps__amz_date_parse(out, &back), 0);
    if (back != s) fail_msg("\"%s\" parsed to %lld, want %lld", out, (long long)back, (long long)s);
  }
}

static void test_amz_date_malformed(void **state) {
  static const char *const bad[] = {
      "",
      "20150830T123600",
      "20150830T123600Z0",
      "20150830t123600Z",
      "20150830T123600z",
      "20150830 123600Z",
      "2015083OT123600Z",
      "20151330T123600Z", /* month 13 */
      "20150030T123600Z", /* month 00 */
      "20150431T123600Z", /* 31 April */
      "20150229T123600Z", /* not a leap year */
      "21000229T000000Z", /* century, not a leap year */
      "20150800T123600Z",
      "20150830T243600Z",
      "20150830T126000Z",
      "20150830T123660Z", /* no leap second in our own format */
      "+0150830T123600Z",
      "2015-08-30T12:36:00Z",
      " 20150830T123600Z",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t t = 777;
    if (dps__amz_date_parse(bad[i], &t) != DPS_EINVAL) fail_msg("\"%s\" accepted", bad[i]);
    assert_int_equal(t, 777);
  }
  int64_t t = 0;
  assert_int_equal(dps__amz_date_parse(NULL, &t), DPS_EINVAL);
}

static void test_clock_correct_arithmetic(void **state) {
  dps__clock c;
  dps__clock_init(&c);
  assert_int_equal(dps__clock_offset_ms(&c), 0);

  /* Local clock reads 5 s after the epoch, the server says 1000 s: server is 995 s ahead, taken
   * at the middle of its second. */
  dps__clock_correct(&c, 1000, 5000);
  assert_int_equal(dps__clock_offset_ms(&c), 1000 * 1000 + 500 - 5000);

  /* The same evidence again, or any local time that the offset already places inside the
   * server's second, keeps the offset. */
  dps__clock_correct(&c, 1000, 5000);
  assert_int_equal(dps__clock_offset_ms(&c), 995500);
  dps__clock_correct(&c, 1000, 4500); /* corrected 1000000: the second's first millisecond */
  assert_int_equal(dps__clock_offset_ms(&c), 995500);
  dps__clock_correct(&c, 1000, 5499); /* corrected 1000999: its last */
  assert_int_equal(dps__clock_offset_ms(&c), 995500);

  /* Just outside the second on either side: corrected again. */
  dps__clock_correct(&c, 1000, 5500); /* corrected 1001000 */
  assert_int_equal(dps__clock_offset_ms(&c), 1000500 - 5500);
  dps__clock_correct(&c, 1001, 4000); /* corrected 999000, server says 1001000..1001999 */
  assert_int_equal(dps__clock_offset_ms(&c), 1001500 - 4000);

  /* Local clock ahead of the server: a negative offset. */
  dps__clock_correct(&c, 1700000000, INT64_C(1700000900) * 1000);
  assert_int_equal(dps__clock_offset_ms(&c), -899500);

  /* Out-of-range evidence is ignored. */
  dps__clock_correct(&c, MAX_S + 1, 0);
  dps__clock_correct(&c, MIN_S - 1, 0);
  dps__clock_correct(&c, INT64_MAX, 0);
  dps__clock_correct(&c, 0, INT64_MIN);
  dps__clock_correct(&c, 0, INT64_MAX);
  assert_int_equal(dps__clock_offset_ms(&c), -899500);

  /* The range's edges are accepted. */
  dps__clock_correct(&c, MAX_S, 0);
  assert_int_equal(dps__clock_offset_ms(&c), MAX_S * 1000 + 500);
  dps__clock_correct(&c, MIN_S, 0);
  assert_int_equal(dps__clock_offset_ms(&c), MIN_S * 1000 + 500);

  /* A zero-initialized clock starts at 0 too. */
  static dps__clock zero;
  assert_int_equal(dps__clock_offset_ms(&zero), 0);
}

static void test_clock_now(void **state) {
  int64_t local = dps__clock_local_ms();
  int64_t t = (int64_t)time(NULL);
  assert_true(local / 1000 >= t - 1 && local / 1000 <= t + 1);

  dps__clock c;
  dps__clock_init(&c);
  int64_t before = dps__clock_local_ms();
  int64_t now = dps__clock_now_ms(&c);
  int64_t after = dps__clock_local_ms();
  assert_true(now >= before && now <= after);

  /* A server an hour ahead, learnt from a response just received. */
  int64_t at = dps__clock_local_ms();
  dps__clock_correct(&c, at / 1000 + 3600, at);
  int64_t off = dps__clock_offset_ms(&c);
  assert_true(off > 3600 * 1000 - 1000 && off < 3600 * 1000 + 1000);
  before = dps__clock_local_ms();
  now = dps__clock_now_ms(&c);
  after = dps__clock_local_ms();
  assert_true(now >= before + off && now <= after + off);

  /* And the signing time follows the corrected clock. */
  char amz[17];
  dps__amz_date_format(now, amz);
  int64_t back = 0;
  assert_int_equal(dps__amz_date_parse(amz, &back), 0);
  assert_int_equal(back, now / 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http_date_three_forms),
      cmocka_unit_test(test_http_date_rfc850_years),
      cmocka_unit_test(test_http_date_malformed),
      cmocka_unit_test(test_http_date_length_bounds),
      cmocka_unit_test(test_http_date_weekday_not_checked),
      cmocka_unit_test(test_http_date_random_round_trip),
      cmocka_unit_test(test_amz_date_examples),
      cmocka_unit_test(test_amz_date_random_round_trip),
      cmocka_unit_test(test_amz_date_malformed),
      cmocka_unit_test(test_clock_correct_arithmetic),
      cmocka_unit_test(test_clock_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
