/*
 * bench_fairness.c: how the sender's rate controller (core/ratelimit.c, the library's own code)
 * shares one limit between several reporters that do not talk to each other, on simulated time:
 * N reporters with unlimited demand, each with up to 200 requests in flight (the library's
 * default, 2 connections x 100 streams), RTT 2 ms, against one service token bucket R/B, full at
 * start, each reporter starting STAGGER seconds after the one before. Figures over the window
 * where all of them send, after SETTLE seconds: each reporter's share of the accepted calls
 * against the fair 1/N (the peer: the ideal share), the largest deviation, goodput as a share of
 * R and the throttled share of all requests. Target (issue 12): every share within +-25% of 1/N,
 * together >= 0.9 R, throttled <= 1%. A miss is marked, not an exit status.
 *
 * Deterministic (simulated time, no threads, no sockets): the same binary prints the same table.
 * Usage: bench_fairness [seconds=300]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ratelimit.h"

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)
#define S UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * S)
#define MAX_CLIENTS 8
#define MAX_FLIGHT 4096
#define IN_FLIGHT 200

typedef struct service {
  double rate, burst, tokens;
  uint64_t at;
} service;

static bool service_take(service *s, uint64_t now) {
  s->tokens += (double)(now - s->at) / 1e9 * s->rate;
  if (s->tokens > s->burst) s->tokens = s->burst;
  s->at = now;
  if (s->tokens < 1) return false;
  s->tokens -= 1;
  return true;
}

typedef struct client {
  dps__ratelimit rl;
  uint64_t sent_at[MAX_FLIGHT], answer_at[MAX_FLIGHT];
  bool ok[MAX_FLIGHT];
  size_t head, n;
  uint64_t ok_window, sent_window, throttled_window;
} client;

typedef struct scenario {
  int n;
  double rate, burst, stagger_s;
} scenario;

static client cl[MAX_CLIENTS];

/* One run; prints its row and returns the number of targets missed. */
static int run(const scenario *sc, unsigned secs, unsigned settle_s) {
  service svc = {sc->rate, sc->burst, sc->burst, T0};
  for (int c = 0; c < sc->n; c++) {
    cl[c] = (client){0};
    dps__ratelimit_init(&cl[c].rl, 0, 0, T0);
  }
  const uint64_t rtt = 2 * MS, step = 50 * US;
  const uint64_t stagger = (uint64_t)(sc->stagger_s * 1e9);
  /* The window: after the last one started and the settle time, to the end. */
  const uint64_t from = T0 + (uint64_t)(sc->n - 1) * stagger + settle_s * S, to = T0 + secs * S;
  uint64_t round = 0;
  for (uint64_t t = T0; t < to; t += step, round++) {
    for (int j = 0; j < sc->n; j++) {
      int ci = (int)((round + (uint64_t)j) % (uint64_t)sc->n); /* none always first */
      client *k = &cl[ci];
      if (t < T0 + (uint64_t)ci * stagger) continue;
      while (k->n && k->answer_at[k->head] <= t) {
        size_t i = k->head;
        bool in = k->sent_at[i] >= from;
        if (k->ok[i]) {
          dps__ratelimit_on_success(&k->rl, t);
          k->ok_window += in;
        } else {
          dps__ratelimit_on_throttle(&k->rl, t, k->sent_at[i]);
          k->throttled_window += in;
        }
        k->head = (k->head + 1) % MAX_FLIGHT;
        k->n--;
      }
      while (k->n < IN_FLIGHT && dps__ratelimit_acquire(&k->rl, t, NULL)) {
        size_t i = (k->head + k->n++) % MAX_FLIGHT;
        k->sent_at[i] = t;
        k->answer_at[i] = t + rtt;
        k->ok[i] = service_take(&svc, t + rtt / 2);
        k->sent_window += t >= from;
      }
    }
  }
  uint64_t ok = 0, sent = 0, thr = 0;
  for (int c = 0; c < sc->n; c++)
    ok += cl[c].ok_window, sent += cl[c].sent_window, thr += cl[c].throttled_window;
  double window_s = (double)(to - from) / 1e9 - 0.01; /* the last RTT's answers miss */
  double goodput = (double)ok / window_s / sc->rate, throttled = sent ? (double)thr / sent : 0;
  double worst = 0;
  printf("| %d | %g/%g | %g s | ", sc->n, sc->rate, sc->burst, sc->stagger_s);
  for (int c = 0; c < sc->n; c++) {
    double share = ok ? (double)cl[c].ok_window / (double)ok : 0;
    double dev = share * sc->n - 1;
    if (dev < 0 ? -dev > worst : dev > worst) worst = dev < 0 ? -dev : dev;
    printf("%s%.3f", c ? " " : "", share);
  }
  bool fair = worst <= 0.25, full = goodput >= 0.9, few = throttled <= 0.01;
  printf(" | ±%.0f%% %s | %.3f %s | %.2f%% %s |\n", 100 * worst, fair ? "met" : "**missed**",
         goodput, full ? "met" : "**missed**", 100 * throttled, few ? "met" : "**missed**");
  return !fair + !full + !few;
}

int main(int argc, char **argv) {
  unsigned secs = argc > 1 ? (unsigned)atoi(argv[1]) : 300;
  if (secs < 60) secs = 60;
  static const scenario sc[] = {
      {4, 50, 50, 0},  {4, 50, 50, 1},  {4, 50, 50, 3},     {4, 10, 100, 0},
      {4, 10, 100, 2}, {2, 10, 100, 5}, {4, 1000, 1000, 1}, {8, 200, 200, 0.5},
  };
  printf(
      "Reporters sharing one limit, simulated (core/ratelimit.c; RTT 2 ms, %d in flight each; "
      "%u s, measured from %u s after the last start):\n\n",
      IN_FLIGHT, secs, 30);
  printf(
      "| reporters | R/B | started apart | shares | worst vs 1/N (target ±25%%) | goodput / R "
      "(≥ 0.9) | throttled (≤ 1%%) |\n|---|---|---|---|---|---|---|\n");
  int missed = 0;
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) missed += run(&sc[i], secs, 30);
  printf("\n%d targets missed\n", missed);
  return 0;
}
