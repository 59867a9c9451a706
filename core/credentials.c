/*
 * credentials.c: the credential chain (explicit, environment, shared credentials file, config
 * file) and the profile view of the shared files that region and endpoint resolution share.
 */
#include "core/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

/* Empty variables count as unset, as botocore does for the credential variables. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

void dps__wipe_free(char *s) {
  if (!s) return;
  volatile char *v = s;
  while (*v) *v++ = 0;
  free(s);
}

void dps__credentials_free(dps__credentials *c) {
  if (!c) return;
  dps__wipe_free(c->access_key_id);
  dps__wipe_free(c->secret_access_key);
  dps__wipe_free(c->session_token);
  *c = (dps__credentials){0};
}

/* ---------------------------------------------------------------------------------------------
 * Profiles and files.
 */

/* Fills @p out with @p var's value, else $HOME/.aws/<leaf>, with botocore's "~/" expansion. */
static int file_path(const char *var, const char *leaf, char *out, size_t outsz, dps_error *err) {
  const char *v = env(var), *home = env("HOME");
  int n;
  if (v && (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) && home)
    n = snprintf(out, outsz, "%s%s", home, v + 1);
  else if (v)
    n = snprintf(out, outsz, "%s", v);
  else if (home)
    n = snprintf(out, outsz, "%s/.aws/%s", home, leaf);
  else
    n = snprintf(out, outsz, "%s", "");
  if (n < 0 || (size_t)n >= outsz) {
    out[0] = '\0';
    return dps__error_set(err, DPS_ECONFIG, var, "path longer than %zu bytes", outsz - 1);
  }
  return 0;
}

/* How a path shows in messages when HOME was unset and no variable named one. */
static const char *shown(const char *path, const char *fallback) { return *path ? path : fallback; }

/* Matches a config section name against "<kind> <name>" the way botocore's shlex.split does for
 * the usual shapes: blanks around words, a name in single or double quotes. */
static bool section_declares(const char *sec, const char *kind, const char *name) {
  size_t kn = strlen(kind);
  if (strncmp(sec, kind, kn) != 0 || (sec[kn] != ' ' && sec[kn] != '\t')) return false;
  const char *p = sec + kn;
  while (*p == ' ' || *p == '\t') p++;
  const char *b = p, *e;
  if (*p == '"' || *p == '\'') {
    const char *q = strchr(p + 1, *p);
    if (!q || q[1] != '\0') return false;
    b = p + 1;
    e = q;
  } else {
    e = p + strcspn(p, " \t\"'");
    if (*e != '\0') return false; /* two words after the kind: botocore ignores the section */
  }
  return (size_t)(e - b) == strlen(name) && memcmp(b, name, (size_t)(e - b)) == 0;
}

long dps__aws_config_section(const dps__ini *config, const char *kind, const char *name) {
  if (!config) return -1;
  long found = -1;
  for (size_t i = 0; i < dps__ini_section_count(config); i++) {
    const char *sec = dps__ini_section_name(config, i);
    if (section_declares(sec, kind, name) ||
        (strcmp(kind, "profile") == 0 && strcmp(name, "default") == 0 &&
         strcmp(sec, "default") == 0))
      found = (long)i;
  }
  return found;
}

void dps__aws_profile_close(dps__aws_profile *p) {
  dps__ini_free(p->cred);
  dps__ini_free(p->config);
  p->cred = p->config = NULL;
}

int dps__aws_profile_open(const char *profile, dps__aws_profile *p, dps_error *err) {
  *p = (dps__aws_profile){.cred_section = -1, .config_section = -1};
  const char *name = profile;
  if (profile) {
    p->named = p->from_option = true;
  } else if ((name = env("AWS_PROFILE"))) {
    p->named = true;
  } else {
    name = "default";
  }
  if (!*name) return dps__error_set(err, DPS_ECONFIG, "profile", "empty name");
  if (strlen(name) >= sizeof p->name)
    return dps__error_set(err, DPS_ECONFIG, "profile", "name longer than %zu bytes",
                          sizeof p->name - 1);
  memcpy(p->name, name, strlen(name) + 1);

  int rc = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", p->cred_path,
                     sizeof p->cred_path, err);
  if (rc == 0)
    rc = file_path("AWS_CONFIG_FILE", "config", p->config_path, sizeof p->config_path, err);
  if (rc == 0 && *p->cred_path) rc = dps__ini_load(p->cred_path, "credentials file", &p->cred, err);
  if (rc == 0 && *p->config_path)
    rc = dps__ini_load(p->config_path, "config file", &p->config, err);
  if (rc < 0) {
    dps__aws_profile_close(p);
    return rc;
  }
  /* In the credentials file every section is a profile, [profile x] included (it names the
   * profile "profile x"); the config file has its own rule. */
  if (p->cred) p->cred_section = dps__ini_find(p->cred, p->name);
  p->config_section = dps__aws_config_section(p->config, "profile", p->name);
  return 0;
}

