/* test_ini.c: the shared config/credentials file parser, against botocore's reading. */
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

#include "core/ini.h"
#include "dpstatus.h"

static dps__ini *parse_ok(const char *text) {
  dps__ini *ini = NULL;
  dps_error err = {0};
  int rc = dps__ini_parse(text, strlen(text), "test", &ini, &err);
  if (rc != 0) fail_msg("parse failed: %s", err.message);
  assert_non_null(ini);
  return ini;
}

static void test_basic_forms(void **state) {
  dps__ini *ini = parse_ok(
      "# leading comment\n"
      "; another\n"
      "[default]\n"
      "a = 1\n"
      "b=2\n"
      "c: 3\n"
      "d   =   four words  \n"
      "\t# indented comment\n"
      "e = x=y:z\n"
      "f =\n"
      "[ spaced name ]\n"
      "  g = 7\n" /* indented, but no key above it to continue */
      "[tail] ; ignored after the bracket, as configparser does\n"
      "h = 8\n");
  assert_string_equal(dps__ini_get(ini, "default", "a"), "1");
  assert_string_equal(dps__ini_get(ini, "default", "b"), "2");
  assert_string_equal(dps__ini_get(ini, "default", "c"), "3");
  assert_string_equal(dps__ini_get(ini, "default", "d"), "four words");
  assert_string_equal(dps__ini_get(ini, "default", "e"), "x=y:z");
  assert_string_equal(dps__ini_get(ini, "default", "f"), "");
  assert_null(dps__ini_get(ini, "default", "g"));
  assert_string_equal(dps__ini_get(ini, "spaced name", "g"), "7");
  assert_null(dps__ini_get(ini, " spaced name ", "g"));
  assert_string_equal(dps__ini_get(ini, "tail", "h"), "8");
  assert_null(dps__ini_get(ini, "missing", "a"));
  assert_int_equal(dps__ini_section_count(ini), 3);
  assert_string_equal(dps__ini_section_name(ini, 0), "default");
  assert_string_equal(dps__ini_section_name(ini, 2), "tail");
  assert_null(dps__ini_section_name(ini, 3));
  assert_int_equal(dps__ini_find(ini, "tail"), 2);
  assert_int_equal(dps__ini_find(ini, "nope"), -1);
  assert_string_equal(dps__ini_name(ini), "test");
  dps__ini_free(ini);
}

/* configparser (botocore) has no inline comments: they stay part of the value. */
static void test_no_inline_comments(void **state) {
  dps__ini *ini = parse_ok("[s]\nk = v # not a comment\nj = v;c\nl = v ; c\n");
  assert_string_equal(dps__ini_get(ini, "s", "k"), "v # not a comment");
  assert_string_equal(dps__ini_get(ini, "s", "j"), "v;c");
  assert_string_equal(dps__ini_get(ini, "s", "l"), "v ; c");
  dps__ini_free(ini);
}

static void test_case(void **state) {
  dps__ini *ini = parse_ok("[Dev]\nAWS_Access_Key_ID = A\n");
  /* keys fold to lowercase (optionxform), section names do not */
  assert_string_equal(dps__ini_get(ini, "Dev", "aws_access_key_id"), "A");
  assert_string_equal(dps__ini_get(ini, "Dev", "AWS_ACCESS_KEY_ID"), "A");
  assert_null(dps__ini_get(ini, "dev", "aws_access_key_id"));
  dps__ini_free(ini);
}

static void test_line_ends(void **state) {
  dps__ini *ini = parse_ok("[a]\r\nk = v\r\n\r\nj = w\rl = x");
  assert_string_equal(dps__ini_get(ini, "a", "k"), "v");
  assert_string_equal(dps__ini_get(ini, "a", "j"), "w");
  assert_string_equal(dps__ini_get(ini, "a", "l"), "x");
  dps__ini_free(ini);
  ini = parse_ok("[a]\nk = last");
  assert_string_equal(dps__ini_get(ini, "a", "k"), "last");
  dps__ini_free(ini);
  ini = parse_ok("");
  assert_int_equal(dps__ini_section_count(ini), 0);
  dps__ini_free(ini);
}

