/*
 * load.c: `dpstatus load`: its options, checked strictly, and the two things it does: a load
 * test through the reporter (load_run.c), or --merge of JSON reports from earlier runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load.h"
#include "cli/reporter_args.h"

#define PROG DPS_LOAD_PROG
#define DAY_MS (24u * 3600 * 1000)

typedef struct load_args {
  const char *rate, *ramp, *concurrency, *duration, *count, *warmup, *drain;
  const char *task_prefix, *mix, *error_message_bytes, *input;
  const char *json, *html, *slo, *merge;
  const char *find_limit, *max_throttle, *step;
  dps_cli_reporter_args net;
} load_args;

static const char usage[] =
    "usage: dpstatus load --rate N|max | --ramp [FROM..]TO/DURATION [--concurrency N]\n"
    "                     [--duration 30s | --count N] [--warmup 5s] [--input FILE]\n"
    "                     [--mix FINISHED=80,FAILED=15,FALSE=5] [--json FILE] [--html FILE]\n"
    "                     [--slo p99<50ms,errors<0.1%] [OPTIONS]\n"
    "       dpstatus load --find-limit [--rate START] [--max-throttle 1%] [--step 2s] [OPTIONS]\n"
    "       dpstatus load --merge A.json B.json ... [--json FILE] [--html FILE] [--slo ...]\n"
    "Load-tests a SetTaskStatus endpoint through libdpstatus's own sender (queue, connections,\n"
    "retries). Without --endpoint-url it starts the emulator (`dpstatus serve`) in this process.\n"
    "\n"
    "--rate N is the open model: update i is scheduled at start + i/N whatever the endpoint does,\n"
    "and latency is measured from that scheduled time (corrected for coordinated omission, as\n"
    "wrk2 does) and, uncorrected, from the submit. --rate max is the closed model: --concurrency "
    "N\n"
    "updates in flight (default 64), a new one as soon as one completes. --ramp 0..400/30s is\n"
    "the open model with the rate growing linearly from 0 (or FROM) to 400 over the first 30s\n"
    "of the run (warmup included), then steady at 400; update i goes when the rate's integral\n"
    "reaches i. --rate may then be omitted or equal TO; --duration defaults to the ramp's.\n"
    "The run lasts --duration (default 10s unless --count) after --warmup, whose updates are\n"
    "sent but not counted; at the end --drain wait (default) waits for what is in flight (up\n"
    "to --timeout + 1s), --drain cancel gives it 100 ms; what is left counts as\n"
    "DeadlineExceeded. --max-attempts defaults to 1: the endpoint is measured, not our\n"
    "retries.\n"
    "\n"
    "Updates are generated (taskIds PREFIX0, PREFIX1, ... with --task-prefix, default\n"
    "load-PID-TIME-; statuses per --mix, default FINISHED=100; FAILED and FALSE carry an\n"
    "errorId and an errorMessage of --error-message-bytes, default 64) or replayed from an\n"
    "NDJSON --input file (the format of `dpstatus send --input`).\n"
    "\n"
    "The report goes to stderr (with a live line a second when stderr is a terminal): requests,\n"
    "ok, errors by code (AWS codes, and ConnectionError, RequestTimeout, TLSError,\n"
    "DeadlineExceeded), achieved and target rate, latency min/p50/p90/p99/p99.9/max corrected and\n"
    "uncorrected. --json FILE (- for stdout) writes it as JSON, histograms included; --merge adds\n"
    "such reports exactly and prints the sum as JSON on stdout (or to --json). Latencies count\n"
    "responses (ok or error); expired updates count only as errors. --html FILE writes one\n"
    "self-contained page (inline SVG, no network) charting ok/s, errors/s, p50 and p99 per "
    "second,\n"
    "with the summary.\n"
    "\n"
    "--find-limit finds the rate the endpoint sustains: open-model steps from --rate (default\n"
    "10/s), each --step long (or 100 calls if longer), the rate doubling until a step has more\n"
    "than --max-throttle of its calls throttled; then that rate again, the burst now spent, whose\n"
    "accepted rate is the limit; then the limit itself, lowered until it holds. The report adds\n"
    "the rate, the burst seen before the first throttle and every step (JSON member \"limit\").\n"
    "Each call is one attempt and the rate controller is off: what is measured is the endpoint.\n"
    "Exit status 1 when no limit was found (the report says why).\n"
    "\n"
    "Exit status: 0 done; 1 the achieved rate was below 90% of --rate (with --ramp, of the\n"
    "ramp's mean over the measured window), nothing completed, a refused certificate or an\n"
    "interrupt; 2 bad usage; 3 an --slo objective was missed.\n";

/* "FINISHED=80,FAILED=15,FALSE=5": each status at most once, weights 0-1000000, not all 0. */
static int parse_mix(const char *s, unsigned weights[3]) {
  static const char *names[] = {"FINISHED", "FAILED", "FALSE"};
  bool seen[3] = {false, false, false};
  weights[0] = weights[1] = weights[2] = 0;
  const char *p = s;
  for (;;) {
    size_t len = strcspn(p, ","), name_len = strcspn(p, "=,");
    size_t i = 0;
    while (i < 3 && !(strlen(names[i]) == name_len && memcmp(p, names[i], name_len) == 0)) i++;
    if (i == 3 || name_len == len) {
      dps_cli_error(PROG,
                    "--mix: \"%.*s\" is not STATUS=WEIGHT with STATUS FINISHED, FAILED or "
                    "FALSE",
                    (int)len, p);
      return DPS_EXIT_USAGE;
    }
    if (seen[i]) {
      dps_cli_error(PROG, "--mix: %s given twice", names[i]);
      return DPS_EXIT_USAGE;
    }
    seen[i] = true;
    char num[16];
    size_t nl = len - name_len - 1;
    unsigned long long w;
    snprintf(num, sizeof num, "%.*s", (int)(nl < 15 ? nl : 15), p + name_len + 1);
    if (nl >= 15 || dps_cli_uint(PROG, "--mix", num, 0, 1000000, &w)) return DPS_EXIT_USAGE;
    weights[i] = (unsigned)w;
    if (!p[len]) break;
    p += len + 1;
  }
  if (!weights[0] && !weights[1] && !weights[2]) {
    dps_cli_error(PROG, "--mix: the weights are all 0");
    return DPS_EXIT_USAGE;
  }
  return 0;
}

