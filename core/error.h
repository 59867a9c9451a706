/*
 * error.h: filling a dps_error. Every refusal in the library goes through dps__error_set so that
 * the message always starts with the field ("taskId: ...") and the code is kept beside it.
 */
#ifndef DPS_CORE_ERROR_H
#define DPS_CORE_ERROR_H

#include "dpstatus.h"

/* Fills @p err (when not NULL) and returns @p code, so callers can `return dps__error_set(...)`.
 * @p field may be NULL or "" for errors that concern no single field. */
int dps__error_set(dps_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
