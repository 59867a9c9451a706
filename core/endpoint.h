/*
 * endpoint.h: which region we talk to and at which URL, resolved in the AWS CLI's order, and the
 * parser for endpoint URLs.
 */
#ifndef DPS_CORE_ENDPOINT_H
#define DPS_CORE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpstatus.h"

/* Longest region name we accept: one DNS label. */
#define DPS__REGION_MAX 63

/*
 * Resolves the region: @p explicit_region (--region), then AWS_REGION, then AWS_DEFAULT_REGION
 * (botocore reads only the latter; the other SDKs read both, in this order), then `region` in
 * the profile (@p profile, else AWS_PROFILE, else "default"): the credentials file's [NAME]
 * section first, then the config file's profile section, as botocore merges them.
 * Empty variables count as unset. The name must be a DNS label of lowercase letters, digits and
 * hyphens (us-east-1, cn-north-1, us-gov-west-1, eu-isoe-west-1).
 *
 * @return 0 with @p out filled, or
 *         DPS_ECONFIG none set ("region: none set; use --region, ..."), a malformed name (the
 *                     message says where it came from), a named profile in neither file, a
 *                     malformed file,
 *         DPS_EINVAL  @p outsz is too small for the name,
 *         DPS_EIO, DPS_ENOMEM reading the files.
 */
int dps__region_resolve(const char *explicit_region, const char *profile, char *out, size_t outsz,
                        dps_error *err);

/* 0 when @p name is a valid region name (see dps__region_resolve), else DPS_ECONFIG naming it. */
int dps__region_check(const char *name, dps_error *err);

/* A parsed http(s) endpoint URL. */
typedef struct dps__url {
  bool tls;            /* https */
  char host[256];      /* lowercase; no brackets for IPv6 */
  uint16_t port;       /* 443 or 80 when the URL has none */
  bool port_explicit;  /* the URL had a port */
  char authority[300]; /* the Host header: host or [v6], ":port" only when not the default */
  char path[1024];     /* "/" when the URL has none */
} dps__url;

/*
 * Parses an absolute http or https URL (scheme case-insensitive): host as a DNS name, an IPv4
 * address or a bracketed IPv6 address, an optional port 1-65535 and an optional path of RFC 3986
 * characters. Refuses, naming what is wrong: other schemes, userinfo ("user@"), a query or a
 * fragment, an empty host or port, blanks, control and non-ASCII characters, bad percent escapes.
 *
 * @return 0, or DPS_ECONFIG with `endpoint URL "ftp://x": scheme must be http or https`
 *         (err->field "endpoint_url").
 */
int dps__url_parse(const char *url, dps__url *out, dps_error *err);

/* The Data Pipeline service id, for AWS_ENDPOINT_URL_<ID> and the [services] sub-section key. */
#define DPS__SERVICE_ENV_ID "DATA_PIPELINE"
#define DPS__SERVICE_CONFIG_ID "data_pipeline"

/*
 * Resolves the endpoint, first found wins:
 *  1. @p explicit_url (--endpoint-url);
 *  2. AWS_ENDPOINT_URL_DATA_PIPELINE, then AWS_ENDPOINT_URL;
 *  3. the profile's config: `data_pipeline = \n  endpoint_url = ...` in the [services NAME]
 *     section that the profile's `services = NAME` points to, then the profile's `endpoint_url`;
 *  4. https://datapipeline.{region}.amazonaws.com (.amazonaws.com.cn for cn- regions).
 * Steps 2 and 3 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (else the profile's
 * ignore_configured_endpoint_urls) is "true", as botocore does.
 * @p profile is --profile or NULL (then AWS_PROFILE, else "default"). @p region is only needed
 * for step 4 and is checked there.
 *
 * @return 0, or DPS_ECONFIG (a malformed URL, naming its source; no or a bad region for the
 *         default endpoint; a malformed file), DPS_EIO, DPS_ENOMEM.
 */
int dps__endpoint_resolve_profile(const char *explicit_url, const char *profile, const char *region,
                                  dps__url *out, dps_error *err);

/* dps__endpoint_resolve_profile() with the profile taken from AWS_PROFILE, else "default". */
int dps__endpoint_resolve(const char *explicit_url, const char *region, dps__url *out,
                          dps_error *err);

#endif
