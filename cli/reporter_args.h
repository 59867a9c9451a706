/*
 * reporter_args.h: the options every subcommand that talks to an endpoint shares (send, load):
 * endpoint, region, profile, connections, streams, attempts, timeouts and TLS, as one option-table
 * fragment and one checker that fills a dps_config, so the two commands cannot drift apart.
 */
#ifndef DPS_CLI_REPORTER_ARGS_H
#define DPS_CLI_REPORTER_ARGS_H

#include <signal.h>

#include "cli/embedded.h"
#include "dpstatus.h"

typedef struct dps_cli_reporter_args {
  const char *endpoint_url, *region, *profile;
  const char *connections, *max_streams, *max_attempts, *timeout, *deadline;
  const char *ca_bundle, *no_verify_ssl, *max_rate, *rate_control;
} dps_cli_reporter_args;

/* The option-table rows for @p ra (a dps_cli_reporter_args lvalue); @p attempts_help is the
 * --max-attempts line, whose default differs between commands. */
#define DPS_CLI_REPORTER_OPTS(ra, attempts_help)                                                  \
  {"region", "REGION", "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, profile)",           \
   &(ra).region},                                                                                 \
      {"profile", "NAME", "profile of the shared credentials/config files", &(ra).profile},       \
      {"endpoint-url", "URL", "send to this endpoint instead of the region's",                    \
       &(ra).endpoint_url},                                                                       \
      {"connections", "N", "HTTP connections, 1-64 (default 2)", &(ra).connections},              \
      {"max-streams", "N", "requests in flight per connection (default 100)", &(ra).max_streams}, \
      {"max-attempts", "N", attempts_help, &(ra).max_attempts},                                   \
      {"timeout", "DURATION", "per attempt (default 10s)", &(ra).timeout},                        \
      {"deadline", "DURATION", "per update, from submission (default 5m)", &(ra).deadline},       \
      {"max-rate", "N[/BURST]", "send at most N requests/s (decimal), BURST at once (default: no cap)", \
       &(ra).max_rate},                                                                           \
      {"rate-control", "on|off",                                                                  \
       "pace to what the endpoint accepts once it throttles (send: on; load: off)",               \
       &(ra).rate_control},                                                                       \
      {"ca-bundle", "FILE", "trust the CAs of this PEM file instead of the system store",         \
       &(ra).ca_bundle},                                                                          \
  {                                                                                               \
    "no-verify-ssl", NULL, "do not verify the server's certificate (unsafe)", &(ra).no_verify_ssl \
  }

/*
 * Checks the values strictly and sets them in @p c (strings are borrowed from argv). On a bad
 * value prints what is wrong, naming the flag, and returns DPS_EXIT_USAGE; 0 otherwise.
 */
int dps_cli_reporter_config(const char *prog, const dps_cli_reporter_args *a, dps_config *c);

/* The first of the flags that only matter when sending ("--connections"...), or NULL. */
const char *dps_cli_reporter_live_flag(const dps_cli_reporter_args *a);

/*
 * Starts what a sending command runs on, with SIGINT and SIGTERM blocked so the threads started
 * here inherit the mask and only the command's own thread handles them: the emulator in-process
 * when @p emb is not NULL (the config then points at it), then the reporter with @p on_result,
 * the full queue waiting @p wait_ms at a time (input is back-pressured, nothing dropped). On
 * success the signals stay blocked and *@p old holds the previous mask: restore it once the
 * command's own threads are started. Returns 0, or the exit code after printing why.
 */
int dps_cli_reporter_start(const char *prog, dps_config *cfg, dps_cli_embedded *emb,
                           dps_result_cb on_result, void *arg, uint32_t wait_ms, dps_reporter **out,
                           sigset_t *old);

#endif
