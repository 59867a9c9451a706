/*
 * request.h: the signed HTTP request of one SetTaskStatus call (method, path, headers, body), as
 * every transport sends it: HTTP/2 uses the lowercase names as they are, HTTP/1.1 and the
 * dry-run print them in their usual capitalisation.
 */
#ifndef DPS_CORE_REQUEST_H
#define DPS_CORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/sigv4.h"

#define DPS__SERVICE_NAME "datapipeline" /* signing name and endpoint prefix */
#define DPS__JSON_CONTENT_TYPE "application/x-amz-json-1.1"
#define DPS__TARGET_SET_TASK_STATUS "DataPipeline.SetTaskStatus"
#define DPS__REQUEST_MAX_HEADERS 10

/* Owns nothing but its own storage; headers point into it and into the borrowed body, so the
 * struct must not be copied once filled. */
typedef struct dps__http_request {
  const char *method;
  const char *path;                              /* borrowed from the caller */
  const char *authority;                         /* borrowed; also the Host header */
  dps__header headers[DPS__REQUEST_MAX_HEADERS]; /* lowercase names, HTTP/2-ready */
  size_t n_headers;
  const char *body; /* borrowed */
  size_t body_len;
  char content_length[24];
  dps__sigv4_result sig; /* holds X-Amz-Date and Authorization */
} dps__http_request;

/*
 * Builds the unsigned request: POST @p path to @p authority carrying @p target with the JSON
 * @p body (host, content-type, x-amz-target, content-length, user-agent). For endpoints that check
 * no signature (tests, `serve --auth none`); dps__request_sign builds on it.
 */
void dps__request_init(dps__http_request *out, const char *authority, const char *path,
                       const char *target, const char *body, size_t body_len);

/*
 * Builds and signs POST @p path to @p authority carrying @p target (e.g.
 * DPS__TARGET_SET_TASK_STATUS) with the JSON @p body, at @p amz_date ("20150830T123600Z").
 * Signed headers: host, content-type, x-amz-date, x-amz-target, and x-amz-security-token when the
 * signer has a session token. Not signed: content-length, user-agent.
 * @return DPS_OK, or the signer's error.
 */
int dps__request_sign(dps__sigv4_signer *s, const char *authority, const char *path,
                      const char *target, const char *amz_date, const char *body, size_t body_len,
                      dps__http_request *out);

/* Appends the request as HTTP/1.1 text (request line, headers, blank line, body). With
 * @p redact_token the session token is replaced by a placeholder: it is a credential. */
void dps__request_dump_http1(const dps__http_request *r, bool redact_token, dps__buf *out);

#endif
