/*
 * test_sigv4.c: tests of core/sigv4 against the official AWS SigV4 suite in tests/data/sigv4
 * (the aws-c-auth v4 cases, vendored with their LICENSE and NOTICE), plus the key cache, session
 * tokens, verification with a received signed-header list, Authorization parsing and a Data
 * Pipeline request cross-checked with Python.
 *
 * Suite coverage: every case folder is run with its header-signing variant (canonical request,
 * string to sign, signature and Authorization value, byte for byte), then verified the way the
 * emulator will (parse the Authorization from header-signed-request.txt, re-sign that request
 * with its SignedHeaders and a signer that has no token). Skipped cases: none. The query-signing
 * variants (query-*.txt, presigned URLs) are out of scope: dps__sigv4 signs headers only.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* cmocka.h needs these before it. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "core/sigv4.h"

#define MAX_HEADERS 64

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  dps__buf b = DPS__BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) dps__buf_append(&b, chunk, n);
  fclose(f);
  if (!b.data) dps__buf_append(&b, "", 0);
  if (len) *len = b.len;
  return b.data;
}

static char *case_file(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *s = read_file(path, len);
  if (!s) fail_msg("cannot read %s", path);
  return s;
}

/* An HTTP/1.1 request from the suite: headers point into text. */
typedef struct parsed_request {
  char *text;
  char method[16];
  const char *path, *query;
  size_t path_len, query_len;
  dps__header headers[MAX_HEADERS];
  size_t n_headers;
  const char *body;
  size_t body_len;
} parsed_request;

/* The request line's target may hold spaces ("GET /example space/ HTTP/1.1"): it is whatever
 * lies between the first and the last space. Continuation lines (leading SP/HT) extend the
 * previous header's value, line breaks included, as obsolete folding arrives on the wire. */
static void parse_request(char *text, size_t len, parsed_request *pr) {
  memset(pr, 0, sizeof *pr);
  pr->text = text;
  const char *end = text + len;
  const char *eol = memchr(text, '\n', len);
  assert_non_null(eol);
  size_t line_len = (size_t)(eol - text);
  if (line_len > 0 && text[line_len - 1] == '\r') line_len--;
  const char *line_end = text + line_len;
  const char *sp1 = memchr(text, ' ', line_len);
  const char *sp2 = line_end;
  while (sp2 > text && sp2[-1] != ' ') sp2--;
  assert_non_null(sp1);
  assert_true(sp2 - 1 > sp1);
  assert_true((size_t)(sp1 - text) < sizeof pr->method);
  memcpy(pr->method, text, (size_t)(sp1 - text));
  const char *target = sp1 + 1, *target_end = sp2 - 1;
  const char *qm = memchr(target, '?', (size_t)(target_end - target));
  pr->path = target;
  pr->path_len = (size_t)((qm ? qm : target_end) - target);
  if (qm) {
    pr->query = qm + 1;
    pr->query_len = (size_t)(target_end - qm - 1);
  }
  const char *p = eol + 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *le = e > p && e[-1] == '\r' ? e - 1 : e;
    if (le == p) { /* blank line: the body follows */
      pr->body = nl ? nl + 1 : end;
      pr->body_len = (size_t)(end - pr->body);
      return;
    }
    if (*p == ' ' || *p == '\t') {
      assert_true(pr->n_headers > 0);
      dps__header *h = &pr->headers[pr->n_headers - 1];
      h->value_len = (size_t)(le - h->value);
    } else {
      const char *colon = memchr(p, ':', (size_t)(le - p));
      assert_non_null(colon);
      assert_true(pr->n_headers < MAX_HEADERS);
      pr->headers[pr->n_headers++] =
          (dps__header){p, (size_t)(colon - p), colon + 1, (size_t)(le - colon - 1)};
    }
    p = nl ? nl + 1 : end;
  }
  pr->body = end;
}

static const dps__header *find_header(const parsed_request *pr, const char *name) {
  for (size_t i = 0; i < pr->n_headers; i++)
    if (pr->headers[i].name_len == strlen(name) &&
        strncasecmp(pr->headers[i].name, name, pr->headers[i].name_len) == 0)
      return &pr->headers[i];
  return NULL;
}

static void assert_header_value(const parsed_request *pr, const char *name, const char *want) {
  const dps__header *h = find_header(pr, name);
  if (!h) fail_msg("header %s missing from the signed request", name);
  assert_int_equal(h->value_len, strlen(want));
  assert_memory_equal(h->value, want, h->value_len);
}