int dps__aws_profile_require(const dps__aws_profile *p, dps_error *err) {
  if (!p->named || p->cred_section >= 0 || p->config_section >= 0) return 0;
  return dps__error_set(err, DPS_ECONFIG, "profile", "\"%s\" not found in %s or %s", p->name,
                        shown(p->cred_path, "~/.aws/credentials (HOME not set)"),
                        shown(p->config_path, "~/.aws/config (HOME not set)"));
}

const char *dps__aws_profile_get(const dps__aws_profile *p, const char *key,
                                 const dps__ini **from) {
  const char *v = NULL;
  const dps__ini *f = NULL;
  if (p->cred_section >= 0 && (v = dps__ini_section_get(p->cred, (size_t)p->cred_section, key)))
    f = p->cred;
  else if (p->config_section >= 0 &&
           (v = dps__ini_section_get(p->config, (size_t)p->config_section, key)))
    f = p->config;
  if (from) *from = f;
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * The chain.
 */

/* Key ids, secrets and tokens are printable ASCII without blanks; anything else (a multi-line
 * value, a stray quote-less space) would only fail later as a signature mismatch. The message
 * names the setting, never the value. */
static int check_value(const char *where, const char *name, const char *v, dps_error *err) {
  if (!*v) return dps__error_set(err, DPS_ECONFIG, NULL, "%s: %s is empty", where, name);
  for (const unsigned char *c = (const unsigned char *)v; *c; c++)
    if (*c <= 0x20 || *c >= 0x7f)
      return dps__error_set(err, DPS_ECONFIG, NULL,
                            "%s: %s contains a blank, control or non-ASCII character", where, name);
  return 0;
}

/* Checks and copies one set of credentials. @p key_name etc. name the settings in messages. */
static int take(const char *where, const char *key_name, const char *key, const char *secret_name,
                const char *secret, const char *token_name, const char *token,
                dps__credentials *out, dps_error *err) {
  if (!key)
    return dps__error_set(err, DPS_ECONFIG, NULL, "%s: %s is set but %s is not", where, secret_name,
                          key_name);
  if (!secret)
    return dps__error_set(err, DPS_ECONFIG, NULL, "%s: %s is set but %s is not", where, key_name,
                          secret_name);
  int rc = check_value(where, key_name, key, err);
  if (rc == 0) rc = check_value(where, secret_name, secret, err);
  if (rc == 0 && token) rc = check_value(where, token_name, token, err);
  if (rc < 0) return rc;
  *out = (dps__credentials){0};
  out->access_key_id = strdup(key);
  out->secret_access_key = strdup(secret);
  out->session_token = token ? strdup(token) : NULL;
  if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
    dps__credentials_free(out);
    return dps__error_set(err, DPS_ENOMEM, NULL, "%s: out of memory", where);
  }
  snprintf(out->source, sizeof out->source, "%s", where);
  return 0;
}

/* Reads credentials from section @p sec of @p ini, a @p kind file at @p path. Returns 1 when
 * found, 0 when the section has neither key, or an error. */
static int from_file(const char *kind, const char *path, const dps__ini *ini, long sec,
                     const char *profile, dps__credentials *out, dps_error *err) {
  if (!ini || sec < 0) return 0;
  const char *key = dps__ini_section_get(ini, (size_t)sec, "aws_access_key_id");
  const char *secret = dps__ini_section_get(ini, (size_t)sec, "aws_secret_access_key");
  if (!key && !secret) return 0;
  const char *token_name = "aws_security_token";
  const char *token = dps__ini_section_get(ini, (size_t)sec, token_name);
  if (!token || !*token) {
    token_name = "aws_session_token";
    token = dps__ini_section_get(ini, (size_t)sec, token_name);
    if (token && !*token) token = NULL; /* "aws_session_token =" means no token */
  }
  char where[sizeof out->source];
  snprintf(where, sizeof where, "%s %s (profile %s)", kind, path, profile);
  int rc = take(where, "aws_access_key_id", key, "aws_secret_access_key", secret, token_name, token,
                out, err);
  return rc < 0 ? rc : 1;
}

