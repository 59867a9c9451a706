/*
 * send.h: the pieces of `dpstatus send` beyond its option table (send.c): where updates come
 * from (send_input.c: the flags, an NDJSON stream, a generator), the run through the public
 * reporter API (send_run.c), and the summary it prints (summary.c).
 */
#ifndef DPS_CLI_SEND_H
#define DPS_CLI_SEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dpstatus.h"

#define DPS_SEND_PROG "dpstatus send"

/* ---- input (send_input.c) ---- */

typedef enum dps_send_item_kind {
  DPS_SEND_ITEM_UPDATE = 0, /* an update to submit */
  DPS_SEND_ITEM_REJECTED,   /* a bad line: reason says why, nothing to submit */
  DPS_SEND_ITEM_END,        /* no more input */
  DPS_SEND_ITEM_READ_ERROR  /* reading failed: reason says why */
} dps_send_item_kind;

/* One unit of input. Everything it points to lives until the next dps_send_source_next. */
typedef struct dps_send_item {
  dps_send_item_kind kind;
  uint64_t line;       /* 1-based input line (or sequence number when generated) */
  dps_update update;   /* kind UPDATE */
  const char *task_id; /* kind REJECTED: the line's taskId when it had a string one, or NULL */
  size_t task_id_len;
  const char *error; /* kind REJECTED: "InvalidJSON" or "InvalidInput" */
  char reason[512];  /* kind REJECTED / READ_ERROR */
} dps_send_item;

typedef struct dps_send_source dps_send_source;

/* One update given by flags (@p u is borrowed and must outlive the source). */
int dps_send_source_single(dps_send_source **out, const dps_update *u);
/* NDJSON from @p path ("-": stdin). Returns 0, or -1 with @p why filled (cannot open). */
int dps_send_source_ndjson(dps_send_source **out, const char *path, char *why, size_t why_len);
/* @p n synthetic updates: distinct taskIds, a mix of FINISHED and FAILED with error fields. */
int dps_send_source_generate(dps_send_source **out, uint64_t n);

/* What a mixed generator makes (load): taskIds PREFIX0, PREFIX1, ...; statuses FINISHED, FAILED,
 * FALSE in proportion to weights (not all 0); FAILED and FALSE with an errorMessage of exactly
 * error_message_bytes ASCII bytes. */
typedef struct dps_gen_mix {
  const char *task_prefix;
  unsigned weights[3]; /* FINISHED, FAILED, FALSE */
  size_t error_message_bytes;
} dps_gen_mix;
int dps_send_source_generate_mix(dps_send_source **out, uint64_t n, const dps_gen_mix *m);

dps_send_item_kind dps_send_source_next(dps_send_source *s, dps_send_item *it);
void dps_send_source_free(dps_send_source *s);

/* ---- the run (send_run.c) ---- */

typedef struct dps_send_opts {
  dps_config cfg; /* endpoint, region, credentials, connections, timeouts, TLS */
  const dps_update *single;
  const char *input;   /* NDJSON path or "-" */
  uint64_t generate;   /* > 0: this many synthetic updates */
  const char *results; /* NDJSON results file, or NULL */
  bool json_output;    /* --output json */
  bool embedded;       /* start the emulator in-process and send to it */
} dps_send_opts;

/* Runs the send; returns the exit status (DPS_EXIT_*). */
int dps_send_run(dps_send_opts *o);

/* ---- the summary (summary.c) ---- */

#define DPS_SEND_MAX_CODES 16

typedef struct dps_send_summary {
  uint64_t submitted, delivered, rejected, failed, expired, retries;
  uint64_t throttled; /* throttling responses (dps_stats.throttled) */
  double send_rate;   /* the rate controller's pace at the end; 0: not engaged */
  double elapsed_s;
  uint64_t p50_us, p90_us, p99_us, max_us;
  struct {
    char code[64];
    uint64_t count;
  } errors[DPS_SEND_MAX_CODES]; /* by code, over failed and expired outcomes; "" ends */
  const char *emulator;         /* the embedded emulator's summary line, or NULL */
} dps_send_summary;

/* The human summary, a few lines on @p f (stderr). */
void dps_send_summary_text(FILE *f, const dps_send_summary *s);
/* One JSON object and a newline on @p f (stdout). Returns 0, or -1 when writing failed. */
int dps_send_summary_json(FILE *f, const dps_send_summary *s);
/* The live progress line (no newline, starts with \r), from a stats snapshot. */
void dps_send_progress_line(FILE *f, const dps_stats *st, uint64_t rejected, double elapsed_s);

#endif
