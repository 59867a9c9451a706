/*
 * endpoint.c: region resolution and validation, the endpoint URL parser, and endpoint resolution
 * (explicit, environment, profile, default for the region).
 */
#include "core/endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/credentials.h"
#include "core/error.h"

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* Copies @p s for a message: quotes and backslashes escaped, bytes outside printable ASCII as
 * \xNN, cut with "..." so that the message keeps its end. */
static void quote(const char *s, char *out, size_t outsz) {
  size_t o = 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char tmp[5];
    int n = (c < 0x20 || c >= 0x7f)   ? snprintf(tmp, sizeof tmp, "\\x%02x", c)
            : (c == '"' || c == '\\') ? snprintf(tmp, sizeof tmp, "\\%c", c)
                                      : snprintf(tmp, sizeof tmp, "%c", c);
    if (o + (size_t)n + 4 >= outsz) {
      memcpy(out + o, "...", 4);
      return;
    }
    memcpy(out + o, tmp, (size_t)n);
    o += (size_t)n;
  }
  out[o] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Region.
 */

static int region_error(dps_error *err, const char *name, const char *origin) {
  char q[80];
  quote(name, q, sizeof q);
  return dps__error_set(err, DPS_ECONFIG, "region",
                        "\"%s\"%s%s%s is not a valid region name (a DNS label: lowercase letters, "
                        "digits and hyphens)",
                        q, origin ? " (from " : "", origin ? origin : "", origin ? ")" : "");
}

static bool region_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > DPS__REGION_MAX || s[0] == '-' || s[n - 1] == '-') return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return false;
  return true;
}

int dps__region_check(const char *name, dps_error *err) {
  return region_ok(name) ? 0 : region_error(err, name, NULL);
}

static int region_take(const char *v, const char *origin, char *out, size_t outsz, dps_error *err) {
  if (!region_ok(v)) return region_error(err, v, origin);
  if (strlen(v) >= outsz)
    return dps__error_set(err, DPS_EINVAL, "region", "output buffer of %zu bytes too small", outsz);
  memcpy(out, v, strlen(v) + 1);
  return 0;
}

int dps__region_resolve(const char *explicit_region, const char *profile, char *out, size_t outsz,
                        dps_error *err) {
  if (explicit_region) return region_take(explicit_region, "--region", out, outsz, err);
  static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
  for (size_t i = 0; i < 2; i++)
    if (env(vars[i])) return region_take(env(vars[i]), vars[i], out, outsz, err);

  dps__aws_profile p;
  int rc = dps__aws_profile_open(profile, &p, err);
  if (rc < 0) return rc;
  rc = dps__aws_profile_require(&p, err);
  const dps__ini *from = NULL;
  const char *v = rc == 0 ? dps__aws_profile_get(&p, "region", &from) : NULL;
  if (v && *v) {
    char origin[1200];
    snprintf(origin, sizeof origin, "%s, profile %s", dps__ini_name(from), p.name);
    rc = region_take(v, origin, out, outsz, err);
  } else if (rc == 0) {
    rc = dps__error_set(err, DPS_ECONFIG, "region",
                        "none set; use --region, AWS_REGION, AWS_DEFAULT_REGION or region in the "
                        "profile");
  }
  dps__aws_profile_close(&p);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * URLs.
 */

static int url_error(dps_error *err, const char *url, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int url_error(dps_error *err, const char *url, const char *origin, const char *fmt, ...) {
  char reason[128], q[100];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  quote(url, q, sizeof q);
  int rc = dps__error_set(err, DPS_ECONFIG, NULL, "endpoint URL \"%s\"%s%s%s: %s", q,
                          origin ? " (from " : "", origin ? origin : "", origin ? ")" : "", reason);
  if (err) snprintf(err->field, sizeof err->field, "%s", "endpoint_url");
  return rc;
}

static bool is_unreserved(char c) {
  return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_hex(char c) { return isxdigit((unsigned char)c) != 0; }

/* Checks a DNS name or dotted IPv4 address; returns NULL or what is wrong. */
static const char *check_host(const char *h, size_t n) {
  if (n > 253) return "host name longer than 253 characters";
  bool numeric = true;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (label == 0) return "empty label in host name";
      if (h[i - 1] == '-') return "host name label ends with '-'";
      label = 0;
      continue;
    }
    if (!isalnum((unsigned char)c) && c != '-' && c != '_') return "invalid character in host";
    if (c == '-' && label == 0) return "host name label starts with '-'";
    if (!isdigit((unsigned char)c)) numeric = false;
    if (++label > 63) return "host name label longer than 63 characters";
  }
  if (label == 0) return "empty label in host name";
  if (h[n - 1] == '-') return "host name label ends with '-'";
  if (numeric) {
    /* All digits and dots: resolvers would read it as an address, so it must be a valid one. */
    char tmp[16];
    struct in_addr a;
    if (n >= sizeof tmp) return "invalid IPv4 address";
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1) return "invalid IPv4 address";
  }
  return NULL;
}

