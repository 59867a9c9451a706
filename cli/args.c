/* args.c: the table-driven option parser and help printer (see args.h). */
#include "cli/args.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dps_cli_error(const char *prog, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void print_help(const char *usage, const dps_cli_opt *opts) {
  printf("%s\nOptions:\n", usage);
  for (const dps_cli_opt *o = opts; o->name; o++) {
    char left[64];
    if (o->metavar)
      snprintf(left, sizeof left, "--%s %s", o->name, o->metavar);
    else
      snprintf(left, sizeof left, "--%s", o->name);
    printf("  %-30s %s\n", left, o->help);
  }
  printf("  %-30s %s\n", "--help", "print this help and exit");
}

int dps_cli_parse(const char *prog, const char *usage, const dps_cli_opt *opts, int argc,
                  char **argv) {
  size_t n = 0;
  while (opts[n].name) n++;
  struct option *lo = calloc(n + 2, sizeof *lo);
  if (!lo) {
    dps_cli_error(prog, "out of memory");
    return DPS_EXIT_FAILURE;
  }
  for (size_t i = 0; i < n; i++)
    lo[i] = (struct option){opts[i].name, opts[i].metavar ? required_argument : no_argument, NULL,
                            (int)(256 + i)};
  lo[n] = (struct option){"help", no_argument, NULL, 'h'};

  int rc = 0, c;
  optind = 1;
  opterr = 0; /* we word the messages ourselves */
  while (rc == 0 && (c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
    if (c == 'h') {
      print_help(usage, opts);
      free(lo);
      exit(DPS_EXIT_OK);
    } else if (c >= 256 && (size_t)(c - 256) < n) {
      const dps_cli_opt *o = &opts[c - 256];
      if (*o->value) {
        dps_cli_error(prog, "--%s given twice", o->name);
        rc = DPS_EXIT_USAGE;
      } else {
        *o->value = o->metavar ? optarg : "";
      }
    } else if (c == ':') {
      dps_cli_error(prog, "%s needs a value", argv[optind - 1]);
      rc = DPS_EXIT_USAGE;
    } else if (optopt) {
      dps_cli_error(prog, "unknown option -%c (see --help)", optopt);
      rc = DPS_EXIT_USAGE;
    } else {
      dps_cli_error(prog, "unknown option %s (see --help)", argv[optind - 1]);
      rc = DPS_EXIT_USAGE;
    }
  }
  if (rc == 0 && optind < argc) {
    dps_cli_error(prog, "unexpected argument \"%s\" (see --help)", argv[optind]);
    rc = DPS_EXIT_USAGE;
  }
  free(lo);
  return rc;
}

/* Digits only, no sign, no spaces; -1 on anything else or on overflow. */
static int parse_digits(const char *s, size_t n, unsigned long long *out) {
  if (n == 0) return -1;
  unsigned long long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (~0ULL - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int dps_cli_uint(const char *prog, const char *flag, const char *s, unsigned long long min,
                 unsigned long long max, unsigned long long *out) {
  unsigned long long v;
  if (!s || parse_digits(s, strlen(s), &v) || v < min || v > max) {
    dps_cli_error(prog, "%s: \"%s\" is not a whole number from %llu to %llu", flag, s ? s : "", min,
                  max);
    return DPS_EXIT_USAGE;
  }
  *out = v;
  return 0;
}

int dps_cli_duration_ms(const char *prog, const char *flag, const char *s, uint32_t max_ms,
                        uint32_t *out_ms) {
  static const struct {
    const char *unit;
    unsigned long long ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  size_t len = strlen(s), digits = strspn(s, "0123456789");
  if (digits == len && digits > 0) {
    dps_cli_error(prog, "%s: \"%s\" needs a unit: %sms, %ss or %sm", flag, s, s, s, s);
    return DPS_EXIT_USAGE;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    unsigned long long v;
    if (strcmp(s + digits, units[i].unit) || parse_digits(s, digits, &v)) continue;
    if (v == 0) {
      dps_cli_error(prog, "%s: \"%s\" must be more than zero", flag, s);
      return DPS_EXIT_USAGE;
    }
    if (v > max_ms / units[i].ms) {
      dps_cli_error(prog, "%s: \"%s\" is too long (at most %lus)", flag, s,
                    (unsigned long)(max_ms / 1000));
      return DPS_EXIT_USAGE;
    }
    *out_ms = (uint32_t)(v * units[i].ms);
    return 0;
  }
  dps_cli_error(prog, "%s: \"%s\" is not a duration like 500ms, 20s, 5m or 1h", flag, s);
  return DPS_EXIT_USAGE;
}
