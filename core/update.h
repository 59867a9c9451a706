/*
 * update.h: the SetTaskStatus input model (limits from the service model) and its validation.
 * Validation also measures the exact size of the JSON body, so the encoder can write it into a
 * buffer of the right size in one pass.
 */
#ifndef DPS_CORE_UPDATE_H
#define DPS_CORE_UPDATE_H

#include <stddef.h>

#include "dpstatus.h"

#define DPS__TASK_ID_MIN 1
#define DPS__TASK_ID_MAX 2048
#define DPS__STRING_MAX 1024 /* errorId, errorStackTrace: the model's "string" shape */
#define DPS__RESERVED_ERROR_ID_PREFIX "Service_"

/* An update whose lengths are all resolved (no DPS_NTS) and whose status name is looked up. */
typedef struct dps__update_view {
  const dps_update *u;
  const char *status_name;
  size_t task_id_len, error_id_len, error_message_len, error_stack_trace_len;
  size_t body_len; /* exact size of the encoded JSON body */
} dps__update_view;

/*
 * Checks @p u against the model and @p max_body_bytes (0 = DPS_DEFAULT_MAX_BODY_BYTES) and fills
 * @p view. Returns DPS_OK, or DPS_EINVAL / DPS_ETOOBIG with @p err naming the field and rule.
 */
int dps__update_check(const dps_update *u, size_t max_body_bytes, dps__update_view *view,
                      dps_error *err);

#endif