static void assert_text(const char *what, const char *got, size_t got_len, const char *want,
                        size_t want_len) {
  if (got_len != want_len || memcmp(got, want, got_len) != 0)
    fail_msg("%s differs\n--- got:\n%.*s\n--- want:\n%.*s", what, (int)got_len, got, (int)want_len,
             want);
}

typedef struct suite_context {
  char access_key_id[64], secret[128], token[1024], region[64], service[64];
  bool has_token;
  char amz_date[17];
  unsigned flags;
} suite_context;

static void copy_json_string(json_t *obj, const char *key, char *dst, size_t size) {
  const char *v = json_string_value(json_object_get(obj, key));
  if (!v) fail_msg("context.json: %s missing", key);
  assert_true(strlen(v) < size);
  strcpy(dst, v);
}

static void load_context(const char *dir, suite_context *c) {
  char path[4096];
  snprintf(path, sizeof path, "%s/context.json", dir);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) fail_msg("%s: %s", path, jerr.text);
  memset(c, 0, sizeof *c);
  json_t *creds = json_object_get(root, "credentials");
  copy_json_string(creds, "access_key_id", c->access_key_id, sizeof c->access_key_id);
  copy_json_string(creds, "secret_access_key", c->secret, sizeof c->secret);
  if (json_object_get(creds, "token")) {
    copy_json_string(creds, "token", c->token, sizeof c->token);
    c->has_token = true;
  }
  copy_json_string(root, "region", c->region, sizeof c->region);
  copy_json_string(root, "service", c->service, sizeof c->service);
  char ts[32];
  copy_json_string(root, "timestamp", ts, sizeof ts); /* 2015-08-30T12:36:00Z */
  assert_int_equal(strlen(ts), 20);
  snprintf(c->amz_date, sizeof c->amz_date, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5, ts + 8,
           ts + 11, ts + 14, ts + 17);
  if (json_is_true(json_object_get(root, "normalize"))) c->flags |= DPS__SIGV4_NORMALIZE_PATH;
  if (json_is_true(json_object_get(root, "sign_body"))) c->flags |= DPS__SIGV4_SIGN_BODY;
  if (json_is_true(json_object_get(root, "omit_session_token"))) c->flags |= DPS__SIGV4_OMIT_TOKEN;
  json_decref(root);
}

static dps__sigv4_request make_request(const parsed_request *pr, const char *amz_date,
                                       unsigned flags) {
  return (dps__sigv4_request){.method = pr->method,
                              .path = pr->path,
                              .path_len = pr->path_len,
                              .query = pr->query,
                              .query_len = pr->query_len,
                              .headers = pr->headers,
                              .n_headers = pr->n_headers,
                              .payload = pr->body,
                              .payload_len = pr->body_len,
                              .amz_date = amz_date,
                              .flags = flags};
}