static int parse_url(const char *url, const char *origin, dps__url *out, dps_error *err) {
  *out = (dps__url){0};
  for (const unsigned char *c = (const unsigned char *)url; *c; c++) {
    if (*c == ' ') return url_error(err, url, origin, "contains a space");
    if (*c < 0x20 || *c == 0x7f) return url_error(err, url, origin, "contains a control character");
    if (*c >= 0x80) return url_error(err, url, origin, "contains a non-ASCII character");
  }
  const char *sep = strstr(url, "://");
  size_t sn = sep ? (size_t)(sep - url) : 0;
  bool scheme_ok = sn > 0 && isalpha((unsigned char)url[0]);
  for (size_t i = 0; scheme_ok && i < sn; i++)
    scheme_ok = isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.';
  if (!scheme_ok) return url_error(err, url, origin, "expected http://HOST or https://HOST");
  if (sn == 5 && strncasecmp(url, "https", 5) == 0)
    out->tls = true;
  else if (!(sn == 4 && strncasecmp(url, "http", 4) == 0))
    return url_error(err, url, origin, "scheme must be http or https");

  const char *auth = sep + 3;
  if (strchr(auth, '?')) return url_error(err, url, origin, "a query (\"?\") is not allowed");
  if (strchr(auth, '#')) return url_error(err, url, origin, "a fragment (\"#\") is not allowed");
  size_t an = strcspn(auth, "/");
  const char *path = auth + an;
  if (memchr(auth, '@', an))
    return url_error(err, url, origin, "user info (\"user@\") is not allowed");
  if (an == 0) return url_error(err, url, origin, "empty host");

  const char *hb, *port = NULL;
  size_t hn;
  bool v6 = auth[0] == '[';
  if (v6) {
    const char *close = memchr(auth, ']', an);
    if (!close) return url_error(err, url, origin, "IPv6 address without a closing \"]\"");
    hb = auth + 1;
    hn = (size_t)(close - hb);
    if (hn == 0) return url_error(err, url, origin, "empty host");
    char tmp[64];
    struct in6_addr a;
    if (hn >= sizeof tmp) return url_error(err, url, origin, "invalid IPv6 address");
    memcpy(tmp, hb, hn);
    tmp[hn] = '\0';
    if (inet_pton(AF_INET6, tmp, &a) != 1)
      return url_error(err, url, origin, "invalid IPv6 address");
    if (close + 1 < auth + an) {
      if (close[1] != ':') return url_error(err, url, origin, "unexpected text after \"]\"");
      port = close + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', an);
    hb = auth;
    hn = colon ? (size_t)(colon - auth) : an;
    if (colon && memchr(colon + 1, ':', (size_t)(auth + an - colon - 1)))
      return url_error(err, url, origin, "an IPv6 address must be in brackets");
    if (hn == 0) return url_error(err, url, origin, "empty host");
    const char *why = check_host(hb, hn);
    if (why) return url_error(err, url, origin, "%s", why);
    if (colon) port = colon + 1;
  }
  for (size_t i = 0; i < hn; i++) out->host[i] = (char)tolower((unsigned char)hb[i]);
  out->host[hn] = '\0';

  out->port = out->tls ? 443 : 80;
  if (port) {
    size_t pn = (size_t)(path - port);
    if (pn == 0) return url_error(err, url, origin, "empty port");
    unsigned long v = 0;
    for (size_t i = 0; i < pn; i++) {
      if (!isdigit((unsigned char)port[i]))
        return url_error(err, url, origin, "port must be a number");
      if (v <= 65535) v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v == 0 || v > 65535) return url_error(err, url, origin, "port must be 1 to 65535");
    out->port = (uint16_t)v;
    out->port_explicit = true;
  }

  for (const char *c = path; *c; c++) {
    if (*c == '%') {
      if (!is_hex(c[1]) || !is_hex(c[2]))
        return url_error(err, url, origin, "bad percent escape in path");
      c += 2;
    } else if (!is_unreserved(*c) && !strchr("!$&'()*+,;=:@/", *c)) {
      return url_error(err, url, origin, "character '%c' not allowed in path", *c);
    }
  }
  if (strlen(path) >= sizeof out->path)
    return url_error(err, url, origin, "path longer than %zu bytes", sizeof out->path - 1);
  snprintf(out->path, sizeof out->path, "%s", *path ? path : "/");

  bool default_port = out->port == (out->tls ? 443 : 80);
  char portbuf[8] = "";
  if (!default_port) snprintf(portbuf, sizeof portbuf, ":%u", (unsigned)out->port);
  snprintf(out->authority, sizeof out->authority, "%s%s%s%s", v6 ? "[" : "", out->host,
           v6 ? "]" : "", portbuf);
  return 0;
}

int dps__url_parse(const char *url, dps__url *out, dps_error *err) {
  return parse_url(url, NULL, out, err);
}

/* ---------------------------------------------------------------------------------------------
 * Endpoint.
 */

/* Looks in the profile (step 3 of dps__endpoint_resolve_profile); 1 when found. */
static int from_profile(const dps__aws_profile *p, char *url, size_t urlsz, char *origin,
                        size_t originsz, dps_error *err) {
  const dps__ini *from = NULL;
  const char *services = dps__aws_profile_get(p, "services", NULL);
  long sec = services ? dps__aws_config_section(p->config, "services", services) : -1;
  if (sec >= 0) {
    const char *name = dps__ini_section_name(p->config, (size_t)sec);
    int rc = dps__ini_get_nested(p->config, name, DPS__SERVICE_CONFIG_ID, "endpoint_url", url,
                                 urlsz, err);
    if (rc < 0) return rc;
    if (rc == 1 && *url) {
      snprintf(origin, originsz, "%s [%s] %s", dps__ini_name(p->config), name,
               DPS__SERVICE_CONFIG_ID);
      return 1;
    }
  }
  const char *v = dps__aws_profile_get(p, "endpoint_url", &from);
  if (!v || !*v) return 0;
  if (strlen(v) >= urlsz)
    return dps__error_set(err, DPS_ECONFIG, "endpoint_url", "%s: longer than %zu bytes",
                          dps__ini_name(from), urlsz - 1);
  memcpy(url, v, strlen(v) + 1);
  snprintf(origin, originsz, "%s, profile %s", dps__ini_name(from), p->name);
  return 1;
}

/* Steps 2 and 3 of dps__endpoint_resolve_profile(): 1 when a URL was found and parsed. */
static int configured(const dps__aws_profile *p, dps__url *out, dps_error *err) {
  /* Like every botocore setting, the variable wins over the profile only when it is set. */
  const char *ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (!ignore) ignore = dps__aws_profile_get(p, "ignore_configured_endpoint_urls", NULL);
  if (ignore && strcasecmp(ignore, "true") == 0) return 0;
  static const char *const vars[] = {"AWS_ENDPOINT_URL_" DPS__SERVICE_ENV_ID, "AWS_ENDPOINT_URL"};
  for (size_t i = 0; i < 2; i++) {
    if (env(vars[i])) {
      int rc = parse_url(env(vars[i]), vars[i], out, err);
      return rc < 0 ? rc : 1;
    }
  }
  char url[2048], origin[1200];
  int rc = dps__aws_profile_require(p, err);
  if (rc == 0) rc = from_profile(p, url, sizeof url, origin, sizeof origin, err);
  if (rc == 1 && (rc = parse_url(url, origin, out, err)) == 0) rc = 1;
  return rc;
}

int dps__endpoint_resolve_profile(const char *explicit_url, const char *profile, const char *region,
                                  dps__url *out, dps_error *err) {
  if (explicit_url) return parse_url(explicit_url, NULL, out, err);
  dps__aws_profile p;
  int rc = dps__aws_profile_open(profile, &p, err);
  if (rc < 0) return rc;
  rc = configured(&p, out, err);
  dps__aws_profile_close(&p);
  if (rc != 0) return rc < 0 ? rc : 0;

  if (!region || !*region)
    return dps__error_set(err, DPS_ECONFIG, "region", "needed for the default endpoint, none set");
  if ((rc = dps__region_check(region, err)) < 0) return rc;
  char url[128];
  snprintf(url, sizeof url, "https://datapipeline.%s.amazonaws.com%s", region,
           strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
  return parse_url(url, NULL, out, err);
}

int dps__endpoint_resolve(const char *explicit_url, const char *region, dps__url *out,
                          dps_error *err) {
  return dps__endpoint_resolve_profile(explicit_url, NULL, region, out, err);
}
