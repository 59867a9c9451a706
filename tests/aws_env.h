/*
 * aws_env.h: a cmocka fixture for tests that read AWS settings: a fresh temporary HOME, every AWS_*
 * variable we read saved and unset (restored on teardown), and a helper that writes files under it.
 * Header-only, for test programs (one translation unit each).
 */
#ifndef DPS_TESTS_AWS_ENV_H
#define DPS_TESTS_AWS_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const aws_env_vars[] = {"HOME",
                                           "AWS_ACCESS_KEY_ID",
                                           "AWS_SECRET_ACCESS_KEY",
                                           "AWS_SESSION_TOKEN",
                                           "AWS_SECURITY_TOKEN",
                                           "AWS_PROFILE",
                                           "AWS_SHARED_CREDENTIALS_FILE",
                                           "AWS_CONFIG_FILE",
                                           "AWS_REGION",
                                           "AWS_DEFAULT_REGION",
                                           "AWS_ENDPOINT_URL",
                                           "AWS_ENDPOINT_URL_DATA_PIPELINE",
                                           "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                                           "AWS_ENDPOINT_URL_STS",
                                           "AWS_WEB_IDENTITY_TOKEN_FILE",
                                           "AWS_ROLE_ARN",
                                           "AWS_ROLE_SESSION_NAME",
                                           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                           "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                           "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                           "AWS_EC2_METADATA_DISABLED",
                                           "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                           "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                           "AWS_EC2_METADATA_V1_DISABLED",
                                           "AWS_METADATA_SERVICE_TIMEOUT",
                                           "AWS_METADATA_SERVICE_NUM_ATTEMPTS"};
#define AWS_ENV_NVARS (sizeof aws_env_vars / sizeof aws_env_vars[0])

typedef struct fixture {
  char dir[64];
  char *saved[AWS_ENV_NVARS];
} fixture;

static inline int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/dps-test-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  for (size_t i = 0; i < AWS_ENV_NVARS; i++) {
    const char *v = getenv(aws_env_vars[i]);
    f->saved[i] = v ? strdup(v) : NULL;
    unsetenv(aws_env_vars[i]);
  }
  setenv("HOME", f->dir, 1);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fixture *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  for (size_t i = 0; i < AWS_ENV_NVARS; i++) {
    if (f->saved[i])
      setenv(aws_env_vars[i], f->saved[i], 1);
    else
      unsetenv(aws_env_vars[i]);
    free(f->saved[i]);
  }
  free(f);
  return 0;
}

/* Writes @p text to <dir>/<rel>, creating <dir>/.aws when needed; returns the path (static). */
static inline const char *put(void **state, const char *rel, const char *text) {
  fixture *f = *state;
  static char path[256];
  char aws[128];
  snprintf(aws, sizeof aws, "%s/.aws", f->dir);
  mkdir(aws, 0700);
  snprintf(path, sizeof path, "%s/%s", f->dir, rel);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  return path;
}

static inline const char *dir(void **state) { return ((fixture *)*state)->dir; }

#endif
