/* test_credplan.c: the credential chain as a plan: which provider applies for each configuration
 * (explicit, environment, assume-role chains and cycles, credential_source, web identity, SSO
 * refused, the static files and credential_process in their order, container and instance
 * metadata settings), the shell-word splitter, and that no secret reaches a name or a message.
 * Each test runs with a private HOME and every AWS_* variable we read cleared (tests/aws_env.h). */
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

#include "core/credplan.h"
#include "dpstatus.h"

#define SECRET "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"
#define TOKEN "FwoGZXIvYXdzTOKENMARKER"

#include "tests/aws_env.h"

static dps__cred_plan *plan_ok(const dps__cred_plan_options *o) {
  dps__cred_plan *p = NULL;
  dps_error err = {0};
  int rc = dps__cred_plan_resolve(o, &p, &err);
  if (rc != 0) fail_msg("plan failed (%d): %s", rc, err.message);
  assert_non_null(p);
  for (dps__cred_plan *q = p; q; q = q->role.source) {
    assert_null(strstr(q->name, SECRET));
    assert_null(strstr(q->name, TOKEN));
  }
  return p;
}

/* The error's code, and the message carries @p needle and no secret. */
static void plan_fails(const dps__cred_plan_options *o, int code, const char *needle) {
  dps__cred_plan *p = (dps__cred_plan *)1;
  dps_error err = {0};
  int rc = dps__cred_plan_resolve(o, &p, &err);
  if (rc != code) fail_msg("expected %d, got %d: %s", code, rc, err.message);
  assert_null(p);
  if (!strstr(err.message, needle)) fail_msg("\"%s\" lacks \"%s\"", err.message, needle);
  assert_null(strstr(err.message, SECRET));
  assert_null(strstr(err.message, TOKEN));
}

static const dps__cred_plan_options west = {.region = "us-west-2"};

static void test_explicit_then_environment(void **state) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  put(state, ".aws/config",
      "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n");
  dps__cred_plan_options o = {.access_key_id = "AKIAEXPLICIT", .secret_access_key = SECRET};
  dps__cred_plan *p = plan_ok(&o);
  assert_int_equal(p->kind, DPS__CRED_STATIC);
  assert_string_equal(p->creds.access_key_id, "AKIAEXPLICIT");
  assert_string_equal(p->name, "explicit configuration");
  dps__cred_plan_free(p);

  p = plan_ok(&west);
  assert_int_equal(p->kind, DPS__CRED_STATIC);
  assert_string_equal(p->name, "environment");
  dps__cred_plan_free(p);

  /* AWS_PROFILE does not skip the environment; --profile does (botocore). */
  setenv("AWS_PROFILE", "dev", 1);
  p = plan_ok(&west);
  assert_string_equal(p->name, "environment");
  dps__cred_plan_free(p);
  unsetenv("AWS_PROFILE");
  o = (dps__cred_plan_options){.profile = "dev", .region = "us-west-2"};
  plan_fails(&o, DPS_ECONFIG, "source_profile \"x\" is in neither");
}

