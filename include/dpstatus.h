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
  DPS_ECRYPTO = -9,  /**< the crypto library failed (should not happen) */
  DPS_ETIMEDOUT = -10, /**< the wait ended before the work did */
  DPS_ECREDS = -11 /**< a credential source was found but failed; the message names it and why */
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

/* ---------------------------------------------------------------------------------------------
 * The reporter: producers submit, a sender reports.
 *
 * A reporter owns a bounded lock-free queue, a sender (its own thread, or the caller's libevent
 * loop) and a few HTTP/2 connections to one endpoint. dps_submit validates, encodes and queues an
 * update and returns at once; the sender signs and sends it, retries what can be retried, and
 * calls the result callback exactly once per accepted update with its outcome.
 */

struct event_base; /* libevent's, for attaching the sender to a caller's loop */

typedef struct dps_reporter dps_reporter;

/** The final outcome of an accepted update. */
typedef enum dps_outcome {
  DPS_OUTCOME_DELIVERED = 1, /**< the service answered 200 */
  DPS_OUTCOME_FAILED = 2,    /**< a terminal error, or retries exhausted: see error_code */
  DPS_OUTCOME_EXPIRED = 3    /**< its deadline, or the close deadline, passed first */
} dps_outcome;

/** "delivered", "failed", "expired"; NULL for other values. */
DPS_EXTERN const char *dps_outcome_name(dps_outcome o);

/**
 * What became of one update, handed to the result callback. Everything it points to lives only
 * during the callback (copy what you keep), after hiredis: the library frees it on return.
 */
typedef struct dps_result {
  dps_outcome outcome;
  const char *task_id; /**< the update's taskId (NUL-terminated copy) */
  size_t task_id_len;
  void *user_data;           /**< as given to dps_submit */
  unsigned attempts;         /**< requests that reached the network and counted as attempts */
  int http_status;           /**< of the last response; 0 when none arrived */
  const char *error_code;    /**< "" when delivered; the AWS code ("TaskNotFoundException"),
                                  "RequestTimeout" for a timed-out attempt, "ConnectionError"
                                  for a lost connection, "TLSError" for a refused endpoint */
  const char *error_message; /**< "" when delivered */
  const char *request_id;    /**< x-amzn-RequestId of the last response, or "" */
  uint64_t latency_us;       /**< from dps_submit to this outcome */
} dps_result;

/**
 * Called once per accepted update, on the sender's thread (or the caller's loop). Must not block
 * for long (it holds up the sender) and must not call dps_flush or dps_reporter_close; it may
 * call dps_submit (e.g. to chain work, or to keep a fixed number of updates in flight, as
 * `dpstatus load --rate max` does). Such a submit is the cheapest there is: the sender is awake,
 * so nothing wakes it, and it sends the update in the same loop turn. It never waits for room,
 * whatever the full policy (only the sender makes room: it would wait for itself): with a full
 * queue it returns DPS_EFULL at once.
 */
typedef void (*dps_result_cb)(const dps_result *result, void *arg);

/** What dps_submit does when the queue is full. */
typedef enum dps_full_policy {
  DPS_FULL_FAIL = 0, /**< return DPS_EFULL at once (default) */
  DPS_FULL_WAIT = 1  /**< wait up to full_wait_ms for room, then DPS_EFULL */
} dps_full_policy;

/**
 * Reporter configuration. Fill with dps_config_init, then set what differs; the reporter copies
 * it (strings included). Endpoint, region and credentials left NULL are resolved as the AWS CLI
 * does (see README: --endpoint-url / AWS_ENDPOINT_URL*, AWS_REGION, the credential chain).
 */
