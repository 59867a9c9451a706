/*
 * test_cli.c: the dpstatus command as a user runs it: `send --dry-run` output, exit codes and
 * the one-line messages for bad input. Runs the built binary ($DPS_BINARY) with a controlled
 * environment: HOME and the AWS files point into a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];

typedef struct run_result {
  int status;
  char out[16384];
  char err[4096];
} run_result;

static void slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* Runs `$DPS_BINARY <args>` through the shell with stdout and stderr captured in files. */
static void run(run_result *r, const char *args) {
  const char *bin = getenv("DPS_BINARY");
  assert_non_null(bin);
  char cmd[32768];
  snprintf(cmd, sizeof cmd, "%s %s >%s/out 2>%s/err </dev/null", bin, args, tmpdir, tmpdir);
  int st = system(cmd);
  assert_true(WIFEXITED(st));
  r->status = WEXITSTATUS(st);
  char path[128];
  snprintf(path, sizeof path, "%s/out", tmpdir);
  slurp(path, r->out, sizeof r->out);
  snprintf(path, sizeof path, "%s/err", tmpdir);
  slurp(path, r->err, sizeof r->err);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dps-cli-XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  static const char *const cleared[] = {"AWS_PROFILE",      "AWS_SESSION_TOKEN",
                                        "AWS_REGION",       "AWS_DEFAULT_REGION",
                                        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DATA_PIPELINE"};
  for (size_t i = 0; i < sizeof cleared / sizeof cleared[0]; i++) unsetenv(cleared[i]);
  setenv("HOME", tmpdir, 1);
  char p[128];
  snprintf(p, sizeof p, "%s/no-credentials", tmpdir);
  setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
  snprintf(p, sizeof p, "%s/no-config", tmpdir);
  setenv("AWS_CONFIG_FILE", p, 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

#define BASE "send --region us-east-1 --signing-time 20150830T123600Z "

/* The whole request, byte for byte. The signature was computed independently with Python's
 * hashlib/hmac over the canonical request
 *   POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:datapipeline.us-east-1.amazonaws.com
 *   \nx-amz-date:20150830T123600Z\nx-amz-target:DataPipeline.SetTaskStatus\n\n
 *   content-type;host;x-amz-date;x-amz-target\n<sha256 of the body>
 * with the AWS documentation's example secret key. */
static void test_dry_run_exact(void **state) {
  (void)state;
  run_result r;
  run(&r, BASE "--task-id task-1 --task-status FINISHED --dry-run");
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  const char *want =
      "POST / HTTP/1.1\r\n"
      "Host: datapipeline.us-east-1.amazonaws.com\r\n"
      "Content-Type: application/x-amz-json-1.1\r\n"
      "X-Amz-Target: DataPipeline.SetTaskStatus\r\n"
      "X-Amz-Date: 20150830T123600Z\r\n"
      "Authorization: AWS4-HMAC-SHA256 "
      "Credential=AKIDEXAMPLE/20150830/us-east-1/datapipeline/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
      "Signature=2d5c536bef847fd70499ea996fa3169b2dff68301bed8b6c919b2420a80e8cdf\r\n"
      "Content-Length: 43\r\n"
      "User-Agent: dpstatus/0.1.0\r\n"
      "\r\n"
      "{\"taskId\":\"task-1\",\"taskStatus\":\"FINISHED\"}\n";
  assert_string_equal(r.out, want);
}

static void test_dry_run_optional_fields_and_endpoint(void **state) {
  (void)state;
  run_result r;
  run(&r, BASE
      "--task-id t --task-status FAILED --error-id E1 --error-message 'it \"broke\"' "
      "--error-stack-trace 'at x' --endpoint-url http://127.0.0.1:8080 --dry-run");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\r\nHost: 127.0.0.1:8080\r\n"));
  assert_non_null(strstr(r.out,
                         "\r\n\r\n{\"taskId\":\"t\",\"taskStatus\":\"FAILED\","
                         "\"errorId\":\"E1\",\"errorMessage\":\"it \\\"broke\\\"\","
                         "\"errorStackTrace\":\"at x\"}"));
  /* cn- regions get the .com.cn endpoint. */
  run(&r, "send --region cn-north-1 --task-id t --task-status FALSE --dry-run");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\r\nHost: datapipeline.cn-north-1.amazonaws.com.cn\r\n"));
}

/* A session token is sent and signed, but never printed: it is a credential. */
static void test_session_token_redacted(void **state) {
  (void)state;
  setenv("AWS_SESSION_TOKEN", "SECRET-TOKEN-VALUE-123", 1);
  run_result r;
  run(&r, BASE "--task-id t --task-status FINISHED --dry-run");
  unsetenv("AWS_SESSION_TOKEN");
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, "SECRET-TOKEN-VALUE-123"));
  assert_null(strstr(r.out, "wJalrXUtnFEMI"));
  assert_non_null(strstr(r.out, "X-Amz-Security-Token: <session token, 22 characters, not shown>"));
  assert_non_null(strstr(r.out,
                         "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                         "x-amz-target,"));
}

/* Bad input: exit 2 and one line naming the field and the rule. */
static void test_bad_input_messages(void **state) {
  (void)state;
  static const struct {
    const char *args, *message;
  } cases[] = {
      {"--task-status FINISHED --dry-run", "dpstatus send: --task-id is required\n"},
      {"--task-id t --dry-run", "dpstatus send: --task-status is required\n"},
      {"--task-id t --task-status DONE --dry-run",
       "dpstatus send: taskStatus: \"DONE\" is not one of FINISHED, FAILED, FALSE\n"},
      {"--task-id '' --task-status FAILED --dry-run",
       "dpstatus send: taskId: 0 characters, the minimum is 1\n"},
      {"--task-id t --task-status FAILED --error-id Service_X --dry-run",
       "dpstatus send: errorId: must not start with \"Service_\" (reserved by the service)\n"},
      {"--task-id \"$(printf 'a\\001')\" --task-status FAILED --dry-run",
       "dpstatus send: taskId: character U+0001 at byte 1 is not allowed (the model allows tab, "
       "CR, LF, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF)\n"},
      {"--task-id \"$(printf '\\355\\240\\200')\" --task-status FAILED --dry-run",
       "dpstatus send: taskId: invalid UTF-8 at byte 0: an encoded UTF-16 surrogate (U+D800)\n"},
      {"--task-id t --task-status FAILED --error-message xxxxxxxxxx --max-body-bytes 50 --dry-run",
       "dpstatus send: body: 64 bytes once encoded, the limit is 50\n"},
      {"--task-id t --task-status FAILED --max-body-bytes 12x --dry-run",
       "dpstatus send: --max-body-bytes: \"12x\" is not a positive whole number\n"},
      {"--task-id t --task-status FAILED --signing-time yesterday --dry-run",
       "dpstatus send: --signing-time: \"yesterday\" is not a time like 20150830T123600Z\n"},
      {"--task-id t --task-id u --task-status FAILED --dry-run",
       "dpstatus send: --task-id given twice\n"},
      {"--task-id t --task-status FAILED --bogus --dry-run",
       "dpstatus send: unknown option --bogus (see --help)\n"},
      {"--task-id t --task-status FAILED extra --dry-run",
       "dpstatus send: unexpected argument \"extra\" (see --help)\n"},
      {"--task-id t --task-status FAILED --dry-run --task-id",
       "dpstatus send: --task-id needs a value\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char args[512];
    snprintf(args, sizeof args, "send --region us-east-1 %s", cases[i].args);
    run_result r;
    run(&r, args);
    if (r.status != 2 || strcmp(r.err, cases[i].message) != 0)
      fail_msg("case %zu (%s): exit %d, stderr \"%s\", wanted \"%s\"", i, cases[i].args, r.status,
               r.err, cases[i].message);
    assert_string_equal(r.out, "");
  }
  /* 2049 four-byte characters: counted as characters, not bytes. */
  char args[16384];
  int n = snprintf(args, sizeof args, BASE "--task-status FAILED --dry-run --task-id ");
  for (int i = 0; i < 2049; i++)
    n += snprintf(args + n, sizeof args - (size_t)n, "\xF0\x9F\x98\x80");
  run_result r;
  run(&r, args);
  assert_int_equal(r.status, 2);
  assert_string_equal(r.err, "dpstatus send: taskId: 2049 characters, the limit is 2048\n");
}

static void test_configuration_errors(void **state) {
  (void)state;
  run_result r;
  /* No credentials anywhere. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  run(&r, BASE "--task-id t --task-status FINISHED --dry-run");
  setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "credentials"));
  assert_string_equal(r.out, "");
  /* No region. */
  run(&r, "send --task-id t --task-status FINISHED --dry-run");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "region"));
  /* A malformed endpoint. */
  run(&r, BASE "--task-id t --task-status FINISHED --endpoint-url ftp://x --dry-run");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "ftp://x"));
  /* Sending for real: no credentials is a usage error found before anything is sent. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  run(&r, "send --region us-east-1 --task-id t --task-status FINISHED");
  setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "no credentials"));
  /* --signing-time only makes sense for a dry run. */
  run(&r, BASE "--task-id t --task-status FINISHED");
  assert_int_equal(r.status, 2);
  assert_string_equal(r.err, "dpstatus send: --signing-time only goes with --dry-run\n");
}

static void test_help_and_version(void **state) {
  (void)state;
  run_result r;
  run(&r, "--version");
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "dpstatus 0.1.0\n");
  run(&r, "send --help");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "--task-id ID"));
  assert_non_null(strstr(r.out, "--dry-run"));
  run(&r, "--help");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "send"));
  run(&r, "frobnicate");
  assert_int_equal(r.status, 2);
  assert_string_equal(r.err, "dpstatus: unknown command \"frobnicate\" (see dpstatus --help)\n");
  run(&r, "");
  assert_int_equal(r.status, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dry_run_exact),
      cmocka_unit_test(test_dry_run_optional_fields_and_endpoint),
      cmocka_unit_test(test_session_token_redacted),
      cmocka_unit_test(test_bad_input_messages),
      cmocka_unit_test(test_configuration_errors),
      cmocka_unit_test(test_help_and_version),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
