/* auth.c: SigV4 verification of received requests (see auth.h). */
#include "emulator/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"

const char *dps__emu_header(const dps__header *h, size_t n, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (h[i].name_len == nl && memcmp(h[i].name, name, nl) == 0) {
      if (len) *len = h[i].value_len;
      return h[i].value;
    }
  return NULL;
}

static char *dup_or_null(const char *s) {
  if (!s || !*s) return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

int dps__emu_auth_init(dps__emu_auth *a, const char *access_key_id, const char *secret_access_key,
                       const char *session_token, const char *region) {
  memset(a, 0, sizeof *a);
  a->region = region;
  a->access_key_id = dup_or_null(access_key_id);
  a->secret_access_key = dup_or_null(secret_access_key);
  a->session_token = dup_or_null(session_token);
  if (!a->access_key_id || !a->secret_access_key ||
      (session_token && *session_token && !a->session_token)) {
    dps__emu_auth_clear(a);
    return DPS_ENOMEM;
  }
  return DPS_OK;
}

static void wipe_free(char *s) {
  if (!s) return;
  volatile char *p = s;
  while (*p) *p++ = 0;
  free(s);
}

void dps__emu_auth_clear(dps__emu_auth *a) {
  if (!a) return;
  wipe_free(a->access_key_id);
  wipe_free(a->secret_access_key);
  wipe_free(a->session_token);
  for (int i = 0; i < DPS__EMU_AUTH_SIGNERS; i++) dps__sigv4_signer_clear(&a->signers[i].signer);
  dps__buf_free(&a->scratch);
  memset(a, 0, sizeof *a);
}

/* The signer for @p region, initializing (or replacing the least recently used) when needed. */
static dps__sigv4_signer *signer_for(dps__emu_auth *a, const char *region) {
  int victim = 0;
  for (int i = 0; i < DPS__EMU_AUTH_SIGNERS; i++) {
    if (a->signers[i].region[0] && strcmp(a->signers[i].region, region) == 0) {
      a->signers[i].used = ++a->tick;
      return &a->signers[i].signer;
    }
    if (a->signers[i].used < a->signers[victim].used) victim = i;
  }
  dps__sigv4_signer_clear(&a->signers[victim].signer);
  a->signers[victim].region[0] = '\0';
  /* No session token: verification signs exactly the headers the client listed, and the token
   * is compared separately. */
  if (dps__sigv4_signer_init(&a->signers[victim].signer, region, DPS__EMU_SIGNING_NAME,
                             a->access_key_id, a->secret_access_key, NULL) != DPS_OK)
    return NULL;
  strcpy(a->signers[victim].region, region);
  a->signers[victim].used = ++a->tick;
  return &a->signers[victim].signer;
}

static bool signed_list_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

#define MSG(...) dps__buf_printf(message, __VA_ARGS__)

dps__emu_outcome dps__emu_auth_verify(dps__emu_auth *a, const dps__emu_auth_request *r,
                                      int64_t now_ms, dps__buf *message) {
  size_t alen = 0, dlen = 0;
  const char *av = dps__emu_header(r->headers, r->n_headers, "authorization", &alen);
  /* AWS answers a request with no AWS4 Authorization as not authenticated at all. */
  if (!av || alen < 5 || strncmp(av, "AWS4-", 5) != 0) {
    MSG("Request is missing Authentication Token");
    return DPS__EMU_MISSING_AUTH;
  }
  dps__sigv4_auth auth;
  dps_error perr;
  if (dps__sigv4_parse_authorization(av, alen, &auth, &perr) != DPS_OK) {
    MSG("Authorization header is malformed: %s. Authorization=%.*s", perr.message, (int)alen, av);
    return DPS__EMU_INCOMPLETE_SIGNATURE;
  }
  const char *dv = dps__emu_header(r->headers, r->n_headers, "x-amz-date", &dlen);
  if (!dv) {
    MSG("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=%.*s",
        (int)alen, av);
    return DPS__EMU_INCOMPLETE_SIGNATURE;
  }
  char amz_date[17];
  int64_t req_sec;
  if (dlen != 16 || (memcpy(amz_date, dv, 16), amz_date[16] = '\0',
                     dps__amz_date_parse(amz_date, &req_sec) != 0)) {
    MSG("Date must be in ISO-8601 'basic format'. Got '%.*s'. See "
        "http://en.wikipedia.org/wiki/ISO_8601",
        (int)(dlen > 64 ? 64 : dlen), dv);
    return DPS__EMU_INCOMPLETE_SIGNATURE;
  }
  /* AWS's wording: the SDKs recognise it (code InvalidSignatureException) as clock skew and
   * correct their clock from the Date header before retrying. */
  int64_t now_sec = now_ms / 1000;
  if (req_sec * 1000 < now_ms - DPS__EMU_SKEW_MS || req_sec * 1000 > now_ms + DPS__EMU_SKEW_MS) {
    char now_s[17], edge_s[17];
    bool past = req_sec * 1000 < now_ms;
    dps__amz_date_format(now_sec * 1000, now_s);
    dps__amz_date_format((now_sec + (past ? -300 : 300)) * 1000, edge_s);
    if (past)
      MSG("Signature expired: %s is now earlier than %s (%s - 5 min.)", amz_date, edge_s, now_s);
    else
      MSG("Signature not yet current: %s is still later than %s (%s + 5 min.)", amz_date, edge_s,
          now_s);
    return DPS__EMU_INVALID_SIGNATURE;
  }
  if (!signed_list_has(auth.signed_headers, "host")) {
    MSG("'Host' must be a 'SignedHeader' in the AWS Authorization.");
    return DPS__EMU_INVALID_SIGNATURE;
  }
  bool scope_bad = false;
  if (a->region && strcmp(auth.region, a->region) != 0) {
    MSG("Credential should be scoped to a valid region, not '%s'. ", auth.region);
    scope_bad = true;
  }
  if (strcmp(auth.service, DPS__EMU_SIGNING_NAME) != 0) {
    MSG("Credential should be scoped to correct service: '" DPS__EMU_SIGNING_NAME "'. ");
    scope_bad = true;
  }
  if (memcmp(auth.date, amz_date, 8) != 0) {
    MSG("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '%s' != '%.8s', from '%s'.",
        auth.date, amz_date, amz_date);
    scope_bad = true;
  }
  if (scope_bad) {
    if (message->len && message->data[message->len - 1] == ' ') message->data[--message->len] = 0;
    return DPS__EMU_INVALID_SIGNATURE;
  }
  if (strcmp(auth.access_key_id, a->access_key_id) != 0) {
    MSG("The security token included in the request is invalid.");
    return DPS__EMU_UNRECOGNIZED_CLIENT;
  }
  /* Temporary credentials come with their token; a token the key does not own (or none when
   * one is required) is as unknown to AWS as a wrong key. */
  size_t tlen = 0;
  const char *tv = dps__emu_header(r->headers, r->n_headers, "x-amz-security-token", &tlen);
  bool token_ok = a->session_token ? tv && tlen == strlen(a->session_token) &&
                                         memcmp(tv, a->session_token, tlen) == 0
                                   : tv == NULL;
  if (!token_ok) {
    MSG("The security token included in the request is invalid.");
    return DPS__EMU_UNRECOGNIZED_CLIENT;
  }

  dps__sigv4_signer *s = signer_for(a, auth.region);
  if (!s) {
    MSG("could not set up the signature check");
    return DPS__EMU_INTERNAL;
  }
  const char *q = memchr(r->path, '?', r->path_len);
  size_t plen = q ? (size_t)(q - r->path) : r->path_len;
  dps__sigv4_request sr = {.method = r->method,
                           .path = r->path,
                           .path_len = plen,
                           .query = q ? q + 1 : NULL,
                           .query_len = q ? r->path_len - plen - 1 : 0,
                           .headers = r->headers,
                           .n_headers = r->n_headers,
                           .signed_headers = auth.signed_headers,
                           .payload = r->body,
                           .payload_len = r->body_len,
                           .amz_date = amz_date,
                           .flags = DPS__SIGV4_NORMALIZE_PATH};
  dps__sigv4_result res;
  int rc = dps__sigv4_sign(s, &sr, &res);
  if (rc == DPS_OK && dps__sigv4_signature_equal(res.signature, auth.signature)) return DPS__EMU_OK;
  if (rc == DPS_ENOMEM || rc == DPS_ECRYPTO) {
    MSG("could not compute the signature");
    return DPS__EMU_INTERNAL;
  }
  MSG("The request signature we calculated does not match the signature you provided. Check "
      "your AWS Secret Access Key and signing method. Consult the service documentation for "
      "details.");
  if (rc == DPS_OK) {
    /* As AWS does, show what we signed, so a client's author can diff it against theirs. */
    dps__buf_reset(&a->scratch);
    if (dps__sigv4_canonical_request(s, &sr, &a->scratch) == DPS_OK) {
      MSG("\n\nThe Canonical String for this request should have been\n'");
      dps__buf_append(message, a->scratch.data, a->scratch.len);
      MSG("'\n");
    }
    dps__buf_reset(&a->scratch);
    if (dps__sigv4_string_to_sign(s, &sr, &a->scratch) == DPS_OK) {
      MSG("\nThe String-to-Sign should have been\n'");
      dps__buf_append(message, a->scratch.data, a->scratch.len);
      MSG("'\n");
    }
  } else {
    MSG(" (a header listed in SignedHeaders is missing from the request)");
  }
  return DPS__EMU_INVALID_SIGNATURE;
}
