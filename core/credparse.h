/*
 * credparse.h: the documents temporary credentials arrive in: EC2 instance metadata's
 * security-credentials answer, the ECS/EKS container endpoint's and credential_process's output
 * (Version 1), all JSON, and STS's AssumeRole and AssumeRoleWithWebIdentity answers (query
 * protocol, XML, read with core/xml.h). Pure: no I/O. Every refusal is DPS_ECREDS naming the
 * document and what is wrong, and no message ever quotes a secret, a token or the body.
 */
#ifndef DPS_CORE_CREDPARSE_H
#define DPS_CORE_CREDPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/credentials.h"
#include "dpstatus.h"

#define DPS__CREDDOC_MAX_BYTES (64 * 1024) /* larger answers are refused unread */
#define DPS__CREDDOC_NO_EXPIRY INT64_MAX

typedef struct dps__cred_doc {
  dps__credentials creds; /* owned strings; source left "" for the caller */
  int64_t expiration_ms;  /* epoch ms; DPS__CREDDOC_NO_EXPIRY when the document gives none */
} dps__cred_doc;

/* Wipes the secrets, frees, zeroes. Safe on a zeroed struct. */
void dps__cred_doc_free(dps__cred_doc *d);

/* GET /latest/meta-data/iam/security-credentials/ROLE: Code "Success" (when present), Type
 * "AWS-HMAC" (when present), AccessKeyId, SecretAccessKey, Token, Expiration (RFC 3339). */
int dps__cred_parse_imds(const char *body, size_t len, dps__cred_doc *out, dps_error *err);

/* The container endpoint: AccessKeyId, SecretAccessKey, Token, Expiration; an error document
 * ({"code","message"}, any case) is reported with its code and message. */
int dps__cred_parse_container(const char *body, size_t len, dps__cred_doc *out, dps_error *err);

/* credential_process's stdout: Version 1 (a whole number), AccessKeyId, SecretAccessKey,
 * optional SessionToken and Expiration (none: the credentials never expire). */
int dps__cred_parse_process(const char *body, size_t len, dps__cred_doc *out, dps_error *err);

/* STS's answer to @p action ("AssumeRole", "AssumeRoleWithWebIdentity"): the Credentials of
 * <{action}Response><{action}Result> (AccessKeyId, SecretAccessKey, SessionToken, Expiration, all
 * required), or an <ErrorResponse> reported with its Code and Message. */
int dps__cred_parse_sts(const char *body, size_t len, const char *action, dps__cred_doc *out,
                        dps_error *err);

#endif
