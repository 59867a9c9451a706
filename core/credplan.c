/*
 * credplan.c: the credential chain as a plan (see credplan.h). Owns the reading of the provider
 * settings (role_arn, source_profile, credential_source, web identity, credential_process,
 * container and instance-metadata variables), their checks, and the shell-word splitter
 * credential_process needs. The static keys themselves are read by core/credentials.c.
 */
#include "core/credplan.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/endpoint.h"
#include "core/error.h"

/* Empty variables count as unset, as botocore does. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

const char *dps__cred_kind_name(dps__cred_kind k) {
  switch (k) {
    case DPS__CRED_STATIC: return "static";
    case DPS__CRED_ASSUME_ROLE: return "assume-role";
    case DPS__CRED_WEB_IDENTITY: return "web-identity";
    case DPS__CRED_PROCESS: return "process";
    case DPS__CRED_CONTAINER: return "container";
    case DPS__CRED_IMDS: return "imds";
  }
  return "unknown";
}

void dps__argv_free(char **argv) {
  if (!argv) return;
  for (char **a = argv; *a; a++) free(*a);
  free(argv);
}

void dps__cred_plan_free(dps__cred_plan *p) {
  if (!p) return;
  dps__credentials_free(&p->creds);
  free(p->role.arn);
  free(p->role.session_name);
  free(p->role.external_id);
  free(p->role.token_file);
  dps__cred_plan_free(p->role.source);
  dps__argv_free(p->argv);
  dps__wipe_free(p->container.token);
  free(p->container.token_file);
  free(p);
}

/* ---------------------------------------------------------------------------------------------
 * Shell words.
 */

int dps__shell_split(const char *cmd, char ***argv, dps_error *err) {
  *argv = NULL;
  size_t n = 0, cap = 4;
  char **v = calloc(cap, sizeof *v);
  dps__buf w = DPS__BUF_INIT;
  int rc = 0;
  if (!v) return dps__error_set(err, DPS_ENOMEM, "credential_process", "out of memory");
  const char *p = cmd;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (!*p) break;
    dps__buf_reset(&w);
    bool word = false;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
      word = true;
      if (*p == '\'') {
        const char *q = strchr(p + 1, '\'');
        if (!q) {
          rc = dps__error_set(err, DPS_ECONFIG, "credential_process", "unbalanced ' quote");
          goto out;
        }
        dps__buf_append(&w, p + 1, (size_t)(q - p - 1));
        p = q + 1;
      } else if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
          /* Inside double quotes a backslash escapes only these; elsewhere it is literal. */
          if (*p == '\\' && p[1] && strchr("\\\"$`", p[1])) p++;
          dps__buf_putc(&w, *p);
        }
        if (*p != '"') {
          rc = dps__error_set(err, DPS_ECONFIG, "credential_process", "unbalanced \" quote");
          goto out;
        }
        p++;
      } else if (*p == '\\') {
        if (!p[1]) {
          rc = dps__error_set(err, DPS_ECONFIG, "credential_process",
                              "a backslash ends the command");
          goto out;
        }
        dps__buf_putc(&w, p[1]);
        p += 2;
      } else {
        dps__buf_putc(&w, *p++);
      }
    }
    if (!word) continue;
    if (n + 2 > cap) {
      char **g = realloc(v, (cap *= 2) * sizeof *v);
      if (!g) goto oom;
      v = g;
    }
    if (dps__buf_failed(&w) || !(v[n] = malloc(w.len + 1))) goto oom;
    memcpy(v[n], w.data ? w.data : "", w.len);
    v[n][w.len] = '\0';
    v[++n] = NULL;
  }
  if (n == 0) {
    rc = dps__error_set(err, DPS_ECONFIG, "credential_process", "the command is empty");
    goto out;
  }
  *argv = v;
  v = NULL;
  goto out;
oom:
  rc = dps__error_set(err, DPS_ENOMEM, "credential_process", "out of memory");