typedef struct dps_config {
  const char *endpoint_url;  /**< NULL: https://datapipeline.{region}.amazonaws.com */
  const char *region;        /**< NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile */
  const char *profile;       /**< NULL: AWS_PROFILE, else "default" */
  const char *access_key_id; /**< explicit credentials (both or neither) */
  const char *secret_access_key;
  const char *session_token; /**< optional */

  unsigned connections;        /**< HTTP/2 connections (default 2) */
  unsigned max_streams;        /**< requests in flight per connection, capped by the server's
                                    SETTINGS_MAX_CONCURRENT_STREAMS (default 100) */
  size_t queue_capacity;       /**< updates the queue holds, a power of two (default 65536) */
  size_t queue_shards;         /**< the queue's shards, a power of two <= 64 and <=
                                    queue_capacity; 0 (default): twice the CPUs, at most 16,
                                    each shard >= 1024. A thread submits into one shard, so one
                                    thread alone can queue queue_capacity / queue_shards: set 1
                                    when a single thread submits */
  dps_full_policy full_policy; /**< default DPS_FULL_FAIL */
  uint32_t full_wait_ms;       /**< with DPS_FULL_WAIT (default 1000) */
  size_t max_body_bytes;       /**< default DPS_DEFAULT_MAX_BODY_BYTES */

  unsigned max_attempts;       /**< per update, the first included (default 8; 0: no limit) */
  uint32_t backoff_base_ms;    /**< full-jitter exponential backoff (default 1000) */
  uint32_t backoff_cap_ms;     /**< (default 20000) */
  uint32_t attempt_timeout_ms; /**< per request (default 10000) */
  uint32_t deadline_ms;        /**< per update, from submit (default 300000: 5 min); an attempt
                                    in flight then is cut short: the update expires on time */
  int adaptive_rate;  /**< 1 (default): on the first throttle, pace sends to the rate the endpoint
                           accepts and probe upward while calls succeed (see README, "Living within
                           the service's limits"); 0: never (load tests measure the service) */
  double max_rate;    /**< a cap on requests per second, whatever the endpoint accepts; 0: none */
  unsigned max_burst; /**< requests the cap lets go at once after a quiet spell; 0: a tenth of a
                           second of max_rate, at least 1. Only with max_rate */

  const char *ca_bundle; /**< PEM file of trusted CAs; NULL: the system store */
  int no_verify_ssl;     /**< 1: do not verify the server (explicit opt-out) */

  dps_result_cb on_result; /**< may be NULL (then only the stats tell) */
  void *on_result_arg;
  /**
   * NULL (default): the reporter runs its own sender thread. Otherwise the sender attaches to this
   * libevent base, which the caller runs; then every callback runs on the caller's loop thread,
   * and dps_flush / dps_reporter_close must be called from another thread, or from the loop
   * thread only when the loop is not running (they then run it themselves until done).
   */
  struct event_base *event_base;
} dps_config;

/** Fills @p cfg with the defaults above. */
DPS_EXTERN void dps_config_init(dps_config *cfg);

/**
 * Creates a reporter: resolves endpoint, region and credentials, starts the sender.
 * @return DPS_OK, or DPS_EINVAL / DPS_ECONFIG / DPS_ENOCREDS / DPS_ENOMEM / DPS_EIO with @p err
 *         (when not NULL) saying what to fix.
 */
DPS_EXTERN int dps_reporter_new(dps_reporter **out, const dps_config *cfg, dps_error *err);

/**
 * Queues one status update for delivery and returns at once.
 *
 * Thread-safe; lock-free; never blocks unless the reporter was configured with DPS_FULL_WAIT (and
 * never from a result callback: see dps_result_cb).
 * Validates @p u against the service model and copies what it needs: the caller may reuse every
 * string as soon as this returns. @p user_data comes back, untouched, in the result.
 *
 * @return DPS_OK (the result callback will run exactly once for it), or
 *         DPS_EINVAL / DPS_ETOOBIG  the update breaks the model (see @p err; nothing queued),
 *         DPS_EFULL    the queue is full (after waiting, with DPS_FULL_WAIT),
 *         DPS_ECLOSED  the reporter is closing,
 *         DPS_ENOMEM.
 */
DPS_EXTERN int dps_submit(dps_reporter *r, const dps_update *u, void *user_data, dps_error *err);

/**
 * Waits until every update accepted before the call has its outcome, or @p timeout_ms passes.
 * Thread-safe. @return DPS_OK, or DPS_ETIMEDOUT.
 */
DPS_EXTERN int dps_flush(dps_reporter *r, uint32_t timeout_ms);

/**
 * Stops accepting updates, gives the pending ones until @p deadline_ms to be delivered, reports
 * what is left as DPS_OUTCOME_EXPIRED (never dropped silently), stops the sender and frees the
 * reporter. Every result callback has run when this returns. Not from a result callback.
 */
DPS_EXTERN int dps_reporter_close(dps_reporter *r, uint32_t deadline_ms);

/** Latency and counters since the reporter started. Counters are cumulative. */
typedef struct dps_stats {
  uint64_t submitted; /**< accepted by dps_submit */
  uint64_t delivered, failed, expired;
  uint64_t pending;     /**< submitted - delivered - failed - expired: queued or in progress */
  uint64_t queued;      /**< in the queue, not yet taken by the sender */
  uint64_t in_flight;   /**< requests on the wire */
  uint64_t retries;     /**< attempts after the first, over all updates */
  uint64_t refused;     /**< requests the server refused unprocessed (resent, not charged) */
  uint64_t throttled;   /**< throttling responses so far (each throttled request once) */
  double send_rate;     /**< the rate controller's pace in requests/s; 0 while it is not engaged */
  unsigned connections; /**< live connections */
  uint64_t latency_p50_us, latency_p90_us, latency_p99_us, latency_max_us; /**< submit→outcome */
  /** The most frequent failure codes (up to 8), with their counts; "" marks the end. */
  struct {
    char code[64];
    uint64_t count;
  } failed_by_code[8];
} dps_stats;

/** Fills @p out. Thread-safe; the counters obey submitted = delivered + failed + expired +
 *  pending at every read. */
DPS_EXTERN int dps_stats_get(dps_reporter *r, dps_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* DPSTATUS_H */
