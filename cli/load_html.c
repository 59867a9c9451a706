/*
 * load_html.c: `dpstatus load --html`: one self-contained page (no script, no network) with the
 * run's figures and inline SVG charts of the per-second series (throughput, errors, p50/p99).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/load.h"
#include "core/buf.h"

#define PROG DPS_LOAD_PROG

static double ms(uint64_t us) { return (double)us / 1000.0; }

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
  for (size_t i = 0; i < DPS_LOAD_N_POINTS; i++)
    dps__buf_printf(b, "<td>%.3f</td>", ms(dps__hdr_percentile(h, dps_load_points[i].p)));
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

/* --find-limit: the limit and each step. */
static void html_limit(dps__buf *b, const dps_load_limit *L) {
  if (!L->ran) return;
  dps__buf_puts(b, "<h2>Limit</h2>\n<table id=\"limit\">\n");
  if (L->found) {
    html_row(b, "sustained rate", "%.1f calls/s", L->rate);
    html_row(b, "throttled at that rate", "%.2f%% (--max-throttle %.3g%%)",
             100 * L->throttled_share, 100 * L->max_throttle);
    html_row(b, "burst seen", "%.0f calls", L->burst);
  } else {
    html_row(b, "sustained rate", "not found");
  }
  dps__buf_puts(b,
                "</table>\n<table id=\"steps\">\n<tr><th>step</th><th>phase</th><th>rate/s</th>"
                "<th>seconds</th><th>sent</th><th>ok</th><th>throttled</th><th>errors</th></tr>\n");
  for (size_t i = 0; i < L->n_steps; i++) {
    const dps_load_step *s = &L->steps[i];
    dps__buf_printf(b,
                    "<tr><th>%zu</th><td>%s</td><td>%.1f</td><td>%.2f</td><td>%" PRIu64
                    "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n",
                    i + 1, dps_load_step_kind_name(s->kind), s->rate, s->seconds, s->sent, s->ok,
                    s->throttled, s->errors);
  }
  dps__buf_puts(b, "</table>\n");
}

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
  html_row(&b, "errors", "%" PRIu64, r->requests - r->ok);
  if (r->rejected) html_row(&b, "input lines rejected", "%" PRIu64, r->rejected);
  html_row(&b, "duration", "%.2f s", r->duration_s);
  if (r->limit.ran)
    html_row(&b, "target rate", "stepped (--find-limit)");
  else if (r->target_rate > 0)
    html_row(&b, "target rate", "%.1f/s", r->target_rate);
  else
    html_row(&b, "target rate", "max (closed model)");
  if (r->ramp.seconds > 0)
    html_row(&b, "ramp", "%.0f/s to %.0f/s over %.3g s", r->ramp.from, r->ramp.to, r->ramp.seconds);
  html_row(&b, "achieved rate", "%.1f/s", achieved);
  html_row(&b, "throughput", "%.1f ok/s", r->duration_s > 0 ? (double)r->ok / r->duration_s : 0);
  html_row(&b, "throttled responses", "%" PRIu64, r->throttled);
  if (r->send_rate > 0) html_row(&b, "rate controller pace", "%.1f/s", r->send_rate);
  dps__buf_puts(&b, "</table>\n<table id=\"latency-summary\">\n<tr><th>latency (ms)</th>");
  for (size_t i = 0; i < DPS_LOAD_N_POINTS; i++)
    dps__buf_printf(&b, "<th>%s</th>", dps_load_points[i].name);
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
  dps__buf_puts(&b, "</table>\n");
  html_limit(&b, &r->limit);
  dps__buf_puts(&b, "</body>\n</html>\n");

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