out:
  dps__buf_free(&w);
  dps__argv_free(v);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Profiles.
 */

/* @p base's files seen as profile @p name (a source_profile): no file is loaded again. */
static void view(const dps__aws_profile *base, const char *name, dps__aws_profile *out) {
  *out = *base;
  snprintf(out->name, sizeof out->name, "%s", name);
  out->named = true;
  out->from_option = false;
  out->cred_section = base->cred ? dps__ini_find(base->cred, name) : -1;
  out->config_section = dps__aws_config_section(base->config, "profile", name);
}

static const char *get(const dps__aws_profile *p, const char *key) {
  const char *v = dps__aws_profile_get(p, key, NULL);
  return v && *v ? v : NULL;
}

/* "profile dev in /home/u/.aws/config": where a setting was read, for messages. */
static void where(const dps__aws_profile *p, const char *key, char *out, size_t n) {
  const dps__ini *from = NULL;
  dps__aws_profile_get(p, key, &from);
  snprintf(out, n, "profile %s in %s", p->name,
           from == p->cred ? p->cred_path
           : from          ? p->config_path
                           : "the shared files");
}

static dps__cred_plan *plan_new(dps__cred_kind kind) {
  dps__cred_plan *p = calloc(1, sizeof *p);
  if (p) p->kind = kind;
  return p;
}

static int oom(dps_error *err) { return dps__error_set(err, DPS_ENOMEM, NULL, "out of memory"); }

/* Puts "@p prefix: " before the message a callee left in @p err (copied first: the message is
 * also the destination). */
static int reword(dps_error *err, int code, const char *field, const char *prefix) {
  char m[sizeof err->message];
  snprintf(m, sizeof m, "%s", err ? err->message : "");
  return dps__error_set(err, code, field, "%s: %s", prefix, m);
}

/* strdup of an optional value: true when it worked (NULL in, NULL out). */
static bool dup_opt(char **dst, const char *v) {
  *dst = v ? strdup(v) : NULL;
  return !v || *dst;
}

static bool has_static(const dps__aws_profile *p) {
  return get(p, "aws_access_key_id") || get(p, "aws_secret_access_key");
}

/* ---------------------------------------------------------------------------------------------
 * Web services: the STS endpoint, the container and metadata settings.
 */

static int sts_url(const dps__cred_plan_options *o, char *out, size_t n, dps_error *err) {
  const char *v = env("AWS_ENDPOINT_URL_STS");
  const char *from = "AWS_ENDPOINT_URL_STS";
  if (!v) v = env(from = "AWS_ENDPOINT_URL");
  if (v) {
    dps__url u;
    int rc = dps__url_parse(v, &u, err);
    if (rc) return reword(err, rc, from, from);
    snprintf(out, n, "%s", v);
    return 0;
  }
  if (!o->region)
    return dps__error_set(err, DPS_ECONFIG, "region",
                          "assuming a role needs a region for the STS endpoint "
                          "(https://sts.{region}.amazonaws.com)");
  int rc = dps__region_check(o->region, err);
  if (rc) return rc;
  snprintf(out, n, "https://sts.%s.amazonaws.com%s", o->region,
           strncmp(o->region, "cn-", 3) == 0 ? ".cn" : "");
  return 0;
}

/* Hosts the full container URI may name over plain http (botocore's list, with EKS pod
 * identity's): loopback, the ECS and EKS link-local agents. Any host is fine over https. */
static bool container_host_ok(const dps__url *u) {
  if (u->tls) return true;
  if (!strcmp(u->host, "localhost") || !strcmp(u->host, "169.254.170.2") ||
      !strcmp(u->host, "169.254.170.23"))
    return true;
  struct in_addr a4;
  struct in6_addr a6, eks, lo = IN6ADDR_LOOPBACK_INIT;
  if (inet_pton(AF_INET, u->host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, u->host, &a6) == 1) {
    inet_pton(AF_INET6, "fd00:ec2::23", &eks);
    return !memcmp(&a6, &lo, sizeof a6) || !memcmp(&a6, &eks, sizeof a6);
  }
  return false;
}