/* Signs like a client, then verifies like the emulator. */
static void run_case(const char *dir) {
  suite_context c;
  load_context(dir, &c);
  size_t len;
  parsed_request pr;
  char *text = case_file(dir, "request.txt", &len);
  parse_request(text, len, &pr);

  dps__sigv4_signer s;
  assert_int_equal(dps__sigv4_signer_init(&s, c.region, c.service, c.access_key_id, c.secret,
                                          c.has_token ? c.token : NULL),
                   DPS_OK);
  dps__sigv4_request r = make_request(&pr, c.amz_date, c.flags);

  dps__buf got = DPS__BUF_INIT;
  size_t want_len;
  char *want = case_file(dir, "header-canonical-request.txt", &want_len);
  assert_int_equal(dps__sigv4_canonical_request(&s, &r, &got), DPS_OK);
  assert_text("canonical request", got.data, got.len, want, want_len);
  free(want);

  dps__buf_reset(&got);
  want = case_file(dir, "header-string-to-sign.txt", &want_len);
  assert_int_equal(dps__sigv4_string_to_sign(&s, &r, &got), DPS_OK);
  assert_text("string to sign", got.data, got.len, want, want_len);
  free(want);
  dps__buf_free(&got);

  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  want = case_file(dir, "header-signature.txt", &want_len);
  assert_text("signature", res.signature, strlen(res.signature), want, want_len);
  free(want);

  /* The signed request shows every header the signer had to add, and the Authorization. */
  parsed_request sr;
  text = case_file(dir, "header-signed-request.txt", &len);
  parse_request(text, len, &sr);
  const dps__header *auth = find_header(&sr, "authorization");
  assert_non_null(auth);
  assert_text("Authorization", res.authorization, res.authorization_len, auth->value,
              auth->value_len);
  assert_header_value(&sr, "x-amz-date", res.amz_date);
  if (c.has_token)
    assert_header_value(&sr, "x-amz-security-token", res.security_token);
  else
    assert_null(res.security_token);
  if (c.flags & DPS__SIGV4_SIGN_BODY)
    assert_header_value(&sr, "x-amz-content-sha256", res.content_sha256);
  else
    assert_string_equal(res.content_sha256, "");
  dps__sigv4_signer_clear(&s);

  /* Verification: everything from the received request, nothing from the context but keys. */
  dps__sigv4_auth a;
  dps_error err;
  assert_int_equal(dps__sigv4_parse_authorization(auth->value, auth->value_len, &a, &err), DPS_OK);
  assert_string_equal(a.access_key_id, c.access_key_id);
  assert_string_equal(a.region, c.region);
  assert_string_equal(a.service, c.service);
  const dps__header *date = find_header(&sr, "x-amz-date");
  char amz_date[17];
  assert_int_equal(date->value_len, 16);
  memcpy(amz_date, date->value, 16);
  amz_date[16] = '\0';
  assert_memory_equal(amz_date, a.date, 8);
  assert_int_equal(dps__sigv4_signer_init(&s, a.region, a.service, a.access_key_id, c.secret, NULL),
                   DPS_OK);
  dps__sigv4_request v = make_request(&sr, amz_date, c.flags & DPS__SIGV4_NORMALIZE_PATH);
  v.signed_headers = a.signed_headers;
  dps__sigv4_result vres;
  assert_int_equal(dps__sigv4_sign(&s, &v, &vres), DPS_OK);
  assert_true(dps__sigv4_signature_equal(vres.signature, a.signature));
  /* Nothing was added: the received request carried it all. */
  assert_string_equal(vres.amz_date, "");
  dps__sigv4_signer_clear(&s);

  free(pr.text);
  free(sr.text);
}

static void test_official_suite(void **state) {
  const char *data = getenv("DPS_TEST_DATA");
  if (!data) fail_msg("DPS_TEST_DATA is not set (ctest sets it to tests/data)");
  char root[1024];
  snprintf(root, sizeof root, "%s/sigv4", data);
  DIR *d = opendir(root);
  if (!d) fail_msg("cannot open %s", root);
  size_t folders = 0, run = 0, skipped = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char dir[2048];
    int n = snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
    assert_true(n > 0 && (size_t)n < sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    folders++;
    printf("  %s\n", e->d_name); /* so a failure below names its case */
    fflush(stdout);
    run_case(dir);
    run++;
  }
  closedir(d);
  printf("sigv4 suite: %zu folders, %zu run, %zu skipped\n", folders, run, skipped);
  assert_int_equal(run + skipped, folders);
  assert_true(folders >= 38); /* the vendored suite: 38 case folders beside LICENSE and NOTICE */
  assert_int_equal(skipped, 0);
}

/* ---- targeted tests ------------------------------------------------------------------------ */

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define HDR(n, v) \
  { n, sizeof n - 1, v, sizeof v - 1 }

static const dps__header host_only[] = {HDR("Host", "example.amazonaws.com")};

static dps__sigv4_request vanilla(const char *method, const char *amz_date) {
  return (dps__sigv4_request){.method = method,
                              .path = "/",
                              .path_len = 1,
                              .headers = host_only,
                              .n_headers = 1,
                              .amz_date = amz_date,
                              .flags = DPS__SIGV4_NORMALIZE_PATH};
}

