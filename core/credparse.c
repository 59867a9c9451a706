/* credparse.c: the JSON credential documents (see credparse.h), read with jansson. */
#include "core/credparse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/xml.h"

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

/* ---- STS (XML) ---------------------------------------------------------------------------------
 */

/* The text of the element at @p path, blanks trimmed, into a fresh string (*@p v NULL when the
 * element is absent). Returns 0, or -1 with @p why for a malformed document. */
static int xml_value(const char *body, size_t len, const char *const *path, size_t n, char **v,
                     char *why, size_t why_len) {
  *v = NULL;
  char *buf = malloc(len + 1);
  if (!buf) return snprintf(why, why_len, "out of memory"), -1;
  size_t got = 0;
  int rc = dps__xml_text(body, len, path, n, buf, len + 1, &got, why, why_len);
  if (rc == DPS__XML_ABSENT) {
    free(buf);
    return 0;
  }
  if (rc != 0) { /* TOO_LONG cannot happen: no text is longer than the document */
    free(buf);
    return -1;
  }
  char *b = buf, *e = buf + got;
  while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')) b++;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
  memmove(buf, b, (size_t)(e - b));
  buf[e - b] = '\0';
  *v = buf;
  return 0;
}

/* Printable ASCII without blanks: what goes into a header. */
static bool header_safe(const char *s) {
  if (!*s) return false;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c <= 0x20 || *c >= 0x7f) return false;
  return true;
}

int dps__cred_parse_sts(const char *body, size_t len, const char *action, dps__cred_doc *out,
                        dps_error *err) {
  *out = (dps__cred_doc){0};
  if (len > DPS__CREDDOC_MAX_BYTES)
    return FAIL("sts",
                "sts %s: the answer is %zu bytes, more than the %d a credential document may be",
                action, len, DPS__CREDDOC_MAX_BYTES);
  char why[256], *code = NULL, *msg = NULL;
  const char *const err_code[] = {"ErrorResponse", "Error", "Code"};
  const char *const err_msg[] = {"ErrorResponse", "Error", "Message"};
  if (xml_value(body, len, err_code, 3, &code, why, sizeof why))
    return FAIL("sts", "sts %s: malformed XML: %s", action, why);
  if (code) {
    xml_value(body, len, err_msg, 3, &msg, why, sizeof why);
    int rc = FAIL("sts", "sts %s: %.64s%s%.150s", action, code, msg ? ": " : "", msg ? msg : "");
    free(code);
    free(msg);
    return rc;
  }
  char response[64], result[64];
  snprintf(response, sizeof response, "%sResponse", action);
  snprintf(result, sizeof result, "%sResult", action);
  static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                      "Expiration"};
  char *v[4] = {NULL, NULL, NULL, NULL};
  int rc = 0;
  for (int k = 0; k < 4 && rc == 0; k++) {
    const char *const path[] = {response, result, "Credentials", names[k]};
    if (xml_value(body, len, path, 4, &v[k], why, sizeof why))
      rc = FAIL("sts", "sts %s: malformed XML: %s", action, why);
    else if (!v[k])
      rc = FAIL("sts", "sts %s: no %s in the answer's Credentials", action, names[k]);
    else if (k < 3 && !header_safe(v[k]))
      rc = FAIL("sts", "sts %s: %s is empty or holds a blank, control or non-ASCII character",
                action, names[k]);
  }
  int64_t exp = 0;
  if (rc == 0 && dps__rfc3339_parse(v[3], DPS_NTS, &exp))
    rc = FAIL("sts", "sts %s: Expiration is not an RFC 3339 time: \"%.40s\"", action, v[3]);
  if (rc == 0 && strlen(v[0]) > 128)
    rc = FAIL("sts", "sts %s: AccessKeyId is longer than 128 characters", action);
  if (rc == 0) {
    out->creds.access_key_id = v[0];
    out->creds.secret_access_key = v[1];
    out->creds.session_token = v[2];
    out->expiration_ms = exp;
    v[0] = v[1] = v[2] = NULL;
  }
  free(v[0]);
  dps__wipe_free(v[1]);
  dps__wipe_free(v[2]);
  free(v[3]);
  return rc;
}
