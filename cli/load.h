/*
 * load.h: `dpstatus load`: its options (load.c), the run through the public reporter API
 * (load_run.c), and the report: figures, text, JSON, merge and SLOs (load_report.c).
 */
#ifndef DPS_CLI_LOAD_H
#define DPS_CLI_LOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/send.h"
#include "core/hdr.h"
#include "dpstatus.h"

#define DPS_LOAD_PROG "dpstatus load"
#define DPS_EXIT_SLO 3
/* The run fails (exit 1) when it completes less than this share of the target rate. */
#define DPS_LOAD_RATE_THRESHOLD 0.9
#define DPS_LOAD_MAX_CODES 32
#define DPS_LOAD_MAX_SLOS 16

/* ---- the report (load_report.c) ---- */

typedef struct dps_load_second {
  uint64_t sent, ok, errors; /* submitted in this second; outcomes that arrived in it */
  dps__hdr latency;          /* corrected latency of the responses that arrived in it (coarse) */
} dps_load_second;

/* ---- --find-limit ---- */

#define DPS_LOAD_MAX_STEPS 48
#define DPS_LOAD_MAX_RATE 10000000.0 /* what --rate takes */
/* A step lasts --step, or long enough for this many calls if that is longer: below ~100 calls a
 * throttled share of 1% cannot be told from 0. */
#define DPS_LOAD_STEP_MIN_CALLS 100

typedef enum dps_load_step_kind {
  DPS_LOAD_STEP_RAISE = 0, /* the rate doubles until a step is throttled above --max-throttle */
  DPS_LOAD_STEP_MEASURE, /* that rate again, the bucket now empty: the accepted rate is the limit */
  DPS_LOAD_STEP_CONFIRM  /* the measured rate, lowered until it holds within --max-throttle */
} dps_load_step_kind;

typedef struct dps_load_step {
  dps_load_step_kind kind;
  double rate, seconds;                 /* offered per second, for this long */
  uint64_t sent, ok, throttled, errors; /* errors: other than throttling */
} dps_load_step;

typedef struct dps_load_limit {
  bool ran;     /* this report is of a --find-limit run */
  bool found;   /* false: a step fell short of its rate before any was throttled (this client or
                   the endpoint is slower than the limit); rate is then that step's achieved rate */
  double rate;  /* the highest rate sustained within --max-throttle */
  double burst; /* calls accepted above the rate before the first throttle */
  double throttled_share; /* of the step that sustained `rate` */
  double max_throttle;    /* the --max-throttle it was found with (a share, 0.01 = 1%) */
  dps_load_step steps[DPS_LOAD_MAX_STEPS];
  size_t n_steps;
} dps_load_limit;

const char *dps_load_step_kind_name(dps_load_step_kind k); /* "raise", "measure", "confirm" */

/* A linear ramp of the arrival rate, from `from` to `to` per second over `seconds` (0: none). */
typedef struct dps_load_ramp {
  double from, to, seconds;
} dps_load_ramp;

typedef struct dps_load_report {
  uint64_t requests, ok, rejected; /* outcomes; input lines refused before sending */
  struct {
    char code[64];
    uint64_t count;
  } errors[DPS_LOAD_MAX_CODES]; /* "" ends; the last slot collects "Other" */
  double duration_s;
  double target_rate; /* per second; 0: max (closed model); the ramp's end with one */
  dps_load_ramp ramp;
  dps__hdr corrected, uncorrected;
  dps_load_second *series;
  size_t n_series, cap_series;
  uint64_t throttled; /* throttled responses (dps_stats.throttled): every attempt counts */
  double send_rate;   /* the rate controller's pace at the end (0: off, load's default) */
  dps_load_limit limit;
} dps_load_report;

int dps_load_report_init(dps_load_report *r);
void dps_load_report_free(dps_load_report *r);
/* Second @p t of the series, created (with the ones before it) when needed; NULL: no memory. */
dps_load_second *dps_load_report_second(dps_load_report *r, size_t t);
void dps_load_report_error(dps_load_report *r, const char *code, uint64_t n);
double dps_load_report_achieved(const dps_load_report *r);

/* The final report, a few lines on @p f. */
void dps_load_report_text(FILE *f, const dps_load_report *r);
/* The JSON report (see README); NULL when out of memory. */
json_t *dps_load_report_json(const dps_load_report *r);
/* Writes it to @p path ("-": stdout). Returns 0, or -1 with the reason printed. */
int dps_load_report_write(const dps_load_report *r, const char *path);
/* The latency points every report shows, in this order (JSON member names). */
typedef struct dps_load_point {
  const char *name;
  double p; /* percentile, 0 = min, 100 = max */
} dps_load_point;
#define DPS_LOAD_N_POINTS 6
extern const dps_load_point dps_load_points[DPS_LOAD_N_POINTS];

/* Writes the HTML report (inline SVG charts of the series, the summary table) to @p path.
 * Returns 0, or -1 with the reason printed. */
int dps_load_report_html(const dps_load_report *r, const char *path);
/* Reads a report written by dps_load_report_json. Returns 0, or -1 with @p why. */
int dps_load_report_from_json(const json_t *j, dps_load_report *r, char *why, size_t why_len);
/* Adds @p src to @p dst: counts and histograms add, durations take the longest, target rates
 * add (max when either is max), the series add second by second. Returns 0, or -1 (memory). */
int dps_load_report_merge(dps_load_report *dst, const dps_load_report *src);

/* ---- SLOs (load_report.c) ---- */

typedef struct dps_load_slo {
  char text[48]; /* as given, for messages */
  bool errors;   /* errors<X% (else a latency percentile) */
  double percentile;
  double limit; /* us for latencies, percent for errors */
} dps_load_slo;

typedef struct dps_load_slos {
  dps_load_slo s[DPS_LOAD_MAX_SLOS];
  size_t n;
} dps_load_slos;

/* Parses "p99<50ms,errors<0.1%". Returns 0, or -1 with @p why. */
int dps_load_slos_parse(const char *text, dps_load_slos *out, char *why, size_t why_len);
/* Prints each missed objective on stderr; returns how many were missed. */
int dps_load_slos_check(const dps_load_slos *slos, const dps_load_report *r);

/* ---- the run (load_run.c) ---- */

typedef struct dps_load_opts {
  dps_config cfg;       /* endpoint (NULL: embedded), credentials, connections, TLS, attempts */
  double rate;          /* per second; 0: max (closed model); with a ramp, its end */
  dps_load_ramp ramp;   /* open model: from 0 s, warmup included; then steady at rate */
  unsigned concurrency; /* closed model: updates in flight */
  uint64_t duration_ms; /* 0: until count */
  uint64_t count;       /* 0: until duration */
  uint64_t warmup_ms;
  bool drain_cancel;
  const char *input; /* NDJSON replay, or NULL: generated */
  dps_gen_mix mix;
  const char *json_path, *html_path;
  const dps_load_slos *slos;
  bool find_limit;     /* --find-limit: steps from `rate` (see dps_load_limit) */
  double max_throttle; /* a share: 0.01 */
  uint64_t step_ms;    /* the shortest step */
} dps_load_opts;

int dps_load_run(dps_load_opts *o);

#endif