static void test_key_cache(void **state) {
  dps__sigv4_signer s, fresh;
  dps__sigv4_result a, b;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  assert_int_equal(s.key_derivations, 0);
  dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
  assert_int_equal(dps__sigv4_sign(&s, &r, &a), DPS_OK);
  assert_string_equal(a.signature,
                      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  assert_int_equal(s.key_derivations, 1);
  /* Same day, later: the cached key serves. */
  r.amz_date = "20150830T235959Z";
  assert_int_equal(dps__sigv4_sign(&s, &r, &a), DPS_OK);
  r.method = "POST";
  r.amz_date = "20150830T123600Z";
  assert_int_equal(dps__sigv4_sign(&s, &r, &a), DPS_OK);
  assert_string_equal(a.signature,
                      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  assert_int_equal(s.key_derivations, 1);
  /* A new day re-derives, and the result is what a fresh signer computes. */
  r.amz_date = "20150831T000000Z";
  assert_int_equal(dps__sigv4_sign(&s, &r, &a), DPS_OK);
  assert_int_equal(s.key_derivations, 2);
  assert_int_equal(dps__sigv4_signer_init(&fresh, "us-east-1", "service", AKID, SECRET, NULL),
                   DPS_OK);
  assert_int_equal(dps__sigv4_sign(&fresh, &r, &b), DPS_OK);
  assert_string_equal(a.signature, b.signature);
  assert_string_not_equal(a.signature,
                          "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  /* And back to the first day. */
  r.amz_date = "20150830T123600Z";
  assert_int_equal(dps__sigv4_sign(&s, &r, &a), DPS_OK);
  assert_int_equal(s.key_derivations, 3);
  assert_string_equal(a.signature,
                      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  dps__sigv4_signer_clear(&s);
  dps__sigv4_signer_clear(&fresh);
  dps__sigv4_signer_clear(&s); /* idempotent */
}

/* The shape cache: the same request again with another body and date reuses the canonical
 * request's text; every result must equal a fresh signer's (which canonicalizes), through body
 * changes, a new day, another shape and back, a session token, and the cases it must not take. */
static void check_against_fresh(dps__sigv4_signer *s, const dps__sigv4_request *r,
                                const char *token) {
  dps__sigv4_signer fresh;
  dps__sigv4_result a, b;
  assert_int_equal(dps__sigv4_sign(s, r, &a), DPS_OK);
  assert_int_equal(dps__sigv4_signer_init(&fresh, "us-east-1", "datapipeline", AKID, SECRET, token),
                   DPS_OK);
  assert_int_equal(dps__sigv4_sign(&fresh, r, &b), DPS_OK);
  assert_int_equal(fresh.shape_reuses, 0);
  assert_string_equal(a.authorization, b.authorization);
  assert_string_equal(a.amz_date, b.amz_date);
  assert_string_equal(a.content_sha256, b.content_sha256);
  assert_true(a.security_token == s->session_token &&
              (b.security_token != NULL) == (a.security_token != NULL));
  dps__sigv4_signer_clear(&fresh);
}

static void test_shape_reuse(void **state) {
  static const dps__header a_hdrs[] = {HDR("Content-Type", "application/x-amz-json-1.1"),
                                       HDR("Host", "datapipeline.us-east-1.amazonaws.com"),
                                       HDR("X-Amz-Target", "DataPipeline.SetTaskStatus")};
  static const dps__header b_hdrs[] = {HDR("Content-Type", "application/x-amz-json-1.1"),
                                       HDR("Host", "datapipeline.us-east-1.amazonaws.com"),
                                       HDR("X-Amz-Target", "DataPipeline.ReportTaskProgress")};
  static const char *const dates[] = {"20261124T120000Z", "20261124T120001Z", "20261124T235959Z",
                                      "20261125T000000Z"};
  for (int tok = 0; tok < 2; tok++) {
    const char *token = tok ? "FQoGZXIvYXdzEXAMPLETOKEN" : NULL;
    dps__sigv4_signer s;
    assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "datapipeline", AKID, SECRET, token),
                     DPS_OK);
    dps__sigv4_request r = {.method = "POST",
                            .path = "/",
                            .path_len = 1,
                            .headers = a_hdrs,
                            .n_headers = 3,
                            .flags = DPS__SIGV4_NORMALIZE_PATH};
    char body[64];
    unsigned long expect = 0;
    for (int i = 0; i < 8; i++) { /* bodies of several lengths, across a day boundary */
      int n = snprintf(body, sizeof body, "{\"taskId\":\"t-%d%s\"}", i, i % 2 ? "xxxxxxxxxx" : "");
      r.payload = body;
      r.payload_len = (size_t)n;
      r.amz_date = dates[i % 4];
      check_against_fresh(&s, &r, token);
      assert_int_equal(s.shape_reuses, expect);
      expect++;
    }
    r.headers = b_hdrs; /* another shape: the long way, then reused */
    check_against_fresh(&s, &r, token);
    check_against_fresh(&s, &r, token);
    r.headers = a_hdrs; /* and back */
    check_against_fresh(&s, &r, token);
    assert_int_equal(s.shape_reuses, expect); /* 7 in the loop, the second B */
    /* A given payload hash or a signed body is not reused: the hash is not at the end alone. */
    unsigned long before = s.shape_reuses;
    r.payload_hash = "UNSIGNED-PAYLOAD";
    check_against_fresh(&s, &r, token);
    r.payload_hash = NULL;
    r.flags |= DPS__SIGV4_SIGN_BODY;
    check_against_fresh(&s, &r, token);
    check_against_fresh(&s, &r, token);
    assert_int_equal(s.shape_reuses, before);
    /* Nor a date the caller sends itself: it is a header value then, part of the shape. */
    static const dps__header dated[] = {HDR("Host", "example.amazonaws.com"),
                                        HDR("X-Amz-Date", "20261124T120000Z")};
    r.flags = DPS__SIGV4_NORMALIZE_PATH;
    r.headers = dated;
    r.n_headers = 2;
    r.amz_date = "20261124T120000Z";
    check_against_fresh(&s, &r, token);
    check_against_fresh(&s, &r, token);
    assert_int_equal(s.shape_reuses, before);
    dps__sigv4_signer_clear(&s);
  }
}

static void test_session_token(void **state) {
  static const char token[] = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  dps__sigv4_signer s;
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, token), DPS_OK);
  dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.security_token, token);
  assert_string_equal(res.signature,
                      "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
  assert_non_null(strstr(res.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
  /* Sent but not signed. */
  r.flags |= DPS__SIGV4_OMIT_TOKEN;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.security_token, token);
  assert_non_null(strstr(res.authorization, "SignedHeaders=host;x-amz-date,"));
  /* The token unsigned, what is signed is get-vanilla. */
  assert_string_equal(res.signature,
                      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  dps__sigv4_signer_clear(&s);

  /* An empty token is no token; a token with a line break could inject headers. */
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, ""), DPS_OK);
  assert_null(s.session_token);
  dps__sigv4_signer_clear(&s);
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, "a\r\nX: y"),
                   DPS_EINVAL);
}

