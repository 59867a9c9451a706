/* test_credentials.c: the credential chain's order, the profile rules of both shared files, and
 * that secrets never leak into sources or messages. Each test runs with a private HOME and every
 * AWS_* variable cleared, restored afterwards, so the real ~/.aws is never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "core/credentials.h"
#include "dpstatus.h"

#define SECRET "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"

#include "tests/aws_env.h"

/* Resolves and checks success; fails the test with the message otherwise. */
static void resolve_ok(const dps__cred_options *o, dps__credentials *c) {
  dps_error err = {0};
  int rc = dps__credentials_resolve(o, c, &err);
  if (rc != 0) fail_msg("resolve failed (%d): %s", rc, err.message);
  assert_null(strstr(c->source, SECRET));
}

/* Resolves and checks the error code; the message must not carry the secret. */
static void resolve_fails(const dps__cred_options *o, int code, dps_error *err) {
  dps__credentials c = {0};
  memset(err, 0, sizeof *err);
  int rc = dps__credentials_resolve(o, &c, err);
  if (rc != code) fail_msg("expected %d, got %d: %s", code, rc, err->message);
  assert_int_equal(err->code, code);
  assert_null(c.access_key_id);
  assert_null(strstr(err->message, SECRET));
  assert_null(strstr(err->message, "AKIA"));
}

static const char creds_default[] =
    "[default]\naws_access_key_id = AKIAFILEDEFAULT\naws_secret_access_key = " SECRET "\n";

static void test_explicit_wins(void **state) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  put(state, ".aws/credentials", creds_default);
  dps__cred_options o = {
      .access_key_id = "AKIAEXPLICIT", .secret_access_key = SECRET, .session_token = "tok"};
  dps__credentials c;
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIAEXPLICIT");
  assert_string_equal(c.secret_access_key, SECRET);
  assert_string_equal(c.session_token, "tok");
  assert_string_equal(c.source, "explicit configuration");
  dps__credentials_free(&c);
  assert_null(c.access_key_id);
  assert_null(c.secret_access_key);
  assert_null(c.session_token);
  dps__credentials_free(&c); /* twice is harmless */
}

static void test_explicit_half(void **state) {
  put(state, ".aws/credentials", creds_default); /* no falling through to the file */
  dps_error err;
  dps__cred_options o = {.access_key_id = "AKIAEXPLICIT"};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_string_equal(err.message,
                      "explicit configuration: access_key_id is set but secret_access_key is not");
  o = (dps__cred_options){.secret_access_key = SECRET};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_string_equal(err.message,
                      "explicit configuration: secret_access_key is set but access_key_id is not");
  o = (dps__cred_options){.session_token = "tok"};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_string_equal(err.field, "session_token");
  o = (dps__cred_options){.access_key_id = "", .secret_access_key = SECRET};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_string_equal(err.message, "explicit configuration: access_key_id is empty");
  o = (dps__cred_options){.access_key_id = "AKIA X", .secret_access_key = SECRET};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_non_null(strstr(err.message, "access_key_id contains a blank"));
}

static void test_env(void **state) {
  put(state, ".aws/credentials", creds_default);
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  dps__credentials c;
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIAENV");
  assert_null(c.session_token);
  assert_string_equal(c.source, "environment");
  dps__credentials_free(&c);

  setenv("AWS_SESSION_TOKEN", "session", 1);
  resolve_ok(NULL, &c);
  assert_string_equal(c.session_token, "session");
  dps__credentials_free(&c);
  /* botocore reads the legacy AWS_SECURITY_TOKEN first */
  setenv("AWS_SECURITY_TOKEN", "security", 1);
  resolve_ok(NULL, &c);
  assert_string_equal(c.session_token, "security");
  dps__credentials_free(&c);

  /* AWS_PROFILE does not take the environment out of the chain */
  put(state, ".aws/config",
      "[profile dev]\naws_access_key_id = AKIADEV\n"
      "aws_secret_access_key = " SECRET "\n");
  setenv("AWS_PROFILE", "dev", 1);
  resolve_ok(NULL, &c);
  assert_string_equal(c.source, "environment");
  dps__credentials_free(&c);
}

static void test_env_half(void **state) {
  put(state, ".aws/credentials", creds_default);
  dps_error err;
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  resolve_fails(NULL, DPS_ECONFIG, &err);
  assert_string_equal(err.message,
                      "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  setenv("AWS_SECRET_ACCESS_KEY", "", 1); /* empty is unset */
  resolve_fails(NULL, DPS_ECONFIG, &err);

  /* A secret without a key id: botocore skips the environment, and so do we. */
  unsetenv("AWS_ACCESS_KEY_ID");
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  dps__credentials c;
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIAFILEDEFAULT");
  dps__credentials_free(&c);
}

/* --profile takes the environment out of the chain (botocore removes its EnvProvider). */
static void test_option_profile_skips_env(void **state) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  put(state, ".aws/credentials",
      "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = " SECRET "\n");
  dps__cred_options o = {.profile = "dev"};
  dps__credentials c;
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIADEV");
  char want[512];
  snprintf(want, sizeof want, "shared credentials file %s/.aws/credentials (profile dev)",
           dir(state));
  assert_string_equal(c.source, want);
  dps__credentials_free(&c);

  o.profile = "default"; /* even when it names the default profile */
  dps_error err;
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_non_null(strstr(err.message, "profile: \"default\" not found in"));
}

