/*
 * limits.h: the emulator's call limits, as the service applies them: a token bucket per operation
 * and per account (the access key ID the request was signed with; one account with --auth none),
 * each with a rate and a burst and full at start. A call finding its bucket empty is answered 400
 * ThrottlingException "Rate exceeded". Owns the parser of `serve --rate-limit` and `--limits aws`
 * (the table of the Data Pipeline Developer Guide), and the per-account throttle counters of
 * /metrics.
 */
#ifndef DPS_EMULATOR_LIMITS_H
#define DPS_EMULATOR_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "dpstatus.h"
#include "emulator/metrics.h"

/* The operations a limit applies to: the four of the API (DPS__EMU_OP_OTHER never is). */
#define DPS__EMU_LIMIT_OPS DPS__EMU_OP_OTHER

/* Accounts tracked one by one; calls of further accounts share one more bucket set, shown as
 * account="other" (the emulator accepts one access key today, so this bound only matters if it
 * ever accepts many). */
#define DPS__EMU_LIMITS_MAX_ACCOUNTS 256
#define DPS__EMU_ACCOUNT_MAX 128 /* access key IDs are at most 128 characters */

typedef struct dps__emu_limit {
  double rate;  /* calls per second; 0: no limit */
  double burst; /* the bucket's size in calls, >= 1 */
} dps__emu_limit;

typedef struct dps__emu_account {
  char id[DPS__EMU_ACCOUNT_MAX + 1];
  double tokens[DPS__EMU_LIMIT_OPS];
  int64_t last_ns[DPS__EMU_LIMIT_OPS];
  uint64_t throttled[DPS__EMU_LIMIT_OPS];
} dps__emu_account;

typedef struct dps__emu_limits {
  dps__emu_limit op[DPS__EMU_LIMIT_OPS];
  dps__emu_account *accounts; /* n_accounts used, the last one may be "other" */
  size_t n_accounts;
} dps__emu_limits;

/*
 * Sets @p l from @p aws (true: the service's documented limits, SetTaskStatus and
 * ReportTaskProgress 10/s burst 100, PollForTask 2/s burst 100, ReportTaskRunnerHeartbeat 1/s
 * burst 100) and then @p spec (NULL: nothing more), a comma-separated list of OP=RATE[/BURST]
 * with OP an operation name, or a bare RATE[/BURST] meaning SetTaskStatus; BURST defaults to the
 * rate (at least 1). @return DPS_OK, or DPS_EINVAL with @p err (field "--rate-limit") naming the
 * item and what is wrong.
 */
int dps__emu_limits_init(dps__emu_limits *l, bool aws, const char *spec, dps_error *err);
void dps__emu_limits_clear(dps__emu_limits *l);

/* True when some operation is limited. */
bool dps__emu_limits_any(const dps__emu_limits *l);

/*
 * One call of @p op by @p account (@p n bytes; "" for the one account of --auth none) at
 * CLOCK_MONOTONIC @p now_ns: true when it may go on (a token was taken), false when it is
 * throttled (counted for /metrics). Out of memory for a new account counts it as "other".
 */
bool dps__emu_limits_admit(dps__emu_limits *l, dps__emu_op op, const char *account, size_t n,
                           int64_t now_ns);

/* dpstatus_rate_limit{operation} (calls/s, burst) and dpstatus_throttled_total{operation,account}
 * in Prometheus text format. */
void dps__emu_limits_render(const dps__emu_limits *l, dps__buf *out);

/* "SetTaskStatus 10/s burst 100, PollForTask 2/s burst 100" or "none", for serve's banner. */
void dps__emu_limits_describe(const dps__emu_limits *l, dps__buf *out);

#endif
