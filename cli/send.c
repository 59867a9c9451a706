/*
 * send.c: `dpstatus send`: its options, checked strictly, and the choice between the dry run
 * (here: the exact signed HTTP request for one update, nothing sent) and sending for real
 * (send_run.c: one update from the flags, an NDJSON stream, or generated updates, through the
 * public reporter API), with flags named like `aws datapipeline set-task-status`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/reporter_args.h"
#include "cli/send.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/credentials.h"
#include "core/endpoint.h"
#include "core/error.h"
#include "core/json.h"
#include "core/request.h"
#include "core/sigv4.h"
#include "core/update.h"
#include "dpstatus.h"

#define PROG DPS_SEND_PROG

typedef struct send_args {
  const char *task_id, *task_status, *error_id, *error_message, *error_stack_trace;
  const char *signing_time, *max_body_bytes, *dry_run;
  const char *input, *generate, *results, *output, *embedded;
  dps_cli_reporter_args net; /* endpoint, credentials, connections, TLS */
} send_args;

static const char usage[] =
    "usage: dpstatus send --task-id ID --task-status FINISHED|FAILED|FALSE [--error-id ID]\n"
    "                     [--error-message TEXT] [--error-stack-trace TEXT] [OPTIONS] [--dry-run]\n"
    "       dpstatus send --input FILE|- [--results FILE] [--output json] [OPTIONS]\n"
    "       dpstatus send --generate N [--embedded] [OPTIONS]\n"
    "Reports task statuses to AWS Data Pipeline SetTaskStatus through libdpstatus: one from the\n"
    "flags, or a stream from --input (NDJSON: one request body per line, e.g.\n"
    "{\"taskId\":\"t-1\",\"taskStatus\":\"FAILED\",\"errorId\":\"E\",\"errorMessage\":\"...\"}; "
    "the\n"
    "members are taskId, taskStatus, errorId, errorMessage, errorStackTrace; blank lines are\n"
    "skipped), or N generated ones (--generate). A bad line is reported on stderr with its line\n"
    "number and reason and counted as rejected; the rest goes on. A full queue holds the input\n"
    "back; nothing accepted is dropped. --dry-run prints the exact signed request for one\n"
    "update and sends nothing.\n"
    "\n"
    "Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
    "AWS_SESSION_TOKEN) or the shared credentials and config files (AWS_PROFILE or --profile);\n"
    "the region from --region, AWS_REGION, AWS_DEFAULT_REGION or the profile; the endpoint from\n"
    "--endpoint-url, AWS_ENDPOINT_URL_DATA_PIPELINE, AWS_ENDPOINT_URL or the region. --embedded\n"
    "needs none of them: it starts the emulator (`dpstatus serve`) in this process on a free\n"
    "loopback port, with SigV4 and a key pair made up for the run (region us-east-1 unless\n"
    "--region), and prints its summary too.\n"
    "\n"
    "Durations are a whole number and a unit: 500ms, 20s, 5m, 1h (a bare number is refused as\n"
    "ambiguous). The summary goes to stderr (with a live progress line when stderr is a\n"
    "terminal); --output json prints it instead as one JSON object on stdout: submitted,\n"
    "delivered, rejected, failed, expired, retries, throttled (throttling responses), sendRate\n"
    "(the rate controller's pace at the end, requests/s; 0: it was not engaged), errors (by\n"
    "code), elapsedSeconds, rate,\n"
    "latencyMs {p50, p90, p99, max}. --results FILE gets one JSON line per input line:\n"
    "{\"line\",\"taskId\",\"outcome\":\"delivered|rejected|failed|expired\",\"attempts\",\"error\","
    "\n"
    "\"message\",\"latencyMs\"} (error and message only when not delivered), in completion order.\n"
    "A refused TLS certificate stops the run at once, saying what to do.\n"
    "\n"
    "Exit status: 0 every update delivered; 1 any rejected, failed or expired (or a refused\n"
    "certificate, or an interrupt); 2 bad usage or configuration (e.g. no credentials).\n";

/* Strict unsigned parse: digits only, no sign, no overflow. */
static int parse_size(const char *s, size_t *out) {
  if (!s || !*s) return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno || v > (size_t)-1) return -1;
  *out = (size_t)v;
  return 0;
}

static int fail_with(const dps_error *err) {
  dps_cli_error(PROG, "%s", err->message);
  return DPS_EXIT_USAGE;
}