/* "1%", "0.5%", "2": a percentage from 0 to 100, as a share (0.01). */
static int parse_percent(const char *flag, const char *s, double *out) {
  double v = 0, scale = 1;
  size_t i = 0, digits = 0, frac = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
    if (v < 1e6) v = v * 10 + (s[i] - '0');
  if (s[i] == '.')
    for (i++; s[i] >= '0' && s[i] <= '9'; i++, frac++)
      if (scale < 1e12) v += (s[i] - '0') / (scale *= 10);
  if (s[i] == '%') i++;
  if (!digits || (s[digits] == '.' && !frac) || s[i] || v > 100) {
    dps_cli_error(PROG, "%s: \"%s\" is not a percentage from 0 to 100 (\"1%%\", \"0.5%%\")", flag,
                  s);
    return -1;
  }
  *out = v / 100;
  return 0;
}

/* "[FROM..]TO/DURATION": whole rates per second, FROM (default 0) below TO. */
static int parse_ramp(const char *s, dps_load_ramp *out) {
  const char *slash = strchr(s, '/'), *dots = strstr(s, "..");
  if (!slash || (dots && dots > slash)) {
    dps_cli_error(PROG, "--ramp: \"%s\" is not [FROM..]TO/DURATION, e.g. 0..400/30s", s);
    return -1;
  }
  char from[24] = "0", to[24];
  const char *to_start = dots ? dots + 2 : s;
  if ((dots && (size_t)(dots - s) >= sizeof from) || (size_t)(slash - to_start) >= sizeof to) {
    dps_cli_error(PROG, "--ramp: \"%s\": the rates are too long", s);
    return -1;
  }
  if (dots) snprintf(from, sizeof from, "%.*s", (int)(dots - s), s);
  snprintf(to, sizeof to, "%.*s", (int)(slash - to_start), to_start);
  unsigned long long f, t;
  uint32_t ms;
  if (dps_cli_uint(PROG, "--ramp", from, 0, 10000000, &f) ||
      dps_cli_uint(PROG, "--ramp", to, 1, 10000000, &t) ||
      dps_cli_duration_ms(PROG, "--ramp", slash + 1, DAY_MS, &ms))
    return -1;
  if (f >= t) {
    dps_cli_error(PROG, "--ramp: \"%s\": the rate must rise (FROM below TO)", s);
    return -1;
  }
  out->from = (double)f;
  out->to = (double)t;
  out->seconds = (double)ms / 1000;
  return 0;
}

