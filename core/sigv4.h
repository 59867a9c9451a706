/*
 * sigv4.h: AWS Signature Version 4 (header signing, AWS4-HMAC-SHA256) for requests we send and
 * for requests the emulator verifies. Owns canonicalization (URI, query, headers), the string to
 * sign, the per-day signing-key cache, the Authorization header (writing and parsing) and the
 * constant-time signature comparison. Query signing (presigned URLs) is not supported.
 *
 * dps__sigv4_sign mutates the signer (key cache, scratch): give each signing thread its own.
 * The const functions only read it. Secrets never leave the signer, except the session token,
 * which has to be sent.
 */
#ifndef DPS_CORE_SIGV4_H
#define DPS_CORE_SIGV4_H

#include <openssl/sha.h> /* SHA256_CTX (the type; only sigv4.c calls the functions) */
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "dpstatus.h"

/* One request header as sent: name in any case, value untrimmed (it may hold obsolete line
 * folding, "a\r\n  b"). Neither needs a NUL. */
typedef struct dps__header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} dps__header;

/* Limits of the fields the signer writes into the Authorization value; they bound the fixed
 * arrays below so that signing never allocates for the result. */
#define DPS__SIGV4_ACCESS_KEY_ID_MAX 128
#define DPS__SIGV4_REGION_MAX 63
#define DPS__SIGV4_SERVICE_MAX 63
#define DPS__SIGV4_SIGNED_HEADERS_MAX 1535
#define DPS__SIGV4_AUTHORIZATION_MAX 2048

/* Credentials, scope and the cached signing key. Treat the fields as private; tests read
 * key_derivations. Zeroed memory is a valid "not initialized" state for dps__sigv4_signer_clear. */
typedef struct dps__sigv4_signer {
  char *strings; /* one allocation holding the five strings below, wiped on clear */
  size_t strings_size;
  const char *region, *service, *access_key_id, *session_token; /* token NULL: none */
  size_t region_len, service_len, access_key_id_len, session_token_len;
  const char *secret; /* "AWS4" followed by the secret access key: the first HMAC key */
  size_t secret_len;

  SHA256_CTX key_inner;          /* SHA-256 state after (signing key ^ ipad) */
  SHA256_CTX key_outer;          /* SHA-256 state after (signing key ^ opad) */
  char key_date[9];              /* YYYYMMDD the cached key is for; "" when none */
  unsigned long key_derivations; /* how many times the signing key was derived */
  dps__buf scratch;              /* the canonical request, reused from sign to sign */

  /* The request shape signed last (see dps__sigv4_sign): everything but the date and the body,
   * and its canonical request, in which only those two change from sign to sign. */
  dps__buf shape_key;      /* method, path, query, headers, signed list, flags; "" if none */
  dps__buf shape_cr;       /* its canonical request: the date at shape_date_off, the payload */
  size_t shape_date_off;   /* hash in the last 64 bytes */
  size_t shape_signed_off; /* the SignedHeaders list inside shape_cr */
  size_t shape_signed_len;
  unsigned shape_added;       /* what the signer added to it (date, token) */
  unsigned long shape_reuses; /* signs that took the shape's text instead of canonicalizing */
} dps__sigv4_signer;

/*
 * Copies the scope and credentials into @p s and fetches SHA-256. @p session_token NULL or ""
 * means none. Region and service must be 1..63 characters, the access key id 1..128, none of
 * them holding '/', ',', whitespace or control characters (they go into the credential scope).
 *
 * @return DPS_OK, DPS_EINVAL (a bad argument; @p s is left cleared), DPS_ENOMEM.
 */
int dps__sigv4_signer_init(dps__sigv4_signer *s, const char *region, const char *service,
                           const char *access_key_id, const char *secret_access_key,
                           const char *session_token);

/* Frees everything and wipes the secret, the token and the signing key. Idempotent. */
void dps__sigv4_signer_clear(dps__sigv4_signer *s);

enum {
  DPS__SIGV4_NORMALIZE_PATH = 1, /* remove dot segments and empty segments (all but S3) */
  DPS__SIGV4_SIGN_BODY = 2,      /* add and sign X-Amz-Content-Sha256 */
  DPS__SIGV4_OMIT_TOKEN = 4      /* X-Amz-Security-Token is sent but not signed (STS style) */
};