/* Prints the signed request for @p v to stdout. */
static int dry_run(const send_args *a, const dps__update_view *v) {
  dps_error err = {0};
  int rc, exit_code = DPS_EXIT_USAGE;
  dps__credentials creds = {0};
  dps__sigv4_signer signer = {0};
  dps__buf body = DPS__BUF_INIT, out = DPS__BUF_INIT;
  char region[64];
  dps__url url;

  dps__cred_options co = {.profile = a->net.profile};
  if ((rc = dps__credentials_resolve(&co, &creds, &err))) goto fail;
  if ((rc = dps__region_resolve(a->net.region, a->net.profile, region, sizeof region, &err)))
    goto fail;
  if ((rc = dps__endpoint_resolve_profile(a->net.endpoint_url, a->net.profile, region, &url, &err)))
    goto fail;

  char amz_date[17];
  if (a->signing_time) {
    int64_t secs;
    if (dps__amz_date_parse(a->signing_time, &secs)) {
      dps__error_set(&err, DPS_EINVAL, "--signing-time",
                     "\"%s\" is not a time like 20150830T123600Z", a->signing_time);
      goto fail;
    }
    dps__amz_date_format(secs * 1000, amz_date);
  } else {
    dps__amz_date_format(dps__clock_local_ms(), amz_date);
  }

  rc = dps__sigv4_signer_init(&signer, region, DPS__SERVICE_NAME, creds.access_key_id,
                              creds.secret_access_key, creds.session_token);
  if (rc) {
    dps__error_set(&err, rc, "credentials", "cannot sign with them (%s)", dps_strerror(rc));
    goto fail;
  }
  if (dps__json_encode_update_buf(v, &body)) {
    dps__error_set(&err, DPS_ENOMEM, NULL, "out of memory");
    goto fail_runtime;
  }
  dps__http_request req;
  rc = dps__request_sign(&signer, url.authority, url.path, DPS__TARGET_SET_TASK_STATUS, amz_date,
                         body.data, body.len, &req);
  if (rc) {
    dps__error_set(&err, rc, NULL, "signing failed: %s", dps_strerror(rc));
    goto fail_runtime;
  }
  dps__request_dump_http1(&req, true, &out);
  if (dps__buf_failed(&out)) {
    dps__error_set(&err, DPS_ENOMEM, NULL, "out of memory");
    goto fail_runtime;
  }
  fwrite(out.data, 1, out.len, stdout);
  if (out.len && out.data[out.len - 1] != '\n') fputc('\n', stdout);
  exit_code = fflush(stdout) == 0 ? DPS_EXIT_OK : DPS_EXIT_FAILURE;
  goto done;

fail_runtime:
  exit_code = DPS_EXIT_FAILURE;
fail:
  dps_cli_error(PROG, "%s", err.message);
done:
  dps__sigv4_signer_clear(&signer);
  dps__credentials_free(&creds);
  dps__buf_free(&body);
  dps__buf_free(&out);
  return exit_code;
}