/* post-header-key-sort's request signed over host and x-amz-date only is post-vanilla. */
static void test_explicit_signed_headers(void **state) {
  static const dps__header h[] = {HDR("Host", "example.amazonaws.com"),
                                  HDR("My-Header1", "value1")};
  dps__sigv4_signer s;
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  dps__sigv4_request r = vanilla("POST", "20150830T123600Z");
  r.headers = h;
  r.n_headers = 2;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.signature,
                      "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
  r.signed_headers = "host;x-amz-date";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.signature,
                      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  /* A listed header the request lacks cannot verify. */
  r.signed_headers = "host;my-header2;x-amz-date";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  r.signed_headers = "host;x-amz-date;x-amz-date";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  dps__sigv4_signer_clear(&s);
}

static void test_parse_authorization(void **state) {
  dps__sigv4_auth a;
  dps_error err;
  const char *good =
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  assert_int_equal(dps__sigv4_parse_authorization(good, DPS_NTS, &a, &err), DPS_OK);
  assert_string_equal(a.access_key_id, "AKIDEXAMPLE");
  assert_string_equal(a.date, "20150830");
  assert_string_equal(a.region, "us-east-1");
  assert_string_equal(a.service, "service");
  assert_string_equal(a.signed_headers, "host;x-amz-date");
  assert_string_equal(a.signature,
                      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  /* Any order, no space after commas (botocore writes ", "; some clients do not). */
  const char *reordered =
      "AWS4-HMAC-SHA256 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31,"
      "SignedHeaders=host,Credential=K/20240101/eu-west-1/datapipeline/aws4_request";
  assert_int_equal(dps__sigv4_parse_authorization(reordered, strlen(reordered), &a, &err), DPS_OK);
  assert_string_equal(a.service, "datapipeline");
  assert_string_equal(a.signed_headers, "host");

  static const struct {
    const char *value, *message_part;
  } bad[] = {
      {"", "must start with"},
      {"AWS4-HMAC-SHA256", "must start with"},
      {"AWS4-HMAC-SHA1 Credential=a/20150830/r/s/aws4_request", "must start with"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host",
       "Signature is missing"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "Credential must be"},
      {"AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/service/aws4_request, "
       "SignedHeaders=host, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "YYYYMMDD"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_reques, "
       "SignedHeaders=host, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "aws4_request"},
      {"AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "access key id"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=Host;x-amz-date, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "SignedHeaders must be lowercase"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host;;x-amz-date, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "SignedHeaders must be lowercase"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
       "SignedHeaders must be 1 to"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host, "
       "Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
       "Signature must be 64"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host, Signature=5fa0",
       "Signature must be 64"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "Credential=AKID/20150830/us-east-1/service/aws4_request",
       "Credential appears twice"},
      {"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=host, "
       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31,",
       "expected Credential="},
      {"AWS4-HMAC-SHA256 Foo=bar", "expected Credential="},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    int rc = dps__sigv4_parse_authorization(bad[i].value, strlen(bad[i].value), &a, &err);
    if (rc != DPS_EINVAL || !strstr(err.message, bad[i].message_part))
      fail_msg("case %zu (%s): rc %d, message \"%s\"", i, bad[i].value, rc, err.message);
    assert_int_equal(err.code, DPS_EINVAL);
    assert_string_equal(err.field, "Authorization");
  }
  /* A length shorter than the string is honoured (the value need not be NUL-terminated). */
  assert_int_equal(dps__sigv4_parse_authorization(good, strlen(good) - 1, &a, NULL), DPS_EINVAL);
}

static void test_signature_equal(void **state) {
  const char *a = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  char b[65];
  strcpy(b, a);
  assert_true(dps__sigv4_signature_equal(a, b));
  b[63] = '0';
  assert_false(dps__sigv4_signature_equal(a, b));
  assert_false(dps__sigv4_signature_equal(a, "5fa0"));
  assert_false(dps__sigv4_signature_equal(a, NULL));
}

/*
 * A SetTaskStatus request, expected values from an independent implementation:
 *
 *   import hashlib, hmac
 *   def h(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()
 *   def sign(token=None):
 *       body = '{"taskId":"task-0123456789","taskStatus":"FINISHED"}'
 *       amz_date, day = '20240115T093000Z', '20240115'
 *       hdrs = {'content-type': 'application/x-amz-json-1.1',
 *               'host': 'datapipeline.us-east-1.amazonaws.com',
 *               'x-amz-date': amz_date, 'x-amz-target': 'DataPipeline.SetTaskStatus'}
 *       if token: hdrs['x-amz-security-token'] = token
 *       names = sorted(hdrs)
 *       cr = '\n'.join(['POST', '/', ''] + [n + ':' + hdrs[n] for n in names] +
 *                      ['', ';'.join(names), hashlib.sha256(body.encode()).hexdigest()])
 *       scope = day + '/us-east-1/datapipeline/aws4_request'
 *       sts = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
 *                        hashlib.sha256(cr.encode()).hexdigest()])
 *       k = h(h(h(h(b'AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', day), 'us-east-1'),
 *               'datapipeline'), 'aws4_request')
 *       return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
 *   print(sign()); print(sign('FQoGZXIvYXdzEXAMPLETOKEN'))
 */
static void test_datapipeline_request(void **state) {
  static const char body[] = "{\"taskId\":\"task-0123456789\",\"taskStatus\":\"FINISHED\"}";
  static const dps__header h[] = {HDR("Host", "datapipeline.us-east-1.amazonaws.com"),
                                  HDR("Content-Type", "application/x-amz-json-1.1"),
                                  HDR("X-Amz-Target", "DataPipeline.SetTaskStatus")};
  dps__sigv4_request r = {.method = "POST",
                          .path = "/",
                          .path_len = 1,
                          .headers = h,
                          .n_headers = 3,
                          .payload = body,
                          .payload_len = sizeof body - 1,
                          .amz_date = "20240115T093000Z",
                          .flags = DPS__SIGV4_NORMALIZE_PATH};
  dps__sigv4_signer s;
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "datapipeline", AKID, SECRET, NULL),
                   DPS_OK);
  for (int i = 0; i < 3; i++) { /* stable across calls (scratch reuse, cached key) */
    assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
    assert_string_equal(res.signature,
                        "2dd21791ec2384d407ab93df21e619f0b968e3bea2a35ac1f0d1e753eec9b7d2");
  }
  assert_string_equal(
      res.authorization,
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/us-east-1/datapipeline/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
      "Signature=2dd21791ec2384d407ab93df21e619f0b968e3bea2a35ac1f0d1e753eec9b7d2");
  assert_int_equal(res.authorization_len, strlen(res.authorization));
  assert_string_equal(res.amz_date, "20240115T093000Z");
  /* A precomputed payload hash gives the same result. */
  r.payload = NULL;
  r.payload_len = 0;
  r.payload_hash = "4cc4ac1b7cbc9a2d5e9bcf2b5d2e8ce10d7dca3d1a1bdb9ba9e5b8a43e7f8a8a";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_not_equal(res.signature,
                          "2dd21791ec2384d407ab93df21e619f0b968e3bea2a35ac1f0d1e753eec9b7d2");
  dps__buf cr = DPS__BUF_INIT;
  r.payload = body;
  r.payload_len = sizeof body - 1;
  r.payload_hash = NULL;
  assert_int_equal(dps__sigv4_canonical_request(&s, &r, &cr), DPS_OK);
  char hash[65];
  memcpy(hash, cr.data + cr.len - 64, 64);
  hash[64] = '\0';
  r.payload = NULL;
  r.payload_len = 0;
  r.payload_hash = hash;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.signature,
                      "2dd21791ec2384d407ab93df21e619f0b968e3bea2a35ac1f0d1e753eec9b7d2");
  dps__buf_free(&cr);
  dps__sigv4_signer_clear(&s);

  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "datapipeline", AKID, SECRET,
                                          "FQoGZXIvYXdzEXAMPLETOKEN"),
                   DPS_OK);
  r.payload = body;
  r.payload_len = sizeof body - 1;
  r.payload_hash = NULL;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_string_equal(res.signature,
                      "a96ac00d07107f415a1eb9f01a6842b8d359bfcb0a4603027e4de0fa32d178bf");
  dps__sigv4_signer_clear(&s);
}

