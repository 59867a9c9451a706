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
