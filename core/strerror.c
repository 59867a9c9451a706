/* strerror.c: error codes to text, the version string, and dps_error filling. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "dpstatus.h"

const char *dps_version(void) { return DPS_VERSION_STRING; }

#define DPS__ERRORS(X)                                 \
  X(DPS_OK, "success")                                 \
  X(DPS_EINVAL, "invalid argument")                    \
  X(DPS_EFULL, "the queue is full")                    \
  X(DPS_ECLOSED, "the reporter is closed")             \
  X(DPS_ENOMEM, "out of memory")                       \
  X(DPS_ENOCREDS, "no AWS credentials found")          \
  X(DPS_ECONFIG, "malformed configuration")            \
  X(DPS_EIO, "input/output error")                     \
  X(DPS_ETOOBIG, "the request body exceeds the limit") \
  X(DPS_ECRYPTO, "the crypto library failed")          \
  X(DPS_ETIMEDOUT, "timed out")                        \
  X(DPS_ECREDS, "a credential source failed")

const char *dps_strerror(int code) {
  switch (code) {
#define X(name, text) \
  case name: return text;
    DPS__ERRORS(X)
#undef X
  }
  return "unknown error";
}

const char *dps_err_name(int code) {
  switch (code) {
#define X(name, text) \
  case name: return #name;
    DPS__ERRORS(X)
#undef X
  }
  return "DPS_E_UNKNOWN";
}

int dps__error_set(dps_error *err, int code, const char *field, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  if (!field) field = "";
  snprintf(err->field, sizeof err->field, "%s", field);
  size_t off = 0;
  if (*field) {
    int n = snprintf(err->message, sizeof err->message, "%s: ", field);
    off = n > 0 && (size_t)n < sizeof err->message ? (size_t)n : 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message + off, sizeof err->message - off, fmt, ap);
  va_end(ap);
  return code;
}
