/*
 * faults.h: the request-level faults of `dpstatus serve --fault` and --seed. Owns
 * the fault-list parser, the seeded PRNG and the per-request draw (exactly one PRNG output per API
 * request, whatever is configured, so a run with the same seed and the same request order
 * replays the same faults). The rate limits are emulator/limits.h.
 */
#ifndef DPS_EMULATOR_FAULTS_H
#define DPS_EMULATOR_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "dpstatus.h"

typedef enum dps__emu_fault {
  DPS__EMU_FAULT_NONE = 0,
  DPS__EMU_FAULT_RESET,       /* RST_STREAM before processing */
  DPS__EMU_FAULT_UNAVAILABLE, /* 503 with an HTML body, like a load balancer */
  DPS__EMU_FAULT_INTERNAL,    /* 500 InternalServiceError */
  DPS__EMU_FAULT_THROTTLE     /* 400 ThrottlingException */
} dps__emu_fault;

typedef struct dps__emu_faults {
  /* Probabilities; their sum is at most 1 (one draw picks at most one fault). */
  double p_reset, p_unavailable, p_internal, p_throttle;
  uint32_t latency_min_ms, latency_max_ms; /* max 0: no latency fault */
  uint32_t goaway_every, drop_every;       /* 0: never */
  uint64_t state;                          /* splitmix64 state */
  uint64_t draws;
} dps__emu_faults;

/* Parses @p spec (NULL or "": no faults) and seeds the PRNG. @return DPS_OK, or DPS_EINVAL with
 * @p err naming the item, field "--fault". */
int dps__emu_faults_init(dps__emu_faults *f, const char *spec, uint64_t seed, dps_error *err);

/* One draw for one request: which fault (if any) and the latency to add, in ms. */
dps__emu_fault dps__emu_faults_draw(dps__emu_faults *f, uint32_t *delay_ms);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t dps__emu_monotonic_ns(void);

/* splitmix64: the PRNG step, also used to mix counters into ids. */
uint64_t dps__emu_splitmix64(uint64_t *state);

#endif