/* The container provider when its variables are set (1), else 0. */
static int container_plan(dps__cred_plan **out, dps_error *err) {
  const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!rel && !full) return 0;
  dps__cred_plan *p = plan_new(DPS__CRED_CONTAINER);
  if (!p) return oom(err);
  int rc = 0;
  if (rel) {
    if (rel[0] != '/') {
      rc = dps__error_set(err, DPS_ECONFIG, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
      goto fail;
    }
    snprintf(p->container.url, sizeof p->container.url, "http://169.254.170.2%s", rel);
  } else {
    dps__url u;
    if ((rc = dps__url_parse(full, &u, err))) {
      rc = reword(err, rc, "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI");
      goto fail;
    }
    if (!container_host_ok(&u)) {
      rc = dps__error_set(err, DPS_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI: host %s is not allowed over plain "
                          "http (loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23; any "
                          "host over https)",
                          u.host);
      goto fail;
    }
    if (strlen(full) >= sizeof p->container.url) {
      rc = dps__error_set(err, DPS_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI is longer than %zu bytes",
                          sizeof p->container.url - 1);
      goto fail;
    }
    snprintf(p->container.url, sizeof p->container.url, "%s", full);
  }
  /* The token file wins and is read on each fetch (EKS rotates it); a token given directly must
   * be one header line. */
  const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *token = file ? NULL : env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (token && strpbrk(token, "\r\n")) {
    rc = dps__error_set(err, DPS_ECONFIG, "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
    goto fail;
  }
  if (!dup_opt(&p->container.token_file, file) || !dup_opt(&p->container.token, token)) {
    rc = oom(err);
    goto fail;
  }
  snprintf(p->name, sizeof p->name, "container endpoint %s", p->container.url);
  *out = p;
  return 1;
fail:
  dps__cred_plan_free(p);
  return rc;
}

/* A whole number of @p what in [lo, hi] from @p v, named @p name in messages. */
static int whole(const char *name, const char *v, unsigned long lo, unsigned long hi, uint32_t *out,
                 dps_error *err) {
  char *end;
  unsigned long x = 0;
  if (v[0] >= '0' && v[0] <= '9') x = strtoul(v, &end, 10);
  if (!(v[0] >= '0' && v[0] <= '9') || *end || x < lo || x > hi)
    return dps__error_set(err, DPS_ECONFIG, name,
                          "%s: \"%.32s\" is not a whole number from %lu to %lu", name, v, lo, hi);
  *out = (uint32_t)x;
  return 0;
}

static bool is_true(const char *v) { return v && strcasecmp(v, "true") == 0; }

/* Instance metadata, unless disabled (then 0). Settings: the variables, then the profile's. */
static int imds_plan(const dps__aws_profile *prof, dps__cred_plan **out, dps_error *err) {
  if (is_true(env("AWS_EC2_METADATA_DISABLED"))) return 0;
  dps__cred_plan *p = plan_new(DPS__CRED_IMDS);
  if (!p) return oom(err);
  int rc = 0;
  const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!ep) ep = get(prof, "ec2_metadata_service_endpoint");
  const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  if (!mode) mode = get(prof, "ec2_metadata_service_endpoint_mode");
  if (mode && strcasecmp(mode, "ipv4") && strcasecmp(mode, "ipv6")) {
    rc = dps__error_set(err, DPS_ECONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                        "the metadata endpoint mode \"%.16s\" is not IPv4 or IPv6", mode);
    goto fail;
  }
  if (ep) {
    dps__url u;
    if ((rc = dps__url_parse(ep, &u, err))) {
      rc =
          reword(err, rc, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT");
      goto fail;
    }
    if (strlen(ep) >= sizeof p->imds.endpoint) {
      rc = dps__error_set(err, DPS_ECONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                          "AWS_EC2_METADATA_SERVICE_ENDPOINT is longer than %zu bytes",
                          sizeof p->imds.endpoint - 1);
      goto fail;
    }
    /* Without the trailing slash: paths are appended. */
    snprintf(p->imds.endpoint, sizeof p->imds.endpoint, "%.*s",
             (int)(strlen(ep) - (ep[strlen(ep) - 1] == '/')), ep);
  } else {
    snprintf(
        p->imds.endpoint, sizeof p->imds.endpoint, "%s",
        mode && !strcasecmp(mode, "ipv6") ? "http://[fd00:ec2::254]" : "http://169.254.169.254");
  }
  /* botocore's defaults: one attempt, one second. */
  uint32_t secs = 1;
  p->imds.attempts = 1;
  const char *t = env("AWS_METADATA_SERVICE_TIMEOUT");
  if (!t) t = get(prof, "metadata_service_timeout");
  const char *a = env("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
  if (!a) a = get(prof, "metadata_service_num_attempts");
  if ((t && (rc = whole("AWS_METADATA_SERVICE_TIMEOUT", t, 1, 3600, &secs, err))) ||
      (a && (rc = whole("AWS_METADATA_SERVICE_NUM_ATTEMPTS", a, 1, 100, &p->imds.attempts, err))))
    goto fail;
  p->imds.timeout_ms = secs * 1000;
  const char *v1 = env("AWS_EC2_METADATA_V1_DISABLED");
  p->imds.v1_disabled = is_true(v1 ? v1 : get(prof, "ec2_metadata_v1_disabled"));
  snprintf(p->name, sizeof p->name, "EC2 instance metadata %s", p->imds.endpoint);
  *out = p;
  return 1;
fail:
  dps__cred_plan_free(p);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Roles.
 */

/* The role settings shared by assume-role and web identity, from @p prof (or, for web identity
 * from the environment, @p arn and @p session given). */
static int role_common(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                       dps__cred_plan *p, const char *arn, const char *session, dps_error *err) {
  char at[1200];
  where(prof, "duration_seconds", at, sizeof at);
  const char *d = get(prof, "duration_seconds");
  int rc;
  if (d && (rc = whole("duration_seconds", d, DPS__CRED_DURATION_MIN, DPS__CRED_DURATION_MAX,
                       &p->role.duration_s, err)))
    return reword(err, rc, "duration_seconds", at);
  if (!dup_opt(&p->role.arn, arn) || !dup_opt(&p->role.session_name, session)) return oom(err);
  return sts_url(o, p->role.sts_url, sizeof p->role.sts_url, err);
}

/* The profile-scoped providers a source_profile is resolved with (botocore's profile provider
 * chain, environment off): web identity, SSO (refused), static keys, credential_process. */
static int profile_chain(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                         bool use_env, dps__cred_plan **out, dps_error *err);

static int assume_role(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                       const char **visited, size_t n_visited, dps__cred_plan **out,
                       dps_error *err);

/* Where the source credentials of the role in @p prof come from. */
static int role_source(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                       const char **visited, size_t n_visited, dps__cred_plan **out,
                       dps_error *err) {
  char at[1200];
  const char *src = get(prof, "source_profile"), *cs = get(prof, "credential_source");
  where(prof, "role_arn", at, sizeof at);
  if (src && cs)
    return dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: role_arn has both source_profile and credential_source; give one",
                          at);
  if (!src && !cs)
    return dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: role_arn needs source_profile or credential_source", at);
  if (cs) {
    int rc = 0;
    if (!strcmp(cs, "Environment")) {
      dps__cred_plan *p = plan_new(DPS__CRED_STATIC);
      if (!p) return oom(err);
      rc = dps__credentials_env(&p->creds, err);
      if (rc == 0)
        rc = dps__error_set(err, DPS_ENOCREDS, "credential_source",
                            "%s: credential_source = Environment, but AWS_ACCESS_KEY_ID is not set",
                            at);
      if (rc < 0) {
        dps__cred_plan_free(p);
        return rc;
      }
      snprintf(p->name, sizeof p->name, "environment");
      *out = p;
      return 0;
    }
    if (!strcmp(cs, "Ec2InstanceMetadata")) {
      rc = imds_plan(prof, out, err);
      if (rc == 0)
        rc = dps__error_set(err, DPS_ECONFIG, "credential_source",
                            "%s: credential_source = Ec2InstanceMetadata, but "
                            "AWS_EC2_METADATA_DISABLED is true",
                            at);
      return rc < 0 ? rc : 0;
    }
    if (!strcmp(cs, "EcsContainer")) {
      rc = container_plan(out, err);
      if (rc == 0)
        rc = dps__error_set(err, DPS_ECONFIG, "credential_source",
                            "%s: credential_source = EcsContainer, but neither "
                            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor ..._FULL_URI is set",
                            at);
      return rc < 0 ? rc : 0;
    }
    return dps__error_set(err, DPS_ECONFIG, "credential_source",
                          "%s: credential_source \"%.64s\" is not Environment, "
                          "Ec2InstanceMetadata or EcsContainer",
                          at, cs);
  }
  /* source_profile: a cycle is refused, except a profile naming itself for its own keys. */
  dps__aws_profile sp;
  view(prof, src, &sp);
  bool self = strcmp(src, prof->name) == 0;
  if (sp.cred_section < 0 && sp.config_section < 0)
    return dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: source_profile \"%s\" is in neither %s nor %s", at, src,
                          prof->cred_path, prof->config_path);
  for (size_t i = 0; i < n_visited && !self; i++)
    if (!strcmp(visited[i], src)) {
      dps__buf m = DPS__BUF_INIT;
      for (size_t k = 0; k < n_visited; k++) dps__buf_printf(&m, "%s -> ", visited[k]);
      dps__buf_puts(&m, src);
      int rc =
          dps__error_set(err, DPS_ECONFIG, "source_profile", "%s: source_profile makes a cycle: %s",
                         at, dps__buf_failed(&m) ? "(out of memory)" : m.data);
      dps__buf_free(&m);
      return rc;
    }
  if (self && !has_static(&sp))
    return dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: source_profile names the profile itself, which has no static keys",
                          at);
  /* botocore: a source with static keys, or with no role of its own, is resolved by the profile
   * chain (its keys, web identity, credential_process); else its role is assumed in turn. */
  if (has_static(&sp) || !get(&sp, "role_arn") || get(&sp, "web_identity_token_file")) {
    int rc = profile_chain(o, &sp, false, out, err);
    if (rc == 0 && !*out)
      rc = dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: source_profile \"%s\" has no credentials", at, src);
    return rc;
  }
  if (n_visited >= DPS__CRED_ROLE_CHAIN_MAX)
    return dps__error_set(err, DPS_ECONFIG, "source_profile",
                          "%s: more than %d source_profile hops", at, DPS__CRED_ROLE_CHAIN_MAX);
  visited[n_visited] = sp.name;
  return assume_role(o, &sp, visited, n_visited + 1, out, err);
}

