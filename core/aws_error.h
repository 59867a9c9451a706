/*
 * aws_error.h: reading an AWS JSON 1.1 error response (status, body, x-amzn-errortype,
 * x-amzn-requestid) into a code, a message and a request id, as the AWS SDKs read them. Pure and
 * thread-safe; never fails, whatever the body holds.
 */
#ifndef DPS_CORE_AWS_ERROR_H
#define DPS_CORE_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dps__aws_error {
  int http_status;      /* 0 = no HTTP response (transport failure) */
  char code[128];       /* "ThrottlingException"; "" when none could be found */
  char message[1024];   /* truncated safely at a UTF-8 boundary when longer */
  char request_id[128]; /* x-amzn-requestid (or x-amz-request-id), "" when absent */
  bool body_was_json;   /* the body parsed as a JSON object (the only shape of an AWS error) */
} dps__aws_error;

/*
 * Fills @p out (always, completely) from one HTTP response.
 *
 * @p body is @p body_len bytes, not NUL-terminated, and may be NULL when @p body_len is 0.
 * @p error_type_header is the x-amzn-errortype value or NULL; @p request_id_header is the
 * x-amzn-requestid value (the caller falls back on x-amz-request-id) or NULL. Header values are
 * NUL-terminated.
 *
 * The code is the first of: the body's "__type", its "code" or "Code" (string members only), the
 * x-amzn-errortype header; each is sanitized as the SDKs do: cut at the first ':' or ',' (a URL
 * suffix, or a repeated header joined by commas), keep what follows the last '#' (a namespace),
 * trim blanks. A source that sanitizes to "" counts as absent. The message is the body's
 * "message", "Message" or "errorMessage" (the first non-empty string).
 *
 * When the response is an error (status >= 300) and nothing better was found: the code is the
 * status in decimal ("503"), as botocore reports it, so logs read the same as the aws CLI's and we
 * never claim the service said something it did not (classification works on the status anyway);
 * the message is the status's reason phrase ("Service Unavailable"), or "HTTP 599" for a status
 * with none. A 2xx or status 0 response gets no invented code or message.
 *
 * Bodies longer than DPS__AWS_ERROR_MAX_JSON are not parsed (an AWS error document is a few
 * hundred bytes; anything that large is a proxy's page or a bug).
 */
void dps__aws_error_parse(int http_status, const char *body, size_t body_len,
                          const char *error_type_header, const char *request_id_header,
                          dps__aws_error *out);

#define DPS__AWS_ERROR_MAX_JSON ((size_t)256 * 1024)

/* The RFC 9110 reason phrase of @p status ("Too Many Requests"), or NULL when we know none.
 * HTTP/2 carries no reason phrase, so this is the one table both the client and the emulator use.
 */
const char *dps__http_reason(int status);

#endif
