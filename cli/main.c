/* main.c: the dpstatus command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "dpstatus.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"send", dps_cmd_send,
     "report task statuses to SetTaskStatus: from flags, NDJSON or generated"},
    {"serve", dps_cmd_serve, "serve a local emulator of the Data Pipeline task-runner API"},
    {"load", dps_cmd_load, "load-test a SetTaskStatus endpoint: rate, latency percentiles, errors"},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: dpstatus COMMAND [OPTIONS]\n"
          "Reports task outcomes to the AWS Data Pipeline SetTaskStatus API.\n\nCommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n'dpstatus COMMAND --help' describes a command's options.\n"
          "Exit status: 0 success, 1 failure at run time, 2 bad usage, input or configuration.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return DPS_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return DPS_EXIT_OK;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
    printf("dpstatus %s\n", dps_version());
    return DPS_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "dpstatus: unknown command \"%s\" (see dpstatus --help)\n", cmd);
  return DPS_EXIT_USAGE;
}