/* Names the unsupported mechanism a profile relies on, or NULL. */
static const char *unsupported(const dps__aws_profile *p) {
  static const char *const keys[] = {
      "role_arn",      "credential_process",      "sso_session",
      "sso_start_url", "web_identity_token_file", "credential_source"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (dps__aws_profile_get(p, keys[i], NULL)) return keys[i];
  return NULL;
}

int dps__credentials_explicit(const dps__cred_options *o, dps__credentials *out, dps_error *err) {
  if (!o || (!o->access_key_id && !o->secret_access_key && !o->session_token)) return 0;
  if (!o->access_key_id && !o->secret_access_key)
    return dps__error_set(err, DPS_ECONFIG, "session_token",
                          "given without access_key_id and secret_access_key");
  int rc = take("explicit configuration", "access_key_id", o->access_key_id, "secret_access_key",
                o->secret_access_key, "session_token", o->session_token, out, err);
  return rc < 0 ? rc : 1;
}

int dps__credentials_env(dps__credentials *out, dps_error *err) {
  if (!env("AWS_ACCESS_KEY_ID")) return 0;
  const char *token_name = "AWS_SECURITY_TOKEN", *token = env(token_name);
  if (!token) token = env(token_name = "AWS_SESSION_TOKEN");
  int rc = take("environment", "AWS_ACCESS_KEY_ID", env("AWS_ACCESS_KEY_ID"),
                "AWS_SECRET_ACCESS_KEY", env("AWS_SECRET_ACCESS_KEY"), token_name, token, out, err);
  return rc < 0 ? rc : 1;
}

int dps__credentials_profile(const struct dps__aws_profile *p, bool config_file,
                             dps__credentials *out, dps_error *err) {
  return config_file ? from_file("config file", p->config_path, p->config, p->config_section,
                                 p->name, out, err)
                     : from_file("shared credentials file", p->cred_path, p->cred, p->cred_section,
                                 p->name, out, err);
}

int dps__credentials_resolve(const dps__cred_options *o, dps__credentials *out, dps_error *err) {
  static const dps__cred_options none = {0};
  if (!o) o = &none;
  *out = (dps__credentials){0};

  if (o->access_key_id || o->secret_access_key || o->session_token) {
    if (!o->access_key_id && !o->secret_access_key)
      return dps__error_set(err, DPS_ECONFIG, "session_token",
                            "given without access_key_id and secret_access_key");
    return take("explicit configuration", "access_key_id", o->access_key_id, "secret_access_key",
                o->secret_access_key, "session_token", o->session_token, out, err);
  }

  if (!o->profile && env("AWS_ACCESS_KEY_ID")) {
    const char *token_name = "AWS_SECURITY_TOKEN", *token = env(token_name);
    if (!token) token = env(token_name = "AWS_SESSION_TOKEN");
    return take("environment", "AWS_ACCESS_KEY_ID", env("AWS_ACCESS_KEY_ID"),
                "AWS_SECRET_ACCESS_KEY", env("AWS_SECRET_ACCESS_KEY"), token_name, token, out, err);
  }

  dps__aws_profile p;
  int rc = dps__aws_profile_open(o->profile, &p, err);
  if (rc < 0) return rc;
  rc = dps__aws_profile_require(&p, err);
  if (rc == 0)
    rc =
        from_file("shared credentials file", p.cred_path, p.cred, p.cred_section, p.name, out, err);
  if (rc == 0)
    rc = from_file("config file", p.config_path, p.config, p.config_section, p.name, out, err);
  if (rc == 0) {
    const char *how = unsupported(&p);
    dps__buf m = DPS__BUF_INIT;
    dps__buf_printf(&m, "no credentials found; looked in the environment%s, %s [%s], %s [%s%s]",
                    o->profile ? " (skipped: --profile given)" : "",
                    shown(p.cred_path, "~/.aws/credentials (HOME not set)"), p.name,
                    shown(p.config_path, "~/.aws/config (HOME not set)"),
                    strcmp(p.name, "default") == 0 ? "" : "profile ", p.name);
    if (how)
      dps__buf_printf(&m, "; profile \"%s\" uses %s, which dpstatus does not support", p.name, how);
    rc = dps__error_set(err, DPS_ENOCREDS, NULL, "%s",
                        dps__buf_failed(&m) ? "no credentials found" : m.data);
    dps__buf_free(&m);
  }
  dps__aws_profile_close(&p);
  return rc < 0 ? rc : 0;
}
