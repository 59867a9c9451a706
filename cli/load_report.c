/*
 * load_report.c: the figures of a `dpstatus load` run and what is done with them: the text
 * report, the JSON report (with the histograms in their compact form, so that reports from many
 * machines merge exactly), reading a report back, merging, and checking SLOs. The HTML report is
 * in load_html.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/load.h"
#include "core/buf.h"

#define PROG DPS_LOAD_PROG

int dps_load_report_init(dps_load_report *r) {
  memset(r, 0, sizeof *r);
  if (dps__hdr_init(&r->corrected, DPS__HDR_PRECISE_BITS) ||
      dps__hdr_init(&r->uncorrected, DPS__HDR_PRECISE_BITS)) {
    dps__hdr_free(&r->corrected);
    return -1;
  }
  return 0;
}

void dps_load_report_free(dps_load_report *r) {
  dps__hdr_free(&r->corrected);
  dps__hdr_free(&r->uncorrected);
  for (size_t i = 0; i < r->n_series; i++) dps__hdr_free(&r->series[i].latency);
  free(r->series);
  memset(r, 0, sizeof *r);
}

dps_load_second *dps_load_report_second(dps_load_report *r, size_t t) {
  if (t >= r->cap_series) {
    size_t cap = r->cap_series ? r->cap_series : 64;
    while (cap <= t) cap *= 2;
    dps_load_second *s = realloc(r->series, cap * sizeof *s);
    if (!s) return NULL;
    r->series = s;
    r->cap_series = cap;
  }
  while (r->n_series <= t) {
    dps_load_second *s = &r->series[r->n_series];
    memset(s, 0, sizeof *s);
    if (dps__hdr_init(&s->latency, DPS__HDR_COARSE_BITS)) return NULL;
    r->n_series++;
  }
  return &r->series[t];
}

void dps_load_report_error(dps_load_report *r, const char *code, uint64_t n) {
  if (!code || !*code) code = "Unknown";
  for (size_t i = 0; i < DPS_LOAD_MAX_CODES; i++) {
    if (i == DPS_LOAD_MAX_CODES - 1 && r->errors[i].code[0] && strcmp(r->errors[i].code, code))
      code = "Other"; /* the table is full: the rest go together */
    if (!r->errors[i].code[0]) snprintf(r->errors[i].code, sizeof r->errors[i].code, "%s", code);
    if (strcmp(r->errors[i].code, code) == 0) {
      r->errors[i].count += n;
      return;
    }
  }
}

/* Responses (ok or error answers: what the endpoint sustained) per second; updates that expired
 * unanswered, e.g. cancelled at the end, do not count. */
double dps_load_report_achieved(const dps_load_report *r) {
  return r->duration_s > 0 ? (double)r->corrected.count / r->duration_s : 0;
}

static uint64_t error_count(const dps_load_report *r) { return r->requests - r->ok; }

static double ms(uint64_t us) { return (double)us / 1000.0; }

/* Rounded to @p decimals places without libm. */
static double round_to(double v, int decimals) {
  double scale = 1;
  while (decimals-- > 0) scale *= 10;
  return (double)(int64_t)(v * scale + (v < 0 ? -0.5 : 0.5)) / scale;
}

const dps_load_point dps_load_points[DPS_LOAD_N_POINTS] = {
    {"min", 0}, {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}, {"max", 100}};

static void latency_row(FILE *f, const char *label, const dps__hdr *h) {
  fprintf(f, PROG ":   %-12s", label);
  for (size_t i = 0; i < DPS_LOAD_N_POINTS; i++)
    fprintf(f, " %9.3f", ms(dps__hdr_percentile(h, dps_load_points[i].p)));
  fputc('\n', f);
}

