/*
 * serve.c: `dpstatus serve`, the local Data Pipeline task-runner endpoint (emulator/): turns the
 * command line into a dps__emu_config (strict numbers, known words only) and runs the server
 * until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "emulator/server.h"
#include "emulator/service.h"

#define PROG "dpstatus serve"

static const char usage[] =
    "usage: dpstatus serve [--listen HOST:PORT] [--port-file FILE] [--tls-cert FILE --tls-key "
    "FILE]\n"
    "                      [--tasks auto|strict] [--tasks-file FILE] [--auth sigv4|none]\n"
    "                      [--fault LIST] [--seed N] [--limits aws|none] [--rate-limit LIST]\n"
    "                      [--throttle-header LIST] [--record FILE] ...\n"
    "Serves the AWS Data Pipeline task-runner API (SetTaskStatus, PollForTask, "
    "ReportTaskProgress,\n"
    "ReportTaskRunnerHeartbeat) locally, over HTTP/2 (h2c or TLS+ALPN) and HTTP/1.1 on one port,\n"
    "plus GET /metrics. Listens on loopback only unless --allow-remote is given. Stops on\n"
    "SIGINT/SIGTERM after answering what is in flight, flushes the record and prints a summary.\n"
    "Faults (--fault, comma-separated): internal=P throttle=P unavailable=P reset=P "
    "latency=MIN..MAX\n"
    "goaway-every=N drop-every=N (P a probability in [0,1], MIN..MAX milliseconds).\n"
    "Limits are token buckets per operation and per account (the access key ID), full at start;\n"
    "a call over one is answered 400 ThrottlingException \"Rate exceeded\". --limits aws applies\n"
    "the service's own (SetTaskStatus and ReportTaskProgress 10/s burst 100, PollForTask 2/s,\n"
    "ReportTaskRunnerHeartbeat 1/s, both burst 100); --rate-limit OP=RATE[/BURST],... sets any\n"
    "(a bare RATE[/BURST] is SetTaskStatus; BURST defaults to RATE). --throttle-header\n"
    "retry-after=SECONDS,x-amz-retry-after=MS adds those headers to throttled answers.\n";

/* Strict unsigned parse: digits only, no sign, no spaces, no overflow past @p max. */
static int parse_u64(const char *s, unsigned long long max, unsigned long long *out) {
  if (!s || !*s) return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno || v > max) return -1;
  *out = v;
  return 0;
}

/* "retry-after=SECONDS,x-amz-retry-after=MS" (either or both). */
static int parse_throttle_header(const char *list, dps__emu_config *cfg) {
  const char *p = list;
  do {
    size_t n = strcspn(p, ",");
    unsigned long long v;
    char item[64];
    snprintf(item, sizeof item, "%.*s", (int)(n < 63 ? n : 63), p);
    char *eq = strchr(item, '=');
    if (eq) *eq++ = '\0';
    bool amz = eq && !strcmp(item, "x-amz-retry-after");
    if (!eq || (!amz && strcmp(item, "retry-after")))
      return dps_cli_error(PROG,
                           "--throttle-header: \"%.*s\" is not retry-after=SECONDS or "
                           "x-amz-retry-after=MS",
                           (int)n, p),
             DPS_EXIT_USAGE;
    if (parse_u64(eq, amz ? 300000 : 300, &v) || v == 0)
      return dps_cli_error(PROG, "--throttle-header: %s: \"%s\" is not a whole number from 1 to %s",
                           item, eq, amz ? "300000 (milliseconds)" : "300 (seconds)"),
             DPS_EXIT_USAGE;
    if (amz)
      cfg->amz_retry_after_ms = (uint32_t)v;
    else
      cfg->retry_after_s = (uint32_t)v;
    p += n;
  } while (*p++ == ',');
  return 0;
}

typedef struct serve_args {
  const char *listen, *allow_remote, *port_file, *tls_cert, *tls_key, *alpn, *max_streams;
  const char *tasks, *tasks_file, *auth, *access_key, *secret_key, *profile, *region;
  const char *fault, *seed, *limits, *rate_limit, *throttle_header, *record, *max_body_bytes;
} serve_args;

#define BAD_NUMBER(flag, v, what) \
  (dps_cli_error(PROG, "%s: \"%s\" is not %s", flag, v, what), DPS_EXIT_USAGE)

