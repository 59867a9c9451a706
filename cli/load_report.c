/*
 * load_report.c: the figures of a `dpstatus load` run and what is done with them: the text
 * report, the JSON report (with the histograms in their compact form, so that reports from many
 * machines merge exactly), the HTML report (inline SVG charts of the series), reading a report
 * back, merging, and checking SLOs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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

static const struct {
  const char *name;
  double p;
} points[] = {{"min", 0}, {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}, {"max", 100}};
#define N_POINTS (sizeof points / sizeof points[0])

static void latency_row(FILE *f, const char *label, const dps__hdr *h) {
  fprintf(f, PROG ":   %-12s", label);
  for (size_t i = 0; i < N_POINTS; i++)
    fprintf(f, " %9.3f", ms(dps__hdr_percentile(h, points[i].p)));
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
  if (r->errors[0].code[0]) {
    fprintf(f, PROG ": errors:");
    for (size_t i = 0; i < DPS_LOAD_MAX_CODES && r->errors[i].code[0]; i++)
      fprintf(f, "%s %s %" PRIu64 " (%.2f%%)", i ? "," : "", r->errors[i].code, r->errors[i].count,
              r->requests ? 100.0 * (double)r->errors[i].count / (double)r->requests : 0);
    fputc('\n', f);
  }
}

static json_t *summary_json(const dps__hdr *h) {
  json_t *o = json_object();
  for (size_t i = 0; o && i < N_POINTS; i++)
    json_object_set_new(o, points[i].name,
                        json_real(round_to(ms(dps__hdr_percentile(h, points[i].p)), 3)));
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
      "{s:I,s:I,s:I,s:o*,s:f,s:o*,s:o*,s:f,s:o*,s:o*,s:{s:o*,s:o*},s:o*}", "requests",
      (json_int_t)r->requests, "ok", (json_int_t)r->ok, "rejected", (json_int_t)r->rejected,
      "errors", errors, "durationSeconds", round_to(r->duration_s, 6), "targetRate", target, "ramp",
      ramp, "achievedRate", round_to(dps_load_report_achieved(r), 3), "latencyMs",
      summary_json(&r->corrected), "uncorrectedLatencyMs", summary_json(&r->uncorrected),
      "histogram", "corrected", dps__hdr_to_json(&r->corrected), "uncorrected",
      dps__hdr_to_json(&r->uncorrected), "series", series);
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
  json_int_t requests, ok, rejected = 0;
  json_t *errors, *target, *ramp = NULL, *hist, *series;
  double duration;
  json_error_t je;
  if (json_unpack_ex((json_t *)j, &je, 0, "{s:I,s:I,s?I,s:o,s:F,s:o,s?o,s:o,s:o}", "requests",
                     &requests, "ok", &ok, "rejected", &rejected, "errors", &errors,
                     "durationSeconds", &duration, "targetRate", &target, "ramp", &ramp,
                     "histogram", &hist, "series", &series)) {
    snprintf(why, why_len, "%s", je.text);
    goto bad;
  }
  if (requests < 0 || ok < 0 || ok > requests || rejected < 0 || duration < 0) {
    fail(why, why_len, "requests, ok, rejected or durationSeconds out of range");
    goto bad;
  }
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

/* ---- the HTML report ---- */

/* Chart geometry, in SVG user units (the charts scale to the page's width). */
#define CHART_W 1000
#define CHART_H 300
#define CHART_L 70 /* room for the y labels */
#define CHART_R 20
#define CHART_T 20
#define CHART_B 45 /* room for the x labels */

/* @p s with &, <, >, " and ' escaped: error codes come from the network. */
static void html_text(dps__buf *b, const char *s) {
  for (; *s; s++) switch (*s) {
      case '&': dps__buf_puts(b, "&amp;"); break;
      case '<': dps__buf_puts(b, "&lt;"); break;
      case '>': dps__buf_puts(b, "&gt;"); break;
      case '"': dps__buf_puts(b, "&quot;"); break;
      case '\'': dps__buf_puts(b, "&#39;"); break;
      default: dps__buf_putc(b, *s);
    }
}