void dps_load_report_text(FILE *f, const dps_load_report *r) {
  uint64_t errs = error_count(r);
  fprintf(f, PROG ": %" PRIu64 " requests in %.2f s: %" PRIu64 " ok, %" PRIu64 " errors",
          r->requests, r->duration_s, r->ok, errs);
  if (r->rejected) fprintf(f, ", %" PRIu64 " input lines rejected", r->rejected);
  fputc('\n', f);
  double achieved = dps_load_report_achieved(r);
  if (r->ramp.seconds > 0)
    fprintf(f,
            PROG
            ": rate %.1f/s achieved, ramped from %.0f/s to %.0f/s over %.3g s (then "
            "steady); throughput %.1f ok/s\n",
            achieved, r->ramp.from, r->ramp.to, r->ramp.seconds,
            r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  else if (r->limit.ran)
    fprintf(f, PROG ": rate %.1f/s achieved over the steps; throughput %.1f ok/s\n", achieved,
            r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  else if (r->target_rate > 0)
    fprintf(f, PROG ": rate %.1f/s achieved of %.1f/s targeted (%.1f%%); throughput %.1f ok/s\n",
            achieved, r->target_rate, 100.0 * achieved / r->target_rate,
            r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  else
    fprintf(f, PROG ": rate %.1f/s achieved (max); throughput %.1f ok/s\n", achieved,
            r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  if (r->corrected.count) {
    fprintf(f,
            PROG ":   latency (ms)      min       p50       p90       p99     p99.9       max\n");
    latency_row(f, "corrected", &r->corrected);
    latency_row(f, "uncorrected", &r->uncorrected);
  }
  if (r->throttled || r->send_rate > 0) {
    fprintf(f, PROG ": %" PRIu64 " throttled responses", r->throttled);
    if (r->send_rate > 0)
      fprintf(f, "; the rate controller paced at %.1f/s at the end", r->send_rate);
    fputc('\n', f);
  }
  if (r->errors[0].code[0]) {
    fprintf(f, PROG ": errors:");
    for (size_t i = 0; i < DPS_LOAD_MAX_CODES && r->errors[i].code[0]; i++)
      fprintf(f, "%s %s %" PRIu64 " (%.2f%%)", i ? "," : "", r->errors[i].code, r->errors[i].count,
              r->requests ? 100.0 * (double)r->errors[i].count / (double)r->requests : 0);
    fputc('\n', f);
  }
  const dps_load_limit *L = &r->limit;
  if (!L->ran) return;
  if (L->found)
    fprintf(f,
            PROG
            ": limit: %.1f calls/s sustained with %.2f%% throttled (--max-throttle %.3g%%); "
            "burst %.0f seen\n",
            L->rate, 100 * L->throttled_share, 100 * L->max_throttle, L->burst);
  else
    fprintf(f, PROG ": limit: not found (the steps below)\n");
  fprintf(f, PROG ":   step  phase      rate/s  seconds     sent       ok  throttled   errors\n");
  for (size_t i = 0; i < L->n_steps; i++) {
    const dps_load_step *s = &L->steps[i];
    fprintf(
        f, PROG ":   %4zu  %-7s %9.1f %8.2f %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
        i + 1, dps_load_step_kind_name(s->kind), s->rate, s->seconds, s->sent, s->ok, s->throttled,
        s->errors);
  }
}

const char *dps_load_step_kind_name(dps_load_step_kind k) {
  switch (k) {
    case DPS_LOAD_STEP_RAISE: return "raise";
    case DPS_LOAD_STEP_MEASURE: return "measure";
    case DPS_LOAD_STEP_CONFIRM: return "confirm";
  }
  return "unknown";
}

/* The "limit" member: null unless --find-limit ran. */
static json_t *limit_json(const dps_load_limit *L) {
  if (!L->ran) return json_null();
  json_t *steps = json_array();
  for (size_t i = 0; steps && i < L->n_steps; i++) {
    const dps_load_step *s = &L->steps[i];
    json_t *e = json_pack(
        "{s:s,s:f,s:f,s:I,s:I,s:I,s:I,s:f}", "phase", dps_load_step_kind_name(s->kind), "rate",
        round_to(s->rate, 3), "seconds", round_to(s->seconds, 6), "sent", (json_int_t)s->sent, "ok",
        (json_int_t)s->ok, "throttled", (json_int_t)s->throttled, "errors", (json_int_t)s->errors,
        "throttledShare", s->sent ? round_to((double)s->throttled / (double)s->sent, 6) : 0.0);
    if (!e || json_array_append_new(steps, e)) {
      json_decref(steps);
      steps = NULL;
    }
  }
  return json_pack("{s:b,s:f,s:f,s:f,s:f,s:o*}", "found", L->found, "rate", round_to(L->rate, 3),
                   "burst", round_to(L->burst, 1), "throttledShare",
                   round_to(L->throttled_share, 6), "maxThrottle", L->max_throttle, "steps", steps);
}

static json_t *summary_json(const dps__hdr *h) {
  json_t *o = json_object();
  for (size_t i = 0; o && i < DPS_LOAD_N_POINTS; i++)
    json_object_set_new(o, dps_load_points[i].name,
                        json_real(round_to(ms(dps__hdr_percentile(h, dps_load_points[i].p)), 3)));
  return o;
}

json_t *dps_load_report_json(const dps_load_report *r) {
  json_t *errors = json_object(), *series = json_array();
  for (size_t i = 0; errors && i < DPS_LOAD_MAX_CODES && r->errors[i].code[0]; i++)
    json_object_set_new(errors, r->errors[i].code, json_integer((json_int_t)r->errors[i].count));
  for (size_t t = 0; series && t < r->n_series; t++) {
    const dps_load_second *s = &r->series[t];
    json_t *e = json_pack("{s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:o*}", "t", (json_int_t)t, "sent",
                          (json_int_t)s->sent, "ok", (json_int_t)s->ok, "errors",
                          (json_int_t)s->errors, "rate", (double)(s->ok + s->errors), "p50",
                          round_to(ms(dps__hdr_percentile(&s->latency, 50)), 3), "p99",
                          round_to(ms(dps__hdr_percentile(&s->latency, 99)), 3), "histogram",
                          dps__hdr_to_json(&s->latency));
    if (!e || json_array_append_new(series, e)) {
      json_decref(series);
      series = NULL;
    }
  }
  json_t *target = r->target_rate > 0 ? json_real(r->target_rate) : json_null();
  json_t *ramp = r->ramp.seconds > 0 ? json_pack("{s:f,s:f,s:f}", "from", r->ramp.from, "to",
                                                 r->ramp.to, "seconds", r->ramp.seconds)
                                     : json_null();
  return json_pack(
      "{s:I,s:I,s:I,s:o*,s:f,s:o*,s:o*,s:f,s:I,s:f,s:o*,s:o*,s:{s:o*,s:o*},s:o*,s:o*}", "requests",
      (json_int_t)r->requests, "ok", (json_int_t)r->ok, "rejected", (json_int_t)r->rejected,
      "errors", errors, "durationSeconds", round_to(r->duration_s, 6), "targetRate", target, "ramp",
      ramp, "achievedRate", round_to(dps_load_report_achieved(r), 3), "throttled",
      (json_int_t)r->throttled, "sendRate", round_to(r->send_rate, 3), "latencyMs",
      summary_json(&r->corrected), "uncorrectedLatencyMs", summary_json(&r->uncorrected),
      "histogram", "corrected", dps__hdr_to_json(&r->corrected), "uncorrected",
      dps__hdr_to_json(&r->uncorrected), "series", series, "limit", limit_json(&r->limit));
}

int dps_load_report_write(const dps_load_report *r, const char *path) {
  json_t *j = dps_load_report_json(r);
  if (!j) return dps_cli_error(PROG, "out of memory"), -1;
  size_t flags = JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(15);
  int rc;
  if (strcmp(path, "-") == 0)
    rc = json_dumpf(j, stdout, flags) || fputc('\n', stdout) == EOF || fflush(stdout) ? -1 : 0;
  else
    rc = json_dump_file(j, path, flags);
  json_decref(j);
  if (rc) dps_cli_error(PROG, "--json: writing \"%s\" failed: %s", path, strerror(errno));
  return rc ? -1 : 0;
}

static int fail(char *why, size_t why_len, const char *msg) {
  snprintf(why, why_len, "%s", msg);
  return -1;
}

int dps_load_report_from_json(const json_t *j, dps_load_report *r, char *why, size_t why_len) {
  if (dps_load_report_init(r)) return fail(why, why_len, "out of memory");
  json_int_t requests, ok, rejected = 0, throttled = 0;
  double send_rate = 0;
  json_t *errors, *target, *ramp = NULL, *hist, *series;
  double duration;
  json_error_t je;
  if (json_unpack_ex((json_t *)j, &je, 0, "{s:I,s:I,s?I,s:o,s:F,s:o,s?o,s:o,s:o,s?I,s?F}",
                     "requests", &requests, "ok", &ok, "rejected", &rejected, "errors", &errors,
                     "durationSeconds", &duration, "targetRate", &target, "ramp", &ramp,
                     "histogram", &hist, "series", &series, "throttled", &throttled, "sendRate",
                     &send_rate)) {
    snprintf(why, why_len, "%s", je.text);
    goto bad;
  }
  if (requests < 0 || ok < 0 || ok > requests || rejected < 0 || duration < 0 || throttled < 0 ||
      !(send_rate >= 0)) {
    fail(why, why_len,
         "requests, ok, rejected, durationSeconds, throttled or sendRate out of range");
    goto bad;
  }
  r->throttled = (uint64_t)throttled;
  r->send_rate = send_rate;
  r->requests = (uint64_t)requests;
  r->ok = (uint64_t)ok;
  r->rejected = (uint64_t)rejected;
  r->duration_s = duration;
  if (json_is_number(target) && json_number_value(target) > 0)
    r->target_rate = json_number_value(target);
  else if (!json_is_null(target)) {
    fail(why, why_len, "targetRate: expected a positive number or null");
    goto bad;
  }
  if (ramp && !json_is_null(ramp) &&
      (json_unpack(ramp, "{s:F,s:F,s:F}", "from", &r->ramp.from, "to", &r->ramp.to, "seconds",
                   &r->ramp.seconds) ||
       r->ramp.from < 0 || r->ramp.to <= r->ramp.from || r->ramp.seconds <= 0)) {
    fail(why, why_len,
         "ramp: expected null or {from, to, seconds} with 0 <= from < to, seconds > 0");
    goto bad;
  }
  if (!json_is_object(errors)) {
    fail(why, why_len, "errors: expected an object");
    goto bad;
  }
  const char *code;
  json_t *v;
  uint64_t err_sum = 0;
  json_object_foreach(errors, code, v) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
      fail(why, why_len, "errors: counts must be whole numbers");
      goto bad;
    }
    dps_load_report_error(r, code, (uint64_t)json_integer_value(v));
    err_sum += (uint64_t)json_integer_value(v);
  }
  if (err_sum != r->requests - r->ok) {
    fail(why, why_len, "errors: the counts do not add up to requests - ok");
    goto bad;
  }
  dps__hdr h;
  const char *names[] = {"corrected", "uncorrected"};
  dps__hdr *dst[] = {&r->corrected, &r->uncorrected};
  for (size_t i = 0; i < 2; i++) {
    json_t *hj = json_is_object(hist) ? json_object_get(hist, names[i]) : NULL;
    char w[200];
    if (dps__hdr_from_json(hj, &h, w, sizeof w)) {
      snprintf(why, why_len, "histogram.%s: %s", names[i], w);
      goto bad;
    }
    int rc = dps__hdr_add(dst[i], &h);
    dps__hdr_free(&h);
    if (rc) {
      snprintf(why, why_len, "histogram.%s: subBucketBits must be %d", names[i],
               DPS__HDR_PRECISE_BITS);
      goto bad;
    }
  }
  if (!json_is_array(series)) {
    fail(why, why_len, "series: expected an array");
    goto bad;
  }
  size_t k;
  json_array_foreach(series, k, v) {
    json_int_t t, sent, sok, serr;
    json_t *sh;
    if (json_unpack(v, "{s:I,s:I,s:I,s:I,s:o}", "t", &t, "sent", &sent, "ok", &sok, "errors", &serr,
                    "histogram", &sh) ||
        t < 0 || t > 10000000 || sent < 0 || sok < 0 || serr < 0) {
      snprintf(why, why_len, "series[%zu]: expected {t, sent, ok, errors, histogram}", k);
      goto bad;
    }
    dps_load_second *s = dps_load_report_second(r, (size_t)t);
    char w[200];
    if (!s) {
      fail(why, why_len, "out of memory");
      goto bad;
    }
    if (dps__hdr_from_json(sh, &h, w, sizeof w)) {
      snprintf(why, why_len, "series[%zu].%s", k, w);
      goto bad;
    }
    int rc = dps__hdr_add(&s->latency, &h);
    dps__hdr_free(&h);
    if (rc) {
      snprintf(why, why_len, "series[%zu].histogram: subBucketBits must be %d", k,
               DPS__HDR_COARSE_BITS);
      goto bad;
    }
    s->sent += (uint64_t)sent;
    s->ok += (uint64_t)sok;
    s->errors += (uint64_t)serr;
  }
  return 0;
bad:
  dps_load_report_free(r);
  return -1;
}

int dps_load_report_merge(dps_load_report *dst, const dps_load_report *src) {
  dst->requests += src->requests;
  dst->ok += src->ok;
  dst->rejected += src->rejected;
  dst->throttled += src->throttled;
  dst->send_rate +=
      src->send_rate; /* the group's pace; a found limit is one run's and not merged */
  for (size_t i = 0; i < DPS_LOAD_MAX_CODES && src->errors[i].code[0]; i++)
    dps_load_report_error(dst, src->errors[i].code, src->errors[i].count);
  if (src->duration_s > dst->duration_s) dst->duration_s = src->duration_s;
  dst->target_rate =
      dst->target_rate > 0 && src->target_rate > 0 ? dst->target_rate + src->target_rate : 0;
  /* ramps of the same length add like their rates; any other mix has no single ramp */
  if (dst->ramp.seconds > 0 && dst->ramp.seconds == src->ramp.seconds) {
    dst->ramp.from += src->ramp.from;
    dst->ramp.to += src->ramp.to;
  } else {
    memset(&dst->ramp, 0, sizeof dst->ramp);
  }
  dps__hdr_add(&dst->corrected, &src->corrected);
  dps__hdr_add(&dst->uncorrected, &src->uncorrected);
  for (size_t t = 0; t < src->n_series; t++) {
    dps_load_second *d = dps_load_report_second(dst, t);
    if (!d) return -1;
    const dps_load_second *s = &src->series[t];
    d->sent += s->sent;
    d->ok += s->ok;
    d->errors += s->errors;
    dps__hdr_add(&d->latency, &s->latency);
  }
  return 0;
}

/* ---- SLOs ---- */

/* A number with an optional fraction: digits, at most one '.', digits after it. */
static int parse_decimal(const char *s, size_t n, double *out) {
  size_t dots = 0, digits = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.')
      dots++;
    else if (s[i] >= '0' && s[i] <= '9')
      digits++;
    else
      return -1;
  }
  if (!digits || dots > 1 || s[0] == '.' || s[n - 1] == '.' || n > 30) return -1;
  char buf[32];
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, NULL);
  return 0;
}

