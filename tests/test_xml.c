/* test_xml.c: core/xml.c, the strict XML reader STS answers go through: well-formed documents in
 * the shapes AWS sends (declaration, namespaces, entities, CDATA, comments), every class of
 * malformed document refused with its byte, DOCTYPE refused, depth bounded, and every prefix and
 * many mutations of a real answer handled without reading past the end (ASan checks that). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "core/xml.h"

static const char sts[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAXML</AccessKeyId>\n"
    "      <SecretAccessKey>s3cr3t&amp;more</SecretAccessKey>\n"
    "      <SessionToken><![CDATA[tok<en>]]>&#x41;&#66;</SessionToken>\n"
    "      <Expiration>2026-12-07T07:00:00Z</Expiration>\n"
    "    </Credentials>\n"
    "    <!-- a comment -->\n"
    "    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>"
    "</ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

#define P(...) ((const char *const[]){__VA_ARGS__})

static int text(const char *doc, size_t len, const char *const *path, size_t n, char *out,
                size_t size, char *why) {
  size_t got;
  return dps__xml_text(doc, len, path, n, out, size, &got, why, 200);
}

static void test_reads_an_sts_answer(void **state) {
  (void)state;
  char out[256], why[200];
  const char *const key[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials",
                             "AccessKeyId"};
  assert_int_equal(text(sts, strlen(sts), key, 4, out, sizeof out, why), 0);
  assert_string_equal(out, "ASIAXML");
  const char *const secret[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials",
                                "SecretAccessKey"};
  assert_int_equal(text(sts, strlen(sts), secret, 4, out, sizeof out, why), 0);
  assert_string_equal(out, "s3cr3t&more");
  const char *const token[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials",
                               "SessionToken"};
  assert_int_equal(text(sts, strlen(sts), token, 4, out, sizeof out, why), 0);
  assert_string_equal(out, "tok<en>AB");
  const char *const rid[] = {"AssumeRoleResponse", "ResponseMetadata", "RequestId"};
  assert_int_equal(text(sts, strlen(sts), rid, 3, out, sizeof out, why), 0);
  assert_string_equal(out, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
  /* Absent paths; the path is from the root, by local name. */
  const char *const nope[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials", "Nope"};
  assert_int_equal(text(sts, strlen(sts), nope, 4, out, sizeof out, why), DPS__XML_ABSENT);
  assert_int_equal(text(sts, strlen(sts), P("Credentials"), 1, out, sizeof out, why),
                   DPS__XML_ABSENT);
  /* An element with children has no text of its own. */
  const char *const creds[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials"};
  assert_int_equal(text(sts, strlen(sts), creds, 3, out, sizeof out, why), -1);
  assert_non_null(strstr(why, "has child elements"));
  /* Too long for the buffer: said so, and the whole length given. */
  size_t got = 0;
  assert_int_equal(dps__xml_text(sts, strlen(sts), key, 4, out, 4, &got, why, sizeof why),
                   DPS__XML_TOO_LONG);
  assert_int_equal(got, 7);
  assert_string_equal(out, "");
}

static void test_namespaces_and_shapes(void **state) {
  (void)state;
  char out[64], why[200];
  static const struct {
    const char *doc, *want;
  } ok[] = {
      {"<a><b>x</b></a>", "x"},
      {"<s:a xmlns:s='u'><s:b>x</s:b></s:a>", "x"},
      {"\xEF\xBB\xBF<a><b>x</b></a>", "x"},
      {"<!-- c --><?pi data?><a><b> x </b></a> <!-- after -->\n", " x "},
      {"<a><b a1=\"1\" a2='&lt;2'>x<!--c-->y<?p?>z</b></a>", "xyz"},
      {"<a><b/></a>", ""},
      {"<a><b></b ></a>", ""},
      {"<a><b>caf\xC3\xA9 &#x20AC; &#128512;</b></a>", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"<a><b>first</b><b>second</b></a>", "first"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int rc = text(ok[i].doc, strlen(ok[i].doc), P("a", "b"), 2, out, sizeof out, why);
    if (rc != 0) fail_msg("%s: %d %s", ok[i].doc, rc, why);
    assert_string_equal(out, ok[i].want);
  }
}

static void test_malformed(void **state) {
  (void)state;
  static const struct {
    const char *doc, *needle;
  } bad[] = {
      {"", "expected the root element"},
      {"   ", "expected the root element"},
      {"text", "expected the root element"},
      {"<a><b>x</c></a>", "mismatched end tag </c>; expected </b>"},
      {"<a><b>x</b>", "the document ends inside <a>"},
      {"<a></a><a></a>", "content after the root element"},
      {"<a></a>junk", "content after the root element"},
      {"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "DOCTYPE"},
      {"<a><!DOCTYPE x></a>", "a declaration inside an element"},
      {"<a>&x;</a>", "an entity other than"},
      {"<a>&amp</a>", "an entity other than"},
      {"<a>&#0;</a>", "U+0000, which is not an XML character"},
      {"<a>&#xD800;</a>", "U+D800"},
      {"<a>&#x110000;</a>", "not an XML character"},
      {"<a>&#xZZ;</a>", "a malformed character reference"},
      {"<a>&#;</a>", "not an XML character"},
      {"<a>]]></a>", "\"]]>\" in character data"},
      {"<a x='1' x='2'></a>", "attribute x given twice"},
      {"<a x=1></a>", "must be quoted"},
      {"<a x='<'></a>", "'<' in an attribute value"},
      {"<a x='1'y='2'></a>", "expected a blank before an attribute"},
      {"<a><!-- a -- b --></a>", "\"--\" inside a comment"},
      {"<a><!-- open</a>", "an unterminated comment"},
      {"<a><![CDATA[open</a>", "an unterminated CDATA section"},
      {"<a><?xml version='1.0'?></a>", "an XML declaration that is not at the start"},
      {"<a>\x01</a>", "a character XML does not allow"},
      {"<a>\xC3</a>", "every character must be an XML character in UTF-8"},
      {"<a>\xED\xA0\x80</a>", "every character must be"},
      {"<1a></1a>", "expected a name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char out[64], why[200] = "";
    int rc = text(bad[i].doc, strlen(bad[i].doc), P("a", "b"), 2, out, sizeof out, why);
    if (rc != -1) fail_msg("accepted %s (%d)", bad[i].doc, rc);
    if (!strstr(why, bad[i].needle))
      fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].doc, why, bad[i].needle);
    assert_non_null(strstr(why, " at byte "));
  }
  /* Depth: 32 levels are fine, 33 are not. */
  char deep[512] = "";
  for (int i = 0; i < 32; i++) strcat(deep, "<d>");
  for (int i = 0; i < 32; i++) strcat(deep, "</d>");
  char out[8], why[200];
  assert_int_equal(text(deep, strlen(deep), P("d"), 1, out, sizeof out, why), -1); /* children */
  assert_int_equal(text(deep, strlen(deep), P("x"), 1, out, sizeof out, why), DPS__XML_ABSENT);
  char deeper[600] = "";
  for (int i = 0; i < 33; i++) strcat(deeper, "<d>");
  for (int i = 0; i < 33; i++) strcat(deeper, "</d>");
  assert_int_equal(text(deeper, strlen(deeper), P("x"), 1, out, sizeof out, why), -1);
  assert_non_null(strstr(why, "nested deeper than 32"));
}

/* Every prefix of a real answer is malformed (the root is not closed) and read within its length;
 * every one-byte change is either refused or read without harm. */
static void test_prefixes_and_mutations(void **state) {
  (void)state;
  size_t n = strlen(sts);
  const char *const key[] = {"AssumeRoleResponse", "AssumeRoleResult", "Credentials",
                             "AccessKeyId"};
  for (size_t cut = 0; cut < n; cut++) {
    /* A copy of exactly cut bytes, so ASan sees any read past it. */
    char *b = malloc(cut ? cut : 1);
    memcpy(b, sts, cut);
    char out[64], why[200];
    int rc = text(b, cut, key, 4, out, sizeof out, why);
    /* Cutting only trailing blanks after the root leaves it well formed. */
    bool tail = cut >= n - 1 && strncmp(sts + cut, "\n", 1) == 0;
    if (!tail && rc != -1) fail_msg("a prefix of %zu bytes was read as well formed (%d)", cut, rc);
    free(b);
  }
  static const char subst[] = "<>&;'\"/!?[]-= \x01\x80\xFF" "a";
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (int round = 0; round < 20000; round++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    char *b = malloc(n);
    memcpy(b, sts, n);
    b[x % n] = subst[(x >> 32) % (sizeof subst - 1)];
    char out[64], why[200];
    int rc = text(b, n, key, 4, out, sizeof out, why);
    assert_true(rc == -1 || rc == 0 || rc == DPS__XML_ABSENT || rc == DPS__XML_TOO_LONG);
    if (rc == 0) assert_true(strlen(out) < sizeof out);
    free(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_an_sts_answer),
      cmocka_unit_test(test_namespaces_and_shapes),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_prefixes_and_mutations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
