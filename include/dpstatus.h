/*
 * dpstatus.h: the public API of libdpstatus, which reports task outcomes to the AWS Data Pipeline
 * SetTaskStatus API. This is the only header users include; everything it does not declare is
 * internal and hidden from the shared library.
 *
 * Conventions (after nghttp2 and libuv):
 *  - every function returns an int status: 0 (DPS_OK) on success, a negative DPS_E* code on error;
 *    results come back through out-parameters;
 *  - dps_strerror() and dps_err_name() turn a code into text for users and logs;
 *  - configuration structs are filled with defaults by their *_init() function;
 *  - strings are (pointer, length) pairs; a length of DPS_NTS means "NUL-terminated, use strlen".
 */
#ifndef DPSTATUS_H
#define DPSTATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DPS_BUILDING_LIBRARY)
#define DPS_EXTERN __attribute__((visibility("default")))
#else
#define DPS_EXTERN
#endif

#define DPS_VERSION_MAJOR 0
#define DPS_VERSION_MINOR 1
#define DPS_VERSION_PATCH 0
#define DPS_VERSION_STRING "0.1.0"

/** Returns the library's version, e.g. "0.1.0". Thread-safe; the string is static. */
DPS_EXTERN const char *dps_version(void);

/* ---------------------------------------------------------------------------------------------
 * Error codes. Stable values in the range [-1, -99]; never reuse a retired number.
 */
enum dps_status_code {
  DPS_OK = 0,
  DPS_EINVAL = -1,   /**< an argument or an update breaks the rules; see the dps_error detail */
  DPS_EFULL = -2,    /**< the queue is full and the policy is to fail at once */
  DPS_ECLOSED = -3,  /**< the reporter is closing or closed */
  DPS_ENOMEM = -4,   /**< an allocation failed */
  DPS_ENOCREDS = -5, /**< no AWS credentials were found in any source */
  DPS_ECONFIG = -6,  /**< a configuration value or file is malformed (region, endpoint, profile) */
  DPS_EIO = -7,      /**< reading a file failed */
  DPS_ETOOBIG = -8,  /**< the request body would exceed the configured limit */
  DPS_ECRYPTO = -9   /**< the crypto library failed (should not happen) */
};

/** Returns a short English description of @p code ("the queue is full"). Never NULL; static. */
DPS_EXTERN const char *dps_strerror(int code);

/** Returns the symbolic name of @p code ("DPS_EFULL"), for logs. Never NULL; static. */
DPS_EXTERN const char *dps_err_name(int code);

/**
 * Detail of a refusal: which field broke which rule, as one line meant for a person, e.g.
 * "taskId: 2049 characters, the limit is 2048". Filled by the functions that take a dps_error *;
 * owned by the caller (it lives wherever the caller put it; no shared "last error").
 */
typedef struct dps_error {
  int code;          /**< the DPS_E* code returned alongside */
  char field[32];    /**< the field or setting at fault ("taskId", "region"), or "" */
  char message[256]; /**< the whole one-line message, field first */
} dps_error;

/* ---------------------------------------------------------------------------------------------
 * The update: one SetTaskStatus call.
 */

/** A length meaning "the string is NUL-terminated: measure it". */
#define DPS_NTS ((size_t)-1)

/** The three values the service model allows for taskStatus. */
typedef enum dps_task_status {
  DPS_TASK_FINISHED = 1,
  DPS_TASK_FAILED = 2,
  DPS_TASK_FALSE = 3
} dps_task_status;

/** Returns "FINISHED", "FAILED" or "FALSE", or NULL for a value outside the enum. */
DPS_EXTERN const char *dps_task_status_name(dps_task_status s);

/**
 * Parses the wire name of a task status (exact, case-sensitive as the service is).
 * @return DPS_OK, or DPS_EINVAL when @p name is not one of FINISHED, FAILED, FALSE.
 */
DPS_EXTERN int dps_task_status_parse(const char *name, size_t len, dps_task_status *out);

/**
 * One status update. The strings are borrowed: functions that keep an update copy what they
 * need. An optional field is absent when its pointer is NULL (and then its length is ignored);
 * present and empty is a non-NULL pointer with length 0, which the model allows for errorId and
 * errorStackTrace.
 *
 * Rules (from the service model, lengths in Unicode code points, not bytes):
 *  - taskId: 1 to 2048 characters;
 *  - errorId, errorStackTrace: at most 1024 characters; errorId must not start with "Service_";
 *  - errorMessage: any length;
 *  - every string is valid UTF-8 (no overlong forms, no encoded surrogates, nothing past
 *    U+10FFFF); taskId, errorId and errorStackTrace carry only tab, CR, LF, U+0020-U+D7FF,
 *    U+E000-U+FFFD and U+10000-U+10FFFF (the model's pattern; errorMessage has none);
 *  - the encoded request body is at most the configured limit (default 1 MiB).
 */
typedef struct dps_update {
  const char *task_id;
  size_t task_id_len;
  dps_task_status task_status;
  const char *error_id;
  size_t error_id_len;
  const char *error_message;
  size_t error_message_len;
  const char *error_stack_trace;
  size_t error_stack_trace_len;
} dps_update;

/** The default cap on one request body, in bytes. */
#define DPS_DEFAULT_MAX_BODY_BYTES ((size_t)1 << 20)

/**
 * Checks @p u against the service model and a body limit of @p max_body_bytes (0 = the default).
 * Pure and thread-safe.
 *
 * @return DPS_OK, or DPS_EINVAL / DPS_ETOOBIG with @p err (when not NULL) naming the field and
 *         the rule, e.g. "errorId: must not start with \"Service_\"".
 */
DPS_EXTERN int dps_update_validate(const dps_update *u, size_t max_body_bytes, dps_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DPSTATUS_H */
