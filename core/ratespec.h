/*
 * ratespec.h: the one parser of "RATE[/BURST]", the way a rate is written on every command line
 * (send and load --max-rate, serve --rate-limit): RATE in requests per second, a positive decimal
 * ("10", "0.5", "20000"); BURST, optional, a whole number of requests >= 1.
 */
#ifndef DPS_CORE_RATESPEC_H
#define DPS_CORE_RATESPEC_H

#include <stddef.h>

#include "dpstatus.h"

#define DPS__RATESPEC_MAX_RATE 1e7 /* requests/s */
#define DPS__RATESPEC_MAX_BURST 1000000000u

/*
 * Parses the @p n bytes at @p s. *@p burst is 0 when no "/BURST" is given (each caller says what
 * that means). Returns DPS_OK, or DPS_EINVAL with @p err (field @p field) saying what is wrong:
 * "\"10/\": BURST after '/' must be a whole number from 1 to 1000000000".
 */
int dps__ratespec_parse(const char *s, size_t n, const char *field, double *rate, unsigned *burst,
                        dps_error *err);

#endif