static void test_assume_role_from_a_static_profile(void **state) {
  put(state, ".aws/credentials",
      "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = " SECRET "\n");
  put(state, ".aws/config",
      "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/reporter\nsource_profile = base\n"
      "external_id = ext-1\nrole_session_name = s1\nduration_seconds = 1800\n");
  dps__cred_plan_options o = {.profile = "dev", .region = "eu-west-1"};
  dps__cred_plan *p = plan_ok(&o);
  assert_int_equal(p->kind, DPS__CRED_ASSUME_ROLE);
  assert_string_equal(p->role.arn, "arn:aws:iam::123456789012:role/reporter");
  assert_string_equal(p->role.external_id, "ext-1");
  assert_string_equal(p->role.session_name, "s1");
  assert_int_equal(p->role.duration_s, 1800);
  assert_string_equal(p->role.sts_url, "https://sts.eu-west-1.amazonaws.com");
  assert_non_null(strstr(p->name, "assume-role profile dev"));
  assert_non_null(p->role.source);
  assert_int_equal(p->role.source->kind, DPS__CRED_STATIC);
  assert_string_equal(p->role.source->creds.access_key_id, "AKIABASE");
  assert_non_null(strstr(p->role.source->name, "(profile base)"));
  dps__cred_plan_free(p);

  /* China's partition; an STS endpoint from the environment wins; no region at all fails. */
  o.region = "cn-north-1";
  p = plan_ok(&o);
  assert_string_equal(p->role.sts_url, "https://sts.cn-north-1.amazonaws.com.cn");
  dps__cred_plan_free(p);
  setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566", 1);
  p = plan_ok(&o);
  assert_string_equal(p->role.sts_url, "http://127.0.0.1:4566");
  dps__cred_plan_free(p);
  setenv("AWS_ENDPOINT_URL_STS", "ftp://x", 1);
  plan_fails(&o, DPS_ECONFIG, "AWS_ENDPOINT_URL_STS");
  unsetenv("AWS_ENDPOINT_URL_STS");
  o.region = NULL;
  plan_fails(&o, DPS_ECONFIG, "needs a region");
}

static void test_role_chains_and_cycles(void **state) {
  put(state, ".aws/config",
      "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n"
      "[profile c]\naws_access_key_id = AKIAC\naws_secret_access_key = " SECRET
      "\n"
      "[profile x]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = y\n"
      "[profile y]\nrole_arn = arn:aws:iam::1:role/y\nsource_profile = x\n"
      "[profile self]\nrole_arn = arn:aws:iam::1:role/s\nsource_profile = self\n"
      "aws_access_key_id = AKIASELF\naws_secret_access_key = " SECRET
      "\n"
      "[profile selfless]\nrole_arn = arn:aws:iam::1:role/s\nsource_profile = selfless\n");
  dps__cred_plan_options o = {.profile = "a", .region = "us-east-1"};
  dps__cred_plan *p = plan_ok(&o);
  assert_int_equal(p->kind, DPS__CRED_ASSUME_ROLE);
  assert_string_equal(p->role.arn, "arn:aws:iam::1:role/a");
  assert_int_equal(p->role.source->kind, DPS__CRED_ASSUME_ROLE);
  assert_string_equal(p->role.source->role.arn, "arn:aws:iam::1:role/b");
  assert_int_equal(p->role.source->role.source->kind, DPS__CRED_STATIC);
  assert_string_equal(p->role.source->role.source->creds.access_key_id, "AKIAC");
  dps__cred_plan_free(p);

  o.profile = "x";
  plan_fails(&o, DPS_ECONFIG, "cycle: x -> y -> x");
  /* A profile may name itself to assume its role with its own keys. */
  o.profile = "self";
  p = plan_ok(&o);
  assert_int_equal(p->role.source->kind, DPS__CRED_STATIC);
  assert_string_equal(p->role.source->creds.access_key_id, "AKIASELF");
  dps__cred_plan_free(p);
  o.profile = "selfless";
  plan_fails(&o, DPS_ECONFIG, "names the profile itself, which has no static keys");
}