static int run_merge(const load_args *a, char **files, int n, const dps_load_slos *slos) {
  dps_load_report sum;
  if (dps_load_report_init(&sum)) return dps_cli_error(PROG, "out of memory"), DPS_EXIT_FAILURE;
  int exit_code = DPS_EXIT_OK;
  for (int i = 0; i < n && exit_code == DPS_EXIT_OK; i++) {
    json_error_t je;
    json_t *j = json_load_file(files[i], JSON_REJECT_DUPLICATES, &je);
    dps_load_report one;
    char why[300];
    if (!j) {
      dps_cli_error(PROG, "--merge: %s: %s", files[i], je.text);
      exit_code = DPS_EXIT_USAGE;
    } else if (dps_load_report_from_json(j, &one, why, sizeof why)) {
      dps_cli_error(PROG, "--merge: %s: not a load report: %s", files[i], why);
      exit_code = DPS_EXIT_USAGE;
    } else {
      /* the first sets the target (max or a rate); the others add to it */
      if (i == 0) sum.target_rate = one.target_rate, sum.ramp = one.ramp;
      if (dps_load_report_merge(&sum, &one)) {
        dps_cli_error(PROG, "out of memory");
        exit_code = DPS_EXIT_FAILURE;
      }
      if (i == 0) sum.target_rate = one.target_rate, sum.ramp = one.ramp;
      dps_load_report_free(&one);
    }
    json_decref(j);
  }
  if (exit_code == DPS_EXIT_OK) {
    dps_load_report_text(stderr, &sum);
    if (dps_load_report_write(&sum, a->json ? a->json : "-") ||
        (a->html && dps_load_report_html(&sum, a->html)))
      exit_code = DPS_EXIT_FAILURE;
    else if (dps_load_slos_check(slos, &sum) > 0)
      exit_code = DPS_EXIT_SLO;
  }
  dps_load_report_free(&sum);
  return exit_code;
}

/* The generated updates' shape (--mix, --task-prefix, --error-message-bytes) or --input, and the
 * flags that need an --endpoint-url; the rest of the run is in @p o already. @p prefix holds a
 * generated --task-prefix, so it must outlive the run. */
