/*
 * args.h: command-line options for every subcommand, described once in a table that drives both
 * the parser (getopt_long) and the --help text, so the two cannot drift apart.
 */
#ifndef DPS_CLI_ARGS_H
#define DPS_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dps_cli_opt {
  const char *name;    /* long name without dashes: "task-id" */
  const char *metavar; /* NULL for a flag without a value */
  const char *help;    /* one line */
  const char **value;  /* where a value goes (or "" for a flag that was given) */
} dps_cli_opt;

/* Exit codes of every subcommand. */
enum { DPS_EXIT_OK = 0, DPS_EXIT_FAILURE = 1, DPS_EXIT_USAGE = 2 };

/*
 * Parses argv against @p opts (terminated by a {NULL} entry); --help prints @p usage and the
 * table and exits 0. Rejects unknown options, missing values, repeated options and positional
 * arguments with a one-line message on stderr naming the culprit. Returns 0, or DPS_EXIT_USAGE.
 */
int dps_cli_parse(const char *prog, const char *usage, const dps_cli_opt *opts, int argc,
                  char **argv);

/*
 * Strict whole number in [@p min, @p max]: digits only, no sign, no spaces, no overflow. On a
 * bad value prints "PROG: FLAG: "V" is not a whole number from MIN to MAX" and returns
 * DPS_EXIT_USAGE; 0 otherwise.
 */
int dps_cli_uint(const char *prog, const char *flag, const char *s, unsigned long long min,
                 unsigned long long max, unsigned long long *out);

/*
 * A duration: a whole number and a unit, ms, s, m or h ("500ms", "20s", "5m", "1h"); a bare
 * number is refused as ambiguous. Must be positive and at most @p max_ms. On a bad value prints
 * what is wrong, naming @p flag, and returns DPS_EXIT_USAGE; 0 otherwise.
 */
int dps_cli_duration_ms(const char *prog, const char *flag, const char *s, uint32_t max_ms,
                        uint32_t *out_ms);

/* Prints "dpstatus SUBCOMMAND: message" on stderr. */
void dps_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
