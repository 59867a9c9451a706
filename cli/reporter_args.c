/* reporter_args.c: the endpoint and connection options shared by send and load. */
#include "cli/reporter_args.h"

#include <pthread.h>
#include <string.h>

#include "cli/args.h"
#include "core/ratespec.h"

#define DAY_MS (24u * 3600 * 1000)

int dps_cli_reporter_config(const char *prog, const dps_cli_reporter_args *a, dps_config *c) {
  unsigned long long num;
  uint32_t ms;
  if (a->connections) {
    if (dps_cli_uint(prog, "--connections", a->connections, 1, 64, &num)) return DPS_EXIT_USAGE;
    c->connections = (unsigned)num;
  }
  if (a->max_streams) {
    if (dps_cli_uint(prog, "--max-streams", a->max_streams, 1, 10000, &num)) return DPS_EXIT_USAGE;
    c->max_streams = (unsigned)num;
  }
  if (a->max_attempts) {
    if (dps_cli_uint(prog, "--max-attempts", a->max_attempts, 0, 1000, &num)) return DPS_EXIT_USAGE;
    c->max_attempts = (unsigned)num;
  }
  if (a->timeout) {
    if (dps_cli_duration_ms(prog, "--timeout", a->timeout, DAY_MS, &ms)) return DPS_EXIT_USAGE;
    c->attempt_timeout_ms = ms;
  }
  if (a->deadline) {
    if (dps_cli_duration_ms(prog, "--deadline", a->deadline, DAY_MS, &ms)) return DPS_EXIT_USAGE;
    c->deadline_ms = ms;
  }
  if (a->max_rate) {
    dps_error err;
    if (dps__ratespec_parse(a->max_rate, DPS_NTS, "--max-rate", &c->max_rate, &c->max_burst, &err))
      return dps_cli_error(prog, "%s", err.message), DPS_EXIT_USAGE;
  }
  if (a->rate_control) {
    if (strcmp(a->rate_control, "on") != 0 && strcmp(a->rate_control, "off") != 0)
      return dps_cli_error(prog, "--rate-control: \"%s\" is not on or off", a->rate_control),
             DPS_EXIT_USAGE;
    c->adaptive_rate = strcmp(a->rate_control, "on") == 0;
  }
  if (a->ca_bundle && a->no_verify_ssl)
    return dps_cli_error(prog, "--ca-bundle and --no-verify-ssl contradict each other"),
           DPS_EXIT_USAGE;
  c->ca_bundle = a->ca_bundle;
  c->no_verify_ssl = a->no_verify_ssl != NULL;
  c->endpoint_url = a->endpoint_url;
  c->region = a->region;
  c->profile = a->profile;
  return 0;
}

const char *dps_cli_reporter_live_flag(const dps_cli_reporter_args *a) {
  return a->connections     ? "--connections"
         : a->max_streams   ? "--max-streams"
         : a->max_attempts  ? "--max-attempts"
         : a->timeout       ? "--timeout"
         : a->deadline      ? "--deadline"
         : a->ca_bundle     ? "--ca-bundle"
         : a->no_verify_ssl ? "--no-verify-ssl"
         : a->max_rate      ? "--max-rate"
         : a->rate_control  ? "--rate-control"
                            : NULL;
}

int dps_cli_reporter_start(const char *prog, dps_config *cfg, dps_cli_embedded *emb,
                           dps_result_cb on_result, void *arg, uint32_t wait_ms, dps_reporter **out,
                           sigset_t *old) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, old);
  dps_error err = {0};
  if (emb) {
    if (!cfg->region) cfg->region = "us-east-1";
    if (dps_cli_embedded_start(emb, cfg->region, &err)) {
      pthread_sigmask(SIG_SETMASK, old, NULL);
      dps_cli_error(prog, "embedded emulator: %s", err.message);
      return DPS_EXIT_FAILURE;
    }
    dps_cli_embedded_configure(emb, cfg);
  }
  cfg->on_result = on_result;
  cfg->on_result_arg = arg;
  cfg->full_policy = DPS_FULL_WAIT;
  cfg->full_wait_ms = wait_ms;
  int rc = dps_reporter_new(out, cfg, &err);
  if (rc != DPS_OK) {
    pthread_sigmask(SIG_SETMASK, old, NULL);
    dps_cli_error(prog, "%s", err.message[0] ? err.message : dps_strerror(rc));
    return rc == DPS_ENOMEM ? DPS_EXIT_FAILURE : DPS_EXIT_USAGE;
  }
  return 0;
}