static void test_credentials_file_before_config(void **state) {
  put(state, ".aws/config",
      "[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = " SECRET "\n");
  dps__credentials c;
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIACONFIG");
  char want[512];
  snprintf(want, sizeof want, "config file %s/.aws/config (profile default)", dir(state));
  assert_string_equal(c.source, want);
  dps__credentials_free(&c);

  put(state, ".aws/credentials",
      "[default]\naws_access_key_id = AKIACREDS\naws_secret_access_key = " SECRET
      "\n"
      "aws_session_token = tok\n");
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIACREDS");
  assert_string_equal(c.session_token, "tok");
  dps__credentials_free(&c);

  /* A credentials-file profile without keys (only a region) lets the config file answer. */
  put(state, ".aws/credentials", "[default]\nregion = us-east-1\n");
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIACONFIG");
  dps__credentials_free(&c);
}

static void test_config_profile_sections(void **state) {
  put(state, ".aws/config",
      "[dev]\naws_access_key_id = AKIABARE\naws_secret_access_key = " SECRET
      "\n"
      "[profile  \"my dev\" ]\naws_access_key_id = AKIAQUOTED\naws_secret_access_key = " SECRET
      "\n"
      "[profile qa]\naws_access_key_id = AKIAQA\naws_secret_access_key = " SECRET
      "\n"
      "aws_security_token = legacy\naws_session_token = modern\n"
      "[profile two words]\naws_access_key_id = AKIATWO\naws_secret_access_key = " SECRET
      "\n"
      "[profile default]\naws_access_key_id = AKIAPDEFAULT\naws_secret_access_key = " SECRET "\n");
  dps__credentials c;
  dps_error err;
  dps__cred_options o = {.profile = "dev"};
  /* a bare [dev] in the config file is not a profile */
  resolve_fails(&o, DPS_ECONFIG, &err);
  char want[512];
  snprintf(want, sizeof want, "profile: \"dev\" not found in %s/.aws/credentials or %s/.aws/config",
           dir(state), dir(state));
  assert_string_equal(err.message, want);
  assert_string_equal(err.field, "profile");

  o.profile = "my dev";
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIAQUOTED");
  dps__credentials_free(&c);

  setenv("AWS_PROFILE", "qa", 1);
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIAQA");
  assert_string_equal(c.session_token, "legacy"); /* botocore's order */
  dps__credentials_free(&c);

  setenv("AWS_PROFILE", "two", 1); /* [profile two words] names no profile */
  resolve_fails(NULL, DPS_ECONFIG, &err);
  unsetenv("AWS_PROFILE");

  resolve_ok(NULL, &c); /* [profile default] serves the default profile */
  assert_string_equal(c.access_key_id, "AKIAPDEFAULT");
  dps__credentials_free(&c);
}

/* In the credentials file every section is a profile by its exact name. */
static void test_credentials_file_sections(void **state) {
  put(state, ".aws/credentials",
      "[profile dev]\naws_access_key_id = AKIAPREFIXED\naws_secret_access_key = " SECRET
      "\n"
      "[Dev]\naws_access_key_id = AKIAUPPER\naws_secret_access_key = " SECRET "\n");
  dps__cred_options o = {.profile = "dev"};
  dps_error err;
  resolve_fails(&o, DPS_ECONFIG, &err);
  o.profile = "profile dev";
  dps__credentials c;
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIAPREFIXED");
  dps__credentials_free(&c);
  o.profile = "Dev";
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIAUPPER");
  dps__credentials_free(&c);
}

static void test_half_filled_profiles(void **state) {
  dps_error err;
  const char *path = put(state, ".aws/credentials", "[default]\naws_access_key_id = AKIAHALF\n");
  char want[512];
  snprintf(want, sizeof want,
           "shared credentials file %s (profile default): aws_access_key_id is set but "
           "aws_secret_access_key is not",
           path);
  resolve_fails(NULL, DPS_ECONFIG, &err);
  assert_string_equal(err.message, want);

  put(state, ".aws/credentials", "[default]\naws_secret_access_key = " SECRET "\n");
  resolve_fails(NULL, DPS_ECONFIG, &err);
  assert_non_null(strstr(err.message, "aws_secret_access_key is set but aws_access_key_id is not"));

  put(state, ".aws/credentials", "[default]\naws_access_key_id =\naws_secret_access_key = x\n");
  resolve_fails(NULL, DPS_ECONFIG, &err);
  assert_non_null(strstr(err.message, "aws_access_key_id is empty"));

  /* a value run onto a continuation line would only fail later, as a bad signature */
  put(state, ".aws/credentials",
      "[default]\naws_access_key_id = AKIA\naws_secret_access_key = " SECRET "\n  more\n");
  resolve_fails(NULL, DPS_ECONFIG, &err);
  assert_non_null(strstr(err.message, "aws_secret_access_key contains a blank"));

  unlink(path);
  path = put(state, ".aws/config", "[profile dev]\naws_access_key_id = AKIAHALF\n");
  dps__cred_options o = {.profile = "dev"};
  resolve_fails(&o, DPS_ECONFIG, &err);
  snprintf(want, sizeof want,
           "config file %s (profile dev): aws_access_key_id is set but aws_secret_access_key is "
           "not",
           path);
  assert_string_equal(err.message, want);
}