static void test_credential_source(void **state) {
  put(state, ".aws/config",
      "[profile env]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n"
      "[profile ec2]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Ec2InstanceMetadata\n"
      "[profile ecs]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = EcsContainer\n"
      "[profile both]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n"
      "source_profile = env\n"
      "[profile neither]\nrole_arn = arn:aws:iam::1:role/r\n"
      "[profile odd]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Lambda\n"
      "[profile mfa]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n"
      "mfa_serial = arn:aws:iam::1:mfa/u\n"
      "[profile short]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n"
      "duration_seconds = 100\n");
  dps__cred_plan_options o = {.profile = "env", .region = "us-east-1"};
  plan_fails(&o, DPS_ENOCREDS, "credential_source = Environment, but AWS_ACCESS_KEY_ID");
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  dps__cred_plan *p = plan_ok(&o);
  assert_int_equal(p->role.source->kind, DPS__CRED_STATIC);
  assert_string_equal(p->role.source->creds.access_key_id, "AKIAENV");
  assert_string_equal(p->role.source->creds.session_token, TOKEN);
  dps__cred_plan_free(p);

  o.profile = "ec2";
  p = plan_ok(&o);
  assert_int_equal(p->role.source->kind, DPS__CRED_IMDS);
  dps__cred_plan_free(p);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  plan_fails(&o, DPS_ECONFIG, "AWS_EC2_METADATA_DISABLED is true");
  unsetenv("AWS_EC2_METADATA_DISABLED");

  o.profile = "ecs";
  plan_fails(&o, DPS_ECONFIG, "credential_source = EcsContainer, but neither");
  setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
  p = plan_ok(&o);
  assert_int_equal(p->role.source->kind, DPS__CRED_CONTAINER);
  assert_string_equal(p->role.source->container.url, "http://169.254.170.2/v2/credentials/abc");
  dps__cred_plan_free(p);

  o.profile = "both";
  plan_fails(&o, DPS_ECONFIG, "both source_profile and credential_source");
  o.profile = "neither";
  plan_fails(&o, DPS_ECONFIG, "needs source_profile or credential_source");
  o.profile = "odd";
  plan_fails(&o, DPS_ECONFIG, "credential_source \"Lambda\" is not Environment");
  o.profile = "mfa";
  plan_fails(&o, DPS_ECONFIG, "mfa_serial is not supported");
  o.profile = "short";
  plan_fails(&o, DPS_ECONFIG, "duration_seconds: \"100\" is not a whole number from 900");
}

static void test_web_identity(void **state) {
  put(state, ".aws/config",
      "[default]\nregion = us-east-1\n"
      "[profile wi]\nweb_identity_token_file = /var/run/token\nrole_arn = arn:aws:iam::1:role/w\n"
      "role_session_name = from-profile\n");
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks/token", 1);
  plan_fails(&west, DPS_ECONFIG, "needs a role ARN");
  setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/eks", 1);
  setenv("AWS_ROLE_SESSION_NAME", "pod-1", 1);
  dps__cred_plan *p = plan_ok(&west);
  assert_int_equal(p->kind, DPS__CRED_WEB_IDENTITY);
  assert_string_equal(p->role.token_file, "/var/run/secrets/eks/token");
  assert_string_equal(p->role.arn, "arn:aws:iam::1:role/eks");
  assert_string_equal(p->role.session_name, "pod-1");
  assert_string_equal(p->role.sts_url, "https://sts.us-west-2.amazonaws.com");
  assert_non_null(strstr(p->name, "from the environment"));
  dps__cred_plan_free(p);

  /* --profile turns the environment's settings off; the profile's (role_arn with a token file
   * is web identity, not assume-role) apply. */
  dps__cred_plan_options o = {.profile = "wi", .region = "us-west-2"};
  p = plan_ok(&o);
  assert_int_equal(p->kind, DPS__CRED_WEB_IDENTITY);
  assert_string_equal(p->role.token_file, "/var/run/token");
  assert_string_equal(p->role.session_name, "from-profile");
  dps__cred_plan_free(p);
}

static void test_sso_refused(void **state) {
  put(state, ".aws/config",
      "[profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n"
      "[profile legacy]\nsso_start_url = https://corp.awsapps.com/start\n");
  dps__cred_plan_options o = {.profile = "sso"};
  plan_fails(&o, DPS_ECONFIG, "SSO (IAM Identity Center) credentials are not supported yet");
  o.profile = "legacy";
  plan_fails(&o, DPS_ECONFIG, "not supported yet");
}

