/* test_endpoint.c: region precedence and validation, the URL parser (good and bad tables) and
 * endpoint precedence. Each test runs with a private HOME and every AWS_* variable cleared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "core/endpoint.h"
#include "dpstatus.h"

#include "tests/aws_env.h"

/* ---------------------------------------------------------------------------------------------
 * Region.
 */

static void region_is(const char *explicit_region, const char *profile, const char *want) {
  char out[64] = "unset";
  dps_error err = {0};
  int rc = dps__region_resolve(explicit_region, profile, out, sizeof out, &err);
  if (rc != 0) fail_msg("region resolve failed: %s", err.message);
  assert_string_equal(out, want);
}

static void region_fails(const char *explicit_region, const char *profile, const char *want) {
  char out[64];
  dps_error err = {0};
  assert_int_equal(dps__region_resolve(explicit_region, profile, out, sizeof out, &err),
                   DPS_ECONFIG);
  if (!strstr(err.message, want)) fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
  assert_string_equal(err.field, strncmp(want, "profile", 7) == 0 ? "profile" : "region");
}

static void test_region_precedence(void **state) {
  region_fails(NULL, NULL,
               "region: none set; use --region, AWS_REGION, AWS_DEFAULT_REGION or region in the "
               "profile");
  put(state, ".aws/config",
      "[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n"
      "[profile noregion]\noutput = json\n");
  region_is(NULL, NULL, "eu-west-1");
  region_is(NULL, "dev", "ap-south-1");
  region_fails(NULL, "noregion", "region: none set");
  setenv("AWS_PROFILE", "dev", 1);
  region_is(NULL, NULL, "ap-south-1");
  region_fails(NULL, "missing", "profile: \"missing\" not found in");
  /* botocore lays the credentials file's profile over the config file's */
  put(state, ".aws/credentials", "[dev]\nregion = ca-central-1\n");
  region_is(NULL, NULL, "ca-central-1");
  setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
  region_is(NULL, NULL, "us-west-1");
  setenv("AWS_REGION", "us-east-2", 1);
  region_is(NULL, NULL, "us-east-2");
  region_is("cn-north-1", NULL, "cn-north-1");
  setenv("AWS_REGION", "", 1); /* empty is unset */
  region_is(NULL, NULL, "us-west-1");
  /* a profile named but missing does not matter when the region comes from elsewhere */
  region_is(NULL, "missing", "us-west-1");
}

