/* credparse.c: the JSON credential documents (see credparse.h), read with jansson. */
#include "core/credparse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/error.h"

void dps__cred_doc_free(dps__cred_doc *d) {
  if (!d) return;
  dps__credentials_free(&d->creds);
  d->expiration_ms = 0;
}

#define FAIL(doc, ...) dps__error_set(err, DPS_ECREDS, doc, __VA_ARGS__)

/* The body as a JSON object, or an error that says why without quoting it (it holds secrets). */
static int load(const char *doc, const char *body, size_t len, json_t **out, dps_error *err) {
  *out = NULL;
  if (len > DPS__CREDDOC_MAX_BYTES)
    return FAIL(doc, "%s: the answer is %zu bytes, more than the %d a credential document may be",
                doc, len, DPS__CREDDOC_MAX_BYTES);
  json_error_t je;
  json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
  if (!j) return FAIL(doc, "%s: not JSON (at byte %d)", doc, je.position);
  if (!json_is_object(j)) {
    json_decref(j);
    return FAIL(doc, "%s: expected a JSON object", doc);
  }
  *out = j;
  return 0;
}

/* Member @p name as a non-empty string, for credential values: printable ASCII, no blanks (they
 * go into HTTP headers). NULL with @p err set when it is not; @p optional allows absence. */
static const char *member(const char *doc, json_t *o, const char *name, bool optional, int *rc,
                          dps_error *err) {
  json_t *v = json_object_get(o, name);
  if (!v || json_is_null(v)) {
    if (!optional) *rc = FAIL(doc, "%s: member \"%s\" is missing", doc, name);
    return NULL;
  }
  if (!json_is_string(v) || json_string_length(v) == 0) {
    *rc = FAIL(doc, "%s: member \"%s\" is not a non-empty string", doc, name);
    return NULL;
  }
  const char *s = json_string_value(v);
  if (strlen(s) != json_string_length(v)) {
    *rc = FAIL(doc, "%s: member \"%s\" holds a NUL", doc, name);
    return NULL;
  }
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c <= 0x20 || *c >= 0x7f) {
      *rc = FAIL(doc, "%s: member \"%s\" holds a blank, control or non-ASCII character", doc, name);
      return NULL;
    }
  return s;
}

/* Fills @p out from the members named; the expiration parsed when given. */
static int take(const char *doc, json_t *o, const char *token_name, bool token_optional,
                bool expiry_optional, dps__cred_doc *out, dps_error *err) {
  int rc = 0;
  const char *key = member(doc, o, "AccessKeyId", false, &rc, err);
  const char *secret = key ? member(doc, o, "SecretAccessKey", false, &rc, err) : NULL;
  const char *token = secret ? member(doc, o, token_name, token_optional, &rc, err) : NULL;
  if (rc) return rc;
  if (strlen(key) > 128) return FAIL(doc, "%s: AccessKeyId is longer than 128 characters", doc);
  json_t *e = json_object_get(o, "Expiration");
  int64_t exp = DPS__CREDDOC_NO_EXPIRY;
  if (!e || json_is_null(e)) {
    if (!expiry_optional) return FAIL(doc, "%s: member \"Expiration\" is missing", doc);
  } else if (!json_is_string(e) ||
             dps__rfc3339_parse(json_string_value(e), json_string_length(e), &exp)) {
    /* A time is no secret: quote it (bounded) so the operator sees what came. */
    return FAIL(doc, "%s: \"Expiration\" is not an RFC 3339 time: \"%.40s\"", doc,
                json_is_string(e) ? json_string_value(e) : "(not a string)");
  }
  dps__cred_doc d = {.expiration_ms = exp};
  d.creds.access_key_id = strdup(key);
  d.creds.secret_access_key = strdup(secret);
  d.creds.session_token = token ? strdup(token) : NULL;
  if (!d.creds.access_key_id || !d.creds.secret_access_key || (token && !d.creds.session_token)) {
    dps__cred_doc_free(&d);
    return dps__error_set(err, DPS_ENOMEM, doc, "%s: out of memory", doc);
  }
  *out = d;
  return 0;
}

/* A short string member for messages (codes and messages are no secrets), or NULL. */
static const char *text(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(o, a);
  if (!json_is_string(v)) v = json_object_get(o, b);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int dps__cred_parse_imds(const char *body, size_t len, dps__cred_doc *out, dps_error *err) {
  *out = (dps__cred_doc){0};
  json_t *o;
  int rc = load("imds", body, len, &o, err);
  if (rc) return rc;
  const char *code = text(o, "Code", "Code"), *type = text(o, "Type", "Type");
  if (json_object_get(o, "Code") && (!code || strcmp(code, "Success")))
    rc = FAIL("imds", "imds: the role's credentials are not available: Code %.64s%s%.120s",
              code ? code : "(not a string)", text(o, "Message", "Message") ? ": " : "",
              text(o, "Message", "Message") ? text(o, "Message", "Message") : "");
  else if (json_object_get(o, "Type") && (!type || strcmp(type, "AWS-HMAC")))
    rc = FAIL("imds", "imds: credentials of Type %.32s, expected AWS-HMAC",
              type ? type : "(not a string)");
  else
    rc = take("imds", o, "Token", false, false, out, err);
  json_decref(o);
  return rc;
}

int dps__cred_parse_container(const char *body, size_t len, dps__cred_doc *out, dps_error *err) {
  *out = (dps__cred_doc){0};
  json_t *o;
  int rc = load("container", body, len, &o, err);
  if (rc) return rc;
  const char *code = text(o, "code", "Code"), *msg = text(o, "message", "Message");
  if (!json_object_get(o, "AccessKeyId") && (code || msg))
    rc = FAIL("container", "container: the endpoint answered an error: %.64s%s%.140s",
              code ? code : "(no code)", msg ? ": " : "", msg ? msg : "");
  else
    rc = take("container", o, "Token", false, false, out, err);
  json_decref(o);
  return rc;
}

int dps__cred_parse_process(const char *body, size_t len, dps__cred_doc *out, dps_error *err) {
  *out = (dps__cred_doc){0};
  json_t *o;
  int rc = load("credential_process", body, len, &o, err);
  if (rc) return rc;
  json_t *v = json_object_get(o, "Version");
  if (!v)
    rc = FAIL("credential_process", "credential_process: member \"Version\" is missing");
  else if (!json_is_integer(v))
    rc = FAIL("credential_process", "credential_process: \"Version\" is not a whole number");
  else if (json_integer_value(v) != 1)
    rc = FAIL("credential_process", "credential_process: \"Version\" is %lld, expected 1",
              (long long)json_integer_value(v));
  else
    rc = take("credential_process", o, "SessionToken", true, true, out, err);
  json_decref(o);
  return rc;
}