static void test_files_and_process_in_order(void **state) {
  const char *cfg =
      put(state, ".aws/config",
          "[default]\ncredential_process = /usr/bin/helper --role \"a b\" 'c d' e\\ f\n"
          "aws_access_key_id = AKIACONFIG\naws_secret_access_key = " SECRET "\n");
  (void)cfg;
  /* credential_process comes before the config file's keys ... */
  dps__cred_plan *p = plan_ok(NULL);
  assert_int_equal(p->kind, DPS__CRED_PROCESS);
  const char *want[] = {"/usr/bin/helper", "--role", "a b", "c d", "e f", NULL};
  for (int i = 0; want[i]; i++) assert_string_equal(p->argv[i], want[i]);
  assert_null(p->argv[5]);
  assert_non_null(strstr(p->name, "credential_process /usr/bin/helper (profile default)"));
  assert_null(strstr(p->name, "--role")); /* arguments may carry a helper's own secret */
  dps__cred_plan_free(p);
  /* ... and after the shared credentials file's. */
  put(state, ".aws/credentials",
      "[default]\naws_access_key_id = AKIACREDS\naws_secret_access_key = " SECRET "\n");
  p = plan_ok(NULL);
  assert_int_equal(p->kind, DPS__CRED_STATIC);
  assert_string_equal(p->creds.access_key_id, "AKIACREDS");
  dps__cred_plan_free(p);

  put(state, ".aws/credentials", "");
  put(state, ".aws/config",
      "[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = " SECRET "\n");
  p = plan_ok(NULL);
  assert_string_equal(p->creds.access_key_id, "AKIACONFIG");
  dps__cred_plan_free(p);

  put(state, ".aws/config", "[default]\ncredential_process = helper \"unclosed\n");
  plan_fails(NULL, DPS_ECONFIG, "unbalanced \" quote");
}

static void test_shell_split(void **state) {
  (void)state;
  static const struct {
    const char *cmd;
    const char *argv[6];
  } ok[] = {
      {"a", {"a"}},
      {"  a\tb  ", {"a", "b"}},
      {"'it''s' x", {"its", "x"}},
      {"\"\\\"q\\\" \\$HOME \\n\"", {"\"q\" $HOME \\n"}},
      {"a\\ b c\\\\d", {"a b", "c\\d"}},
      {"''", {""}},
      {"x'y z'\"w\"", {"xy zw"}},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char **v = NULL;
    dps_error err = {0};
    if (dps__shell_split(ok[i].cmd, &v, &err)) fail_msg("%s: %s", ok[i].cmd, err.message);
    size_t n = 0;
    for (; ok[i].argv[n]; n++) {
      if (!v[n] || strcmp(v[n], ok[i].argv[n]))
        fail_msg("%s: word %zu is \"%s\", expected \"%s\"", ok[i].cmd, n, v[n] ? v[n] : "(none)",
                 ok[i].argv[n]);
    }
    assert_null(v[n]);
    dps__argv_free(v);
  }
  static const struct {
    const char *cmd, *needle;
  } bad[] = {{"", "empty"},
             {"   ", "empty"},
             {"a 'b", "unbalanced '"},
             {"a \"b", "unbalanced \""},
             {"a\\", "a backslash ends"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char **v = (char **)1;
    dps_error err = {0};
    assert_int_equal(dps__shell_split(bad[i].cmd, &v, &err), DPS_ECONFIG);
    assert_null(v);
    if (!strstr(err.message, bad[i].needle))
      fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].cmd, err.message, bad[i].needle);
  }
}

static void test_container(void **state) {
  (void)state;
  setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x", 1);
  plan_fails(NULL, DPS_ECONFIG, "must start with /");
  unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  static const struct {
    const char *url;
    bool ok;
  } full[] = {{"http://127.0.0.1:9911/creds", true},
              {"http://127.1.2.3/creds", true},
              {"http://localhost/creds", true},
              {"http://[::1]:80/creds", true},
              {"http://169.254.170.2/v2/credentials", true},
              {"http://169.254.170.23/v1/credentials", true},
              {"http://[fd00:ec2::23]/v1/credentials", true},
              {"https://creds.example.com/x", true},
              {"http://creds.example.com/x", false},
              {"http://169.254.169.254/latest", false},
              {"http://[fd00:ec2::254]/", false},
              {"http://10.0.0.1/", false}};
  for (size_t i = 0; i < sizeof full / sizeof full[0]; i++) {
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", full[i].url, 1);
    if (full[i].ok) {
      dps__cred_plan *p = plan_ok(NULL);
      assert_int_equal(p->kind, DPS__CRED_CONTAINER);
      assert_string_equal(p->container.url, full[i].url);
      dps__cred_plan_free(p);
    } else {
      plan_fails(NULL, DPS_ECONFIG, "is not allowed over plain http");
    }
  }
  /* The relative URI wins over the full one; the token file over the token. */
  setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/id", 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN, 1);
  dps__cred_plan *p = plan_ok(NULL);
  assert_string_equal(p->container.url, "http://169.254.170.2/v2/credentials/id");
  assert_string_equal(p->container.token, TOKEN);
  assert_null(p->container.token_file);
  dps__cred_plan_free(p);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/token", 1);
  p = plan_ok(NULL);
  assert_null(p->container.token);
  assert_string_equal(p->container.token_file, "/var/run/token");
  dps__cred_plan_free(p);
  unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN "\r\nX-Evil: 1", 1);
  plan_fails(NULL, DPS_ECONFIG, "contains a line break");
}

