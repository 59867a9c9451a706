/*
 * summary.c: what `dpstatus send` prints when it is done (a few lines on stderr, or one JSON
 * object on stdout with --output json) and the live progress line while it runs.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "cli/send.h"

static double ms(uint64_t us) { return (double)us / 1000.0; }

/* Rounded to @p decimals places without libm. */
static double round_to(double v, int decimals) {
  double scale = 1;
  while (decimals-- > 0) scale *= 10;
  return (double)(int64_t)(v * scale + (v < 0 ? -0.5 : 0.5)) / scale;
}

static double rate_of(const dps_send_summary *s) {
  return s->elapsed_s > 0 ? (double)(s->submitted + s->rejected) / s->elapsed_s : 0;
}

void dps_send_summary_text(FILE *f, const dps_send_summary *s) {
  fprintf(f,
          DPS_SEND_PROG ": %" PRIu64 " updates in %.2f s (%.0f/s): %" PRIu64 " delivered, %" PRIu64
                        " rejected, %" PRIu64 " failed, %" PRIu64 " expired; %" PRIu64 " retries\n",
          s->submitted + s->rejected, s->elapsed_s, rate_of(s), s->delivered, s->rejected,
          s->failed, s->expired, s->retries);
  if (s->throttled || s->send_rate > 0) {
    fprintf(f, DPS_SEND_PROG ": %" PRIu64 " throttled responses; ", s->throttled);
    if (s->send_rate > 0)
      fprintf(f, "paced at %.1f requests/s at the end\n", s->send_rate);
    else
      fprintf(f, "the rate controller was not pacing at the end\n");
  }
  if (s->submitted)
    fprintf(f, DPS_SEND_PROG ": latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            ms(s->p50_us), ms(s->p90_us), ms(s->p99_us), ms(s->max_us));
  if (s->errors[0].code[0]) {
    fprintf(f, DPS_SEND_PROG ": errors:");
    for (size_t i = 0; i < DPS_SEND_MAX_CODES && s->errors[i].code[0]; i++)
      fprintf(f, "%s %s %" PRIu64, i ? "," : "", s->errors[i].code, s->errors[i].count);
    fputc('\n', f);
  }
  if (s->emulator) fprintf(f, DPS_SEND_PROG ": embedded emulator: %s\n", s->emulator);
}

int dps_send_summary_json(FILE *f, const dps_send_summary *s) {
  json_t *errors = json_object();
  for (size_t i = 0; errors && i < DPS_SEND_MAX_CODES && s->errors[i].code[0]; i++)
    json_object_set_new(errors, s->errors[i].code, json_integer((json_int_t)s->errors[i].count));
  json_t *o =
      json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o*,s:f,s:f,s:{s:f,s:f,s:f,s:f}}", "submitted",
                (json_int_t)s->submitted, "delivered", (json_int_t)s->delivered, "rejected",
                (json_int_t)s->rejected, "failed", (json_int_t)s->failed, "expired",
                (json_int_t)s->expired, "retries", (json_int_t)s->retries, "throttled",
                (json_int_t)s->throttled, "sendRate", round_to(s->send_rate, 3), "errors", errors,
                "elapsedSeconds", round_to(s->elapsed_s, 3), "rate", round_to(rate_of(s), 1),
                "latencyMs", "p50", round_to(ms(s->p50_us), 3), "p90", round_to(ms(s->p90_us), 3),
                "p99", round_to(ms(s->p99_us), 3), "max", round_to(ms(s->max_us), 3));
  if (!o) return -1;
  if (s->emulator) json_object_set_new(o, "emulator", json_string(s->emulator));
  int rc = json_dumpf(o, f, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(o);
  if (rc == 0 && fputc('\n', f) == EOF) rc = -1;
  return rc;
}

void dps_send_progress_line(FILE *f, const dps_stats *st, uint64_t rejected, double elapsed_s) {
  double rate = elapsed_s > 0 ? (double)(st->delivered + st->failed + st->expired) / elapsed_s : 0;
  /* \033[K clears what a longer previous line left */
  fprintf(f,
          "\r" DPS_SEND_PROG ": %" PRIu64 " submitted, %" PRIu64 " delivered, %" PRIu64
          " failed, %" PRIu64 " expired, %" PRIu64 " rejected, %" PRIu64 " pending, %" PRIu64
          " retries, %" PRIu64 " throttled, %.0f/s",
          st->submitted, st->delivered, st->failed, st->expired, rejected, st->pending, st->retries,
          st->throttled, rate);
  if (st->send_rate > 0) fprintf(f, " (paced at %.1f/s)", st->send_rate);
  fputs("\033[K", f);
  fflush(f);
}