int dps_cmd_serve(int argc, char **argv) {
  serve_args a = {0};
  const dps_cli_opt opts[] = {
      {"listen", "HOST:PORT", "address to listen on (default 127.0.0.1:8080; [::1]:0; port 0: any)",
       &a.listen},
      {"allow-remote", NULL, "allow a --listen address beyond loopback", &a.allow_remote},
      {"port-file", "FILE", "write the bound port here once listening", &a.port_file},
      {"tls-cert", "FILE", "serve TLS with this PEM certificate (chain)", &a.tls_cert},
      {"tls-key", "FILE", "the PEM private key of --tls-cert", &a.tls_key},
      {"alpn", "LIST", "TLS ALPN offer: h2,http/1.1 (default) or http/1.1 (like AWS)", &a.alpn},
      {"max-streams", "N", "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (default 128)", &a.max_streams},
      {"tasks", "MODE", "auto (any taskId is known, default) or strict", &a.tasks},
      {"tasks-file", "FILE", "NDJSON {taskId, pipelineId, pipelineState} known in strict mode",
       &a.tasks_file},
      {"auth", "MODE", "sigv4 (verify signatures, default) or none", &a.auth},
      {"access-key", "ID", "the access key id clients sign with", &a.access_key},
      {"secret-key", "KEY", "its secret (default: the standard credential sources)", &a.secret_key},
      {"profile", "NAME", "profile of the shared credentials/config files", &a.profile},
      {"region", "REGION", "region signatures must be scoped to (default: any)", &a.region},
      {"fault", "LIST", "faults to inject, e.g. internal=0.05,latency=1..5,goaway-every=100",
       &a.fault},
      {"seed", "N", "seed of the fault draws (deterministic; default 0)", &a.seed},
      {"limits", "SET", "aws (the service's per-account limits) or none (default)", &a.limits},
      {"rate-limit", "LIST", "OP=RATE[/BURST],... or RATE[/BURST] (SetTaskStatus): calls/s",
       &a.rate_limit},
      {"throttle-header", "LIST", "retry-after=SECONDS,x-amz-retry-after=MS on throttled answers",
       &a.throttle_header},
      {"record", "FILE", "write every accepted SetTaskStatus here (NDJSON)", &a.record},
      {"max-body-bytes", "N", "refuse request bodies larger than N bytes (default 1048576)",
       &a.max_body_bytes},
      {NULL, NULL, NULL, NULL}};
  int rc = dps_cli_parse(PROG, usage, opts, argc, argv);
  if (rc) return rc;

  dps__emu_config cfg;
  dps__emu_config_init(&cfg);
  unsigned long long v;
  if (a.listen) cfg.listen = a.listen;
  cfg.allow_remote = a.allow_remote != NULL;
  cfg.port_file = a.port_file;
  cfg.tls_cert = a.tls_cert;
  cfg.tls_key = a.tls_key;
  if ((a.tls_cert != NULL) != (a.tls_key != NULL))
    return dps_cli_error(PROG, "--tls-cert and --tls-key go together"), DPS_EXIT_USAGE;
  if (a.alpn) {
    if (strcmp(a.alpn, "h2,http/1.1") && strcmp(a.alpn, "http/1.1"))
      return dps_cli_error(PROG, "--alpn: \"%s\" is not h2,http/1.1 or http/1.1", a.alpn),
             DPS_EXIT_USAGE;
    if (!a.tls_cert) return dps_cli_error(PROG, "--alpn needs --tls-cert"), DPS_EXIT_USAGE;
    cfg.alpn = a.alpn;
  }
  if (a.max_streams) {
    if (parse_u64(a.max_streams, 0x7fffffffULL, &v) || v == 0)
      return BAD_NUMBER("--max-streams", a.max_streams, "a whole number from 1 to 2147483647");
    cfg.max_streams = (uint32_t)v;
  }
  if (a.tasks) {
    if (!strcmp(a.tasks, "auto"))
      cfg.tasks_mode = DPS__EMU_TASKS_AUTO;
    else if (!strcmp(a.tasks, "strict"))
      cfg.tasks_mode = DPS__EMU_TASKS_STRICT;
    else
      return dps_cli_error(PROG, "--tasks: \"%s\" is not auto or strict", a.tasks), DPS_EXIT_USAGE;
  }
  cfg.tasks_file = a.tasks_file;
  if (a.auth) {
    if (!strcmp(a.auth, "sigv4"))
      cfg.auth_mode = DPS__EMU_AUTH_SIGV4;
    else if (!strcmp(a.auth, "none"))
      cfg.auth_mode = DPS__EMU_AUTH_NONE;
    else
      return dps_cli_error(PROG, "--auth: \"%s\" is not sigv4 or none", a.auth), DPS_EXIT_USAGE;
  }
  if ((a.access_key != NULL) != (a.secret_key != NULL))
    return dps_cli_error(PROG, "--access-key and --secret-key go together"), DPS_EXIT_USAGE;
  cfg.access_key = a.access_key;
  cfg.secret_key = a.secret_key;
  cfg.profile = a.profile;
  cfg.region = a.region;
  cfg.faults = a.fault;
  if (a.seed) {
    if (parse_u64(a.seed, ~0ULL, &v))
      return BAD_NUMBER("--seed", a.seed, "a whole number from 0 to 18446744073709551615");
    cfg.seed = v;
  }
  if (a.limits) {
    if (!strcmp(a.limits, "aws"))
      cfg.limits_aws = true;
    else if (strcmp(a.limits, "none"))
      return dps_cli_error(PROG, "--limits: \"%s\" is not aws or none", a.limits), DPS_EXIT_USAGE;
  }
  cfg.rate_limits = a.rate_limit; /* checked by the service, which names the item */
  if (a.throttle_header && (rc = parse_throttle_header(a.throttle_header, &cfg))) return rc;
  cfg.record_path = a.record;
  if (a.max_body_bytes) {
    if (parse_u64(a.max_body_bytes, 1ULL << 30, &v) || v == 0)
      return BAD_NUMBER("--max-body-bytes", a.max_body_bytes,
                        "a whole number from 1 to 1073741824");
    cfg.max_body_bytes = (size_t)v;
  }

  dps_error err = {0};
  rc = dps__emu_run(&cfg, &err);
  if (rc == DPS_OK) return DPS_EXIT_OK;
  dps_cli_error(PROG, "%s", err.message[0] ? err.message : dps_strerror(rc));
  /* Everything refused before serving is a usage or configuration problem, bar the machine
   * running out of memory or crypto failing. */
  return rc == DPS_ENOMEM || rc == DPS_ECRYPTO ? DPS_EXIT_FAILURE : DPS_EXIT_USAGE;
}
