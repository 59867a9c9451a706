/*
 * clock.h: the time we sign with. The local wall clock plus an offset learnt from the server's
 * Date header after a clock-skew error; HTTP-date parsing (RFC 9110) and the ISO 8601 basic form
 * SigV4 uses (X-Amz-Date). All calendar arithmetic is our own (days from civil), so nothing here
 * depends on TZ, the locale, or the thread-unsafe parts of libc.
 */
#ifndef DPS_CORE_CLOCK_H
#define DPS_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct dps__clock {
  _Atomic int64_t offset_ms; /* server minus local */
} dps__clock;

/* Sets the offset to 0. A zero-initialized static dps__clock is already in this state. */
void dps__clock_init(dps__clock *c);

/* The local wall clock (CLOCK_REALTIME) in milliseconds since the epoch, uncorrected: what the
 * transport records as local_ms_at_response, on the same base dps__clock_now_ms() uses. */
int64_t dps__clock_local_ms(void);

/* CLOCK_REALTIME + offset, in milliseconds since the epoch. Thread-safe, lock-free. */
int64_t dps__clock_now_ms(const dps__clock *c);

/* The current offset (server minus local), for logs and tests. Thread-safe. */
int64_t dps__clock_offset_ms(const dps__clock *c);

/*
 * Learns the offset from a server's Date (@p server_epoch_seconds) received when the local clock
 * read @p local_ms_at_response. The Date has one-second resolution: the server's clock was
 * somewhere in [S, S+1) seconds. When the corrected clock already falls in that second, the offset
 * is kept (the evidence cannot tell a better one, and concurrent responses must not make it
 * flap); otherwise it becomes the middle of that second minus the local time, which halves the
 * worst-case error to half a second. Thread-safe (last writer wins). Dates outside years
 * 0000-9999 are ignored.
 */
void dps__clock_correct(dps__clock *c, int64_t server_epoch_seconds, int64_t local_ms_at_response);

/*
 * Parses an HTTP-date of @p len bytes (DPS_NTS: NUL-terminated) in any of the three forms RFC 9110
 * section 5.6.7 requires recipients to accept:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit year: the year with those digits in
 *                (now - 50, now + 50], as the RFC says)
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * Strict: case-sensitive names, exact spacing, no leading or trailing bytes, real calendar days
 * (no Feb 30), hours 00-23, minutes 00-59, seconds 00-60 (60, a leap second, counts as the next
 * minute's 00, as POSIX time does). The weekday must be a valid name of the form's kind, but its
 * agreement with the date is not checked (as Go's net/http and nginx do): the date fields carry
 * the instant, and a server with a wrong weekday should not stop us from correcting the clock.
 *
 * @return 0 with *@p epoch_seconds set, or DPS_EINVAL (nothing written).
 */
int dps__http_date_parse(const char *s, size_t len, int64_t *epoch_seconds);

/* Writes "20150830T123600Z" (ISO 8601 basic, UTC, 16 characters and a NUL) for @p epoch_ms,
 * rounded down to the second. Instants outside years 0000-9999 are clamped to that range. */
void dps__amz_date_format(int64_t epoch_ms, char out[17]);

/* Parses exactly "YYYYMMDDTHHMMSSZ" (NUL-terminated; a real calendar date, seconds 00-59).
 * @return 0 with *@p epoch_seconds set, or DPS_EINVAL (nothing written). */
int dps__amz_date_parse(const char *s, int64_t *epoch_seconds);

/*
 * Parses an RFC 3339 date-time of @p len bytes (DPS_NTS: NUL-terminated), the form AWS gives
 * credential expirations in: "2026-12-07T06:10:00Z", an optional fraction of any length (kept to
 * the millisecond, truncated), 'T', 't' or ' ' between date and time, and 'Z', 'z' or an offset
 * "+HH:MM" / "-HH:MM" (applied). Strict: real calendar days, hours 00-23, minutes 00-59, seconds
 * 00-60 (60 counts as the next minute's 00), offsets up to 23:59, years 0000-9999, nothing before
 * or after. @return 0 with *@p epoch_ms set, or DPS_EINVAL (nothing written).
 */
int dps__rfc3339_parse(const char *s, size_t len, int64_t *epoch_ms);

#endif
