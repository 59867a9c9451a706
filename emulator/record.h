/*
 * record.h: the --record file, one NDJSON line per accepted SetTaskStatus, written through a
 * buffer (it is on the hot path of load tests) and flushed when the buffer fills, on
 * dps__emu_record_flush and on close. Strings are written byte-exact, JSON-escaped.
 */
#ifndef DPS_EMULATOR_RECORD_H
#define DPS_EMULATOR_RECORD_H

#include <stdint.h>

#include "core/buf.h"
#include "dpstatus.h"

typedef struct dps__emu_record {
  int fd; /* -1: not recording */
  dps__buf buf;
  uint64_t lines;
  int64_t stamp_sec;   /* the second stamp_text was formatted for */
  char stamp_text[24]; /* "2024-05-06T07:08:09." */
  int failed_errno;    /* the first write error, reported by flush */
} dps__emu_record;

/* Opens (creates or truncates) @p path; NULL: no recording. DPS_EIO with @p err on failure. */
int dps__emu_record_open(dps__emu_record *r, const char *path, dps_error *err);

/* Appends one line for @p u (already checked), received at @p epoch_ms, the @p count-th report
 * of that task. */
void dps__emu_record_add(dps__emu_record *r, const dps_update *u, int64_t epoch_ms, uint32_t count);

/* Writes out the buffer. DPS_OK or DPS_EIO. */
int dps__emu_record_flush(dps__emu_record *r);

/* Flushes and closes. */
int dps__emu_record_close(dps__emu_record *r);

/* Formats @p epoch_ms as RFC 3339 with milliseconds, UTC ("2024-05-06T07:08:09.123Z"). */
void dps__emu_rfc3339_ms(int64_t epoch_ms, char out[25]);

#endif
