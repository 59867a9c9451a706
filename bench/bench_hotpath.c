/*
 * bench_hotpath.c: the per-update cost on the sender's hot path: validate + encode the JSON body
 * + sign the request, in ns per update, for a 200-byte and a 4 KiB errorMessage.
 *
 * Peers, side by side in the same run:
 *  - encoding: jansson (json_pack + json_dumpb), what we would use if we had not written the
 *    encoder by hand; the bodies are compared byte for byte first, so both do the same work;
 *  - signing: the same signer with its signing-key cache defeated (the key derived on every
 *    request, as a naive signer does).
 * Each figure is the median of several timed rounds. Usage: bench_hotpath [rounds] [iterations]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/request.h"
#include "core/sigv4.h"
#include "core/update.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct ctx {
  dps_update u;
  dps__sigv4_signer signer;
  char *body;
  size_t body_cap;
  int defeat_cache;
  size_t sink;
} ctx;

static void ours_encode(ctx *c) {
  dps__update_view v;
  if (dps__update_check(&c->u, 0, &v, NULL)) abort();
  c->sink += dps__json_encode_update(&v, c->body);
}

static void jansson_encode(ctx *c) {
  json_t *o =
      json_pack("{s:s#,s:s,s:s,s:s#}", "taskId", c->u.task_id, (int)strlen(c->u.task_id),
                "taskStatus", dps_task_status_name(c->u.task_status), "errorId", c->u.error_id,
                "errorMessage", c->u.error_message, (int)c->u.error_message_len);
  if (!o) abort();
  c->sink += json_dumpb(o, c->body, c->body_cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
}

static void sign_only(ctx *c, size_t body_len) {
  dps__http_request req;
  if (c->defeat_cache) c->signer.key_date[0] = '\0';
  if (dps__request_sign(&c->signer, "datapipeline.us-east-1.amazonaws.com", "/",
                        DPS__TARGET_SET_TASK_STATUS, "20261124T120000Z", c->body, body_len, &req))
    abort();
  c->sink += (size_t)req.sig.signature[0];
}

static size_t g_body_len;
static void ours_sign(ctx *c) { sign_only(c, g_body_len); }
static void ours_all(ctx *c) {
  dps__update_view v;
  if (dps__update_check(&c->u, 0, &v, NULL)) abort();
  size_t n = dps__json_encode_update(&v, c->body);
  sign_only(c, n);
}

/* Median ns per call of @p fn over @p rounds rounds of @p iters calls. */
static double measure(void (*fn)(ctx *), ctx *c, int rounds, int iters) {
  double *r = calloc((size_t)rounds, sizeof *r);
  for (int i = 0; i < iters / 10; i++) fn(c); /* warm up */
  for (int k = 0; k < rounds; k++) {
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) fn(c);
    r[k] = (now_ns() - t0) / iters;
  }
  qsort(r, (size_t)rounds, sizeof *r, cmp_double);
  double med = r[rounds / 2];
  free(r);
  return med;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  int iters = argc > 2 ? atoi(argv[2]) : 100000;
  if (rounds < 1 || iters < 10) {
    fprintf(stderr, "usage: bench_hotpath [rounds>=1] [iterations>=10]\n");
    return 2;
  }
  printf("validate + encode + sign one SetTaskStatus update (median of %d rounds x %d)\n\n", rounds,
         iters);
  printf("| errorMessage | step | dpstatus ns | peer | peer ns | peer/dpstatus |\n");
  printf("|---|---|---:|---|---:|---:|\n");
  const size_t sizes[] = {200, 4096};
  for (size_t s = 0; s < 2; s++) {
    ctx c = {0};
    char *msg = malloc(sizes[s] + 1);
    for (size_t i = 0; i < sizes[s]; i++) msg[i] = (char)('a' + i % 26);
    msg[sizes[s] / 2] = '"'; /* one escape, as real messages have */
    msg[sizes[s]] = '\0';
    c.u = (dps_update){.task_id = "task-0123456789abcdef0123456789abcdef",
                       .task_id_len = DPS_NTS,
                       .task_status = DPS_TASK_FAILED,
                       .error_id = "ExtractFailed",
                       .error_id_len = DPS_NTS,
                       .error_message = msg,
                       .error_message_len = sizes[s]};
    c.body_cap = sizes[s] * 2 + 1024;
    c.body = malloc(c.body_cap);
    if (dps__sigv4_signer_init(&c.signer, "us-east-1", "datapipeline", "AKIDEXAMPLE",
                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL))
      return 1;

    /* Same bytes from both encoders, or the comparison means nothing. */
    dps__update_view v;
    dps__update_check(&c.u, 0, &v, NULL);
    char *mine = malloc(v.body_len);
    g_body_len = dps__json_encode_update(&v, mine);
    jansson_encode(&c);
    if (memcmp(mine, c.body, g_body_len) != 0) {
      fprintf(stderr, "bench: jansson and dpstatus bodies differ\n");
      return 1;
    }
    free(mine);

    double enc = measure(ours_encode, &c, rounds, iters);
    double enc_peer = measure(jansson_encode, &c, rounds, iters);
    double sig = measure(ours_sign, &c, rounds, iters);
    c.defeat_cache = 1;
    double sig_peer = measure(ours_sign, &c, rounds, iters);
    c.defeat_cache = 0;
    double all = measure(ours_all, &c, rounds, iters);
    printf("| %zu B | validate+encode | %.0f | jansson pack+dump | %.0f | %.2fx |\n", sizes[s], enc,
           enc_peer, enc_peer / enc);
    printf("| %zu B | sign | %.0f | key derived per request | %.0f | %.2fx |\n", sizes[s], sig,
           sig_peer, sig_peer / sig);
    printf("| %zu B | **all three** | **%.0f** | | | |\n", sizes[s], all);
    if (c.sink == 42) puts("");
    dps__sigv4_signer_clear(&c.signer);
    free(c.body);
    free(msg);
  }
  return 0;
}
