/*
 * metrics.h: the emulator's counters and their Prometheus text exposition (GET /metrics) and the
 * exit summary. Owns the operation and outcome vocabularies the counters are indexed by.
 */
#ifndef DPS_EMULATOR_METRICS_H
#define DPS_EMULATOR_METRICS_H

#include <stdint.h>

#include "core/buf.h"

typedef enum dps__emu_op {
  DPS__EMU_OP_SET_TASK_STATUS = 0,
  DPS__EMU_OP_POLL_FOR_TASK,
  DPS__EMU_OP_REPORT_TASK_PROGRESS,
  DPS__EMU_OP_REPORT_TASK_RUNNER_HEARTBEAT,
  DPS__EMU_OP_OTHER, /* no known operation: bad path, method, content type or target */
  DPS__EMU_OP_COUNT
} dps__emu_op;

/* The outcome of a request: ok, or the error code it was answered with. */
typedef enum dps__emu_outcome {
  DPS__EMU_OK = 0,
  DPS__EMU_INVALID_REQUEST,      /* 400 InvalidRequestException */
  DPS__EMU_TASK_NOT_FOUND,       /* 400 TaskNotFoundException */
  DPS__EMU_PIPELINE_NOT_FOUND,   /* 400 PipelineNotFoundException */
  DPS__EMU_PIPELINE_DELETED,     /* 400 PipelineDeletedException */
  DPS__EMU_INTERNAL,             /* 500 InternalServiceError */
  DPS__EMU_THROTTLING,           /* 400 ThrottlingException */
  DPS__EMU_UNAVAILABLE,          /* 503 HTML page */
  DPS__EMU_UNKNOWN_OPERATION,    /* 400/404 UnknownOperationException */
  DPS__EMU_SERIALIZATION,        /* 400 SerializationException */
  DPS__EMU_MISSING_AUTH,         /* 400 MissingAuthenticationTokenException */
  DPS__EMU_INCOMPLETE_SIGNATURE, /* 400 IncompleteSignatureException */
  DPS__EMU_INVALID_SIGNATURE,    /* 400 InvalidSignatureException */
  DPS__EMU_UNRECOGNIZED_CLIENT,  /* 400 UnrecognizedClientException */
  DPS__EMU_TOO_LARGE,            /* 413 RequestEntityTooLargeException */
  DPS__EMU_RESET,                /* stream reset (fault) */
  DPS__EMU_OUTCOME_COUNT
} dps__emu_outcome;

typedef enum dps__emu_fault_kind {
  DPS__EMU_FK_INTERNAL = 0,
  DPS__EMU_FK_THROTTLE,
  DPS__EMU_FK_UNAVAILABLE,
  DPS__EMU_FK_RESET,
  DPS__EMU_FK_LATENCY,
  DPS__EMU_FK_RATE_LIMIT,
  DPS__EMU_FK_GOAWAY,
  DPS__EMU_FK_DROP,
  DPS__EMU_FK_COUNT
} dps__emu_fault_kind;

typedef struct dps__emu_metrics {
  uint64_t requests[DPS__EMU_OP_COUNT][DPS__EMU_OUTCOME_COUNT];
  uint64_t metrics_requests; /* GET /metrics and other non-API requests */
  uint64_t faults[DPS__EMU_FK_COUNT];
  int64_t connections_open;
  uint64_t connections_total;
  int64_t streams_in_flight;
  uint64_t tasks_known, tasks_finished, record_lines; /* copied in before rendering */
} dps__emu_metrics;

const char *dps__emu_op_name(dps__emu_op op);
const char *dps__emu_outcome_name(dps__emu_outcome o); /* "ok" or the error code */
const char *dps__emu_fault_kind_name(dps__emu_fault_kind k);
/* The kind named @p name ("goaway", "drop", ...), or -1. */
int dps__emu_fault_kind_parse(const char *name);

/* Prometheus text exposition format 0.0.4. */
void dps__emu_metrics_render(const dps__emu_metrics *m, dps__buf *out);

/* "served 1234 requests: 1200 ok, 30 ThrottlingException, ...; 34 faults injected; ..." */
void dps__emu_metrics_summary(const dps__emu_metrics *m, dps__buf *out);

#endif