typedef struct dps__sigv4_request {
  const char *method;
  /* The path as on the request line (percent-escapes and all). It is URI-encoded once more,
   * as every AWS service but S3 expects: "/a b" signs as "/a%20b", "/a%20b" as "/a%2520b". */
  const char *path;
  size_t path_len;
  const char *query; /* raw query without '?': decoded then re-encoded; may be NULL/empty */
  size_t query_len;
  const dps__header *headers; /* as sent; duplicates allowed (joined with ',' in order) */
  size_t n_headers;
  /* NULL: sign every header given plus the ones the signer adds. Otherwise a ';'-separated
   * list of lowercase names, as in a received Authorization header: only those are signed, and
   * each must be present (given or added), else DPS_EINVAL. */
  const char *signed_headers;
  const void *payload;
  size_t payload_len;
  const char *payload_hash; /* NULL: computed from payload. Else used as is (1..64 chars) */
  const char *amz_date;     /* "20150830T123600Z"; also the X-Amz-Date value */
  unsigned flags;           /* DPS__SIGV4_* */
} dps__sigv4_request;

/* What to send. X-Amz-Date, X-Amz-Security-Token and X-Amz-Content-Sha256 are added by the
 * signer unless the request's headers already carry that name (then the field here is ""/NULL
 * and the given header is what got signed). */
typedef struct dps__sigv4_result {
  char signature[65];
  char amz_date[17];          /* X-Amz-Date value, or "" */
  const char *security_token; /* X-Amz-Security-Token value or NULL; points into the signer */
  char content_sha256[65];    /* X-Amz-Content-Sha256 value with DPS__SIGV4_SIGN_BODY, or "" */
  char authorization[DPS__SIGV4_AUTHORIZATION_MAX]; /* the Authorization value, NUL-terminated */
  size_t authorization_len;
} dps__sigv4_result;

/*
 * Signs @p r. Derives the signing key only when the request's day differs from the cached one.
 * Allocates nothing in the steady state: the scratch buffer grows to the largest
 * request; only more than 32 headers, more than 512 bytes of header names, or a query take
 * temporary memory.
 *
 * @return DPS_OK, or
 *         DPS_EINVAL  malformed amz_date or payload_hash, a listed signed header missing, or a
 *                     signed-header list too long for the Authorization value,
 *         DPS_ENOMEM.
 */
int dps__sigv4_sign(dps__sigv4_signer *s, const dps__sigv4_request *r, dps__sigv4_result *out);

/* Appends the canonical request / the string to sign of @p r to @p out (for tests and dry-run
 * output; they hold no secret). Same errors as dps__sigv4_sign. */
int dps__sigv4_canonical_request(const dps__sigv4_signer *s, const dps__sigv4_request *r,
                                 dps__buf *out);
int dps__sigv4_string_to_sign(const dps__sigv4_signer *s, const dps__sigv4_request *r,
                              dps__buf *out);

/* The parts of a received Authorization value, copied and NUL-terminated. */
typedef struct dps__sigv4_auth {
  char access_key_id[DPS__SIGV4_ACCESS_KEY_ID_MAX + 1];
  char date[9]; /* YYYYMMDD of the credential scope */
  char region[DPS__SIGV4_REGION_MAX + 1];
  char service[DPS__SIGV4_SERVICE_MAX + 1];
  char signed_headers[DPS__SIGV4_SIGNED_HEADERS_MAX + 1]; /* usable as request.signed_headers */
  char signature[65];
} dps__sigv4_auth;

/*
 * Parses "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/svc/aws4_request,
 * SignedHeaders=a;b, Signature=<64 lowercase hex>" (components in any order, each once; optional
 * spaces after commas). Pure and thread-safe.
 *
 * @return DPS_OK, or DPS_EINVAL with @p err (when not NULL) saying what is wrong, field
 *         "Authorization".
 */
int dps__sigv4_parse_authorization(const char *value, size_t len, dps__sigv4_auth *out,
                                   dps_error *err);

/* True when @p a and @p b are both 64-character signatures and equal; the comparison of the
 * contents takes the same time wherever they differ. */
bool dps__sigv4_signature_equal(const char *a, const char *b);

#endif