/* The canonical request's second and third lines for a path and query. */
static void assert_uri_query(dps__sigv4_signer *s, const char *path, const char *query,
                             unsigned flags, const char *want) {
  dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
  r.path = path;
  r.path_len = strlen(path);
  r.query = query;
  r.query_len = query ? strlen(query) : 0;
  r.flags = flags;
  dps__buf b = DPS__BUF_INIT;
  assert_int_equal(dps__sigv4_canonical_request(s, &r, &b), DPS_OK);
  const char *start = strchr(b.data, '\n') + 1;
  const char *end = strchr(strchr(start, '\n') + 1, '\n');
  assert_text(path, start, (size_t)(end - start), want, strlen(want));
  dps__buf_free(&b);
}

static void test_uri_and_query(void **state) {
  dps__sigv4_signer s;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  const unsigned N = DPS__SIGV4_NORMALIZE_PATH;
  assert_uri_query(&s, "", NULL, N, "/\n");
  assert_uri_query(&s, "", NULL, 0, "/\n");
  assert_uri_query(&s, "/a/b/../c/./d//", NULL, N, "/a/c/d/\n");
  assert_uri_query(&s, "/a/b/..", NULL, N, "/a\n");
  assert_uri_query(&s, "/../..", NULL, N, "/\n");
  /* The path is encoded once more, as botocore does for every service but S3. */
  assert_uri_query(&s, "/a%20b/c+d", NULL, N, "/a%2520b/c%2Bd\n");
  assert_uri_query(&s, "/", "b=2&a=&c&&a=1", N, "/\na=&a=1&b=2&c=");
  assert_uri_query(&s, "/", "k=%zz&sp=a%20b+c&s%2Fl=%2f", N, "/\nk=%25zz&s%2Fl=%2F&sp=a%20b%2Bc");
  assert_uri_query(&s, "/", "=v&", N, "/\n=v");
  dps__sigv4_signer_clear(&s);
}