static void test_region_validation(void **state) {
  static const char *const good[] = {"us-east-1",      "cn-north-1", "us-gov-west-1",
                                     "eu-isoe-west-1", "local",      "a"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    dps_error err = {0};
    if (dps__region_check(good[i], &err) != 0) fail_msg("%s: %s", good[i], err.message);
    region_is(good[i], NULL, good[i]);
  }
  static const char *const bad[] = {
      "us east 1",
      "US-EAST-1",
      "-us-east-1",
      "us-east-1-",
      "us_east_1",
      "us.east.1",
      "",
      "a123456789012345678901234567890123456789012345678901234567890123",
      "us-east-1\n",
      "\xc3\xa9u-west-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dps_error err = {0};
    if (dps__region_check(bad[i], &err) != DPS_ECONFIG) fail_msg("accepted \"%s\"", bad[i]);
    assert_string_equal(err.field, "region");
    region_fails(bad[i], NULL, "is not a valid region name");
  }
  dps_error err = {0};
  dps__region_check("us east 1", &err);
  assert_string_equal(err.message,
                      "region: \"us east 1\" is not a valid region name (a DNS label: lowercase "
                      "letters, digits and hyphens)");
  dps__region_check("us-east-1\n", &err);
  assert_non_null(strstr(err.message, "\"us-east-1\\x0a\""));

  /* the source is named */
  setenv("AWS_DEFAULT_REGION", "Bad Region", 1);
  region_fails(NULL, NULL, "region: \"Bad Region\" (from AWS_DEFAULT_REGION) is not");
  unsetenv("AWS_DEFAULT_REGION");
  const char *path = put(state, ".aws/config", "[default]\nregion = us_east_1\n");
  char want[300];
  snprintf(want, sizeof want, "(from config file %s, profile default)", path);
  region_fails(NULL, NULL, want);

  char tiny[4];
  assert_int_equal(dps__region_resolve("us-east-1", NULL, tiny, sizeof tiny, &err), DPS_EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * URLs.
 */

static void test_url_good(void **state) {
  static const struct {
    const char *url;
    bool tls;
    const char *host;
    uint16_t port;
    bool port_explicit;
    const char *authority, *path;
  } cases[] = {
      {"https://datapipeline.us-east-1.amazonaws.com", true, "datapipeline.us-east-1.amazonaws.com",
       443, false, "datapipeline.us-east-1.amazonaws.com", "/"},
      {"HTTP://LocalHost:8080/x/y", false, "localhost", 8080, true, "localhost:8080", "/x/y"},
      {"http://127.0.0.1:80/", false, "127.0.0.1", 80, true, "127.0.0.1", "/"},
      {"https://h:443", true, "h", 443, true, "h", "/"},
      {"https://h:80", true, "h", 80, true, "h:80", "/"},
      {"http://h:0080", false, "h", 80, true, "h", "/"},
      {"http://x:65535", false, "x", 65535, true, "x:65535", "/"},
      {"http://x:1", false, "x", 1, true, "x:1", "/"},
      {"https://[::1]:8443", true, "::1", 8443, true, "[::1]:8443", "/"},
      {"https://[2001:DB8::1]/p", true, "2001:db8::1", 443, false, "[2001:db8::1]", "/p"},
      {"http://[::ffff:10.0.0.1]", false, "::ffff:10.0.0.1", 80, false, "[::ffff:10.0.0.1]", "/"},
      {"HtTpS://a_b.local", true, "a_b.local", 443, false, "a_b.local", "/"},
      {"http://h/a%20b/~c-d_e.f!$&'()*+,;=:@", false, "h", 80, false, "h",
       "/a%20b/~c-d_e.f!$&'()*+,;=:@"},
      {"http://10.1.2.3", false, "10.1.2.3", 80, false, "10.1.2.3", "/"},
      {"http://1a.2b", false, "1a.2b", 80, false, "1a.2b", "/"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dps__url u;
    dps_error err = {0};
    if (dps__url_parse(cases[i].url, &u, &err) != 0) fail_msg("%s: %s", cases[i].url, err.message);
    assert_int_equal(u.tls, cases[i].tls);
    assert_string_equal(u.host, cases[i].host);
    assert_int_equal(u.port, cases[i].port);
    assert_int_equal(u.port_explicit, cases[i].port_explicit);
    assert_string_equal(u.authority, cases[i].authority);
    assert_string_equal(u.path, cases[i].path);
  }
}

static void test_url_bad(void **state) {
  static const struct {
    const char *url, *why;
  } cases[] = {
      {"ftp://x", "scheme must be http or https"},
      {"httpx://x", "scheme must be http or https"},
      {"x.example.com", "expected http://HOST or https://HOST"},
      {"://x", "expected http://HOST or https://HOST"},
      {"https//x", "expected http://HOST or https://HOST"},
      {"1http://x", "expected http://HOST or https://HOST"},
      {"", "expected http://HOST or https://HOST"},
      {"http://user@x", "user info (\"user@\") is not allowed"},
      {"http://user:pw@x:80/", "user info (\"user@\") is not allowed"},
      {"http://x?a=b", "a query (\"?\") is not allowed"},
      {"http://x/p?", "a query (\"?\") is not allowed"},
      {"http://x/#f", "a fragment (\"#\") is not allowed"},
      {"http://", "empty host"},
      {"http:///path", "empty host"},
      {"http://:80", "empty host"},
      {"http://[]", "empty host"},
      {"http://x:", "empty port"},
      {"http://x:/p", "empty port"},
      {"http://x:0", "port must be 1 to 65535"},
      {"http://x:65536", "port must be 1 to 65535"},
      {"http://x:99999999999999999999999", "port must be 1 to 65535"},
      {"http://x:8a", "port must be a number"},
      {"http://x:-1", "port must be a number"},
      {"http://x:+1", "port must be a number"},
      {"http://a b", "contains a space"},
      {"http://a\tb", "contains a control character"},
      {"http://ab\x7f", "contains a control character"},
      {"http://\xc3\xa9.com", "contains a non-ASCII character"},
      {"http://::1", "an IPv6 address must be in brackets"},
      {"http://[::1", "IPv6 address without a closing \"]\""},
      {"http://[zz::1]", "invalid IPv6 address"},
      {"http://[1.2.3.4]", "invalid IPv6 address"},
      {"http://[fe80::1%25eth0]", "invalid IPv6 address"},
      {"http://[::1]x", "unexpected text after \"]\""},
      {"http://[::1]:", "empty port"},
      {"http://a..b", "empty label in host name"},
      {"http://.a", "empty label in host name"},
      {"http://a.", "empty label in host name"},
      {"http://-a", "host name label starts with '-'"},
      {"http://a-.b", "host name label ends with '-'"},
      {"http://a-", "host name label ends with '-'"},
      {"http://a!b", "invalid character in host"},
      {"http://a%41", "invalid character in host"},
      {"http://1.2.3", "invalid IPv4 address"},
      {"http://256.1.1.1", "invalid IPv4 address"},
      {"http://1.2.3.4.5", "invalid IPv4 address"},
      {"http://x/a b", "contains a space"},
      {"http://x/%zz", "bad percent escape in path"},
      {"http://x/%4", "bad percent escape in path"},
      {"http://x/a\"b", "character '\"' not allowed in path"},
      {"http://x/<", "character '<' not allowed in path"},
      {"http://x/\\", "character '\\' not allowed in path"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dps__url u;
    dps_error err = {0};
    int rc = dps__url_parse(cases[i].url, &u, &err);
    if (rc != DPS_ECONFIG || !strstr(err.message, cases[i].why))
      fail_msg("\"%s\": rc %d, message \"%s\", wanted \"%s\"", cases[i].url, rc, err.message,
               cases[i].why);
    assert_string_equal(err.field, "endpoint_url");
    assert_int_equal(err.code, DPS_ECONFIG);
    assert_int_equal(strncmp(err.message, "endpoint URL \"", 14), 0);
  }
  dps__url u;
  dps_error err = {0};
  dps__url_parse("ftp://x", &u, &err);
  assert_string_equal(err.message, "endpoint URL \"ftp://x\": scheme must be http or https");
  dps__url_parse("http://a\tb", &u, &err);
  assert_string_equal(err.message, "endpoint URL \"http://a\\x09b\": contains a control character");

  /* a long path: refused, and the message still fits, cut with "..." */
  char long_url[1200] = "http://x/";
  memset(long_url + 9, 'a', 1100);
  long_url[1109] = '\0';
  assert_int_equal(dps__url_parse(long_url, &u, &err), DPS_ECONFIG);
  assert_non_null(strstr(err.message, "...\": path longer than 1023 bytes"));
  long_url[1000] = '\0';
  assert_int_equal(dps__url_parse(long_url, &u, &err), 0);
  assert_int_equal(strlen(u.path), 992); /* "/" and 991 "a"s */
}

/* ---------------------------------------------------------------------------------------------
 * Endpoint.
 */

static void endpoint_is(const char *explicit_url, const char *profile, const char *region,
                        const char *authority, bool tls) {
  dps__url u;
  dps_error err = {0};
  int rc = dps__endpoint_resolve_profile(explicit_url, profile, region, &u, &err);
  if (rc != 0) fail_msg("endpoint resolve failed: %s", err.message);
  assert_string_equal(u.authority, authority);
  assert_int_equal(u.tls, tls);
}

static void test_default_endpoints(void **state) {
  endpoint_is(NULL, NULL, "us-east-1", "datapipeline.us-east-1.amazonaws.com", true);
  endpoint_is(NULL, NULL, "cn-north-1", "datapipeline.cn-north-1.amazonaws.com.cn", true);
  endpoint_is(NULL, NULL, "cn-northwest-1", "datapipeline.cn-northwest-1.amazonaws.com.cn", true);
  endpoint_is(NULL, NULL, "us-gov-west-1", "datapipeline.us-gov-west-1.amazonaws.com", true);
  /* "cn" alone or inside the name does not switch partitions */
  endpoint_is(NULL, NULL, "xcn-1", "datapipeline.xcn-1.amazonaws.com", true);
  dps__url u;
  dps_error err = {0};
  assert_int_equal(dps__endpoint_resolve(NULL, "us-east-1", &u, &err), 0);
  assert_string_equal(u.host, "datapipeline.us-east-1.amazonaws.com");
  assert_int_equal(u.port, 443);
  assert_string_equal(u.path, "/");

  assert_int_equal(dps__endpoint_resolve(NULL, NULL, &u, &err), DPS_ECONFIG);
  assert_string_equal(err.message, "region: needed for the default endpoint, none set");
  assert_int_equal(dps__endpoint_resolve(NULL, "", &u, &err), DPS_ECONFIG);
  assert_int_equal(dps__endpoint_resolve(NULL, "Us-East-1", &u, &err), DPS_ECONFIG);
  assert_string_equal(err.field, "region");
  /* an explicit URL needs no region */
  assert_int_equal(dps__endpoint_resolve("http://localhost:8080", NULL, &u, &err), 0);
}

static void test_endpoint_precedence(void **state) {
  put(state, ".aws/config",
      "[default]\nendpoint_url = http://profile-default:1\n"
      "[profile dev]\nendpoint_url = http://profile-dev:2\nservices = local\n"
      "[services local]\ndata_pipeline =\n  endpoint_url = http://services-dp:3\n"
      "s3 =\n  endpoint_url = http://s3-only:9\n"
      "[profile s3only]\nservices = other\nendpoint_url = http://global:5\n"
      "[services other]\ns3 =\n  endpoint_url = http://s3-only:9\n");
  endpoint_is(NULL, NULL, "us-east-1", "profile-default:1", false);
  endpoint_is(NULL, "dev", "us-east-1", "services-dp:3", false);
  endpoint_is(NULL, "s3only", "us-east-1", "global:5", false);
  setenv("AWS_PROFILE", "dev", 1);
  endpoint_is(NULL, NULL, "us-east-1", "services-dp:3", false);
  endpoint_is(NULL, "default", "us-east-1", "profile-default:1", false);
  setenv("AWS_ENDPOINT_URL", "https://global-env:4", 1);
  endpoint_is(NULL, NULL, "us-east-1", "global-env:4", true);
  setenv("AWS_ENDPOINT_URL_DATA_PIPELINE", "https://service-env", 1);
  endpoint_is(NULL, NULL, "us-east-1", "service-env", true);
  endpoint_is("http://explicit:7", NULL, "us-east-1", "explicit:7", false);
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
  endpoint_is(NULL, NULL, "us-east-1", "datapipeline.us-east-1.amazonaws.com", true);
  endpoint_is("http://explicit:7", NULL, "us-east-1", "explicit:7", false); /* not ignored */
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
  endpoint_is(NULL, NULL, "us-east-1", "service-env", true);
}

static void test_endpoint_profile_ignore_and_errors(void **state) {
  put(state, ".aws/config",
      "[default]\nendpoint_url = http://profile-default:1\nignore_configured_endpoint_urls = true\n"
      "[profile bad]\nendpoint_url = ftp://nope\n"
      "[profile badsvc]\nservices = s\n[services s]\ndata_pipeline =\n  no equals\n");
  endpoint_is(NULL, NULL, "eu-west-1", "datapipeline.eu-west-1.amazonaws.com", true);
  setenv("AWS_ENDPOINT_URL", "http://env:1", 1); /* the profile's setting ignores env URLs too */
  endpoint_is(NULL, NULL, "eu-west-1", "datapipeline.eu-west-1.amazonaws.com", true);
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1); /* the variable wins when set */
  endpoint_is(NULL, NULL, "eu-west-1", "env:1", false);
  unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

  dps__url u;
  dps_error err = {0};
  setenv("AWS_ENDPOINT_URL", "ftp://x", 1);
  setenv("AWS_PROFILE", "bad", 1);
  assert_int_equal(dps__endpoint_resolve(NULL, "us-east-1", &u, &err), DPS_ECONFIG);
  assert_string_equal(err.message,
                      "endpoint URL \"ftp://x\" (from AWS_ENDPOINT_URL): scheme must be http or "
                      "https");
  unsetenv("AWS_ENDPOINT_URL");
  assert_int_equal(dps__endpoint_resolve(NULL, "us-east-1", &u, &err), DPS_ECONFIG);
  assert_non_null(strstr(err.message, "(from config file "));
  assert_non_null(strstr(err.message, ", profile bad): scheme must be http or https"));
  assert_int_equal(dps__endpoint_resolve_profile(NULL, "badsvc", "us-east-1", &u, &err),
                   DPS_ECONFIG);
  assert_non_null(strstr(err.message, "[services s] data_pipeline: sub-section line without"));
  assert_int_equal(dps__endpoint_resolve_profile(NULL, "ghost", "us-east-1", &u, &err),
                   DPS_ECONFIG);
  assert_non_null(strstr(err.message, "profile: \"ghost\" not found in"));
  assert_int_equal(dps__endpoint_resolve_profile("http://[::1", NULL, "us-east-1", &u, &err),
                   DPS_ECONFIG);
  assert_string_equal(err.message,
                      "endpoint URL \"http://[::1\": IPv6 address without a closing \"]\"");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_region_precedence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_region_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_url_good, setup, teardown),
      cmocka_unit_test_setup_teardown(test_url_bad, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_endpoints, setup, teardown),
      cmocka_unit_test_setup_teardown(test_endpoint_precedence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_endpoint_profile_ignore_and_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
