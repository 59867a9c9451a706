/*
 * send.c: `dpstatus send`, one SetTaskStatus call from the command line, with flags named like
 * `aws datapipeline set-task-status`. With --dry-run it prints the exact signed HTTP request it
 * would send and sends nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
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

#define PROG "dpstatus send"

typedef struct send_args {
  const char *task_id, *task_status, *error_id, *error_message, *error_stack_trace;
  const char *endpoint_url, *region, *profile, *signing_time, *max_body_bytes, *dry_run;
} send_args;

static const char usage[] =
    "usage: dpstatus send --task-id ID --task-status FINISHED|FAILED|FALSE [--error-id ID]\n"
    "                     [--error-message TEXT] [--error-stack-trace TEXT] [--region R]\n"
    "                     [--profile P] [--endpoint-url URL] --dry-run\n"
    "Reports one task status to AWS Data Pipeline SetTaskStatus. Credentials come from the\n"
    "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the shared\n"
    "credentials and config files (AWS_PROFILE or --profile); the region from --region,\n"
    "AWS_REGION, AWS_DEFAULT_REGION or the profile; the endpoint from --endpoint-url,\n"
    "AWS_ENDPOINT_URL_DATA_PIPELINE, AWS_ENDPOINT_URL or the region.\n";

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

  dps__cred_options co = {.profile = a->profile};
  if ((rc = dps__credentials_resolve(&co, &creds, &err))) goto fail;
  if ((rc = dps__region_resolve(a->region, a->profile, region, sizeof region, &err))) goto fail;
  if ((rc = dps__endpoint_resolve_profile(a->endpoint_url, a->profile, region, &url, &err)))
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
      {"region", "REGION", "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, profile)",
       &a.region},
      {"profile", "NAME", "profile of the shared credentials/config files", &a.profile},
      {"endpoint-url", "URL", "send to this endpoint instead of the region's", &a.endpoint_url},
      {"max-body-bytes", "N", "refuse bodies larger than N bytes (default 1048576)",
       &a.max_body_bytes},
      {"signing-time", "TIME", "sign as of TIME (20150830T123600Z) instead of now",
       &a.signing_time},
      {"dry-run", NULL, "print the signed HTTP request instead of sending it", &a.dry_run},
      {NULL, NULL, NULL, NULL}};
  int rc = dps_cli_parse(PROG, usage, opts, argc, argv);
  if (rc) return rc;

  if (!a.task_id) return dps_cli_error(PROG, "--task-id is required"), DPS_EXIT_USAGE;
  if (!a.task_status) return dps_cli_error(PROG, "--task-status is required"), DPS_EXIT_USAGE;
  size_t max_body = DPS_DEFAULT_MAX_BODY_BYTES;
  if (a.max_body_bytes && (parse_size(a.max_body_bytes, &max_body) || max_body == 0))
    return dps_cli_error(PROG, "--max-body-bytes: \"%s\" is not a positive whole number",
                         a.max_body_bytes),
           DPS_EXIT_USAGE;

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
    dps_cli_error(PROG,
                  "sending is not built yet (the reporter lands with issue 5); use --dry-run to "
                  "print the signed request");
    return DPS_EXIT_USAGE;
  }
  return dry_run(&a, &v);
}