static int assume_role(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                       const char **visited, size_t n_visited, dps__cred_plan **out,
                       dps_error *err) {
  char at[1200];
  where(prof, "role_arn", at, sizeof at);
  if (get(prof, "mfa_serial"))
    return dps__error_set(err, DPS_ECONFIG, "mfa_serial",
                          "%s: mfa_serial is not supported: the role needs a code typed at each "
                          "refresh, which a background reporter cannot ask for",
                          at);
  dps__cred_plan *p = plan_new(DPS__CRED_ASSUME_ROLE);
  if (!p) return oom(err);
  int rc = role_common(o, prof, p, get(prof, "role_arn"), get(prof, "role_session_name"), err);
  if (rc == 0 && !dup_opt(&p->role.external_id, get(prof, "external_id"))) rc = oom(err);
  if (rc == 0) rc = role_source(o, prof, visited, n_visited, &p->role.source, err);
  if (rc) {
    dps__cred_plan_free(p);
    return rc;
  }
  snprintf(p->name, sizeof p->name, "assume-role profile %s (%.180s)", prof->name, p->role.arn);
  *out = p;
  return 0;
}

/* Web identity from the environment (when @p use_env) or the profile; 1 when it applies. */
static int web_identity(const dps__cred_plan_options *o, const dps__aws_profile *prof, bool use_env,
                        dps__cred_plan **out, dps_error *err) {
  const char *file = use_env ? env("AWS_WEB_IDENTITY_TOKEN_FILE") : NULL;
  const char *arn = use_env ? env("AWS_ROLE_ARN") : NULL;
  const char *session = use_env ? env("AWS_ROLE_SESSION_NAME") : NULL;
  bool from_env = file != NULL;
  /* botocore reads each setting from the environment first, then from the profile. */
  if (!file) file = get(prof, "web_identity_token_file");
  if (!arn) arn = get(prof, "role_arn");
  if (!session) session = get(prof, "role_session_name");
  if (!file) return 0;
  if (!arn)
    return dps__error_set(err, DPS_ECONFIG, "role_arn",
                          "web identity (%s) needs a role ARN: AWS_ROLE_ARN or role_arn",
                          from_env ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "web_identity_token_file");
  dps__cred_plan *p = plan_new(DPS__CRED_WEB_IDENTITY);
  if (!p) return oom(err);
  int rc = role_common(o, prof, p, arn, session, err);
  if (rc == 0 && !(p->role.token_file = strdup(file))) rc = oom(err);
  if (rc) {
    dps__cred_plan_free(p);
    return rc;
  }
  snprintf(p->name, sizeof p->name, "web identity %s (%.180s)",
           from_env ? "from the environment" : prof->name, arn);
  *out = p;
  return 1;
}

