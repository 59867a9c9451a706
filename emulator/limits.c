/* limits.c: per-operation, per-account token buckets (see limits.h). */
#include "emulator/limits.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ratespec.h"

#define FAIL(...) dps__error_set(err, DPS_EINVAL, "--rate-limit", __VA_ARGS__)

/* The Data Pipeline Developer Guide's "AWS Data Pipeline Limits", per account. */
static const dps__emu_limit aws_limits[DPS__EMU_LIMIT_OPS] = {
    [DPS__EMU_OP_SET_TASK_STATUS] = {10, 100},
    [DPS__EMU_OP_POLL_FOR_TASK] = {2, 100},
    [DPS__EMU_OP_REPORT_TASK_PROGRESS] = {10, 100},
    [DPS__EMU_OP_REPORT_TASK_RUNNER_HEARTBEAT] = {1, 100},
};

static int parse_item(dps__emu_limits *l, const char *item, size_t n, dps_error *err) {
  const char *eq = memchr(item, '=', n);
  int op = DPS__EMU_OP_SET_TASK_STATUS;
  const char *spec = item;
  size_t sn = n;
  if (eq) {
    size_t on = (size_t)(eq - item);
    op = -1;
    for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++) {
      const char *name = dps__emu_op_name((dps__emu_op)i);
      if (strlen(name) == on && memcmp(name, item, on) == 0) op = i;
    }
    if (op < 0)
      return FAIL(
          "\"%.*s\": unknown operation \"%.*s\" (SetTaskStatus, PollForTask, ReportTaskProgress, "
          "ReportTaskRunnerHeartbeat)",
          (int)(n > 96 ? 96 : n), item, (int)(on > 64 ? 64 : on), item);
    spec = eq + 1;
    sn = n - on - 1;
  }
  double rate;
  unsigned burst;
  int rc = dps__ratespec_parse(spec, sn, "--rate-limit", &rate, &burst, err);
  if (rc) return rc;
  l->op[op].rate = rate;
  l->op[op].burst = burst ? burst : (rate < 1 ? 1 : rate);
  return DPS_OK;
}

int dps__emu_limits_init(dps__emu_limits *l, bool aws, const char *spec, dps_error *err) {
  memset(l, 0, sizeof *l);
  if (aws) memcpy(l->op, aws_limits, sizeof l->op);
  if (!spec) return DPS_OK;
  size_t len = strlen(spec);
  if (len == 0) return FAIL("no limit given (\"10\", \"10/100\", \"PollForTask=2/100,...\")");
  for (size_t start = 0;;) {
    const char *comma = memchr(spec + start, ',', len - start);
    size_t end = comma ? (size_t)(comma - spec) : len;
    if (end == start) return FAIL("\"%s\": empty item in the list", spec);
    int rc = parse_item(l, spec + start, end - start, err);
    if (rc) return rc;
    if (!comma) return DPS_OK;
    start = end + 1;
  }
}

void dps__emu_limits_clear(dps__emu_limits *l) {
  free(l->accounts);
  memset(l, 0, sizeof *l);
}

bool dps__emu_limits_any(const dps__emu_limits *l) {
  for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++)
    if (l->op[i].rate > 0) return true;
  return false;
}

static const char other[] = "other";

static void fill(const dps__emu_limits *l, dps__emu_account *a, int64_t now_ns) {
  for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++) {
    a->tokens[i] = l->op[i].burst; /* full at start */
    a->last_ns[i] = now_ns;
  }
}