static int update_opts(const load_args *a, dps_load_opts *o, char *prefix, size_t prefix_len) {
  unsigned long long num;
  if (a->input) {
    const char *gen = a->mix                   ? "--mix"
                      : a->task_prefix         ? "--task-prefix"
                      : a->error_message_bytes ? "--error-message-bytes"
                                               : NULL;
    if (gen)
      return dps_cli_error(PROG, "%s shapes generated updates: it does not go with --input", gen),
             DPS_EXIT_USAGE;
  }
  o->mix.weights[0] = 100;
  if (a->mix && parse_mix(a->mix, o->mix.weights)) return DPS_EXIT_USAGE;
  o->mix.error_message_bytes = 64;
  if (a->error_message_bytes) {
    if (dps_cli_uint(PROG, "--error-message-bytes", a->error_message_bytes, 0, 1 << 20, &num))
      return DPS_EXIT_USAGE;
    o->mix.error_message_bytes = (size_t)num;
  }
  if (a->task_prefix) {
    size_t len = strlen(a->task_prefix);
    if (len == 0 || len > 2000)
      return dps_cli_error(PROG, "--task-prefix: 1 to 2000 characters"), DPS_EXIT_USAGE;
    o->mix.task_prefix = a->task_prefix;
  } else {
    /* a fresh prefix per run: the service keeps a task's first final status */
    snprintf(prefix, prefix_len, "load-%ld-%lld-", (long)getpid(), (long long)time(NULL));
    o->mix.task_prefix = prefix;
  }
  if (!a->net.endpoint_url) {
    const char *remote = a->net.profile         ? "--profile"
                         : a->net.ca_bundle     ? "--ca-bundle"
                         : a->net.no_verify_ssl ? "--no-verify-ssl"
                                                : NULL;
    if (remote)
      return dps_cli_error(PROG,
                           "without --endpoint-url the load goes to the embedded plain-HTTP "
                           "emulator: %s does not apply",
                           remote),
             DPS_EXIT_USAGE;
  }
  return 0;
}

/* --find-limit: the open model in steps; the flags that shape one fixed run do not apply. */
static int find_limit_opts(const load_args *a, dps_load_opts *o) {
  const char *fixed = a->ramp           ? "--ramp"
                      : a->concurrency  ? "--concurrency"
                      : a->duration     ? "--duration"
                      : a->count        ? "--count"
                      : a->warmup       ? "--warmup"
                      : a->drain        ? "--drain"
                      : a->net.max_rate ? "--max-rate"
                                        : NULL;
  if (fixed)
    return dps_cli_error(PROG, "%s does not go with --find-limit, which sets the rate step by step",
                         fixed),
           DPS_EXIT_USAGE;
  if (o->cfg.adaptive_rate)
    return dps_cli_error(PROG,
                         "--rate-control on does not go with --find-limit: it would hold the "
                         "load back to what it is looking for"),
           DPS_EXIT_USAGE;
  if (o->cfg.max_attempts != 1)
    return dps_cli_error(PROG,
                         "--max-attempts does not go with --find-limit: each call is one "
                         "attempt, so that a throttled call counts once"),
           DPS_EXIT_USAGE;
  unsigned long long num = 10;
  if (a->rate &&
      (strcmp(a->rate, "max") == 0 || dps_cli_uint(PROG, "--rate", a->rate, 1, 10000000, &num)))
    return strcmp(a->rate, "max") == 0
               ? (dps_cli_error(PROG, "--find-limit: --rate is the first step's rate, a number"),
                  DPS_EXIT_USAGE)
               : DPS_EXIT_USAGE;
  o->find_limit = true;
  o->rate = (double)num;
  o->max_throttle = 0.01;
  if (a->max_throttle && parse_percent("--max-throttle", a->max_throttle, &o->max_throttle))
    return DPS_EXIT_USAGE;
  uint32_t ms = 2000;
  if (a->step && dps_cli_duration_ms(PROG, "--step", a->step, 3600 * 1000, &ms))
    return DPS_EXIT_USAGE;
  o->step_ms = ms;
  char prefix[64];
  int rc = update_opts(a, o, prefix, sizeof prefix);
  return rc ? rc : dps_load_run(o);
}