/* The smallest 1, 2 or 5 times a power of ten at or above @p v: the y axis' top. */
static double nice_ceiling(double v) {
  if (!(v > 0)) return 1;
  double p = 1;
  while (p * 10 <= v) p *= 10;
  while (p > v) p /= 10;
  return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

typedef struct chart_line {
  const char *name, *cls, *color;
  double (*value)(const dps_load_second *s); /* < 0: no point that second */
} chart_line;

static double ok_per_s(const dps_load_second *s) { return (double)s->ok; }
static double errors_per_s(const dps_load_second *s) { return (double)s->errors; }
static double p50_ms(const dps_load_second *s) {
  return s->latency.count ? ms(dps__hdr_percentile(&s->latency, 50)) : -1;
}
static double p99_ms(const dps_load_second *s) {
  return s->latency.count ? ms(dps__hdr_percentile(&s->latency, 99)) : -1;
}

/* One <svg id=ID> line chart of the series, one <polyline class="series CLS"> per line, with
 * its grid, axis labels and legend. */
static void html_chart(dps__buf *b, const dps_load_report *r, const char *id, const char *title,
                       const chart_line *lines, size_t n_lines) {
  const double w = CHART_W - CHART_L - CHART_R, h = CHART_H - CHART_T - CHART_B;
  size_t n = r->n_series;
  double top = 0;
  for (size_t k = 0; k < n_lines; k++)
    for (size_t t = 0; t < n; t++) {
      double v = lines[k].value(&r->series[t]);
      if (v > top) top = v;
    }
  top = nice_ceiling(top);
  dps__buf_printf(b, "<h2>%s</h2>\n<p class=\"legend\">", title);
  for (size_t k = 0; k < n_lines; k++)
    dps__buf_printf(b, "<span style=\"color:%s\">&#9632; %s</span> ", lines[k].color,
                    lines[k].name);
  dps__buf_printf(b,
                  "</p>\n<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"%s\">\n",
                  id, CHART_W, CHART_H, title);
  for (int g = 0; g <= 5; g++) {
    double y = CHART_T + h - h * g / 5;
    dps__buf_printf(b,
                    "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                    "<text class=\"ylabel\" x=\"%d\" y=\"%.1f\">%g</text>\n",
                    CHART_L, y, CHART_W - CHART_R, y, CHART_L - 8, y + 4, top * g / 5);
  }
  size_t step = 1;
  while (n > 1 && (n - 1) / step > 10) step = step == 1 ? 2 : step == 2 ? 5 : step * 2;
  for (size_t t = 0; t < n; t += step)
    dps__buf_printf(b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%d\">%zu</text>\n",
                    CHART_L + (n > 1 ? w * (double)t / (double)(n - 1) : w / 2), CHART_H - 22, t);
  dps__buf_printf(b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%d\">seconds</text>\n", CHART_L + w / 2,
                  CHART_H - 4);
  for (size_t k = 0; k < n_lines; k++) {
    dps__buf_printf(b,
                    "<polyline class=\"series %s\" fill=\"none\" stroke=\"%s\" "
                    "stroke-width=\"2.5\" points=\"",
                    lines[k].cls, lines[k].color);
    for (size_t t = 0; t < n; t++) {
      double v = lines[k].value(&r->series[t]);
      if (v < 0) continue;
      double y = CHART_T + h - h * v / top;
      if (n == 1) /* one second: a level line across the chart */
        dps__buf_printf(b, "%d,%.1f %.1f,%.1f", CHART_L, y, CHART_L + w, y);
      else
        dps__buf_printf(b, "%s%.1f,%.1f", t ? " " : "", CHART_L + w * (double)t / (double)(n - 1),
                        y);
    }
    dps__buf_puts(b, "\"/>\n");
  }
  dps__buf_puts(b, "</svg>\n");
}

static void html_row(dps__buf *b, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void html_row(dps__buf *b, const char *label, const char *fmt, ...) {
  char v[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v, sizeof v, fmt, ap);
  va_end(ap);
  dps__buf_printf(b, "<tr><th>%s</th><td>%s</td></tr>\n", label, v);
}

static void html_latency_row(dps__buf *b, const char *label, const dps__hdr *h) {
  dps__buf_printf(b, "<tr><th>%s</th>", label);
  for (size_t i = 0; i < N_POINTS; i++)
    dps__buf_printf(b, "<td>%.3f</td>", ms(dps__hdr_percentile(h, points[i].p)));
  dps__buf_puts(b, "</tr>\n");
}

static const char html_style[] =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:17px;margin:24px 0 4px}"
    "svg.chart{width:100%;max-width:1000px;height:auto;border:1px solid #ddd;display:block}"
    ".grid{stroke:#e4e4e4;stroke-width:1}.ylabel{font-size:12px;text-anchor:end;fill:#555}"
    ".xlabel{font-size:12px;text-anchor:middle;fill:#555}.legend{margin:0 0 6px}"
    "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 10px;"
    "text-align:right}th{background:#f4f4f4;text-align:left}";

int dps_load_report_html(const dps_load_report *r, const char *path) {
  static const chart_line throughput[] = {{"ok/s", "ok", "#1f77b4", ok_per_s},
                                          {"errors/s", "errors", "#d62728", errors_per_s}};
  static const chart_line latency[] = {{"p50 (ms)", "p50", "#2ca02c", p50_ms},
                                       {"p99 (ms)", "p99", "#9467bd", p99_ms}};
  dps__buf b = DPS__BUF_INIT;
  dps__buf_printf(&b,
                  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<title>dpstatus load report</title>\n<style>%s</style>\n</head>\n<body>\n"
                  "<h1>dpstatus load report</h1>\n",
                  html_style);
  html_chart(&b, r, "throughput", "Throughput per second", throughput, 2);
  html_chart(&b, r, "latency", "Latency per second (corrected)", latency, 2);

  double achieved = dps_load_report_achieved(r);
  dps__buf_puts(&b, "<h2>Summary</h2>\n<table id=\"summary\">\n");
  html_row(&b, "requests", "%" PRIu64, r->requests);
  html_row(&b, "ok", "%" PRIu64, r->ok);
  html_row(&b, "errors", "%" PRIu64, error_count(r));
  if (r->rejected) html_row(&b, "input lines rejected", "%" PRIu64, r->rejected);
  html_row(&b, "duration", "%.2f s", r->duration_s);
  if (r->target_rate > 0)
    html_row(&b, "target rate", "%.1f/s", r->target_rate);
  else
    html_row(&b, "target rate", "max (closed model)");
  if (r->ramp.seconds > 0)
    html_row(&b, "ramp", "%.0f/s to %.0f/s over %.3g s", r->ramp.from, r->ramp.to, r->ramp.seconds);
  html_row(&b, "achieved rate", "%.1f/s", achieved);
  html_row(&b, "throughput", "%.1f ok/s", r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  dps__buf_puts(&b, "</table>\n<table id=\"latency-summary\">\n<tr><th>latency (ms)</th>");
  for (size_t i = 0; i < N_POINTS; i++) dps__buf_printf(&b, "<th>%s</th>", points[i].name);
  dps__buf_puts(&b, "</tr>\n");
  html_latency_row(&b, "corrected", &r->corrected);
  html_latency_row(&b, "uncorrected", &r->uncorrected);
  dps__buf_puts(&b,
                "</table>\n<table id=\"errors\">\n<tr><th>error</th><th>count</th>"
                "<th>share</th></tr>\n");
  for (size_t i = 0; i < DPS_LOAD_MAX_CODES && r->errors[i].code[0]; i++) {
    dps__buf_puts(&b, "<tr><th>");
    html_text(&b, r->errors[i].code);
    dps__buf_printf(&b, "</th><td>%" PRIu64 "</td><td>%.2f%%</td></tr>\n", r->errors[i].count,
                    r->requests ? 100.0 * (double)r->errors[i].count / (double)r->requests : 0);
  }
  dps__buf_puts(&b, "</table>\n</body>\n</html>\n");

  int rc = -1;
  if (dps__buf_failed(&b)) {
    dps_cli_error(PROG, "out of memory");
  } else {
    FILE *f = fopen(path, "w");
    bool written = f && fwrite(b.data, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0) written = false;
    if (written)
      rc = 0;
    else
      dps_cli_error(PROG, "--html: writing \"%s\" failed: %s", path, strerror(errno));
  }
  dps__buf_free(&b);
  return rc;
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