static void test_nothing_found(void **state) {
  dps_error err;
  resolve_fails(NULL, DPS_ENOCREDS, &err);
  char want[512];
  snprintf(want, sizeof want,
           "no credentials found; looked in the environment, %s/.aws/credentials [default], "
           "%s/.aws/config [default]",
           dir(state), dir(state));
  assert_string_equal(err.message, want);

  /* the default profile may be absent without being an error of its own */
  put(state, ".aws/config", "[profile dev]\nrole_arn = arn:aws:iam::1:role/x\n");
  resolve_fails(NULL, DPS_ENOCREDS, &err);

  dps__cred_options o = {.profile = "dev"};
  resolve_fails(&o, DPS_ENOCREDS, &err);
  assert_non_null(strstr(err.message, "(skipped: --profile given)"));
  assert_non_null(strstr(err.message, "[profile dev]"));
  assert_non_null(strstr(err.message, "uses role_arn, which dpstatus does not support"));

  /* without HOME there is no default file, and the message says so */
  unsetenv("HOME");
  resolve_fails(NULL, DPS_ENOCREDS, &err);
  assert_non_null(strstr(err.message, "~/.aws/credentials (HOME not set)"));
}

static void test_env_paths(void **state) {
  put(state, ".aws/credentials", creds_default);
  put(state, "other-creds",
      "[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = " SECRET "\n");
  put(state, "other-config",
      "[profile x]\naws_access_key_id = AKIAOTHERCONF\naws_secret_access_key = " SECRET "\n");
  setenv("AWS_SHARED_CREDENTIALS_FILE", "~/other-creds", 1); /* botocore expands ~ */
  dps__credentials c;
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIAOTHER");
  assert_non_null(strstr(c.source, "/other-creds (profile default)"));
  assert_null(strstr(c.source, "~"));
  dps__credentials_free(&c);

  char p[200];
  snprintf(p, sizeof p, "%s/other-config", dir(state));
  setenv("AWS_CONFIG_FILE", p, 1);
  setenv("AWS_PROFILE", "x", 1);
  resolve_ok(NULL, &c);
  assert_string_equal(c.access_key_id, "AKIAOTHERCONF");
  dps__credentials_free(&c);

  /* pointing at a missing file is the same as no file */
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds", 1);
  unsetenv("AWS_PROFILE");
  dps_error err;
  resolve_fails(NULL, DPS_ENOCREDS, &err);
  assert_non_null(strstr(err.message, "/nonexistent/creds [default]"));
}

static void test_bad_files(void **state) {
  dps_error err;
  /* a malformed config file fails even though the credentials file would have answered:
   * botocore parses both */
  put(state, ".aws/credentials", creds_default);
  const char *path = put(state, ".aws/config", "[default]\nregion = us-east-1\n" SECRET "\n");
  resolve_fails(NULL, DPS_ECONFIG, &err);
  char want[512];
  snprintf(want, sizeof want, "config file %s line 3: expected \"key = value\"", path);
  assert_string_equal(err.message, want);

  unlink(path);
  char d[200];
  snprintf(d, sizeof d, "%s/.aws/config", dir(state));
  assert_int_equal(mkdir(d, 0700), 0);
  resolve_fails(NULL, DPS_EIO, &err);
  rmdir(d);

  dps__cred_options o = {.profile = ""};
  resolve_fails(&o, DPS_ECONFIG, &err);
  assert_string_equal(err.message, "profile: empty name");
}

/* A [DEFAULT] section lends its keys to every section of its file, as in configparser. */
static void test_default_section(void **state) {
  put(state, ".aws/credentials",
      "[DEFAULT]\naws_secret_access_key = " SECRET "\n[ci]\naws_access_key_id = AKIACI\n");
  dps__cred_options o = {.profile = "ci"};
  dps__credentials c;
  resolve_ok(&o, &c);
  assert_string_equal(c.access_key_id, "AKIACI");
  assert_string_equal(c.secret_access_key, SECRET);
  dps__credentials_free(&c);
  o.profile = "DEFAULT"; /* but it is not a profile itself */
  dps_error err;
  resolve_fails(&o, DPS_ECONFIG, &err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_explicit_wins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_explicit_half, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_half, setup, teardown),
      cmocka_unit_test_setup_teardown(test_option_profile_skips_env, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credentials_file_before_config, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_profile_sections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credentials_file_sections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_filled_profiles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_section, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