static void test_continuations_and_subsections(void **state) {
  dps__ini *ini = parse_ok(
      "[profile dev]\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n"
      "\n"
      "  # comment inside\n"
      "  addressing_style = path\n"
      "region = us-west-2\n"
      "multi = a\n"
      "  b\n"
      "\n"
      "\n"
      "[services local]\n"
      "data_pipeline =\n"
      "  endpoint_url = http://localhost:4566\n"
      "  endpoint_url = http://localhost:9999\n"
      "bad =\n"
      "  no equals sign here\n"
      "flat = not nested\n");
  assert_string_equal(dps__ini_get(ini, "profile dev", "region"), "us-west-2");
  assert_string_equal(dps__ini_get(ini, "profile dev", "s3"),
                      "\nmax_concurrent_requests = 10\n\naddressing_style = path");
  assert_string_equal(dps__ini_get(ini, "profile dev", "multi"), "a\nb");
  char v[64];
  dps_error err = {0};
  assert_int_equal(
      dps__ini_get_nested(ini, "profile dev", "s3", "addressing_style", v, sizeof v, &err), 1);
  assert_string_equal(v, "path");
  assert_int_equal(dps__ini_get_nested(ini, "profile dev", "s3", "nothere", v, sizeof v, &err), 0);
  assert_int_equal(dps__ini_get_nested(ini, "profile dev", "nokey", "x", v, sizeof v, &err), 0);
  assert_int_equal(dps__ini_get_nested(ini, "services local", "data_pipeline", "endpoint_url", v,
                                       sizeof v, &err),
                   1);
  assert_string_equal(v, "http://localhost:9999"); /* later line wins */
  assert_int_equal(dps__ini_get_nested(ini, "services local", "flat", "x", v, sizeof v, &err), 0);
  assert_int_equal(dps__ini_get_nested(ini, "services local", "bad", "x", v, sizeof v, &err),
                   DPS_ECONFIG);
  assert_non_null(strstr(err.message, "test [services local] bad"));
  char small[8];
  assert_int_equal(dps__ini_get_nested(ini, "services local", "data_pipeline", "endpoint_url",
                                       small, sizeof small, &err),
                   DPS_ECONFIG);
  dps__ini_free(ini);
}

static void test_duplicates_and_default(void **state) {
  dps__ini *ini = parse_ok(
      "[DEFAULT]\nregion = eu-west-1\nk = base\n"
      "[a]\nk = 1\nj = 1\n[b]\nx = y\n[a]\nk = 2\n");
  assert_int_equal(dps__ini_section_count(ini), 2); /* [a] merged, [DEFAULT] not listed */
  assert_string_equal(dps__ini_get(ini, "a", "k"), "2");
  assert_string_equal(dps__ini_get(ini, "a", "j"), "1");
  assert_string_equal(dps__ini_get(ini, "a", "region"), "eu-west-1");
  assert_string_equal(dps__ini_get(ini, "b", "k"), "base");
  assert_null(dps__ini_get(ini, "DEFAULT", "k"));
  assert_null(dps__ini_get(ini, "b", "zzz"));
  dps__ini_free(ini);
}