/* Header value canonicalization against a byte-at-a-time reference (Python's
 * ' '.join(v.split()) restricted to ASCII whitespace), on random values mixing whitespace,
 * control bytes and UTF-8 at every alignment the eight-byte scan can meet. */
static size_t reference_value(const char *v, size_t n, char *out) {
  size_t o = 0;
  bool pending = false;
  for (size_t i = 0; i < n; i++) {
    if (strchr(" \t\r\n\v\f", v[i]) && v[i]) {
      pending = o > 0;
      continue;
    }
    if (pending) out[o++] = ' ';
    pending = false;
    out[o++] = v[i];
  }
  return o;
}

static void test_header_values(void **state) {
  static const char alphabet[] = {'a',  'Z',  ' ',    ' ',    '\t', '\n',
                                  '\r', '\v', '\x01', '\xe1', '!',  '~'};
  dps__sigv4_signer s;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  unsigned seed = 12345;
  dps__buf b = DPS__BUF_INIT;
  for (int iter = 0; iter < 5000; iter++) {
    char v[64], want[64];
    size_t n = (size_t)(iter % 40);
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      v[i] = alphabet[(seed >> 16) % sizeof alphabet];
    }
    size_t want_len = reference_value(v, n, want);
    dps__header h = {"A", 1, v, n};
    dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
    r.headers = &h;
    r.n_headers = 1;
    dps__buf_reset(&b);
    assert_int_equal(dps__sigv4_canonical_request(&s, &r, &b), DPS_OK);
    const char *line = strstr(b.data, "\na:") + 3;
    const char *end = strstr(line, "\nx-amz-date:");
    assert_text("header value", line, (size_t)(end - line), want, want_len);
  }
  dps__buf_free(&b);
  dps__sigv4_signer_clear(&s);
}