static void test_instance_metadata(void **state) {
  dps__cred_plan *p = plan_ok(NULL);
  assert_int_equal(p->kind, DPS__CRED_IMDS);
  assert_string_equal(p->imds.endpoint, "http://169.254.169.254");
  assert_int_equal(p->imds.timeout_ms, 1000);
  assert_int_equal(p->imds.attempts, 1);
  assert_false(p->imds.v1_disabled);
  dps__cred_plan_free(p);

  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", 1);
  setenv("AWS_METADATA_SERVICE_TIMEOUT", "3", 1);
  setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2", 1);
  setenv("AWS_EC2_METADATA_V1_DISABLED", "TRUE", 1);
  p = plan_ok(NULL);
  assert_string_equal(p->imds.endpoint, "http://[fd00:ec2::254]");
  assert_int_equal(p->imds.timeout_ms, 3000);
  assert_int_equal(p->imds.attempts, 2);
  assert_true(p->imds.v1_disabled);
  dps__cred_plan_free(p);
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/", 1);
  p = plan_ok(NULL);
  assert_string_equal(p->imds.endpoint, "http://127.0.0.1:1338");
  dps__cred_plan_free(p);

  /* The profile's settings apply when the variables are unset. */
  unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  unsetenv("AWS_METADATA_SERVICE_TIMEOUT");
  unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  put(state, ".aws/config",
      "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:9\nmetadata_service_timeout = "
      "5\n");
  p = plan_ok(NULL);
  assert_string_equal(p->imds.endpoint, "http://127.0.0.1:9");
  assert_int_equal(p->imds.timeout_ms, 5000);
  dps__cred_plan_free(p);

  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5", 1);
  plan_fails(NULL, DPS_ECONFIG, "is not IPv4 or IPv6");
  unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  setenv("AWS_METADATA_SERVICE_TIMEOUT", "1.5", 1);
  plan_fails(NULL, DPS_ECONFIG, "AWS_METADATA_SERVICE_TIMEOUT: \"1.5\" is not a whole number");
  unsetenv("AWS_METADATA_SERVICE_TIMEOUT");

  /* Disabled, with nothing else: no credentials, and the message says where it looked. */
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  plan_fails(NULL, DPS_ENOCREDS, "no credentials found; looked in the environment");
  plan_fails(NULL, DPS_ENOCREDS, "AWS_EC2_METADATA_DISABLED is true");
  /* The container, when set, is final: instance metadata never follows it. */
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
  unsetenv("AWS_EC2_METADATA_DISABLED");
  p = plan_ok(NULL);
  assert_int_equal(p->kind, DPS__CRED_CONTAINER);
  assert_null(p->role.source);
  dps__cred_plan_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_explicit_then_environment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_assume_role_from_a_static_profile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_role_chains_and_cycles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credential_source, setup, teardown),
      cmocka_unit_test_setup_teardown(test_web_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sso_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_files_and_process_in_order, setup, teardown),
      cmocka_unit_test(test_shell_split),
      cmocka_unit_test_setup_teardown(test_container, setup, teardown),
      cmocka_unit_test_setup_teardown(test_instance_metadata, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
