/*
 * auth.h: SigV4 verification of received requests, as AWS's JSON services do it: the checks in
 * their order (Authorization present and AWS4, well formed, X-Amz-Date within 5 minutes, host
 * signed, credential scope, access key, session token, signature) and AWS's error codes and
 * wording for each. Owns the credentials the emulator accepts and a small per-region cache of
 * signers (a signer caches its signing key per day only, so each region needs its own).
 */
#ifndef DPS_EMULATOR_AUTH_H
#define DPS_EMULATOR_AUTH_H

#include <stdint.h>

#include "core/buf.h"
#include "core/sigv4.h"
#include "dpstatus.h"
#include "emulator/metrics.h"

#define DPS__EMU_AUTH_SIGNERS 4
#define DPS__EMU_SIGNING_NAME "datapipeline"
#define DPS__EMU_SKEW_MS (5 * 60 * 1000)

typedef struct dps__emu_auth {
  char *access_key_id, *secret_access_key, *session_token; /* token NULL: none */
  const char *region;                                      /* required scope, NULL: any */
  struct {
    dps__sigv4_signer signer;
    char region[DPS__SIGV4_REGION_MAX + 1];
    uint64_t used; /* for LRU replacement */
  } signers[DPS__EMU_AUTH_SIGNERS];
  uint64_t tick;
  dps__buf scratch;
} dps__emu_auth;

/* Takes copies of the credentials (@p session_token NULL or "": none). @p region NULL: any. */
int dps__emu_auth_init(dps__emu_auth *a, const char *access_key_id, const char *secret_access_key,
                       const char *session_token, const char *region);
void dps__emu_auth_clear(dps__emu_auth *a);

/* One received request, as the service sees it. */
typedef struct dps__emu_auth_request {
  const char *method;
  const char *path; /* raw target, query included */
  size_t path_len;
  const dps__header *headers; /* names lowercase */
  size_t n_headers;
  const void *body;
  size_t body_len;
} dps__emu_auth_request;

/* Verifies @p r against the server clock @p now_ms. Returns DPS__EMU_OK or the error outcome
 * (MISSING_AUTH, INCOMPLETE_SIGNATURE, INVALID_SIGNATURE, UNRECOGNIZED_CLIENT, INTERNAL) with
 * AWS's message appended to @p message. */
dps__emu_outcome dps__emu_auth_verify(dps__emu_auth *a, const dps__emu_auth_request *r,
                                      int64_t now_ms, dps__buf *message);

/* The value of header @p name (lowercase) in @p h, or NULL; *@p len its length. */
const char *dps__emu_header(const dps__header *h, size_t n, const char *name, size_t *len);

#endif
