/*
 * credentials.h: where AWS credentials come from, in the AWS CLI's (botocore's) order, and the
 * profile view of the shared files (~/.aws/credentials and ~/.aws/config) that region and
 * endpoint resolution read too.
 *
 * Not supported (the resolver says so when a profile relies on them): assume-role (role_arn),
 * credential_process, SSO, web identity, container and instance-metadata credentials.
 */
#ifndef DPS_CORE_CREDENTIALS_H
#define DPS_CORE_CREDENTIALS_H

#include <stdbool.h>

#include "core/ini.h"
#include "dpstatus.h"

typedef struct dps__credentials {
  char *access_key_id;
  char *secret_access_key;
  char *session_token; /* NULL when none */
  /* Where they came from, for messages: "environment", "shared credentials file /x (profile
   * dev)"... never a secret. */
  char source[160];
} dps__credentials;

typedef struct dps__cred_options {
  /* Explicit configuration, all optional; key id and secret go together. */
  const char *access_key_id, *secret_access_key, *session_token;
  /* --profile; NULL: AWS_PROFILE, else "default". */
  const char *profile;
} dps__cred_options;

/*
 * Resolves credentials, first source that has them wins:
 *  1. @p o's explicit key id + secret (+ token);
 *  2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and AWS_SECURITY_TOKEN or
 *     AWS_SESSION_TOKEN (botocore reads them in that order). Skipped when AWS_ACCESS_KEY_ID is
 *     unset or empty, and skipped entirely when @p o->profile is set: botocore drops its
 *     environment provider when a profile is given explicitly (--profile), but not for
 *     AWS_PROFILE;
 *  3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials),
 *     section [NAME];
 *  4. the config file (AWS_CONFIG_FILE, else $HOME/.aws/config), section [profile NAME], or
 *     [default] for the default profile.
 * In both files the keys are aws_access_key_id, aws_secret_access_key and aws_security_token or
 * aws_session_token. A missing file is skipped; an unreadable or malformed one is an error.
 *
 * @p o may be NULL (no explicit values, no --profile). On success @p out owns copies of the
 * strings; release them with dps__credentials_free(). Reads the environment: not thread-safe
 * against concurrent setenv().
 *
 * @return 0, or
 *         DPS_ECONFIG  a key id without a secret (or the reverse) in any source, an empty or
 *                      malformed value, a profile named explicitly (--profile or AWS_PROFILE) that
 *                      is in neither file, a malformed file (the message names file and line),
 *         DPS_EIO      a file exists but cannot be read,
 *         DPS_ENOCREDS no source had credentials; the message lists where it looked,
 *         DPS_ENOMEM.
 * Messages never contain a secret.
 */
int dps__credentials_resolve(const dps__cred_options *o, dps__credentials *out, dps_error *err);

/* Overwrites the secrets, frees the strings and zeroes @p c. Safe on a zeroed struct. */
void dps__credentials_free(dps__credentials *c);

/*
 * The static steps of the chain, for core/credplan.c: each returns 1 with @p out filled, 0 when
 * its source has no keys, or an error (the message names the setting, never a value).
 * The explicit configuration; the environment (AWS_ACCESS_KEY_ID ...); section @p p of the
 * shared credentials file (@p config_file false) or of the config file (true).
 */
int dps__credentials_explicit(const dps__cred_options *o, dps__credentials *out, dps_error *err);
int dps__credentials_env(dps__credentials *out, dps_error *err);
struct dps__aws_profile;
int dps__credentials_profile(const struct dps__aws_profile *p, bool config_file,
                             dps__credentials *out, dps_error *err);

/* Frees @p s after overwriting it (secrets). NULL is fine. */
void dps__wipe_free(char *s);

/* ---------------------------------------------------------------------------------------------
 * The shared files as one profile sees them (botocore's "scoped config").
 */
typedef struct dps__aws_profile {
  char name[128];
  bool named;             /* given by --profile or AWS_PROFILE, not the implied "default" */
  bool from_option;       /* given by --profile */
  char cred_path[1024];   /* "" when neither the variable nor HOME says where */
  char config_path[1024]; /* likewise */
  dps__ini *cred;         /* NULL when the file does not exist */
  dps__ini *config;       /* NULL when the file does not exist */
  long cred_section;      /* the profile's section in cred, or -1 */
  long config_section;    /* the profile's section in config, or -1 */
} dps__aws_profile;

/*
 * Picks the profile name (@p profile, else AWS_PROFILE, else "default") and loads both files.
 * Does not fail when the profile is absent: see dps__aws_profile_require().
 * @return 0, DPS_ECONFIG (a file is malformed, an empty or overlong profile name), DPS_EIO,
 *         DPS_ENOMEM. On failure @p p needs no closing.
 */
int dps__aws_profile_open(const char *profile, dps__aws_profile *p, dps_error *err);
void dps__aws_profile_close(dps__aws_profile *p);

/* DPS_ECONFIG when the profile was named explicitly and is in neither file, else 0. */
int dps__aws_profile_require(const dps__aws_profile *p, dps_error *err);

/*
 * The profile's @p key as botocore's scoped config has it: the credentials file's [NAME] section
 * first (botocore lays it over the config file's profile), then the config file's profile
 * section. NULL when absent. *from (when not NULL) gets the file that had it, for messages.
 */
const char *dps__aws_profile_get(const dps__aws_profile *p, const char *key, const dps__ini **from);

/*
 * Index of the config file section that declares "<kind> <name>" ("profile dev",
 * "services local"), or -1. Follows botocore: the name may be quoted ("profile \"my dev\""),
 * extra blanks are ignored, the last matching section wins, and for kind "profile" a bare
 * [default] names the default profile (no other bare [NAME] is a profile in the config file).
 */
long dps__aws_config_section(const dps__ini *config, const char *kind, const char *name);

#endif