static int parse_one(const char *item, size_t len, dps_load_slo *slo, char *why, size_t why_len) {
  memset(slo, 0, sizeof *slo);
  snprintf(slo->text, sizeof slo->text, "%.*s", (int)(len < 47 ? len : 47), item);
  const char *lt = memchr(item, '<', len);
  if (!lt) {
    snprintf(why, why_len, "--slo: \"%s\": expected NAME<LIMIT, e.g. p99<50ms or errors<0.1%%",
             slo->text);
    return -1;
  }
  size_t name_len = (size_t)(lt - item);
  const char *val = lt + 1;
  size_t val_len = len - name_len - 1;
  if (name_len == 6 && memcmp(item, "errors", 6) == 0) {
    slo->errors = true;
    if (val_len < 2 || val[val_len - 1] != '%' || parse_decimal(val, val_len - 1, &slo->limit) ||
        slo->limit > 100) {
      snprintf(why, why_len, "--slo: \"%s\": the errors limit is a percentage, e.g. errors<0.1%%",
               slo->text);
      return -1;
    }
    return 0;
  }
  static const struct {
    const char *name;
    double p;
  } names[] = {{"p50", 50},     {"p90", 90},    {"p99", 99},
               {"p99.9", 99.9}, {"p999", 99.9}, {"max", 100}};
  bool found = false;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == name_len && memcmp(item, names[i].name, name_len) == 0) {
      slo->percentile = names[i].p;
      found = true;
    }
  if (!found) {
    snprintf(why, why_len,
             "--slo: \"%s\": unknown objective \"%.*s\" (p50, p90, p99, p99.9, "
             "max, errors)",
             slo->text, (int)(name_len < 32 ? name_len : 32), item);
    return -1;
  }
  static const struct {
    const char *unit;
    double us;
  } units[] = {{"us", 1}, {"ms", 1000}, {"s", 1e6}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t ul = strlen(units[i].unit);
    if (val_len > ul && memcmp(val + val_len - ul, units[i].unit, ul) == 0 &&
        parse_decimal(val, val_len - ul, &slo->limit) == 0) {
      slo->limit *= units[i].us;
      if (slo->limit > 0) return 0;
    }
  }
  snprintf(why, why_len,
           "--slo: \"%s\": the limit is a positive duration in us, ms or s, e.g. "
           "p99<50ms",
           slo->text);
  return -1;
}