static void test_errors(void **state) {
  dps__sigv4_signer s;
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_signer_init(&s, "", "service", AKID, SECRET, NULL), DPS_EINVAL);
  assert_int_equal(dps__sigv4_signer_init(&s, "us/east", "service", AKID, SECRET, NULL),
                   DPS_EINVAL);
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", NULL, AKID, SECRET, NULL), DPS_EINVAL);
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", "AK ID", SECRET, NULL),
                   DPS_EINVAL);
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, "", NULL), DPS_EINVAL);
  dps__sigv4_signer_clear(&s);

  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  static const char *const bad_dates[] = {NULL,
                                          "",
                                          "20150830T123600",
                                          "20150830T123600ZZ",
                                          "2015-08-30T12:36:00Z",
                                          "20150830 123600Z",
                                          "2015083aT123600Z"};
  for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
    dps__sigv4_request r = vanilla("GET", bad_dates[i]);
    assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  }
  dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
  r.payload_hash = "";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  r.payload_hash = "UNSIGNED-PAYLOAD";
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  r.payload_hash = NULL;
  r.method = NULL;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  dps__sigv4_signer_clear(&s);
}

/* More headers than the stack array, and a signed-header list too long for Authorization. */
static void test_many_headers(void **state) {
  enum { N = 200 };
  static dps__header h[N];
  static char names[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "X-H%03d", N - 1 - i);
    h[i] = (dps__header){names[i], strlen(names[i]), "v", 1};
  }
  dps__sigv4_signer s;
  dps__sigv4_result res;
  assert_int_equal(dps__sigv4_signer_init(&s, "us-east-1", "service", AKID, SECRET, NULL), DPS_OK);
  dps__sigv4_request r = vanilla("GET", "20150830T123600Z");
  r.headers = h;
  r.n_headers = 100;
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  assert_non_null(strstr(res.authorization, "SignedHeaders=x-amz-date;x-h100;x-h101;"));
  r.n_headers = N; /* "x-amz-date" + 200 * "x-hNNN": 1411 characters, within 1535 */
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_OK);
  /* 200 * "x-header-NNN": 2600 characters, over the limit */
  static char long_names[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(long_names[i], sizeof long_names[i], "X-Header-%03d", i);
    h[i] = (dps__header){long_names[i], strlen(long_names[i]), "v", 1};
  }
  assert_int_equal(dps__sigv4_sign(&s, &r, &res), DPS_EINVAL);
  dps__sigv4_signer_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_official_suite),
      cmocka_unit_test(test_key_cache),
      cmocka_unit_test(test_shape_reuse),
      cmocka_unit_test(test_session_token),
      cmocka_unit_test(test_explicit_signed_headers),
      cmocka_unit_test(test_parse_authorization),
      cmocka_unit_test(test_signature_equal),
      cmocka_unit_test(test_datapipeline_request),
      cmocka_unit_test(test_uri_and_query),
      cmocka_unit_test(test_header_values),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_many_headers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