/* A static plan from @p read (1), or 0 when its source has no keys. Its name is the keys'
 * source ("environment", "shared credentials file ... (profile dev)"). */
static int static_plan(int (*read)(dps__credentials *, const void *, dps_error *), const void *arg,
                       dps__cred_plan **out, dps_error *err) {
  dps__cred_plan *p = plan_new(DPS__CRED_STATIC);
  if (!p) return oom(err);
  int rc = read(&p->creds, arg, err);
  if (rc <= 0) {
    dps__cred_plan_free(p);
    return rc;
  }
  snprintf(p->name, sizeof p->name, "%s", p->creds.source);
  *out = p;
  return 1;
}

static int read_cred_file(dps__credentials *c, const void *prof, dps_error *err) {
  return dps__credentials_profile(prof, false, c, err);
}
static int read_config_file(dps__credentials *c, const void *prof, dps_error *err) {
  return dps__credentials_profile(prof, true, c, err);
}

static int process_plan(const dps__aws_profile *prof, dps__cred_plan **out, dps_error *err) {
  const char *cmd = get(prof, "credential_process");
  if (!cmd) return 0;
  dps__cred_plan *p = plan_new(DPS__CRED_PROCESS);
  if (!p) return oom(err);
  int rc = dps__shell_split(cmd, &p->argv, err);
  if (rc) {
    char at[1200];
    where(prof, "credential_process", at, sizeof at);
    char pre[1300];
    snprintf(pre, sizeof pre, "%s: credential_process", at);
    rc = reword(err, rc, "credential_process", pre);
    dps__cred_plan_free(p);
    return rc;
  }
  /* The command, not its arguments: they may carry a secret of the helper's own. */
  snprintf(p->name, sizeof p->name, "credential_process %.128s (profile %s)", p->argv[0],
           prof->name);
  *out = p;
  return 1;
}