int dps_load_slos_parse(const char *text, dps_load_slos *out, char *why, size_t why_len) {
  memset(out, 0, sizeof *out);
  const char *p = text;
  for (;;) {
    size_t len = strcspn(p, ",");
    if (len == 0) {
      snprintf(why, why_len, "--slo: \"%s\": an empty objective", text);
      return -1;
    }
    if (out->n == DPS_LOAD_MAX_SLOS) {
      snprintf(why, why_len, "--slo: at most %d objectives", DPS_LOAD_MAX_SLOS);
      return -1;
    }
    if (parse_one(p, len, &out->s[out->n++], why, why_len)) return -1;
    if (!p[len]) return 0;
    p += len + 1;
  }
}

int dps_load_slos_check(const dps_load_slos *slos, const dps_load_report *r) {
  int missed = 0;
  for (size_t i = 0; slos && i < slos->n; i++) {
    const dps_load_slo *s = &slos->s[i];
    if (s->errors) {
      double pct = r->requests ? 100.0 * (double)error_count(r) / (double)r->requests : 0;
      if (!(pct < s->limit)) {
        dps_cli_error(PROG, "SLO missed: %s: errors were %.3f%%", s->text, pct);
        missed++;
      }
    } else {
      uint64_t v = dps__hdr_percentile(&r->corrected, s->percentile);
      if (!((double)v < s->limit) || r->corrected.count == 0) {
        dps_cli_error(PROG, "SLO missed: %s: it was %.3f ms%s", s->text, ms(v),
                      r->corrected.count ? "" : " (no responses)");
        missed++;
      }
    }
  }
  return missed;
}
