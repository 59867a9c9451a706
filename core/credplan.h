/*
 * credplan.h: which credential provider applies, decided from the configuration alone (explicit
 * values, the environment, the shared files), with no network and no process run: the AWS CLI's
 * default chain (botocore's, less SSO and the legacy boto files) as a plan that the sender then
 * carries out, once for static keys, again before each expiry for temporary ones.
 *
 * The chain, first that applies wins:
 *   1. explicit configuration (dps_config's keys);
 *   2. the environment (AWS_ACCESS_KEY_ID...), skipped when a profile is named by --profile;
 *   3. an assume-role profile: role_arn with source_profile (followed through chains, cycles
 *      refused) or credential_source (Environment, Ec2InstanceMetadata, EcsContainer);
 *   4. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), or
 *      the profile's web_identity_token_file + role_arn;
 *   5. an SSO profile (sso_session, sso_start_url): refused by name, not supported yet;
 *   6. the shared credentials file's static keys;
 *   7. credential_process;
 *   8. the config file's static keys;
 *   9. the container endpoint (ECS, EKS pod identity): when its variables are set it is final;
 *  10. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED=true.
 * A profile that asks for something refused (mfa_serial, SSO) is an error naming it, never
 * skipped silently.
 */
#ifndef DPS_CORE_CREDPLAN_H
#define DPS_CORE_CREDPLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/credentials.h"
#include "dpstatus.h"

typedef enum dps__cred_kind {
  DPS__CRED_STATIC = 0,   /* keys at hand: explicit, environment, shared files */
  DPS__CRED_ASSUME_ROLE,  /* sts:AssumeRole, signed with the source's credentials */
  DPS__CRED_WEB_IDENTITY, /* sts:AssumeRoleWithWebIdentity, unsigned, with a token file */
  DPS__CRED_PROCESS,      /* credential_process */
  DPS__CRED_CONTAINER,    /* the ECS / EKS container credentials endpoint */
  DPS__CRED_IMDS          /* EC2 instance metadata */
} dps__cred_kind;

/* Assumed-role sessions: the service's bounds on DurationSeconds. */
#define DPS__CRED_DURATION_MIN 900
#define DPS__CRED_DURATION_MAX 43200
#define DPS__CRED_ROLE_CHAIN_MAX 16 /* source_profile hops followed */

typedef struct dps__cred_plan dps__cred_plan;
struct dps__cred_plan {
  dps__cred_kind kind;
  /* What applies and where it was configured, for messages and dps_stats: "environment",
   * "assume-role profile dev (arn:aws:iam::1:role/r)", "EC2 instance metadata"; never a
   * secret. */
  char name[1200];
  dps__credentials creds; /* STATIC */
  struct {                /* ASSUME_ROLE and WEB_IDENTITY */
    char *arn;
    char *session_name;     /* NULL: the provider makes one ("dpstatus-<time>") */
    char *external_id;      /* ASSUME_ROLE, NULL: none */
    char *token_file;       /* WEB_IDENTITY: read again on every fetch */
    uint32_t duration_s;    /* 0: the service's default (3600) */
    dps__cred_plan *source; /* ASSUME_ROLE: where the credentials that sign it come from */
    char sts_url[512];      /* https://sts.{region}.amazonaws.com, or AWS_ENDPOINT_URL(_STS) */
  } role;
  char **argv; /* PROCESS: the command, split as a POSIX shell would, never run by one */
  struct {     /* CONTAINER */
    char url[1024];
    char *token;      /* AWS_CONTAINER_AUTHORIZATION_TOKEN, NULL: none */
    char *token_file; /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (wins), re-read each fetch */
  } container;
  struct {              /* IMDS */
    char endpoint[512]; /* http://169.254.169.254 or http://[fd00:ec2::254] or the variable's */
    uint32_t timeout_ms, attempts;
    bool v1_disabled;
  } imds;
};

typedef struct dps__cred_plan_options {
  const char *access_key_id, *secret_access_key, *session_token; /* explicit; NULL: none */
  const char *profile; /* --profile; NULL: AWS_PROFILE, else "default" */
  const char *region;  /* for the STS endpoint; NULL: us-east-1's global partition rules apply
                          only if a role is assumed, and then a region is required */
} dps__cred_plan_options;

/*
 * Decides the plan. On success *@p out is the plan (free with dps__cred_plan_free). Errors name
 * the setting and its file:
 *   DPS_ECONFIG  malformed values and files, role_arn with both or neither of source_profile and
 *                credential_source, an unknown credential_source, a source_profile cycle or a
 *                missing one, mfa_serial ("not supported: it needs a code typed at each
 *                refresh"), an SSO profile ("not supported yet"), web identity without a role
 *                ARN, a container URL whose host is not allowed, a bad duration_seconds or
 *                metadata timeout, an unbalanced quote in credential_process;
 *   DPS_ENOCREDS nothing applies (instance metadata disabled); the message lists where it looked;
 *   DPS_EIO, DPS_ENOMEM.
 * Reads the environment: not thread-safe against concurrent setenv().
 */
int dps__cred_plan_resolve(const dps__cred_plan_options *o, dps__cred_plan **out, dps_error *err);

/* Frees the plan and its sources, wiping secrets. NULL is fine. */
void dps__cred_plan_free(dps__cred_plan *p);

/* "static", "assume-role", "web-identity", "process", "container", "imds". */
const char *dps__cred_kind_name(dps__cred_kind k);

/*
 * Splits @p cmd as POSIX sh does words (blanks separate; '...' literal; "..." with \\ \" \$ \`
 * escapes; a backslash outside quotes escapes the next byte), without any expansion: what
 * botocore's compat_shell_split does on POSIX. *@p argv is a NULL-terminated array (free with
 * dps__argv_free). DPS_ECONFIG on an unbalanced quote or a trailing backslash, or when there is
 * no word; DPS_ENOMEM.
 */
int dps__shell_split(const char *cmd, char ***argv, dps_error *err);
void dps__argv_free(char **argv);

#endif