static int profile_chain(const dps__cred_plan_options *o, const dps__aws_profile *prof,
                         bool use_env, dps__cred_plan **out, dps_error *err) {
  *out = NULL;
  int rc = web_identity(o, prof, use_env, out, err);
  if (rc) return rc < 0 ? rc : 0;
  if (get(prof, "sso_session") || get(prof, "sso_start_url")) {
    char at[1200];
    where(prof, get(prof, "sso_session") ? "sso_session" : "sso_start_url", at, sizeof at);
    return dps__error_set(err, DPS_ECONFIG, "sso",
                          "%s: SSO (IAM Identity Center) credentials are not supported yet; "
                          "use `aws configure export-credentials` into the environment, or a "
                          "credential_process",
                          at);
  }
  if ((rc = static_plan(read_cred_file, prof, out, err))) return rc < 0 ? rc : 0;
  if ((rc = process_plan(prof, out, err))) return rc < 0 ? rc : 0;
  if ((rc = static_plan(read_config_file, prof, out, err))) return rc < 0 ? rc : 0;
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The chain.
 */

static int read_explicit(dps__credentials *c, const void *o, dps_error *err) {
  const dps__cred_plan_options *po = o;
  dps__cred_options co = {po->access_key_id, po->secret_access_key, po->session_token, NULL};
  return dps__credentials_explicit(&co, c, err);
}
static int read_env(dps__credentials *c, const void *unused, dps_error *err) {
  (void)unused;
  return dps__credentials_env(c, err);
}

int dps__cred_plan_resolve(const dps__cred_plan_options *o, dps__cred_plan **out, dps_error *err) {
  static const dps__cred_plan_options none = {0};
  if (!o) o = &none;
  *out = NULL;
  int rc = static_plan(read_explicit, o, out, err);
  if (rc) return rc < 0 ? rc : 0;
  if (!o->profile && (rc = static_plan(read_env, NULL, out, err))) return rc < 0 ? rc : 0;

  dps__aws_profile prof;
  if ((rc = dps__aws_profile_open(o->profile, &prof, err)) < 0) return rc;
  if ((rc = dps__aws_profile_require(&prof, err)) < 0) goto done;
  if (get(&prof, "role_arn") && !get(&prof, "web_identity_token_file")) {
    const char *visited[DPS__CRED_ROLE_CHAIN_MAX + 1] = {prof.name};
    rc = assume_role(o, &prof, visited, 1, out, err);
    goto done;
  }
  if ((rc = profile_chain(o, &prof, !o->profile, out, err)) < 0 || *out) goto done;
  if ((rc = container_plan(out, err))) goto done;
  if ((rc = imds_plan(&prof, out, err))) goto done;
  {
    dps__buf m = DPS__BUF_INIT;
    dps__buf_printf(&m,
                    "no credentials found; looked in the environment%s, %s [%s], %s [%s%s]; the "
                    "container endpoint's variables are not set and AWS_EC2_METADATA_DISABLED is "
                    "true",
                    o->profile ? " (skipped: --profile given)" : "",
                    *prof.cred_path ? prof.cred_path : "~/.aws/credentials (HOME not set)",
                    prof.name,
                    *prof.config_path ? prof.config_path : "~/.aws/config (HOME not set)",
                    strcmp(prof.name, "default") == 0 ? "" : "profile ", prof.name);
    rc = dps__error_set(err, DPS_ENOCREDS, NULL, "%s",
                        dps__buf_failed(&m) ? "no credentials found" : m.data);
    dps__buf_free(&m);
  }
done:
  dps__aws_profile_close(&prof);
  if (rc < 0) {
    dps__cred_plan_free(*out);
    *out = NULL;
    return rc;
  }
  return 0;
}