static void test_malformed_lines(void **state) {
  static const struct {
    const char *text;
    const char *message;
  } cases[] = {
      {"k = v\n", "test line 1: expected a [section] header first"},
      {"# c\n\n[a]\nk = v\nno delimiter\n", "test line 5: expected \"key = value\""},
      {"[a]\n= v\n", "test line 2: no key before \"=\""},
      {"[a]\n  : v\n", "test line 2: no key before \":\""},
      {"[a\nk = v\n", "test line 1: section header without a closing \"]\""},
      {"[a]\n[ ]\n", "test line 2: empty section name"},
      {"[]\n", "test line 1: empty section name"},
      {"[a]\r\nk = v\r\nsecretvalue\r\n", "test line 3: expected \"key = value\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dps__ini *ini = (dps__ini *)1;
    dps_error err = {0};
    int rc = dps__ini_parse(cases[i].text, strlen(cases[i].text), "test", &ini, &err);
    if (rc != DPS_ECONFIG || strcmp(err.message, cases[i].message) != 0)
      fail_msg("case %zu: rc %d, message \"%s\"", i, rc, err.message);
    assert_null(ini);
    assert_int_equal(err.code, DPS_ECONFIG);
    assert_null(strstr(err.message, "secretvalue")); /* the line's text is never echoed */
  }
  dps__ini *ini = NULL;
  dps_error err = {0};
  assert_int_equal(dps__ini_parse("[a]\nk = v\0w\n", 12, "test", &ini, &err), DPS_ECONFIG);
  assert_string_equal(err.message, "test line 2: contains a NUL byte");
}

static void test_load_files(void **state) {
  char dir[] = "/tmp/dps-ini-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/config", dir);

  dps__ini *ini = (dps__ini *)1;
  dps_error err = {0};
  assert_int_equal(dps__ini_load(path, "config file", &ini, &err), 0); /* missing: not an error */
  assert_null(ini);
  char nested[300];
  snprintf(nested, sizeof nested, "%s/nofile/config", path);
  assert_int_equal(dps__ini_load(nested, "config file", &ini, &err), 0);
  assert_null(ini);

  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("[default]\nregion = us-east-1\n\nbroken line\n", f);
  fclose(f);
  assert_int_equal(dps__ini_load(path, "config file", &ini, &err), DPS_ECONFIG);
  char want[400];
  snprintf(want, sizeof want, "config file %s line 4: expected \"key = value\"", path);
  assert_string_equal(err.message, want);

  f = fopen(path, "w");
  assert_non_null(f);
  fputs("[default]\nregion = us-east-1", f);
  fclose(f);
  assert_int_equal(dps__ini_load(path, "config file", &ini, &err), 0);
  assert_non_null(ini);
  assert_string_equal(dps__ini_get(ini, "default", "region"), "us-east-1");
  snprintf(want, sizeof want, "config file %s", path);
  assert_string_equal(dps__ini_name(ini), want);
  dps__ini_free(ini);

  /* A directory where the file should be: unreadable, not missing. */
  char sub[300];
  snprintf(sub, sizeof sub, "%s/adir", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(dps__ini_load(sub, "credentials file", &ini, &err), DPS_EIO);
  assert_non_null(strstr(err.message, "credentials file"));
  assert_non_null(strstr(err.message, "cannot read"));

  /* Permissions only bite when we are not root. */
  if (geteuid() != 0) {
    chmod(path, 0);
    assert_int_equal(dps__ini_load(path, "config file", &ini, &err), DPS_EIO);
    assert_non_null(strstr(err.message, "cannot open"));
  }
  /* /dev/null is the usual way to say "no config file" (botocore reads it as missing). */
  assert_int_equal(dps__ini_load("/dev/null", "config file", &ini, &err), 0);
  assert_non_null(ini);
  assert_int_equal(dps__ini_section_count(ini), 0);
  dps__ini_free(ini);
  /* An endless device is refused at the size cap instead of hanging. */
  assert_int_equal(dps__ini_load("/dev/zero", "config file", &ini, &err), DPS_EIO);
  assert_non_null(strstr(err.message, "larger than"));

  unlink(path);
  rmdir(sub);
  rmdir(dir);
  dps__ini_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic_forms),
      cmocka_unit_test(test_no_inline_comments),
      cmocka_unit_test(test_case),
      cmocka_unit_test(test_line_ends),
      cmocka_unit_test(test_continuations_and_subsections),
      cmocka_unit_test(test_duplicates_and_default),
      cmocka_unit_test(test_malformed_lines),
      cmocka_unit_test(test_load_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