int dps_cmd_load(int argc, char **argv) {
  load_args a = {0};
  const dps_cli_opt opts[] = {
      {"rate", "N|max", "updates per second (open model), or max (closed model)", &a.rate},
      {"ramp", "[FROM..]TO/DURATION", "open model: rate from FROM (0) to TO over DURATION",
       &a.ramp},
      {"concurrency", "N", "with --rate max: updates in flight (default 64)", &a.concurrency},
      {"duration", "DURATION", "how long to measure, after the warmup (default 10s)", &a.duration},
      {"count", "N", "stop after N measured updates", &a.count},
      {"warmup", "DURATION", "send for this long first, uncounted (default none)", &a.warmup},
      {"drain", "wait|cancel", "at the end: wait for what is in flight, or cancel it", &a.drain},
      {"task-prefix", "TEXT", "generated taskIds are TEXT0, TEXT1, ...", &a.task_prefix},
      {"mix", "MIX", "status weights, e.g. FINISHED=80,FAILED=15,FALSE=5", &a.mix},
      {"error-message-bytes", "N", "errorMessage size of FAILED and FALSE (default 64)",
       &a.error_message_bytes},
      {"input", "FILE", "replay the NDJSON updates of FILE (- for stdin)", &a.input},
      {"json", "FILE", "write the report as JSON to FILE (- for stdout)", &a.json},
      {"html", "FILE", "write the report as a self-contained HTML page to FILE", &a.html},
      {"slo", "LIST", "objectives, e.g. p99<50ms,errors<0.1%: exit 3 when one is missed", &a.slo},
      {"merge", NULL, "add the JSON reports named after it instead of running", &a.merge},
      {"find-limit", NULL, "find the highest rate the endpoint sustains (steps from --rate)",
       &a.find_limit},
      {"max-throttle", "PCT", "--find-limit: the throttled share a rate may have (default 1%)",
       &a.max_throttle},
      {"step", "DURATION", "--find-limit: the shortest step (default 2s)", &a.step},
      DPS_CLI_REPORTER_OPTS(a.net, "attempts per update, the first included (default 1)"),
      {NULL, NULL, NULL, NULL}};

  /* --merge takes the file names that follow it; the parser sees the rest. */
  char **files = NULL, **rest = calloc((size_t)argc + 1, sizeof *rest);
  int n_files = 0, n_rest = 0;
  if (!rest) return dps_cli_error(PROG, "out of memory"), DPS_EXIT_FAILURE;
  for (int i = 0; i < argc; i++) {
    rest[n_rest++] = argv[i];
    if (i > 0 && strcmp(argv[i], "--merge") == 0 && !files) {
      files = argv + i + 1;
      while (i + 1 < argc && argv[i + 1][0] != '-') i++, n_files++;
    }
  }
  int rc = dps_cli_parse(PROG, usage, opts, n_rest, rest);
  free(rest);
  if (rc) return rc;

  dps_load_slos slos;
  char why[300];
  if (a.slo && dps_load_slos_parse(a.slo, &slos, why, sizeof why))
    return dps_cli_error(PROG, "%s", why), DPS_EXIT_USAGE;
  if (a.merge) {
    if (n_files == 0)
      return dps_cli_error(PROG, "--merge needs the JSON reports to add"), DPS_EXIT_USAGE;
    const char *run_flag = a.rate                  ? "--rate"
                           : a.ramp                ? "--ramp"
                           : a.concurrency         ? "--concurrency"
                           : a.duration            ? "--duration"
                           : a.count               ? "--count"
                           : a.warmup              ? "--warmup"
                           : a.drain               ? "--drain"
                           : a.input               ? "--input"
                           : a.mix                 ? "--mix"
                           : a.task_prefix         ? "--task-prefix"
                           : a.error_message_bytes ? "--error-message-bytes"
                           : a.net.endpoint_url    ? "--endpoint-url"
                                                   : dps_cli_reporter_live_flag(&a.net);
    if (run_flag)
      return dps_cli_error(PROG, "%s is about a run: it does not go with --merge", run_flag),
             DPS_EXIT_USAGE;
    return run_merge(&a, files, n_files, a.slo ? &slos : NULL);
  }

  dps_load_opts o = {.concurrency = 64,
                     .input = a.input,
                     .json_path = a.json,
                     .html_path = a.html,
                     .slos = a.slo ? &slos : NULL};
  dps_config_init(&o.cfg);
  o.cfg.max_attempts = 1;
  o.cfg.adaptive_rate = 0; /* measure the service: never hold the load back ourselves */
  o.cfg.queue_shards = 1;  /* one thread submits (the scheduler, or the sender's callback) */
  if (dps_cli_reporter_config(PROG, &a.net, &o.cfg)) return DPS_EXIT_USAGE;
  if (a.find_limit) return find_limit_opts(&a, &o);
  if (a.max_throttle || a.step)
    return dps_cli_error(PROG, "%s goes with --find-limit",
                         a.max_throttle ? "--max-throttle" : "--step"),
           DPS_EXIT_USAGE;
  if (!a.rate && !a.ramp)
    return dps_cli_error(PROG, "--rate is required: N per second, or max (or a --ramp)"),
           DPS_EXIT_USAGE;
  unsigned long long num;
  uint32_t ms;
  if (a.ramp) {
    if (parse_ramp(a.ramp, &o.ramp)) return DPS_EXIT_USAGE;
    if (a.rate && strcmp(a.rate, "max") == 0)
      return dps_cli_error(PROG, "--ramp is the open model: it does not go with --rate max"),
             DPS_EXIT_USAGE;
    if (a.rate && dps_cli_uint(PROG, "--rate", a.rate, 1, 10000000, &num)) return DPS_EXIT_USAGE;
    if (a.rate && (double)num != o.ramp.to)
      return dps_cli_error(PROG,
                           "--rate must equal the ramp's end (%.0f), or be omitted: after the "
                           "ramp the rate stays there",
                           o.ramp.to),
             DPS_EXIT_USAGE;
    o.rate = o.ramp.to;
    if (a.concurrency)
      return dps_cli_error(PROG,
                           "--concurrency goes with --rate max (a --ramp is the open model, with "
                           "no limit on what is in flight)"),
             DPS_EXIT_USAGE;
  } else if (strcmp(a.rate, "max") != 0) {
    if (dps_cli_uint(PROG, "--rate", a.rate, 1, 10000000, &num)) return DPS_EXIT_USAGE;
    o.rate = (double)num;
    if (a.concurrency)
      return dps_cli_error(PROG,
                           "--concurrency goes with --rate max (the open model has no "
                           "limit on what is in flight)"),
             DPS_EXIT_USAGE;
  } else if (a.concurrency) {
    if (dps_cli_uint(PROG, "--concurrency", a.concurrency, 1, 1000000, &num)) return DPS_EXIT_USAGE;
    o.concurrency = (unsigned)num;
  }
  if (a.duration) {
    if (dps_cli_duration_ms(PROG, "--duration", a.duration, DAY_MS, &ms)) return DPS_EXIT_USAGE;
    o.duration_ms = ms;
  }
  if (a.count) {
    if (dps_cli_uint(PROG, "--count", a.count, 1, 1000000000000ULL, &num)) return DPS_EXIT_USAGE;
    o.count = num;
  }
  if (!a.duration && !a.count) o.duration_ms = a.ramp ? (uint64_t)(o.ramp.seconds * 1000) : 10000;
  if (a.warmup) {
    if (dps_cli_duration_ms(PROG, "--warmup", a.warmup, DAY_MS, &ms)) return DPS_EXIT_USAGE;
    o.warmup_ms = ms;
  }
  if (a.ramp && a.duration && (double)(o.warmup_ms + o.duration_ms) < o.ramp.seconds * 1000)
    return dps_cli_error(PROG,
                         "--ramp: the ramp (%.3gs) outlasts --warmup + --duration (%.3gs): "
                         "lengthen --duration, or omit it",
                         o.ramp.seconds, (double)(o.warmup_ms + o.duration_ms) / 1000),
           DPS_EXIT_USAGE;
  if (a.drain) {
    if (strcmp(a.drain, "wait") && strcmp(a.drain, "cancel"))
      return dps_cli_error(PROG, "--drain: \"%s\" is not wait or cancel", a.drain), DPS_EXIT_USAGE;
    o.drain_cancel = strcmp(a.drain, "cancel") == 0;
  }
  char prefix[64];
  rc = update_opts(&a, &o, prefix, sizeof prefix);
  return rc ? rc : dps_load_run(&o);
}