/* The account's buckets, created full on its first call. */
static dps__emu_account *account(dps__emu_limits *l, const char *id, size_t n, int64_t now_ns) {
  if (n > DPS__EMU_ACCOUNT_MAX) n = DPS__EMU_ACCOUNT_MAX;
  for (size_t i = 0; i < l->n_accounts; i++)
    if (strlen(l->accounts[i].id) == n && memcmp(l->accounts[i].id, id, n) == 0)
      return &l->accounts[i];
  if (l->n_accounts == DPS__EMU_LIMITS_MAX_ACCOUNTS)
    return &l->accounts[l->n_accounts - 1]; /* the last one is "other" */
  if (!l->accounts) {
    /* One allocation for the bound: accounts never move, and never fail again. */
    l->accounts = calloc(DPS__EMU_LIMITS_MAX_ACCOUNTS, sizeof *l->accounts);
    if (!l->accounts) return NULL;
  }
  dps__emu_account *a = &l->accounts[l->n_accounts++];
  if (l->n_accounts == DPS__EMU_LIMITS_MAX_ACCOUNTS) {
    memcpy(a->id, other, sizeof other);
  } else {
    memcpy(a->id, id, n);
    a->id[n] = '\0';
  }
  fill(l, a, now_ns);
  return a;
}

bool dps__emu_limits_admit(dps__emu_limits *l, dps__emu_op op, const char *id, size_t n,
                           int64_t now_ns) {
  if ((unsigned)op >= DPS__EMU_LIMIT_OPS || l->op[op].rate <= 0) return true;
  dps__emu_account *a = account(l, id ? id : "", id ? n : 0, now_ns);
  if (!a) return false; /* out of memory: refuse the call, as an overloaded service would */
  const dps__emu_limit *lim = &l->op[op];
  if (now_ns > a->last_ns[op]) {
    a->tokens[op] += (double)(now_ns - a->last_ns[op]) * 1e-9 * lim->rate;
    if (a->tokens[op] > lim->burst) a->tokens[op] = lim->burst;
    a->last_ns[op] = now_ns;
  }
  if (a->tokens[op] >= 1) {
    a->tokens[op] -= 1;
    return true;
  }
  a->throttled[op]++;
  return false;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void put_label(dps__buf *out, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == '"')
      dps__buf_printf(out, "\\%c", *s);
    else if (*s == '\n')
      dps__buf_puts(out, "\\n");
    else
      dps__buf_append(out, s, 1);
  }
}

void dps__emu_limits_render(const dps__emu_limits *l, dps__buf *out) {
  dps__buf_puts(out,
                "# HELP dpstatus_rate_limit Calls per second each account may make, by operation "
                "(0: no limit).\n# TYPE dpstatus_rate_limit gauge\n");
  for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++)
    dps__buf_printf(out, "dpstatus_rate_limit{operation=\"%s\"} %g\n",
                    dps__emu_op_name((dps__emu_op)i), l->op[i].rate);
  dps__buf_puts(out,
                "# HELP dpstatus_rate_limit_burst The bucket size of each limit, in calls.\n"
                "# TYPE dpstatus_rate_limit_burst gauge\n");
  for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++)
    dps__buf_printf(out, "dpstatus_rate_limit_burst{operation=\"%s\"} %g\n",
                    dps__emu_op_name((dps__emu_op)i), l->op[i].rate > 0 ? l->op[i].burst : 0);
  dps__buf_puts(out,
                "# HELP dpstatus_throttled_total Calls refused by a rate limit, by operation and "
                "account (the access key ID; anonymous with --auth none).\n"
                "# TYPE dpstatus_throttled_total counter\n");
  for (size_t a = 0; a < l->n_accounts; a++)
    for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++) {
      if (l->op[i].rate <= 0) continue;
      dps__buf_printf(out, "dpstatus_throttled_total{operation=\"%s\",account=\"",
                      dps__emu_op_name((dps__emu_op)i));
      put_label(out, l->accounts[a].id[0] ? l->accounts[a].id : "anonymous");
      dps__buf_printf(out, "\"} %llu\n", (unsigned long long)l->accounts[a].throttled[i]);
    }
}

void dps__emu_limits_describe(const dps__emu_limits *l, dps__buf *out) {
  bool any = false;
  for (int i = 0; i < DPS__EMU_LIMIT_OPS; i++) {
    if (l->op[i].rate <= 0) continue;
    dps__buf_printf(out, "%s%s %g/s burst %g", any ? ", " : "", dps__emu_op_name((dps__emu_op)i),
                    l->op[i].rate, l->op[i].burst);
    any = true;
  }
  if (!any) dps__buf_puts(out, "none");
}