int dps_cmd_send(int argc, char **argv) {
  send_args a = {0};
  const dps_cli_opt opts[] = {
      {"task-id", "ID", "the task to report (from PollForTask), 1-2048 characters", &a.task_id},
      {"task-status", "STATUS", "FINISHED, FAILED or FALSE", &a.task_status},
      {"error-id", "ID", "error code, at most 1024 characters, not starting with Service_",
       &a.error_id},
      {"error-message", "TEXT", "error description, any length", &a.error_message},
      {"error-stack-trace", "TEXT", "stack trace, at most 1024 characters", &a.error_stack_trace},
      {"input", "FILE", "send the NDJSON updates of FILE (- for stdin) instead of the flags'",
       &a.input},
      {"generate", "N", "send N generated updates (distinct taskIds, FINISHED and FAILED)",
       &a.generate},
      {"results", "FILE", "write one JSON line per input line: its outcome", &a.results},
      {"output", "FORMAT", "text (default: summary on stderr) or json (summary on stdout)",
       &a.output},
      {"embedded", NULL, "send to an emulator started in this process (no AWS needed)",
       &a.embedded},
      DPS_CLI_REPORTER_OPTS(a.net,
                            "attempts per update, the first included; 0: until the deadline "
                            "(default 8)"),
      {"max-body-bytes", "N", "refuse bodies larger than N bytes (default 1048576)",
       &a.max_body_bytes},
      {"signing-time", "TIME", "with --dry-run: sign as of TIME (20150830T123600Z), not now",
       &a.signing_time},
      {"dry-run", NULL, "print the signed HTTP request instead of sending it", &a.dry_run},
      {NULL, NULL, NULL, NULL}};
  int rc = dps_cli_parse(PROG, usage, opts, argc, argv);
  if (rc) return rc;

  /* Where the updates come from: the task flags, --input or --generate, one of them. */
  const char *task_flag = a.task_id             ? "--task-id"
                          : a.task_status       ? "--task-status"
                          : a.error_id          ? "--error-id"
                          : a.error_message     ? "--error-message"
                          : a.error_stack_trace ? "--error-stack-trace"
                                                : NULL;
  const char *stream = a.input ? "--input" : a.generate ? "--generate" : NULL;
  if (a.input && a.generate)
    return dps_cli_error(PROG, "--input and --generate do not go together"), DPS_EXIT_USAGE;
  if (stream && task_flag)
    return dps_cli_error(PROG, "%s takes the updates from %s: %s does not go with it", stream,
                         a.input ? "the input" : "the generator", task_flag),
           DPS_EXIT_USAGE;
  if (stream && a.dry_run)
    return dps_cli_error(PROG, "--dry-run prints one request: it does not go with %s", stream),
           DPS_EXIT_USAGE;
  if (a.signing_time && !a.dry_run)
    return dps_cli_error(PROG, "--signing-time only goes with --dry-run"), DPS_EXIT_USAGE;
  if (a.dry_run) {
    const char *live = a.results    ? "--results"
                       : a.output   ? "--output"
                       : a.embedded ? "--embedded"
                                    : dps_cli_reporter_live_flag(&a.net);
    if (live)
      return dps_cli_error(PROG, "%s is about sending: it does not go with --dry-run", live),
             DPS_EXIT_USAGE;
  }

  size_t max_body = DPS_DEFAULT_MAX_BODY_BYTES;
  if (a.max_body_bytes && (parse_size(a.max_body_bytes, &max_body) || max_body == 0))
    return dps_cli_error(PROG, "--max-body-bytes: \"%s\" is not a positive whole number",
                         a.max_body_bytes),
           DPS_EXIT_USAGE;

  dps_send_opts so = {.input = a.input, .results = a.results, .embedded = a.embedded != NULL};
  dps_config *c = &so.cfg;
  dps_config_init(c);
  c->max_body_bytes = max_body;
  c->queue_shards = 1; /* one thread submits: it can fill the whole queue */
  unsigned long long num;
  if (a.generate) {
    if (dps_cli_uint(PROG, "--generate", a.generate, 1, 1000000000ULL, &num)) return DPS_EXIT_USAGE;
    so.generate = num;
  }
  if (a.output) {
    if (strcmp(a.output, "json") && strcmp(a.output, "text"))
      return dps_cli_error(PROG, "--output: \"%s\" is not text or json", a.output), DPS_EXIT_USAGE;
    so.json_output = strcmp(a.output, "json") == 0;
  }
  if (dps_cli_reporter_config(PROG, &a.net, c)) return DPS_EXIT_USAGE;
  if (a.embedded) {
    const char *remote = a.net.endpoint_url    ? "--endpoint-url"
                         : a.net.profile       ? "--profile"
                         : a.net.ca_bundle     ? "--ca-bundle"
                         : a.net.no_verify_ssl ? "--no-verify-ssl"
                                               : NULL;
    if (remote)
      return dps_cli_error(PROG,
                           "--embedded sends to its own plain-HTTP emulator: %s does not "
                           "apply",
                           remote),
             DPS_EXIT_USAGE;
  }

  if (stream) return dps_send_run(&so);

  /* One update from the flags: checked here, so that a bad one is a usage error (exit 2). */
  if (!a.task_id) {
    if (a.dry_run) return dps_cli_error(PROG, "--task-id is required"), DPS_EXIT_USAGE;
    return dps_cli_error(PROG, "--task-id is required (or --input FILE, or --generate N)"),
           DPS_EXIT_USAGE;
  }
  if (!a.task_status) return dps_cli_error(PROG, "--task-status is required"), DPS_EXIT_USAGE;
  dps_update u = {.task_id = a.task_id,
                  .task_id_len = DPS_NTS,
                  .error_id = a.error_id,
                  .error_id_len = DPS_NTS,
                  .error_message = a.error_message,
                  .error_message_len = DPS_NTS,
                  .error_stack_trace = a.error_stack_trace,
                  .error_stack_trace_len = DPS_NTS};
  dps_error err = {0};
  if (dps_task_status_parse(a.task_status, DPS_NTS, &u.task_status))
    return dps__error_set(&err, DPS_EINVAL, "taskStatus",
                          "\"%s\" is not one of FINISHED, FAILED, FALSE", a.task_status),
           fail_with(&err);
  dps__update_view v;
  if (dps__update_check(&u, max_body, &v, &err)) return fail_with(&err);

  if (!a.dry_run) {
    so.single = &u;
    return dps_send_run(&so);
  }
  return dry_run(&a, &v);
}
