/* metrics.c: Prometheus exposition and the exit summary of the emulator's counters. */
#include "emulator/metrics.h"

#include <string.h>

static const char *const op_names[DPS__EMU_OP_COUNT] = {
    "SetTaskStatus", "PollForTask", "ReportTaskProgress", "ReportTaskRunnerHeartbeat", "other"};

static const char *const outcome_names[DPS__EMU_OUTCOME_COUNT] = {
    "ok",
    "InvalidRequestException",
    "TaskNotFoundException",
    "PipelineNotFoundException",
    "PipelineDeletedException",
    "InternalServiceError",
    "ThrottlingException",
    "ServiceUnavailable",
    "UnknownOperationException",
    "SerializationException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "RequestEntityTooLargeException",
    "reset"};

static const char *const fault_names[DPS__EMU_FK_COUNT] = {
    "internal", "throttle", "unavailable", "reset", "latency", "rate_limit", "goaway", "drop"};

const char *dps__emu_op_name(dps__emu_op op) {
  return (unsigned)op < DPS__EMU_OP_COUNT ? op_names[op] : "other";
}
const char *dps__emu_outcome_name(dps__emu_outcome o) {
  return (unsigned)o < DPS__EMU_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}
const char *dps__emu_fault_kind_name(dps__emu_fault_kind k) {
  return (unsigned)k < DPS__EMU_FK_COUNT ? fault_names[k] : "unknown";
}
int dps__emu_fault_kind_parse(const char *name) {
  for (int k = 0; name && k < DPS__EMU_FK_COUNT; k++)
    if (strcmp(fault_names[k], name) == 0) return k;
  return -1;
}

static void header(dps__buf *out, const char *name, const char *type, const char *help) {
  dps__buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void dps__emu_metrics_render(const dps__emu_metrics *m, dps__buf *out) {
  header(out, "dpstatus_requests_total", "counter",
         "API requests answered, by operation and outcome (ok or the error code).");
  for (int op = 0; op < DPS__EMU_OP_COUNT; op++)
    for (int o = 0; o < DPS__EMU_OUTCOME_COUNT; o++)
      /* Every ok series is always shown, so dashboards see zeros; errors once they happen. */
      if (m->requests[op][o] || (o == DPS__EMU_OK && op != DPS__EMU_OP_OTHER))
        dps__buf_printf(out, "dpstatus_requests_total{operation=\"%s\",outcome=\"%s\"} %llu\n",
                        op_names[op], outcome_names[o], (unsigned long long)m->requests[op][o]);
  header(out, "dpstatus_faults_injected_total", "counter", "Faults injected, by kind.");
  for (int k = 0; k < DPS__EMU_FK_COUNT; k++)
    dps__buf_printf(out, "dpstatus_faults_injected_total{kind=\"%s\"} %llu\n", fault_names[k],
                    (unsigned long long)m->faults[k]);
  header(out, "dpstatus_connections_open", "gauge", "Client connections open now.");
  dps__buf_printf(out, "dpstatus_connections_open %lld\n", (long long)m->connections_open);
  header(out, "dpstatus_connections_total", "counter", "Client connections accepted.");
  dps__buf_printf(out, "dpstatus_connections_total %llu\n",
                  (unsigned long long)m->connections_total);
  header(out, "dpstatus_streams_in_flight", "gauge", "Requests received and not yet answered.");
  dps__buf_printf(out, "dpstatus_streams_in_flight %lld\n", (long long)m->streams_in_flight);
  header(out, "dpstatus_tasks_known", "gauge", "Tasks in the task store.");
  dps__buf_printf(out, "dpstatus_tasks_known %llu\n", (unsigned long long)m->tasks_known);
  header(out, "dpstatus_tasks_finished", "gauge", "Tasks with a final status.");
  dps__buf_printf(out, "dpstatus_tasks_finished %llu\n", (unsigned long long)m->tasks_finished);
  header(out, "dpstatus_record_lines_total", "counter", "Lines written to the --record file.");
  dps__buf_printf(out, "dpstatus_record_lines_total %llu\n", (unsigned long long)m->record_lines);
}

void dps__emu_metrics_summary(const dps__emu_metrics *m, dps__buf *out) {
  uint64_t total = 0, by_outcome[DPS__EMU_OUTCOME_COUNT] = {0}, faults = 0;
  for (int op = 0; op < DPS__EMU_OP_COUNT; op++)
    for (int o = 0; o < DPS__EMU_OUTCOME_COUNT; o++) {
      total += m->requests[op][o];
      by_outcome[o] += m->requests[op][o];
    }
  for (int k = 0; k < DPS__EMU_FK_COUNT; k++) faults += m->faults[k];
  dps__buf_printf(out, "served %llu requests: %llu ok", (unsigned long long)total,
                  (unsigned long long)by_outcome[DPS__EMU_OK]);
  for (int o = 1; o < DPS__EMU_OUTCOME_COUNT; o++)
    if (by_outcome[o])
      dps__buf_printf(out, ", %llu %s", (unsigned long long)by_outcome[o], outcome_names[o]);
  dps__buf_printf(out,
                  "; %llu faults injected; %llu connections; tasks: %llu known, %llu finished; "
                  "%llu records",
                  (unsigned long long)faults, (unsigned long long)m->connections_total,
                  (unsigned long long)m->tasks_known, (unsigned long long)m->tasks_finished,
                  (unsigned long long)m->record_lines);
}
